"""An answer sentence's figure said the way its passages say it, where the small model slipped on the
figure's form but not on the figure, before the sentence is checked:

    mend(sentence, texts) -> the sentence, its slips put right (the same string when there are none)
    as_named(sentence, texts, question) -> its company names as the texts or the question say them

Two slips, both seen in the eval: an English "2,000 million" for the passage's "2 000 milliards" (the
French milliard translated as million: conflict-13), and a figure bound otherwise than the passage
bounds it ("environ 16 000 puces" for "plus de 16 000 puces": fact-06). Both made a true sentence be
refused and the answer abstain. A mended sentence is then checked like any other (the lexical rule,
then the judge).

The judge (rag.support) reads a company's name as its span or the question says it: "l'application
DeepSeek AI" where the span says "l'apps" and the question "l'application DeepSeek" got P(supported)
0.51, and 0.89 without the "AI" (fact-12). The sentence shown keeps the model's words.
"""
from __future__ import annotations

import re

from .claims import claims, company, figures_in, named
from .text import STOPWORDS, Number, content_stems, detect_language, fold, in_milliards, numbers, same_number


def mend(sentence: str, texts: list[str]) -> str:
    """`sentence` with its figures said as `texts` (the passages it cites) say them."""
    return _with_their_bounds(_in_billions(sentence, texts), texts)


def as_named(sentence: str, texts: list[str], question: str) -> str:
    """A name with a designator ("DeepSeek AI", "Nvidia Corp.") said without it, where the texts never
    give it with it and the question or the texts give it without ("DeepSeek"): the same company
    (rag.claims.company), as its sources name it."""
    folded = [fold(t) for t in texts]
    out = sentence
    for name in dict.fromkeys(claims(sentence, "")[1]):
        base = company(name)
        if base == name or any(named(fold(name), f) for f in folded):
            continue
        if any(named(fold(base), f) for f in [*folded, fold(question)]):
            # "Nvidia Corp. a perdu" -> "Nvidia a perdu": the designator's dot too, not a sentence's end
            out = re.sub(rf"(?<![\w-]){re.escape(name)}(?:\.(?=\s+[a-zà-ÿ]))?(?![\w-])", base, out)
    return out


# "2,000 million", "2, 000 million" (the model's thousands separator, spaced), "1.5 million"; not the
# "500 million" of "2 500 million"
_MILLIONS = re.compile(r"(?<![\d.,])(?<!\d\s)(\d{1,3}(?:,\s?\d{3})+|\d+(?:\.\d+)?)\s+millions?\b", re.IGNORECASE)


def _in_billions(sentence: str, texts: list[str]) -> str:
    """An English sentence's "N million" put in billions where the texts state N milliards and do not
    state N million (read any way: "1,500 million" is "1,5 milliard", already right)."""
    if not _MILLIONS.search(sentence) or detect_language(sentence) != "en":  # most sentences: no passage read
        return sentence
    have = [h for t in texts for h in figures_in(t)]
    milliards = [h for h in have if in_milliards(h)]

    def said(m: re.Match) -> str:
        digits = re.sub(r",\s", ",", m.group(1))
        [n] = numbers(digits + " million")
        if any(same_number(n, h) for h in have):
            return m.group(0)
        value = round(float(digits.replace(",", "")) * 1e9, 6)  # the English reading: "2,000" is two thousand
        return f"{digits} billion" if any(value in h.values for h in milliards) else m.group(0)
    return _MILLIONS.sub(said, sentence) if milliards else sentence


# A figure's bound, as the words right before it say it (French and English)
_BOUNDS = {
    "about": r"environ|près\s+de|approximativement|about|around|approximately|roughly|nearly",
    "more": r"plus\s+de|au\s+moins|more\s+than|over|at\s+least",
    "less": r"moins\s+de|au\s+plus|less\s+than|fewer\s+than|under|at\s+most",
}
_BOUND_WORDS = {"about": {"fr": "environ", "en": "about"}, "more": {"fr": "plus de", "en": "more than"},
                "less": {"fr": "moins de", "en": "less than"}}
_ANY_BOUND = re.compile(r"\b(?:" + "|".join(_BOUNDS.values()) + r")\s+\$?\d", re.IGNORECASE)
_NEGATED = re.compile(r"\b(?:pas|plus|jamais|not|no|never)\s+$", re.IGNORECASE)  # "pas plus de 2 000"


def _bound(text: str, figure: Number) -> tuple[str, int, int] | None:
    """(kind, start, end) of the words that bound `figure` in `text`; None if it is unbound, or its
    bound is negated ("no more than 2,000" is no "more than")."""
    before = text[: figure.end - len(figure.text)]
    for kind, words in _BOUNDS.items():
        m = re.search(rf"\b({words})\s+\$?$", before, re.IGNORECASE)
        if m:
            return None if _NEGATED.search(before[: m.start()]) else (kind, m.start(1), m.end(1))
    return None


_NOUN_AFTER = re.compile(r"\s*(?:de\s+|d['’]|of\s+)?([^\W\d]{3,})")


def _counts_alike(sentence: str, figure: Number, text: str, theirs: Number) -> bool:
    """Whether the same figure may count the same thing in both: not when, in one language, the nouns
    right after them differ ("16 000 puces" is not the "16 000 employés" of another passage); across
    languages the nouns cannot be compared (in practice the rule reads French answers: a short
    English sentence is often taken for French), and a figure with no noun after it counts anything."""
    if detect_language(sentence) != detect_language(text):
        return True
    mine, other = _NOUN_AFTER.match(sentence, figure.end), _NOUN_AFTER.match(text, theirs.end)
    if not (mine and other) or fold(mine.group(1)) in STOPWORDS or fold(other.group(1)) in STOPWORDS:
        return True  # "12 000 de ses employés": no noun right after
    return bool(content_stems(mine.group(1)) & content_stems(other.group(1))) or fold(mine.group(1)) == fold(other.group(1))


def _with_their_bounds(sentence: str, texts: list[str]) -> str:
    """A figure the sentence bounds otherwise than the texts do, given their bound in the sentence's
    language. Only a figure both bound, and bound one way wherever the texts state it for the same
    thing (_counts_alike)."""
    if not _ANY_BOUND.search(sentence):
        return sentence
    language = "en" if detect_language(sentence) == "en" else "fr"
    out = sentence
    for n in reversed(numbers(sentence)):  # from the end: the offsets before an edit stay right
        mine = _bound(out, n)
        theirs = {b[0] if (b := _bound(t, h)) else None for t in texts for h in figures_in(t)
                  if same_number(n, h) and _counts_alike(out, n, t, h)}
        if mine is None or len(theirs) != 1 or None in theirs or mine[0] in theirs:
            continue
        words = _BOUND_WORDS[theirs.pop()][language]
        if out[mine[1]].isupper():  # "About 16,000…" -> "More than 16,000…"
            words = words[0].upper() + words[1:]
        out = out[: mine[1]] + words + out[mine[2]:]
    return out
