"""llama.cpp threading under the current machine load: the same GGUF, a fixed 300-token French prompt
and 16 greedy tokens, in fresh processes with (a) rag's settings (n_threads = Settings().llm_threads,
OpenMP's default spin-waiting), (b) the same with OMP_WAIT_POLICY=PASSIVE, (c) one thread.

Run as `python -m bench.llm_probe CHILD THREADS` by `run()`; OpenMP reads its environment when the
library loads, hence one process per variant."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

PROMPT_TOKENS, GEN_TOKENS = 300, 16


def _child(threads: int) -> dict:
    from llama_cpp import Llama

    from rag.config import Settings
    from rag.llms.llamacpp import LLAMA_OPTIONS
    from rag.models import DEFAULT, PACKAGED, assemble

    settings = Settings()
    path = assemble(PACKAGED[DEFAULT], settings.model_dir)
    llama = Llama(model_path=str(path), n_ctx=2048, n_threads=threads, n_threads_batch=threads, verbose=False,
                  **LLAMA_OPTIONS)
    text = sorted(p for p in settings.corpus.iterdir() if p.suffix == ".txt")[0].read_text(encoding="utf-8")
    tokens = llama.tokenize(text.encode(), add_bos=True)[:PROMPT_TOKENS]
    t0 = time.perf_counter()
    llama.eval(tokens)
    prompt_s = time.perf_counter() - t0
    stamps = []
    gen = llama.generate([], reset=False, temp=0.0)
    t0 = time.perf_counter()
    for _ in gen:
        stamps.append(time.perf_counter())
        if len(stamps) >= GEN_TOKENS:
            break
    gen.close()
    decode_s = stamps[-1] - stamps[0]
    return {"threads": threads, "prompt_tokens_per_s": len(tokens) / prompt_s,
            "gen_tokens_per_s": (len(stamps) - 1) / decode_s if decode_s > 0 else None,
            "loadavg": os.getloadavg()[0]}


VARIANTS = (
    ("rag default", None, {}),
    ("OMP_WAIT_POLICY=PASSIVE", None, {"OMP_WAIT_POLICY": "PASSIVE"}),
    ("1 thread", 1, {}),
)


def run(log, deadline: float, rounds: int) -> dict:
    from rag.config import Settings

    threads = Settings().llm_threads
    out = {"prompt_tokens": PROMPT_TOKENS, "gen_tokens": GEN_TOKENS, "runs": [], "notes": []}
    order = list(VARIANTS)
    took = 0.0
    for r in range(rounds):
        for name, th, extra in (order if r % 2 == 0 else order[::-1]):  # ABC then CBA
            if time.perf_counter() + max(took, 10.0) > deadline:
                out["notes"].append("skipped some probe runs (time budget)")
                return out
            from . import ORIGINAL_ENV

            env = {k: v for k, v in ORIGINAL_ENV.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
            env.update(extra)
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "bench.llm_probe", "CHILD", str(th or threads)],
                                  capture_output=True, text=True, env=env, timeout=300,
                                  cwd=Path(__file__).resolve().parent.parent)
            took = time.perf_counter() - t0
            if proc.returncode != 0:
                out["notes"].append(f"{name}: failed ({proc.stderr.strip()[-300:]})")
                continue
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            res["variant"] = name
            out["runs"].append(res)
            log(f"  llama.cpp probe, {name}: prompt {res['prompt_tokens_per_s']:.1f} tok/s, "
                f"decode {res['gen_tokens_per_s'] or 0:.1f} tok/s (load {res['loadavg']:.1f})")
    return out


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "CHILD":
        print(json.dumps(_child(int(sys.argv[2]))))
    else:
        sys.exit("usage: python -m bench.llm_probe CHILD THREADS (used by python -m bench)")
