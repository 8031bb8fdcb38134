"""Answers keep their speed when other work shares the cores: the decoding-thread policy (rag/load.py)
and the niced background ingest (rag/background.py). The speeds themselves are measured by
`python -m bench --only load`, not here: these tests check the mechanisms on real parts."""
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rag.errors import ConfigError, CorpusError
from rag.load import CoreWatch, decode_threads

from conftest import INDEX_SETTINGS

BUSY_LOOP = [sys.executable, "-c", "while True: pass"]


@pytest.mark.parametrize("others, available, most, threads", [
    (0.0, 2, 2, 2),    # a quiet machine: every core
    (0.2, 2, 2, 2),    # a browser repainting is not worth a thread
    (1.0, 2, 2, 1),    # one core taken: spin-waiting on it would collapse decoding
    (2.0, 2, 2, 1),    # both taken: still one thread, never zero
    (1.0, 8, 8, 7),
    (1.0, 8, 4, 4),    # never more than asked for
    (None, 2, 2, 2),   # unknown (no /proc/stat): as configured
])
def test_decode_threads_leave_the_cores_other_programs_use(others, available, most, threads):
    assert decode_threads(most, others, available) == threads


@pytest.mark.skipif(not Path("/proc/stat").exists(), reason="reads Linux's /proc/stat")
def test_core_watch_sees_a_busy_program_but_not_an_idle_priority_one_nor_this_process():
    watch = CoreWatch(interval=0.3)
    time.sleep(0.4)
    assert watch.others_busy() is not None

    def settled() -> float:
        time.sleep(0.7)  # two readings after the change
        return watch.others_busy()

    hog = subprocess.Popen(BUSY_LOOP)
    try:
        busy = settled()
    finally:
        hog.kill()
    niced = subprocess.Popen(  # at the priority rag's background ingest runs at, once it has been imported
        [sys.executable, "-c", "from rag.load import yield_cores; yield_cores(); print('ready', flush=True)\nwhile True: pass"],
        cwd=Path(__file__).resolve().parent.parent, stdout=subprocess.PIPE, text=True)
    assert niced.stdout.readline().strip() == "ready"
    try:
        yielding = settled()
    finally:
        niced.kill()
    end = time.monotonic() + 0.8
    while time.monotonic() < end:  # this process's own work is not "another program"
        pass
    own = watch.others_busy()
    assert busy > 0.7, busy
    # what else runs on the machine adds to these (a CI runner's own processes): bounded, not zero
    assert yielding < busy - 0.5, (yielding, busy)
    assert own < busy - 0.5, (own, busy)


def _policy_of_background_ingest() -> int | None:
    """The scheduling policy of a running `rag.background` child, if one is running."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if b"rag.background" in cmdline.read_bytes():
                return os.sched_getscheduler(int(cmdline.parent.name))
        except OSError:
            continue
    return None


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="Linux's idle scheduling class")
def test_background_ingest_runs_at_idle_priority_reports_progress_and_reloads(small_corpus, tmp_path, embedder):
    import rag

    bot = rag.open(small_corpus, tmp_path / "index", **INDEX_SETTINGS)
    before = bot.status()["chunks"]
    (small_corpus / "pompon.txt").write_text("Le chat de Marie s'appelle Pompon ; il a trois ans. " * 12, encoding="utf-8")
    seen, policy = [], []

    def progress(done, total):
        seen.append((done, total))
        policy.append(_policy_of_background_ingest())

    report = bot.ingest(progress=progress, background=True)

    assert report.added == ["pompon.txt"] and report.embedded > 0
    assert seen and seen[-1][0] == seen[-1][1] == report.embedded
    assert policy[0] == os.SCHED_IDLE and bot.settings.ingest_priority == "idle"
    assert bot.status()["chunks"] == report.chunks > before  # the parent searches the new generation
    assert bot.search("Comment s'appelle le chat de Marie ?", k=1)[0].source == "pompon.txt"


def test_background_ingest_raises_the_childs_error_and_keeps_the_index(small_corpus, tmp_path, embedder):
    import rag

    bot = rag.open(small_corpus, tmp_path / "index", **INDEX_SETTINGS)
    chunks = bot.status()["chunks"]
    shutil.rmtree(small_corpus)
    with pytest.raises(CorpusError, match="corpus"):
        bot.ingest(background=True)
    assert bot.status()["chunks"] == chunks and bot.search("DeepSeek", k=1)


def test_normal_priority_ingests_in_process(small_corpus, tmp_path, embedder, monkeypatch):
    import rag
    from rag import background

    bot = rag.open(small_corpus, tmp_path / "index", ingest_priority="normal", **INDEX_SETTINGS)
    monkeypatch.setattr(background, "ingest_in_background", lambda *a, **k: pytest.fail("no child at normal priority"))
    (small_corpus / "more.txt").write_text("Un texte de plus sur les semi-conducteurs. " * 10, encoding="utf-8")
    assert bot.ingest(background=True).added == ["more.txt"]


@pytest.mark.parametrize("value", ["low", "19", ""])
def test_an_unknown_ingest_priority_is_refused(value, monkeypatch):
    from rag.config import Settings

    monkeypatch.setenv("RAG_INGEST_PRIORITY", value)
    with pytest.raises(ConfigError, match="RAG_INGEST_PRIORITY"):
        Settings()


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="Linux's idle scheduling class")
@pytest.mark.parametrize("priority", ["idle", "normal"])
def test_cli_ingest_runs_at_the_configured_priority(priority, small_corpus, tmp_path):
    """`rag ingest` lowers its own priority before it loads anything: the process itself, not a child."""
    probe = ("import os, sys; from rag import cli; "
             "cli._open = lambda args: sys.exit(f'policy {os.sched_getscheduler(0)}'); "
             "cli.main(['ingest', '--corpus', sys.argv[1], '--index', sys.argv[2]])")
    env = {**os.environ, "RAG_INGEST_PRIORITY": priority}
    out = subprocess.run([sys.executable, "-c", probe, str(small_corpus), str(tmp_path / "i")],
                         capture_output=True, text=True, env=env, cwd=Path(__file__).resolve().parent.parent)
    expected = os.SCHED_IDLE if priority == "idle" else os.SCHED_OTHER
    assert out.stderr.strip().endswith(f"policy {expected}"), out.stderr
