"""An ingest that yields the cores to answers: run in a child process at idle priority.

Embedding a corpus keeps both cores busy for minutes; in the process that serves answers it would
take them from the model, whose threads spin-wait for each other and collapse when a core is taken.
At idle priority (rag.load.yield_cores) the kernel gives the child's cores to the answers whenever
they want them, and the embedding goes on at full speed whenever nobody is asking (README, Under load).

The parent sends the settings on the child's stdin (never on its command line: they may hold an API
key); the child writes JSON lines on stdout: {"progress": [done, total]}, then {"report": …} or
{"error": [class name, message]}, which the parent raises again as the same RagError.
"""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from . import errors
from .config import Settings
from .documents import Skipped
from .errors import RagError
from .ingest import IngestReport, Progress


def ingest_in_background(settings: Settings, progress: Progress | None = None,
                         rebuild_because: str | None = None) -> IngestReport:
    """rag.ingest.ingest(settings, …) in a child process at idle priority: the same report, the same
    progress calls, the same errors."""
    # the priority is lowered before anything is imported: every thread the child starts (numpy's, the
    # embedder's) inherits it. rag.load.yield_cores, written out: importing rag would start threads.
    launch = ("import os, runpy\n"
              "os.nice(19 - os.nice(0))\n"
              "if hasattr(os, 'SCHED_IDLE'): os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))\n"
              "runpy.run_module('rag.background', run_name='__main__')")
    with tempfile.TemporaryFile("w+", encoding="utf-8") as stderr:  # a file: a chatty child cannot block on it
        child = subprocess.Popen([sys.executable, "-c", launch], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=stderr, text=True, encoding="utf-8")
        outcome = _follow(child, settings, rebuild_because, progress)
        stderr.seek(0)
        said = stderr.read().strip()[-500:]
    if outcome is None:  # killed, or crashed before it could say why
        raise RagError(f"the background ingest stopped (exit status {child.returncode}) without a report; "
                       f"the previous index is still the live one. {said}")
    if "error" in outcome:
        name, message = outcome["error"]
        kind = getattr(errors, name, RagError)
        raise (kind if isinstance(kind, type) and issubclass(kind, RagError) else RagError)(message)
    return _report(outcome["report"])


def _follow(child: subprocess.Popen, settings: Settings, rebuild_because: str | None,
            progress: Progress | None) -> dict | None:
    """Send the request, pass progress on; the child's last message (None if it said nothing). If
    the caller gives up (its progress callback raises, say), the child is stopped: its checkpoint
    keeps what it embedded, and the live index is untouched."""
    outcome = None
    try:
        child.stdin.write(json.dumps({"settings": _encode(settings), "rebuild_because": rebuild_because}))
        child.stdin.close()
        for line in child.stdout:
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                message = None
            if not isinstance(message, dict):  # a library underneath printed something: not ours
                continue
            if "progress" not in message:
                outcome = message
            elif progress is not None:
                progress(*message["progress"])
    except BaseException:
        child.kill()
        raise
    finally:
        child.wait()
    return outcome


def _encode(settings: Settings) -> dict:
    return {f.name: str(v) if isinstance(v := getattr(settings, f.name), Path) else v
            for f in dataclasses.fields(settings)}


def _decode(values: dict) -> Settings:
    paths = {f.name for f in dataclasses.fields(Settings) if f.type in ("Path", Path)}
    return Settings(**{k: Path(v) if k in paths else v for k, v in values.items()})


def _report(values: dict) -> IngestReport:
    for key in ("skipped", "kept"):
        values[key] = [Skipped(**s) for s in values[key]]
    return IngestReport(**values)


def _child() -> None:
    from .ingest import ingest

    def say(message: dict) -> None:
        print(json.dumps(message), flush=True)

    request = json.loads(sys.stdin.read())
    try:
        report = ingest(_decode(request["settings"]), progress=lambda done, total: say({"progress": [done, total]}),
                        rebuild_because=request["rebuild_because"])
    except RagError as exc:
        say({"error": [type(exc).__name__, str(exc)]})
        return
    say({"report": dataclasses.asdict(report)})


if __name__ == "__main__":
    _child()
