"""The time a text gives a figure for: a time said from now ("l'an dernier", "this year") or a year
("en 2024"). Read by rag.asks (a figure for another time than the question's is no answer) and by
the lexical rule (rag.claims: a sentence that dates a passage's figure otherwise than the passage).

    times(text) -> (times said from now, years)       e.g. ({"last year"}, {"2024"})
    given_times(figure, text) -> for each sentence of `text` stating the figure, the time said
                                 nearest it, of each kind: [{"from now": "this year"}, {}]
    misdated(figures, sentence, text) -> the figures `text` gives for another time
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .text import Number, is_trivial, is_year, numbers, same_number, sentence_spans

# A time said from now, under one name whatever the language
_FROM_NOW = {
    "last year": r"l['’]an\s+(?:dernier|passé)|l['’]année\s+(?:dernière|passée)|last\s+year",
    "this year": r"cette\s+année|this\s+year",
    "next year": r"l['’]an\s+prochain|l['’]année\s+prochaine|next\s+year",
}
_FROM_NOW_RE = re.compile("|".join(rf"(?P<{k.replace(' ', '_')}>\b(?:{v})\b)" for k, v in _FROM_NOW.items()),
                          re.IGNORECASE)
# a year as the time of a figure ("en 2024", "in fiscal 2024", "pour l'année 2024"), not any four digits
# ("2000 puces") nor a point since which ("depuis 2020")
_YEAR = re.compile(r"\b(?:en|in|durant|during|pour|for|fin|début|courant|of)\s+(?:(?:l['’]année|the\s+year|fiscal|l['’]exercice)\s+)?"
                   r"((?:19|20)\d{2})(?!\d|[,.]\d)", re.IGNORECASE)


@dataclass(frozen=True)
class _Mark:
    kind: str  # "from now" or "year"
    value: str  # "last year", "2024"
    at: int  # where it is said in the text


def _marks(text: str) -> list[_Mark]:
    found = [_Mark("from now", m.lastgroup.replace("_", " "), m.start()) for m in _FROM_NOW_RE.finditer(text)]
    return found + [_Mark("year", m.group(1), m.start(1)) for m in _YEAR.finditer(text)]


def times(text: str) -> tuple[set[str], set[str]]:
    """(the times said from now, the years) a text names."""
    marks = _marks(text)
    return ({m.value for m in marks if m.kind == "from now"}, {m.value for m in marks if m.kind == "year"})


def _nearest(marks: list[_Mark], at: int) -> dict[str, str]:
    """Of each kind, the time said nearest to position `at`."""
    out: dict[str, tuple[int, str]] = {}
    for m in marks:
        distance = abs(m.at - at)
        if m.kind not in out or distance < out[m.kind][0]:
            out[m.kind] = (distance, m.value)
    return {kind: value for kind, (_, value) in out.items()}


def _another(given: dict[str, str], said: dict[str, str]) -> str | None:
    """The time `given` (by kind) that differs from the one `said`, when every kind both name differs."""
    shared = [kind for kind in said if kind in given]
    return given[shared[0]] if shared and all(given[k] != said[k] for k in shared) else None


def _checkable(n: Number) -> bool:
    return not is_trivial(n) and not is_year(n)


def given_times(n: Number, text: str) -> list[dict[str, str]]:
    """For each sentence of `text` that states figure `n`, the time said nearest it, of each kind
    ({"from now": "this year", "year": "2025"}; {} where undated)."""
    out = []
    for s in sentence_spans(text):
        figures = [h for h in numbers(s.text) if _checkable(h) and same_number(n, h)]
        if figures:
            marks = _marks(s.text)
            out += [_nearest(marks, h.end) for h in figures]
    return out


def misdated(nums: list[Number], sentence: str, text: str) -> list[str]:
    """Figures of `sentence` that it dates otherwise than `text` does: "Meta spent 65 billion dollars
    on AI last year" from "…et que Meta prévoit 65 milliards de dollars cette année pour l'IA, Sam
    Altman a estimé l'an dernier que…" (as "65 billion (this year)"). A figure's time is the time said
    nearest it in its sentence, compared kind with kind (from now with from now, years with years). A
    figure the text also states undated, or for the sentence's time, is not misdated; nor one the
    sentence dates not at all."""
    mine = _marks(sentence)
    if not mine:  # the common case: the text need not be split (the Verifier asks every passage)
        return []
    out = []
    for n in nums:
        if not _checkable(n):
            continue
        said = _nearest(mine, n.end)
        given = [_another(t, said) for t in given_times(n, text)]
        if given and all(given):  # every time the text states it, it dates it otherwise
            out.append(f"{n.text} ({given[0]})")
    return out
