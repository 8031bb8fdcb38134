"""`rag ask` and `rag chat` as a person runs them: real processes, the real index of the default corpus,
and a scripted model served the way Ollama serves one (rag.testing.FakeOllama on 127.0.0.1), so what
they print is exact: the streamed answer, the sources with their offsets, the follow-up rewritten with
the history, and `/new` forgetting it."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rag.prompt import CONDENSE
from rag.testing import FakeLLM, FakeOllama

ROOT = Path(__file__).resolve().parent.parent
FOUNDED = "DeepSeek a été fondée par Liang Wenfeng"
FORMER_JOB = "Liang Wenfeng était gestionnaire de fonds spéculatifs"
FOLLOW_UP = "Et avant ça, quel était son métier ?"
_EXCERPT = re.compile(r"^\[(\d+)\] (.*)$", re.M)


def reply(messages: list[dict]) -> str:
    """A model that rewrites the follow-up, and answers when an excerpt says what is asked."""
    if messages[0]["content"] == CONDENSE:
        return "Quel était le métier de Liang Wenfeng avant de fonder DeepSeek ?"
    prompt = messages[-1]["content"]
    wanted, answer = ("gestionnaire de fonds", FORMER_JOB) if "métier" in prompt else ("Liang Wenfeng", FOUNDED)
    cited = [n for n, text in _EXCERPT.findall(prompt) if wanted in text]
    return f"{answer} [{cited[0]}]." if cited else "NOT_IN_DOCUMENTS"


@pytest.fixture
def ollama():
    with FakeOllama(FakeLLM(reply)) as server:
        yield server


def rag_cli(*args: str, server: FakeOllama, index: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(RAG_LLM="ollama:fake", OLLAMA_HOST=server.url)
    return subprocess.run([sys.executable, "-m", "rag.cli", *args, "--corpus", "corpus", "--index", str(index)],
                          cwd=ROOT, env=env, input=stdin, capture_output=True, text=True, timeout=300)


def _sources(out: str) -> list[tuple[str, str, int, int, str]]:
    """(n, source, start, end, quoted text) of each source the CLI printed."""
    return [(m[0], m[1], int(m[2]), int(m[3]), m[4]) for m in
            re.findall(r"^  \[(\d+)\] (\S+):(\d+)-(\d+)  .*\n      « (.*) »$", out, re.M)]


def test_ask_streams_the_answer_then_prints_its_exact_sources(default_bot, ollama):
    done = rag_cli("ask", "Qui a fondé DeepSeek ?", server=ollama, index=default_bot.settings.index)
    assert done.returncode == 0, done.stderr
    # the model's draft streams to stderr, marked as such; stdout carries only the checked answer
    assert f"(draft, being checked) {FOUNDED} [1]." in done.stderr
    assert done.stdout.startswith(f"\n{FOUNDED} [1].\n") and "\nSources:\n" in done.stdout
    [(n, source, start, end, quoted)] = _sources(done.stdout)
    assert n == "1" and "Liang Wenfeng" in quoted
    assert default_bot.document_text(source)[start:end].startswith(quoted.rstrip("…")[:200])
    assert re.search(r"^\(retrieval \d+\.\d\ds, first token \d+\.\ds, total \d+\.\ds\)$", done.stdout, re.M)
    assert len(ollama.requests) == 1 and ollama.requests[0]["options"]["num_ctx"] == 4096


def test_chat_keeps_the_history_for_follow_ups_until_new(default_bot, ollama):
    session = f"Qui a fondé DeepSeek ?\n{FOLLOW_UP}\n/new\n{FOLLOW_UP}\n\n"
    done = rag_cli("chat", server=ollama, index=default_bot.settings.index, stdin=session)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("Ask about the documents (empty line or Ctrl-D to quit; /new starts over).")
    assert out.count("\n> ") == 5  # four questions (/new among them) and the empty line that ends it

    first, follow_up, new, after_new = out.split("\n> ")[1:5]
    assert new == ""
    assert f"{FOUNDED} [1]." in first and "Sources:" in first
    assert f"{FORMER_JOB} [1]." in follow_up and "gestionnaire de fonds" in _sources(follow_up)[0][4]
    assert "(abstained: the retrieved passages do not answer this)" in after_new  # no history: no idea who "he" is

    condense = [r for r in ollama.requests if r["messages"][0]["content"] == CONDENSE]
    assert len(condense) == 1, "only the follow-up before /new is rewritten with the history"
    assert "Qui a fondé DeepSeek ?" in condense[0]["messages"][-1]["content"]
    assert FOUNDED in condense[0]["messages"][-1]["content"]  # the answer is part of the history too
    last_prompt = ollama.requests[-1]["messages"][-1]["content"]
    assert f"Question: {FOLLOW_UP}\n" in last_prompt and "Liang" not in last_prompt.split("Question:")[1]


def test_a_model_the_server_lacks_is_one_line_on_stderr_and_exit_2(default_bot):
    with FakeOllama(FakeLLM([]), models=["other"]) as server:
        done = rag_cli("ask", "Qui a fondé DeepSeek ?", server=server, index=default_bot.settings.index)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("rag: error: Ollama at ")
    assert "ollama pull fake" in done.stderr and "Traceback" not in done.stderr
