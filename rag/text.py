"""Language-aware text helpers: sentence spans, French/English number parsing, normalisation."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

import Stemmer

from .types import Span

# a sentence ends at . ! ? … (not after an abbreviation such as "Corp." or "M."), or at a blank line
_SENTENCE_END = re.compile(
    r"(?<=[.!?…])(?<!\b[A-Z]\.)(?<!\b[A-Z][a-z]\.)(?<!\b[A-Z][a-z]{2}\.)(?<!\b[A-Z][a-z]{3}\.)[\"»”’)\]]*\s+"
    r"|\n\s*\n|\n(?=\s*(?:\d+\.|[-•*])\s)"
)


def sentence_spans(text: str, offset: int = 0) -> list[Span]:
    """Sentences of `text` as spans; offsets are absolute (text starts at `offset`)."""
    spans, cursor = [], 0
    for match in _SENTENCE_END.finditer(text):
        _add(spans, text, cursor, match.start(), offset)
        cursor = match.end()
    _add(spans, text, cursor, len(text), offset)
    return spans


def _add(spans: list[Span], text: str, start: int, end: int, offset: int) -> None:
    piece = text[start:end]
    stripped = piece.strip()
    if len(stripped) < 2:
        return
    lead = len(piece) - len(piece.lstrip())
    spans.append(Span(offset + start + lead, offset + start + lead + len(stripped), stripped))


def fold(text: str) -> str:
    """Lower-case, strip accents, unify apostrophes/spaces: for matching, never for display."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.replace("’", "'").replace("‘", "'").replace("\u00a0", " ").replace("\u202f", " ")
    return re.sub(r"\s+", " ", text).lower()


# ---- language --------------------------------------------------------------------------------
_FR = set("le la les des du un une est sont que qui quel quelle quels quelles combien pourquoi comment où "
          "et en dans pour sur avec ce cette ces il elle ils a-t-il a-t-elle selon quoi leur au aux pas ne".split())
_EN = set("the is are was were what who whom which how why where when of and in to did does do much many "
          "for with this that these by on it its according from has have about write tell give your you "
          "please can could would should will they their".split())
# German and Spanish questions are answered in their language (the model handles both)
_DE = set("der die das den dem des ein eine einen ist sind war wer was wie wann wo warum welche welcher "
          "und oder nicht mit von für auf hat haben wird viel viele laut nach".split())
_ES = set("el los las del una uno unos es son fue quién quien qué cuál cuánto cuántos cuántas cómo dónde "
          "por para con sobre según tiene hay y lo al más muy pero como este esta estos estas también desde hasta".split())
LANGUAGES = ("fr", "en", "de", "es")


def _language_scores(text: str) -> dict[str, int]:
    lower = text.lower()
    words = re.findall(r"[a-zäöüßàâéèêëîïôùûçñáíóú'-]+", lower)
    return {
        "fr": sum(w in _FR for w in words) + 2 * bool(re.search(r"[éèêàùç]", lower)),
        "en": sum(w in _EN for w in words),
        "de": sum(w in _DE for w in words) + 2 * bool(re.search(r"[äöüß]", lower)),
        "es": sum(w in _ES for w in words) + 3 * bool(re.search(r"[ñ¿¡]", lower)),  # é is Spanish too
    }


def detect_language(text: str) -> str:
    """'fr', 'en', 'de' or 'es' by function words and letters; French when unsure (the default
    corpus language)."""
    score = _language_scores(text)
    best = max(LANGUAGES, key=lambda lang: score[lang])  # ties go to the earlier language: French first
    return best if score[best] > 0 else "fr"


def clearly_in(text: str, margin: int = 3) -> str | None:
    """The language `text` is written in when its clues outnumber every other language's by `margin`
    (a French sentence pasted into an English answer), else None (short, mixed or name-only text)."""
    score = _language_scores(text)
    best = max(LANGUAGES, key=lambda lang: score[lang])
    return best if all(score[best] - score[lang] >= margin for lang in LANGUAGES if lang != best) else None


# ---- words -----------------------------------------------------------------------------------
STOPWORDS = _FR | _EN | set(
    "de d l s n qu c j y se sa son ses mais ou donc or ni car plus moins tres très aussi comme fait "
    "etre être avoir ete été on nous vous je tu me te lui eux elles their they we you i be been an as at or "
    "not no so than then there about into over also".split()
)


@lru_cache(maxsize=4)
def _stemmer(language: str) -> Stemmer.Stemmer:
    return Stemmer.Stemmer(language)


