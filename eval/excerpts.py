"""What the model sees: does the evidence survive the cut from retrieved passages to excerpts?

    python -m eval.excerpts              # dev set + eval set, every setting in SETTINGS (no LLM calls)

The prompt holds, of the RAG_TOP_K retrieved passages, only the sentences that bear most on the
question (rag.prompt.excerpts), at most RAG_EXCERPT_CHARS characters: fewer tokens, a faster first
token on a CPU. For each setting, over every (question, evidence) pair of the dev set and of the eval set's answerable items:

- passage recall: a retrieved passage overlaps the evidence (the retrieval itself);
- excerpt recall: a sentence shown to the model overlaps the evidence (what it can answer from);
- prompt tokens: mean tokens of the answer prompt (the packaged LLM's tokenizer, chat template aside).

Follow-ups are searched with the last user turn prepended (the pipeline's fallback when the LLM does
not rewrite them). Answer quality under a setting is `rag eval` with the same RAG_* variables.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rag.config import apply_environment  # noqa: E402

apply_environment()  # offline hygiene, before any library underneath loads

from eval.retrieval import QUESTIONS as DEV_QUESTIONS  # noqa: E402
from eval.run import QUESTIONS as EVAL_QUESTIONS  # noqa: E402
from eval.run import retrieval_query  # noqa: E402

# (top_k, excerpt characters in all); None: the whole passages
SETTINGS = [(4, None), (4, 3000), (4, 1500), (4, 1000), (4, 700), (3, 1500), (5, 1500)]


def evidence_units(dev_path: Path = DEV_QUESTIONS, eval_path: Path = EVAL_QUESTIONS) -> list[dict]:
    """One unit per (question, source, evidence): {set, id, query, source, evidence}."""
    units = []
    for line in dev_path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            q = json.loads(line)
            units.append({"set": "dev", "id": q["id"], "query": q["question"], "source": q["source"], "evidence": q["evidence"]})
    for line in eval_path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            q = json.loads(line)
            for source, evidence in zip(q.get("sources") or [], q.get("evidence") or []):
                units.append({"set": "eval", "id": q["id"], "query": retrieval_query(q), "source": source, "evidence": evidence})
    return units


def _overlaps(source: str, start: int, end: int, unit: dict, span: tuple[int, int] | None) -> bool:
    return span is not None and source == unit["source"] and start < span[1] and span[0] < end


def measure(bot, units: list[dict], top_k: int, chars: int | None, count_tokens) -> dict:
    from rag.prompt import Excerpt, answer_messages, excerpts, usable_spans
    from rag.text import detect_language

    hits = {"dev": [0, 0, 0], "eval": [0, 0, 0]}  # units, passage hits, excerpt hits
    tokens, prompts = 0, set()
    for unit in units:
        text = bot.document_text(unit["source"])
        at = text.find(unit["evidence"])
        span = (at, at + len(unit["evidence"])) if at >= 0 else None
        passages = bot.search(unit["query"], k=top_k)
        if chars is None:  # what a naive pipeline sends: every sentence of every passage
            parts = [Excerpt(n, p, usable_spans(p), []) for n, p in enumerate(passages, 1)]
        else:
            parts = excerpts(unit["query"], passages, bot.scorer, budget=chars)
        row = hits[unit["set"]]
        row[0] += 1
        row[1] += any(_overlaps(p.source, p.start, p.end, unit, span) for p in passages)
        row[2] += any(_overlaps(e.passage.source, s.start, s.end, unit, span) for e in parts for s in e.sentences)
        if unit["query"] not in prompts:  # one prompt per question, not per evidence
            prompts.add(unit["query"])
            messages = answer_messages(unit["query"], detect_language(unit["query"]), parts)
            tokens += count_tokens("\n".join(m["content"] for m in messages))
    out = {"top_k": top_k, "chars": chars, "prompt_tokens": tokens / max(len(prompts), 1)}
    for name, (n, passage_hits, excerpt_hits) in hits.items():
        out[name] = {"units": n, "passage_recall": passage_hits / n, "excerpt_recall": excerpt_hits / n}
    return out


def table(rows: list[dict], default: tuple) -> str:
    out = ["| RAG_TOP_K | RAG_EXCERPT_CHARS | dev passage recall | dev excerpt recall | "
           "eval passage recall | eval excerpt recall | prompt tokens (mean) |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        mark = " (default)" if (r["top_k"], r["chars"]) == default else ""
        out.append(f"| {r['top_k']} | {r['chars'] or 'whole passages'}{mark} | "
                   f"{r['dev']['passage_recall']:.0%} | {r['dev']['excerpt_recall']:.0%} | "
                   f"{r['eval']['passage_recall']:.0%} | {r['eval']['excerpt_recall']:.0%} | {r['prompt_tokens']:.0f} |")
    n_dev, n_eval = rows[0]["dev"]["units"], rows[0]["eval"]["units"]
    out.append(f"\n{n_dev} dev and {n_eval} eval (question, evidence) pairs.")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    import rag

    parser = argparse.ArgumentParser(prog="python -m eval.excerpts", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("reports/excerpts.json"), help="JSON report")
    args = parser.parse_args(argv)
    bot = rag.open()
    llm = bot.llm
    count = getattr(llm, "count_tokens", None) or (lambda text: len(text) // 4)
    units = evidence_units()
    rows = []
    for top_k, chars in SETTINGS:
        rows.append(measure(bot, units, top_k, chars, count))
        print(f"RAG_TOP_K={top_k} RAG_EXCERPT_CHARS={chars}: done", file=sys.stderr, flush=True)
    text = table(rows, (bot.settings.top_k, bot.settings.excerpt_chars))
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rows": rows, "markdown": text}, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
