"""The time a text gives a figure for: a time said from now ("l'an dernier", "this year") or a year
("en 2024"). Read by rag.asks (a figure for another time than the question's is no answer) and by
the lexical rule (rag.claims: a sentence that dates a passage's figure otherwise than the passage).

    times(text) -> (times said from now, years)       e.g. ({"last year"}, {"2024"})
    dates(text) -> for each figure of `text`, the time it is given, of each kind
    given_times(figure, text) -> the same, for each sentence of `text` stating `figure`
    dated_otherwise(given, allowed) -> a time of `given` none of `allowed` is, kind with kind
    misdated(figures, sentence, text) -> the figures `text` gives for another time

Which figure a time dates: each time goes to the figure nearest it in its sentence, counting the
characters between them, unless something stands between them that starts another claim (";", a
parenthesis, "contre", "than", "tandis que"…) or the time is in a clause set off by commas that
holds no figure ("Nvidia, fondée en 1993, compte 36 000 employés": 1993 dates no figure). A figure
no time goes to is undated.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .text import Number, is_trivial, is_year, numbers, same_number, sentence_spans

# A time said from now, under one name whatever the language ("cette année-là" is "that year": none)
_FROM_NOW = {
    "last year": r"l['’]an\s+(?:dernier|passé)|l['’]année\s+(?:dernière|passée)|last\s+year",
    "this year": r"cette\s+année(?![-‑]là)|this\s+year",
    "next year": r"l['’]an\s+prochain|l['’]année\s+prochaine|next\s+year",
}
_FROM_NOW_RE = re.compile("|".join(rf"(?P<{k.replace(' ', '_')}>\b(?:{v})\b)" for k, v in _FROM_NOW.items()),
                          re.IGNORECASE)
# a year as the time of a figure ("en 2024", "in fiscal 2024", "pour l'année 2024"), not any four digits
# ("2000 puces") nor a point since which ("depuis 2020"); after "pour", "for", "of", not a count of
# something ("pour 2000 euros", "of 2000 engineers")
_YEAR = re.compile(r"\b(?:(?:en|in|durant|during|fin|début|courant)\s+(?:(?:l['’]année|the\s+year|fiscal|l['’]exercice)\s+)?"
                   r"((?:19|20)\d{2})|(?:pour|for|of)\s+(?:(?:l['’]année|the\s+year|fiscal|l['’]exercice)\s+)?"
                   r"((?:19|20)\d{2})(?!\s+(?-i:[a-zà-ÿ])|\s*[$€]))(?!\d|[,.]\d)", re.IGNORECASE)
# what starts another claim between a time and a figure
_BETWEEN = re.compile(r"[;()]|\b(?:contre|than|versus|vs|tandis|alors\s+que|whereas|while|compared)\b", re.IGNORECASE)


@dataclass(frozen=True)
class _Mark:
    kind: str  # "from now" or "year"
    value: str  # "last year", "2024"
    start: int  # where it is said in the text
    end: int


def _marks(text: str) -> list[_Mark]:
    found = [_Mark("from now", m.lastgroup.replace("_", " "), m.start(), m.end()) for m in _FROM_NOW_RE.finditer(text)]
    return found + [_Mark("year", m.group(1) or m.group(2), m.start(), m.end()) for m in _YEAR.finditer(text)]


def times(text: str) -> tuple[set[str], set[str]]:
    """(the times said from now, the years) a text names."""
    marks = _marks(text)
    return ({m.value for m in marks if m.kind == "from now"}, {m.value for m in marks if m.kind == "year"})


def checkable(n: Number) -> bool:
    """A figure whose time matters: not a small bare count, nor a year itself."""
    return not is_trivial(n) and not is_year(n)


def _aside(text: str, mark: _Mark, figures: list[Number]) -> bool:
    """A time in a clause set off by commas that holds no figure ("Nvidia, fondée en 1993, compte…")."""
    before, after = text.rfind(",", 0, mark.start), text.find(",", mark.end)
    return before >= 0 and after >= 0 and not any(before < f.end <= after for f in figures)


def _between(mark: _Mark, figure: Number) -> tuple[int, int]:
    """Where the text between a time and a figure starts and ends (empty when they touch or overlap)."""
    start = figure.end - len(figure.text)
    if mark.end <= start:
        return mark.end, start
    if figure.end <= mark.start:
        return figure.end, mark.start
    return 0, 0


def dates(text: str) -> list[tuple[Number, dict[str, str]]]:
    """The checkable figures of one sentence, each with the time it is given, of each kind ({} where
    undated): each time goes to its nearest figure (module docstring)."""
    figures = [n for n in numbers(text) if checkable(n)]
    given: dict[int, dict[str, tuple[int, str]]] = {i: {} for i in range(len(figures))}
    for m in _marks(text):
        if _aside(text, m, figures):
            continue
        best = None
        for i, f in enumerate(figures):
            lo, hi = _between(m, f)
            if hi > lo and _BETWEEN.search(text, lo, hi):
                continue
            if best is None or hi - lo < best[0]:
                best = (hi - lo, i)
        if best is not None:
            gap, i = best
            if m.kind not in given[i] or gap < given[i][m.kind][0]:
                given[i][m.kind] = (gap, m.value)
    return [(f, {kind: value for kind, (_, value) in given[i].items()}) for i, f in enumerate(figures)]


def given_times(n: Number, text: str) -> list[dict[str, str]]:
    """For each time `text` states figure `n`, the time it gives it, of each kind ({} where undated)."""
    return [when for s in sentence_spans(text) for f, when in dates(s.text) if same_number(n, f)]


def dated_otherwise(given: dict[str, str], allowed: dict[str, set[str]]) -> str | None:
    """A time `given` gives that is none of the `allowed` of its kind, when every kind both name
    differs; None when `given` names none of those kinds or one of its times is allowed."""
    shared = [kind for kind in given if allowed.get(kind)]
    if shared and all(given[kind] not in allowed[kind] for kind in shared):
        return given[shared[0]]
    return None


def misdated(nums: list[Number], sentence: str, text: str) -> list[str]:
    """Figures of `sentence` that it dates otherwise than `text` does: "Meta spent 65 billion dollars
    on AI last year" from "…et que Meta prévoit 65 milliards de dollars cette année pour l'IA, Sam
    Altman a estimé l'an dernier que…" (as "65 billion (this year)"). Kind with kind (from now with
    from now, years with years). Not misdated: a figure the sentence dates not at all, one the text
    also states undated or for the sentence's time, and one whose time in the text the sentence says
    too (of another of its figures, maybe: "Cette année 65 milliards, contre 40 l'an dernier")."""
    if not _marks(sentence):  # the common case: the text need not be split (the Verifier asks every passage)
        return []
    said_anywhere = times(sentence)
    mine = dates(sentence)
    out = []
    for n in nums:
        said = next((when for f, when in mine if f.end == n.end), {})
        if not said:
            continue
        given = [dated_otherwise(t, {kind: {value} for kind, value in said.items()}) for t in given_times(n, text)]
        if given and all(given) and not any(given[0] in s for s in said_anywhere):
            out.append(f"{n.text} ({given[0]})")
    return out
