"""Answers as text, in one place: the answer text itself, the terminal view (CLI), and the pieces the
UI's HTML and the eval reuse (a sentence with its markers, a disagreement note)."""
from __future__ import annotations

from typing import TextIO

from .types import Answer, Disagreement, Sentence

ABSTAIN = {"fr": "Les documents ne le disent pas.", "en": "The documents don't say.",
           "de": "Die Dokumente sagen es nicht.", "es": "Los documentos no lo dicen."}
DISAGREE = {"fr": "Les sources divergent :", "en": "The sources disagree:",
            "de": "Die Quellen widersprechen sich:", "es": "Las fuentes no coinciden:"}


def sentence(s: Sentence) -> str:
    """A sentence with its citation markers before the final stop: "Il a chuté de 17 % [1]."."""
    marks = "".join(f"[{n}]" for n in s.citations)
    body = s.text
    if marks and body[-1:] in ".!?":
        return f"{body[:-1]} {marks}{body[-1]}"
    return f"{body} {marks}".strip()


def short_title(title: str, limit: int = 40) -> str:
    return title if len(title) <= limit else title[:limit].rsplit(" ", 1)[0] + "…"


def figures(d: Disagreement) -> str:
    """"465 milliards (Title) [3] ; 589 milliards (Other title) [4]": each figure with its source."""
    return " ; ".join(f"{f.text} ({short_title(f.title)}) [{f.citation}]" for f in d.figures)


def disagreement(d: Disagreement, language: str) -> str:
    return f"{DISAGREE.get(language, DISAGREE['en'])} {figures(d)}."


def text(answer: Answer) -> str:
    """Answer.text: the supported sentences with their markers, then one note per disagreement (the
    sentences that failed the check stay on Answer.sentences, marked, but are not the answer)."""
    if answer.abstained:
        return ABSTAIN.get(answer.language, ABSTAIN["en"])
    kept = [sentence(s) for s in answer.sentences if s.supported]
    return " ".join(kept + [disagreement(d, answer.language) for d in answer.conflicts])


def terminal(answer: Answer, out: TextIO) -> None:
    """What `rag ask` / `rag chat` print: the verified answer, what was left out and why, the sources
    and the timings (the draft streamed before it went to stderr)."""
    out.write(f"\n{answer.text}\n")
    if answer.abstained:
        out.write("(abstained: the retrieved passages do not answer this)\n")
    for s in answer.sentences:
        if not s.supported and not answer.abstained:
            out.write(f"  ! left out, not supported by the sources: {s.text} ({s.reason})\n")
    if answer.citations:
        out.write("\nSources:\n")
    for c in answer.citations:
        quote = " ".join(c.text.split())
        where = f", {c.section}" if c.section else ""
        out.write(f"  [{c.n}] {c.source}{where}:{c.start}-{c.end}  {c.title[:60]}\n      « {quote[:240]} »\n")
    t = answer.timings
    out.write(f"\n(retrieval {t.get('retrieval', 0):.2f}s, first token {t.get('first_token', 0):.1f}s, "
              f"total {t.get('total', 0):.1f}s)\n")
