"""The benchmark runs end to end (its quick generation section, the one that drives the real LLM): it
must finish without a section error and measure every generation target. The figures themselves are
for `make bench` and the README, not asserted here."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.llm
def test_quick_generation_benchmark_runs_and_measures_its_targets(tmp_path):
    out = tmp_path / "latest.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}  # the defaults are what it measures
    proc = subprocess.run([sys.executable, "-m", "bench", "--quick", "--only", "generation", "--output", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads(out.read_text())
    assert results["errors"] == {}
    measured = {t["target"]: t for t in results["targets"]}
    ttft = next(t for name, t in measured.items() if name.startswith("time to first token"))
    throughput = next(t for name, t in measured.items() if name.startswith("pipeline generation tokens/s"))
    assert ttft["pass"] is not None and throughput["pass"] is not None
    q = results["generation"]["questions"][0]
    assert 0 < q["prompt_tokens"] < q["prompt_tokens_naive"]  # the excerpts are smaller than whole passages
    assert out.with_suffix(".md").read_text().startswith("# Benchmarks (quick)")
