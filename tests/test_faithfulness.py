"""What the answer keeps and what it says about disagreeing sources: the real embedder, no LLM."""
import pytest

from rag import render
from rag.cite import Verifier, split_answer
from rag.disputes import rival_figures, subject_of
from rag.prompt import SentenceScorer, usable_spans
from rag.text import numbers
from rag.types import Answer, Excerpt, Passage, Sentence

LOSS_A = "Lundi, Nvidia a perdu 465 milliards de dollars de capitalisation boursière en une seule séance."
LOSS_B = "En une seule séance lundi, Nvidia a vu fondre sa capitalisation boursière de 589 milliards de dollars."
NASDAQ = "Le Nasdaq Composite a reculé de 3,5 % à l'ouverture, selon les chiffres de la bourse de New York."
CHIPS = "Là où ChatGPT utilise plus de 16 000 puces, le modèle chinois n'en aurait utilisé que 2 000."


def _parts(*texts_by_source):
    parts = []
    for n, (source, text) in enumerate(texts_by_source, 1):
        passage = Passage(source, source.upper(), 0, len(text), text, 1.0, f"c{n}")
        spans = usable_spans(passage)
        parts.append(Excerpt(n, passage, spans, [1.0] * len(spans)))
    return parts


@pytest.fixture(scope="module")
def scorer(embedder):
    return SentenceScorer(embedder)


def test_another_source_stating_the_same_claim_with_another_figure_is_a_rival(scorer):
    parts = _parts(("a.txt", LOSS_A), ("b.txt", LOSS_B + " " + NASDAQ), ("c.txt", CHIPS))
    verifier = Verifier("Combien Nvidia a-t-elle perdu ?", parts, scorer)
    cited = verifier.spans[1][0]
    rivals = rival_figures(cited, "a.txt", numbers(cited.text), verifier.spans, parts, scorer)
    found = {f.number.text for _, group in rivals for f in group}
    assert found == {"589 milliards"}  # not the Nasdaq's 3,5 %, not a count of chips


def test_whose_figure_a_sentence_states_is_the_name_before_it():
    assert subject_of("DeepSeek used 2,000 Nvidia chips for its model.") == "DeepSeek"
    # the markets' loss, not DeepSeek's: no name before the figure
    assert subject_of("The stock markets lost 2,000 billion dollars because of the DeepSeek shock.") is None
    assert subject_of("Jensen Huang est allé voir Donald Trump.") == "Jensen Huang"  # no figure: its first name
    assert subject_of("En 2024, Meta AI a dépensé 40 milliards.") == "Meta AI"  # a year is no figure of it
    assert subject_of("On January 27, Nvidia Corp lost 465 billion.") == "Nvidia Corp"  # nor a day
    # but a count is no date for a word that starts like a month, nor "2 000" a year
    assert subject_of("Les 500 octets de DeepSeek ont fui.") is None
    assert subject_of("Les 2 000 marchés de DeepSeek ont perdu 17 %.") is None


def test_a_rival_need_not_name_a_name_the_claim_gives_after_its_figure(scorer):
    """conflict-13 of the eval: the English claim names DeepSeek only as the shock's cause; the other
    source's 1 000 milliards, which names no one, was left out as not about DeepSeek."""
    claim = "The stock markets lost 2,000 billion dollars because of the DeepSeek shock."
    cited = ("La percée de DeepSeek a déclenché une onde de choc sur les marchés financiers, retirant "
             "2 000 milliards de dollars à la capitalisation des marchés boursiers.")
    parts = _parts(("a.txt", cited), ("b.txt", "Les marchés boursiers mondiaux ont perdu 1 000 milliards lundi."))
    verifier = Verifier("How much did stock markets lose?", parts, scorer)
    span = verifier.spans[1][0]
    rivals = rival_figures(span, "a.txt", numbers(span.text), verifier.spans, parts, scorer,
                           subject=subject_of(claim), claim=claim)
    assert {f.number.text for _, group in rivals for f in group} == {"1 000 milliards"}
    assert rival_figures(span, "a.txt", numbers(span.text), verifier.spans, parts, scorer,
                         subject="DeepSeek", claim=claim) == []  # whom the old reading took it to be about


def test_an_english_million_for_the_passages_milliards_is_said_in_billions(scorer):
    """The small model translates "milliard" as "million" (conflict-13 of the eval: "2,000 million",
    also spaced "2, 000 million"): the figure is put in billions as the cited passage has it, then
    checked as usual; a real million, or a French sentence, is left as it is."""
    parts = _parts(("a.txt", "La percée de DeepSeek a retiré 2 000 milliards de dollars aux marchés boursiers."),
                   ("b.txt", "Son modèle aurait coûté 6 millions de dollars à entraîner."))
    verifier = Verifier("How much did the markets lose?", parts, scorer)
    [lost, spaced, cost, french] = verifier.check(split_answer(
        "The stock markets lost 2,000 million dollars because of DeepSeek [1]. "
        "The stock markets lost 2, 000 million dollars in all [1]. "
        "Training the model cost 6 million dollars [2]. "
        "Les marchés boursiers ont perdu 2 000 millions de dollars [1]."))
    assert lost.supported and lost.text == "The stock markets lost 2,000 billion dollars because of DeepSeek."
    assert spaced.supported and spaced.text == "The stock markets lost 2,000 billion dollars in all."
    assert cost.supported and cost.text == "Training the model cost 6 million dollars."
    assert not french.supported and "2 000 millions" in french.text


