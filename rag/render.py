"""Plain-text rendering of an Answer for the CLI."""
from __future__ import annotations

from typing import TextIO

from .schema import Answer


def print_answer(answer: Answer, out: TextIO) -> None:
    if answer.text and not answer.abstained:
        out.write(f"\n{answer.text}\n")
    if answer.abstained:
        out.write("(abstained: the retrieved passages do not answer this)\n")
    for s in answer.sentences:
        if not s.supported and not answer.abstained:
            out.write(f"  ! unsupported: {s.text} ({s.reason})\n")
    if answer.citations:
        out.write("\nSources:\n")
    for c in answer.citations:
        text = " ".join(c.text.split())
        out.write(f"  [{c.n}] {c.source}:{c.start}-{c.end}  {c.title[:60]}\n      « {text[:240]} »\n")
    t = answer.timings
    out.write(f"\n(retrieval {t.get('retrieval', 0):.2f}s, first token {t.get('first_token', 0):.1f}s, "
              f"total {t.get('total', 0):.1f}s)\n")
