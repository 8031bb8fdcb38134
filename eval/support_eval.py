"""How well the support check separates supported from unsupported answer sentences, on the labelled
pairs of eval/support.jsonl (hand-written from the corpus; schema in eval/README.md).

    python -m eval.support_eval                 # the held-back test split
    python -m eval.support_eval --split dev     # the split thresholds and prompts are tuned on
    python -m eval.support_eval --dump /tmp/dev.json   # every item's verdict, probability and time

Prints, per error class, the share of items flagged as unsupported (for the class "supported" that is
the false-flag rate), then the overall figures: recall (unsupported sentences flagged), false flags
(supported sentences flagged), precision of the flags, and the seconds per check.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from rag.support import THRESHOLD, SupportCheck  # noqa: E402

ITEMS = Path(__file__).resolve().parent / "support.jsonl"
TARGETS = {"recall": 0.85, "false_flags": 0.10}  # issue 12: flag >= 85 % of unsupported, <= 10 % of supported


def load(path: Path, split: str) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        items = [json.loads(line) for line in fh if line.strip()]
    return [i for i in items if split == "all" or i["split"] == split]


def run(check: SupportCheck, items: list[dict], log=print) -> list[dict]:
    rows = []
    for n, item in enumerate(items, 1):
        started = time.perf_counter()
        v = check.verdict(item["question"], item["sentence"], item["passage"])
        rows.append({"id": item["id"], "class": item["class"], "lang": item["lang"], "supported": item["supported"],
                     "flagged": not v.supported, "probability": v.probability, "reason": v.reason,
                     "seconds": time.perf_counter() - started})
        if log:
            mark = "ok " if rows[-1]["flagged"] != item["supported"] else "BAD"
            log(f"[{n:>3}/{len(items)}] {item['id']:<8} {item['class']:<18} {mark} {rows[-1]['seconds']:5.1f}s {v.reason[:70]}")
    return rows


def summary(rows: list[dict]) -> dict:
    by_class = defaultdict(list)
    for r in rows:
        by_class[r["class"]].append(r["flagged"])
    unsupported = [r["flagged"] for r in rows if not r["supported"]]
    supported = [r["flagged"] for r in rows if r["supported"]]
    flagged = [r for r in rows if r["flagged"]]
    asked = sorted(r["seconds"] for r in rows if r["probability"] is not None)
    return {
        "flag_rate_by_class": {c: sum(f) / len(f) for c, f in sorted(by_class.items())},
        "n_by_class": {c: len(f) for c, f in sorted(by_class.items())},
        "recall": sum(unsupported) / len(unsupported) if unsupported else None,
        "false_flags": sum(supported) / len(supported) if supported else None,
        "precision": sum(not r["supported"] for r in flagged) / len(flagged) if flagged else None,
        "model_calls": len(asked),
        "seconds_per_call_mean": sum(asked) / len(asked) if asked else None,
        "seconds_per_call_p95": asked[int(0.95 * (len(asked) - 1))] if asked else None,
    }


def table(s: dict, split: str) -> str:
    lines = [f"support check on the {split} split (threshold {THRESHOLD})", "", "| class | n | flagged |", "|---|---|---|"]
    for c, rate in s["flag_rate_by_class"].items():
        lines.append(f"| {c}{' (false flags)' if c == 'supported' else ''} | {s['n_by_class'][c]} | {rate:.0%} |")
    lines += ["",
              f"unsupported flagged (recall): {s['recall']:.0%}   target >= {TARGETS['recall']:.0%}",
              f"supported flagged (false flags): {s['false_flags']:.0%}   target <= {TARGETS['false_flags']:.0%}",
              f"precision of the flags: {s['precision']:.0%}",
              f"model calls: {s['model_calls']}, {s['seconds_per_call_mean']:.1f} s each on average, "
              f"p95 {s['seconds_per_call_p95']:.1f} s" if s["model_calls"] else "model calls: 0"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m eval.support_eval", description=__doc__.split("\n")[0])
    p.add_argument("--split", choices=("dev", "test", "all"), default="test")
    p.add_argument("--items", default=str(ITEMS), help="labelled pairs (default eval/support.jsonl)")
    p.add_argument("--llm", help="embedded | gguf:/path | ollama:<model> (default: $RAG_LLM)")
    p.add_argument("--dump", help="write every item's verdict to this JSON file")
    opts = p.parse_args(argv)

    from rag.config import Settings
    from rag.llms import load_llm

    items = load(Path(opts.items), opts.split)
    if not items:
        print(f"no items in {opts.items} for split {opts.split!r}", file=sys.stderr)
        return 2
    settings = Settings().with_(llm=opts.llm)
    rows = run(SupportCheck(load_llm(settings)), items, log=lambda line: print(line, flush=True))
    s = summary(rows)
    print()
    print(table(s, opts.split))
    if opts.dump:
        Path(opts.dump).write_text(json.dumps({"summary": s, "items": rows}, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