def test_a_figure_bound_otherwise_than_its_passage_takes_the_passages_bound(scorer):
    """fact-06 of the eval: "ChatGPT utilise environ 16 000 puces Nvidia" for "plus de 16 000 puces"
    was refused by the judge and the answer abstained. A figure the passage gives unbound, or a
    sentence that gives it unbound, is left as it is."""
    parts = _parts(("a.txt", CHIPS), ("b.txt", "DeepSeek aurait utilisé 2 000 puces Nvidia pour entraîner son modèle."))
    verifier = Verifier("Combien de puces Nvidia ChatGPT utilise-t-il ?", parts, scorer)
    [french, english, unbound, theirs_unbound] = verifier.check(split_answer(
        "ChatGPT utilise environ 16 000 puces [1]. ChatGPT uses about 16,000 chips [1]. "
        "ChatGPT utilise 16 000 puces [1]. DeepSeek a utilisé environ 2 000 puces Nvidia [2]."))
    assert french.text == "ChatGPT utilise plus de 16 000 puces."
    assert english.text == "ChatGPT uses more than 16,000 chips."
    assert unbound.text == "ChatGPT utilise 16 000 puces."
    assert theirs_unbound.text == "DeepSeek a utilisé environ 2 000 puces Nvidia."
    assert all(s.supported for s in (french, english, unbound, theirs_unbound))  # the lexical rule's verdicts


def test_a_figure_of_another_thing_is_no_rival(scorer):
    parts = _parts(("c.txt", "DeepSeek aurait utilisé 10 000 puces Nvidia pour entraîner son modèle."), ("d.txt", CHIPS))
    verifier = Verifier("Combien de puces ?", parts, scorer)
    cited = verifier.spans[1][0]
    rivals = rival_figures(cited, "c.txt", numbers(cited.text), verifier.spans, parts, scorer)
    assert rivals == []  # the sentence also gives ChatGPT's 16 000: which figure matches would be a guess


def test_the_answer_text_is_made_of_supported_sentences_only():
    answer = Answer("q", "", sentences=[Sentence("Nvidia a perdu 17 %.", [1]),
                                        Sentence("Le Nasdaq a perdu 17 %.", [1], False, "wrong")])
    assert render.text(answer) == "Nvidia a perdu 17 % [1]."


def test_sentences_about_the_excerpts_are_not_answers(scorer):
    parts = _parts(("a.txt", LOSS_A))
    verifier = Verifier("Combien ?", parts, scorer)
    [meta, stated] = verifier.check(split_answer("This information is found in excerpt [1]. "
                                                 "The excerpt states that Nvidia lost 465 billion dollars [1]."))
    assert not meta.supported and "excerpts" in meta.reason
    assert stated.supported  # a sentence that states something is checked as usual


def test_a_rival_only_near_the_claim_is_taken_when_the_judge_confirms_it(scorer):
    parts = _parts(("a.txt", "DeepSeek n'en a besoin que de 2 000 pour son modèle."),
                   ("b.txt", "Face aux restrictions, DeepSeek a su maximiser les processeurs disponibles en Chine. "
                             "En exploitant un réseau de 10 000 puces A100, l'entreprise a défié les attentes."))
    verifier = Verifier("Combien de puces DeepSeek a-t-elle utilisées ?", parts, scorer)
    cited = verifier.spans[1][0]
    asked = "n:puc"  # rag.asks.counted(): the question counts chips
    claim = "DeepSeek a utilisé 2 000 puces pour son modèle."

    def rivals(confirm):
        found = rival_figures(cited, "a.txt", numbers(cited.text), verifier.spans, parts, scorer, asked, "DeepSeek",
                              claim, confirm)
        return {f.number.text for _, group in found for f in group}

    asked_judge = []

    def judge(says):
        def confirm(claim_with_rival, text):
            asked_judge.append((claim_with_rival, text))
            return says
        return confirm

    from rag.disputes import NEAR_CLAIM, SAME_CLAIM
    vectors = scorer.vectors([cited.text, verifier.spans[2][1].text])
    assert NEAR_CLAIM <= float(vectors[1] @ vectors[0]) < SAME_CLAIM  # near, not the same claim by the embedding
    assert rivals(None) == set()  # not close enough for the embedding alone, and "l'entreprise" names no one
    assert rivals(judge(False)) == set()
    assert asked_judge == [("DeepSeek a utilisé 10 000 puces pour son modèle.",
                            "Face aux restrictions, DeepSeek a su maximiser les processeurs disponibles en Chine. "
                            "En exploitant un réseau de 10 000 puces A100, l'entreprise a défié les attentes.")]
    assert rivals(judge(True)) == {"10 000"}


