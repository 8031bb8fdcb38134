"""What a question asks for, read from its wording: a figure, a name, which quantity (a percentage, a
count of a noun), and whether answer sentences give it, or give someone else's figure instead."""
from __future__ import annotations

import re

from .claims import QUOTED, claims, named, opening_word
from .text import STOPWORDS, content_stems, fold, numbers, same_number
from .times import checkable, dated_otherwise, given_times, times

_COUNTED = re.compile(r"\bcombien\s+d(?:e\s+|['’])([^\W\d]{3,})", re.IGNORECASE)


def counted(question: str) -> str | None:
    """The quantity a question counts ("Combien de puces Nvidia…" -> n:puc), for a figure the
    documents give without its noun ("n'en a besoin que de 2 000 pour son modèle")."""
    m = _COUNTED.search(question)
    noun = fold(m.group(1)) if m else ""
    return "n:" + min(content_stems(noun), default=noun) if noun and noun not in STOPWORDS else None


# What a question asks for, when its wording says: a figure ("combien", "how many", "quel
# pourcentage") or a name ("qui", "who", "comment s'appelle", "quelle entreprise"). An answer whose
# supported sentences give none answers something else, however true it is ("DeepSeek subit une
# attaque sur ses serveurs" for how many servers it has; "Liang Wenfeng dirigeait un fonds" for the
# fund's name): the model, near the topic, restates the question's premise.
_ASKS_FIGURE = re.compile(
    r"\b(?:combien|how\s+(?:many|much|long)|(?:quel|what)\s+(?:pourcentage|percentage|proportion|share)"
    r"|quel(?:le)?s?\s+(?:est|sont|était|étaient|a\s+été)\s+(?:le|la|l['’])\s*(?:montant|nombre|prix|taux|chiffre)"
    r"|what\s+(?:is|was|were|are)\s+the\s+(?:amount|number\s+of|price|rate|figure))\b", re.IGNORECASE)


_ASKS_NAME = re.compile(
    r"^\W*(?:(?:et|and|alors|so|mais|but)\W+)?(?:qui|who|whom)\b|comment\s+s['’]appel|quel(?:le)?\s+est\s+le\s+nom"
    r"|what(?:\s+is|['’]s)\s+the\s+name|under\s+what\s+name|sous\s+quel\s+nom"
    r"|\b(?:quel(?:le)?s?|which)\s+(?:\w+\s+)?(?:entreprises?|sociétés?|firmes?|applications?|universités?|personnes?"
    r"|companies|company|firms?|apps?|applications?|universit(?:y|ies)|persons?|people)\b", re.IGNORECASE)


_WORD_FIGURE = re.compile(
    r"\b(?:deux|trois|quatre|cinq|six|sept|huit|neuf|dix|douze|quinze|vingt|trente|cent|mille"
    r"|two|three|four|five|six|seven|eight|nine|ten|twelve|twenty|hundred|thousand)\s+[^\W\d_]{3,}"
    r"|\b(?:\d+|un|une|deux|trois|quatre|cinq|six|sept|huit|neuf|dix|douze|quinze|vingt|trente|cent|mille|quelques|plusieurs"
    r"|a|an|one|two|three|four|five|six|seven|eight|nine|ten|twelve|a\s+few|several)\s+"
    r"(?:trimestres?|semestres?|mois|ans|an|années?|semaines?|jours?|heures?|minutes?"
    r"|quarters?|months?|years?|weeks?|days?|hours?|minutes?)\b"
    r"|\b(?:dizaines?|douzaines?|centaines?|milliers?|dozens?|hundreds|thousands|moitié|tiers|half)\b", re.IGNORECASE)


# "Who is Liang Wenfeng?" asks for a description, not a name
_ASKS_ABOUT = re.compile(r"^\W*(?:[Qq]ui\s+(?:est|était|sont)|[Ww]ho\s+(?:is|was|are|were))\s+[A-ZÀ-Ý]")
_RANK = re.compile(r"\b(?:n[°o]|numéro|number)\s*\d+", re.IGNORECASE)  # "n°1 des téléchargements" counts nothing


def unanswered(question: str, sentences: list[str]) -> str | None:
    """What the question asks for that none of `sentences` gives ("figure", "name"), or None."""
    if _ASKS_FIGURE.search(question):
        asked = numbers(question)
        figures = [n for s in sentences for n in numbers(_RANK.sub(" ", s)) if not any(same_number(n, q) for q in asked)]
        worded = [m.group(0) for s in sentences for m in _WORD_FIGURE.finditer(s)]  # "un trimestre", "2 mois"
        if not figures and not any(fold(w) not in fold(question) for w in worded):
            return "figure"
    if _ASKS_NAME.search(question) and not _ASKS_ABOUT.search(question):
        if not any(claims(s, question)[1] or QUOTED.search(s) or _opening_name(s, question) for s in sentences):
            return "name"
    return None


def someone_else(question: str, sentence: str) -> list[str]:
    """Asked for a figure of someone the question names, the names a sentence gives its figure to
    instead: "How many employees does Nvidia have?" answered "With less than 200 engineers, DeepSeek
    has achieved…" (DeepSeek's figure, true to its passage). Empty when the question asks no figure or
    names no one, when the sentence states no figure, names no one ("l'entreprise a perdu…") or names
    one the question names."""
    if not _ASKS_FIGURE.search(question):
        return []
    asked = [fold(n) for n in claims(question, "")[1]]
    nums, names = claims(sentence, question)
    folded = fold(sentence)
    if not asked or not nums or any(named(n, folded) for n in asked):
        return []
    return names


def another_time(question: str, sentence: str, cited: str = "") -> str | None:
    """Asked for a figure at one time, the time a sentence gives its figure for instead: "How much did
    Meta spend on AI last year?" answered "Meta plans to spend 65 billion dollars on AI this year"
    (true to its passage). Times said from now are compared with each other, years with years. A
    sentence that names no time of the question's kind has its figure's time from `cited`, the text
    it cites ("Meta plans to spend 65 billion dollars on AI" from "…Meta prévoit 65 milliards de
    dollars cette année…"), when it names no time at all. Not another's: a sentence that names the
    question's time, that states no figure (a year aside), or whose figure its cited text dates not
    at all, or once for the question's time."""
    if not _ASKS_FIGURE.search(question):
        return None
    figures = [n for n in numbers(sentence) if checkable(n)]
    if not figures:
        return None  # no figure: a sentence of context ("This year, Meta announced…")
    asked, said = times(question), times(sentence)
    for wanted, gives in zip(asked, said):
        if wanted and gives and not wanted & gives:
            return ", ".join(sorted(gives))
    if any(said) or not cited:
        return None
    allowed = {"from now": asked[0], "year": asked[1]}
    for n in figures:
        given = [dated_otherwise(t, allowed) for t in given_times(n, cited)]
        if given and all(given):  # every time the cited text states it, for another time
            return given[0]
    return None


def _opening_name(sentence: str, question: str) -> bool:
    """A sentence that opens with a name the question does not ("Huawei a détrôné Apple")."""
    word = opening_word(sentence)
    return bool(word) and word not in fold(question)


# What quantity a question asks for, when its wording says: a percentage, or a count of a noun (counted())
_ASKS_PERCENT = re.compile(r"pourcentage|pour\s*cent|percentage|per\s*cent|%", re.IGNORECASE)


def asked_quantity(question: str) -> str | None:
    """"%" for "De quel pourcentage…", "n:puc" for "Combien de puces…", else None."""
    if not _ASKS_FIGURE.search(question):
        return None
    return "%" if _ASKS_PERCENT.search(question) else counted(question)