def content_stems(text: str) -> set[str]:
    """Stemmed content words (French and English stemmers both applied: questions come in both)."""
    words = [w for w in re.findall(r"\w+", fold(text)) if len(w) > 2 and w not in STOPWORDS and not w.isdigit()]
    return set(_stemmer("french").stemWords(words)) | set(_stemmer("english").stemWords(words))


# ---- numbers ---------------------------------------------------------------------------------
_SCALE = {
    "milliard": 1e9, "milliards": 1e9, "billion": 1e9, "billions": 1e9, "md": 1e9, "mds": 1e9, "bn": 1e9,
    "millard": 1e9, "millards": 1e9,  # a document's typo ("30 millards de USD") still states billions
    "trillion": 1e12, "trillions": 1e12,
    "million": 1e6, "millions": 1e6, "m": 1e6, "mn": 1e6, "milion": 1e6, "milions": 1e6,
    "mille": 1e3, "thousand": 1e3, "k": 1e3,
}
_NUMBER = re.compile(
    r"(?<![\w.,])(\d{1,3}(?:[ \u00a0\u202f.,]\d{3})+|\d+(?:[.,]\d+)?)(?![\d])"
    r"(?:\s*(%|(?:pour ?cent|percent|milliards?|millards?|billions?|trillions?|millions?|milions?|mille|thousand|mds?|bn|mn)\b))?",
    re.IGNORECASE,
)


# a citation marker in answer text: [1], [1, 2], [1;2] (the one rule; group 1 holds the numbers)
MARKERS = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")


def strip_markers(text: str) -> str:
    """Answer text without its citation markers (and the space before each)."""
    return re.sub(r"\s*" + MARKERS.pattern, "", text or "")


def marker_numbers(group: str) -> list[int]:
    """The numbers of one marker's group 1: "1, 2" -> [1, 2]."""
    return [int(n) for n in re.split(r"[,;]", group)]


@dataclass(frozen=True)
class Number:
    text: str
    values: frozenset[float]  # every reading of an ambiguous form ("2.000", "1,500")
    unit: str  # "%", "scale" (millions, billions…) or ""
    end: int = field(default=0, compare=False)  # where the number (and its scale word) ends in the text


def numbers(text: str) -> list[Number]:
    """Numbers with their scale words, read the French and the English way."""
    found = []
    for match in _NUMBER.finditer(text.replace("\u202f", " ").replace("\u00a0", " ")):
        raw, unit_word = match.group(1), (match.group(2) or "").lower()
        readings = _readings(raw)
        if not readings:
            continue
        if unit_word in ("%", "pour cent", "pourcent", "percent"):
            unit, scale = "%", 1.0
        elif unit_word:
            unit, scale = "scale", _SCALE.get(unit_word.rstrip("s") if unit_word not in _SCALE else unit_word, 1.0)
        else:
            unit, scale = "", 1.0
        values = frozenset(round(v * scale, 6) for v in readings)
        found.append(Number(match.group(0).strip(), values, unit, match.start() + len(match.group(0).rstrip())))
    return found


def _readings(raw: str) -> set[float]:
    compact = raw.replace(" ", "")
    out = set()
    if re.fullmatch(r"\d{1,3}([.,]\d{3})+", compact):
        out.add(float(re.sub(r"[.,]", "", compact)))  # 10.000 / 10,000 as thousands
    if re.fullmatch(r"\d+([.,]\d+)?", compact):
        out.add(float(compact.replace(",", ".")))  # 3,5 / 3.5 as decimals
    if re.fullmatch(r"\d{1,3}( \d{3})+", raw.replace("\u00a0", " ")):
        out.add(float(compact))
    return out


MILLIARDS = frozenset({"milliard", "milliards", "millard", "millards", "md", "mds"})  # the French billion


def in_milliards(n: Number) -> bool:
    """A figure said in French billions ("2 000 milliards", "30 millards", "2 Mds")."""
    word = re.search(r"([^\W\d]+)$", n.text)
    return n.unit == "scale" and bool(word) and word.group(1).lower() in MILLIARDS


def is_year(n: Number) -> bool:
    """A bare four-digit figure that reads as a year (1900-2099): "2023", also "2000" of "2000 puces",
    never "2 000"."""
    return n.unit == "" and bool(re.fullmatch(r"(?:19|20)\d{2}", n.text))


def same_number(a: Number, b: Number) -> bool:
    return bool(a.values & b.values)


def is_trivial(n: Number) -> bool:
    """Small bare integers (list markers, "1 an") are not claims worth checking."""
    return n.unit == "" and all(v < 10 and v == int(v) for v in n.values)
