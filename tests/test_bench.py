"""The benchmark runs end to end (its quick generation section, the one that drives the real LLM): it
must finish without a section error, and what it measures must be real figures in a plausible range
for a 1.5B model on a CPU (a zero, a negative or an absurd figure means the measurement broke; whether
a target is met depends on the machine and is for `make bench` and the README)."""
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
    gen = results["generation"]
    [q] = [q for q in gen["questions"] if q["round"] == 1]
    [raw] = gen["raw"]
    assert 0 < q["prompt_tokens"] < q["prompt_tokens_naive"]  # the excerpts are smaller than whole passages
    assert q["prompt_tokens_checked"], "the tokens measured are the ones llama.cpp read"
    assert 0 < q["system_prompt_tokens"] < q["prompt_tokens"] == raw["prompt_tokens"]
    assert q["generated_tokens"] == raw["generated_tokens"] > 1
    assert 0 < q["retrieval_seconds"] < q["ttft_seconds"] <= q["total_seconds"] < 300
    assert 0.5 < q["gen_tokens_per_s"] < 200 and 0.5 < raw["gen_tokens_per_s"] < 200  # ~12 tok/s on 2 cores
    assert 5 < raw["prompt_tokens_per_s"] < 5000  # ~85 tok/s on 2 cores
    assert 0.3 < gen["gen_ratio"] < 3, "pipeline and raw llama.cpp decode the same tokens at about the same speed"
    cache = gen["cache"]  # another prompt with the same system message in the context: its prefix is reused
    assert cache["warm_reused_tokens"] > max(cache["cold_reused_tokens"], cache["system_prompt_tokens"] // 2)
    assert out.with_suffix(".md").read_text().startswith("# Benchmarks (quick)")
