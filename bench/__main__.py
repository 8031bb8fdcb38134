"""python -m bench [--quick] [--only SECTION ...] [--keep] [--output PATH]

Runs the ingestion, generation and retrieval benchmarks, prints a Markdown report (targets first) and
writes the full results as JSON (bench/results/latest.json, plus a timestamped copy).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")
from rag.config import apply_environment  # noqa: E402

apply_environment()  # offline hygiene, before any library underneath loads

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ("ingestion", "generation", "retrieval", "load")
FULL_BUDGET = 1260.0  # seconds: the full run must end within 21 minutes on 2 cores (load: ~6 of them)
QUICK_BUDGET = 600.0


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.__stderr__, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[1])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run of every benchmark (~3-5 min)")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these sections")
    parser.add_argument("--keep", action="store_true", help="keep the temporary corpora and indexes")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "latest.json")
    args = parser.parse_args(argv)
    os.chdir(ROOT)  # Settings() defaults (corpus/, index/) are relative to the project root

    from . import ingestion, machine, report

    mode = "quick" if args.quick else "full"
    sections = args.only or list(SECTIONS)
    budget = QUICK_BUDGET if args.quick else FULL_BUDGET
    started = time.perf_counter()
    deadline = started + budget
    workdir = Path(tempfile.mkdtemp(prefix="rag-bench-"))
    results: dict = {"mode": mode, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine.describe(),
                     "budget_seconds": budget, "workdir": str(workdir), "errors": {}}
    log(f"{mode} run in {workdir}; load average {results['machine']['loadavg_start']}")

    def section(name, fn):
        t0 = time.perf_counter()
        results.setdefault("section_loadavg", {})[name] = {"start": machine.loadavg()}
        try:
            with contextlib.redirect_stderr(io.StringIO()):  # library progress bars
                results[name] = fn()
        except Exception as exc:  # keep going: a broken section must not hide the others
            results["errors"][name] = f"{type(exc).__name__}: {exc}"
            log(f"{name} FAILED: {exc}\n{traceback.format_exc()}")
        results.setdefault("section_seconds", {})[name] = time.perf_counter() - t0
        results["section_loadavg"][name]["end"] = machine.loadavg()
        log(f"{name}: done in {time.perf_counter() - t0:.0f}s")

    index = None
    try:
        if "ingestion" in sections:
            section("ingestion", lambda: ingestion.run(workdir, args.quick, log, started + budget * 0.31))
            index = Path(results["ingestion"]["default_index"]) if "ingestion" in results else None
        if "generation" in sections:
            from . import generation

            if index is None:  # build the default corpus index in the workdir (rag.open ingests it)
                index = workdir / "index-default"
            section("generation", lambda: generation.run(index, args.quick, log, started + budget * 0.5))
        if "retrieval" in sections:
            from rag.config import Settings
            from rag.embedders import load_embedder

            from . import retrieval

            section("retrieval", lambda: retrieval.run(workdir, args.quick, log, load_embedder(Settings().embedder),
                                                       started + budget * 0.67))
        if "load" in sections:
            from . import load

            if index is None:
                index = workdir / "index-default"
            section("load", lambda: load.run(index, workdir, args.quick, log, deadline))
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    results["machine"]["loadavg_end"] = machine.loadavg()
    results["seconds"] = time.perf_counter() - started
    results["targets"] = report.targets(results)
    text = report.markdown(results)
    if results["errors"]:
        text += "\n## Errors\n\n" + "\n".join(f"- {k}: {v}" for k, v in results["errors"].items()) + "\n"
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(results, indent=1, ensure_ascii=False, default=str)
    args.output.write_text(payload)
    args.output.with_suffix(".md").write_text(text)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (args.output.parent / f"{mode}-{stamp}.json").write_text(payload)
    log(f"wrote {args.output} ({results['seconds']:.0f}s)")
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