def test_the_judge_is_not_asked_about_a_figure_of_another_kind(scorer):
    parts = _parts(("a.txt", LOSS_A), ("b.txt", NASDAQ))
    verifier = Verifier("Combien Nvidia a-t-elle perdu ?", parts, scorer)
    cited = verifier.spans[1][0]
    calls = []
    found = rival_figures(cited, "a.txt", numbers(cited.text), verifier.spans, parts, scorer, None, "Nvidia",
                          "Nvidia a perdu 465 milliards.", lambda *a: calls.append(a) or True)
    assert found == [] and calls == []  # a percentage does not dispute an amount in billions


def test_a_near_rival_that_names_another_subject_is_not_judged(scorer):
    parts = _parts(("a.txt", "Lundi, l'action Nvidia a chuté de 20 % en une séance."),
                   ("b.txt", "Nvidia a entraîné la cote dans sa chute lundi. " + NASDAQ))
    verifier = Verifier("De combien l'action Nvidia a-t-elle chuté ?", parts, scorer)
    cited = verifier.spans[1][0]
    calls = []
    found = rival_figures(cited, "a.txt", numbers(cited.text), verifier.spans, parts, scorer, None, "Nvidia",
                          "L'action Nvidia a chuté de 20 %.", lambda *a: calls.append(a) or True)
    assert found == [] and calls == []  # Nvidia is named before it, but the 3,5 % is the Nasdaq's


def test_a_figure_the_sentence_gives_to_another_is_no_rival(scorer):
    parts = _parts(("a.txt", "Lundi, l'action Nvidia a chuté de 20 % en une séance."),
                   ("b.txt", "DeepSeek a provoqué lundi une chute de 3,5 % du Nasdaq et une lourde perte pour Nvidia."))
    verifier = Verifier("De combien l'action Nvidia a-t-elle chuté ?", parts, scorer)
    cited = verifier.spans[1][0]
    found = rival_figures(cited, "a.txt", numbers(cited.text), verifier.spans, parts, scorer, None, "Nvidia",
                          "L'action Nvidia a chuté de 20 %.", lambda *a: True)
    assert found == []  # it names Nvidia, but "3,5 % du Nasdaq" is the Nasdaq's


def test_a_year_counts_nothing():
    from rag.disputes import quantity_of
    [year] = numbers("Fondée en 2023 par Liang Wenfeng")
    assert quantity_of(year, "Fondée en 2023 par Liang Wenfeng") is None
    [chips] = numbers("un réseau de 10 000 puces A100")
    assert quantity_of(chips, "un réseau de 10 000 puces A100") == "n:puc"


def test_a_figure_owned_by_another_is_no_rival_whoever_the_claim_is_about(scorer):
    parts = _parts(("a.txt", "Lundi, l'action Nvidia a chuté de 20 % en une séance."),
                   ("b.txt", "Lundi, l'action Nvidia a entraîné une chute de 3,5 % du Nasdaq en une séance."))
    verifier = Verifier("De combien l'action Nvidia a-t-elle chuté ?", parts, scorer)
    cited = verifier.spans[1][0]
    for subject in ("Nvidia", None):  # claims() finds no subject in "Nvidia a chuté…" (a capital at the start)
        found = rival_figures(cited, "a.txt", numbers(cited.text), verifier.spans, parts, scorer, None, subject,
                              "L'action Nvidia a chuté de 20 %.", lambda *a: True)
        assert found == [], subject


def test_a_count_of_another_noun_disputes_a_bare_count_only_if_the_judge_says_so(scorer):
    parts = _parts(("a.txt", "DeepSeek n'en a besoin que de 2 000 pour son modèle."),
                   ("b.txt", "DeepSeek n'en a besoin que de 160 employés pour son modèle."))
    verifier = Verifier("Combien de puces ?", parts, scorer)
    cited = verifier.spans[1][0]
    calls = []

    def found(confirm):
        return {f.number.text for _, g in rival_figures(cited, "a.txt", numbers(cited.text), verifier.spans, parts,
                                                         scorer, "n:puc", "DeepSeek", None, confirm) for f in g}
    assert found(None) == set()  # the same sentence, but 160 employees are no count of chips
    assert found(lambda claim, text: calls.append(claim) or False) == set()
    assert calls == ["DeepSeek n'en a besoin que de 160 pour son modèle."]


def test_the_claim_is_rewritten_with_the_rival_figure_where_it_states_it():
    from rag.disputes import _with_figure
    [mine] = numbers("2 000 puces")
    [theirs] = numbers("10 000 puces")
    assert _with_figure("En 2 mois, DeepSeek a utilisé 2 000 puces.", mine, theirs) == "En 2 mois, DeepSeek a utilisé 10 000 puces."
    assert _with_figure("DeepSeek a utilisé 12 000 puces.", mine, theirs) is None
