"""The lexical rule: the checkable facts of an answer sentence (its numbers, read the French and the
English way, and its proper names) and whether a text states them, for the same owner.

    claims(sentence, question) -> (numbers, names)    the question's own names left out
    missing_claims(numbers, names, text) -> what the text never states
    misquoted(sentence, text) -> quotations the text does not have
    misattributed(numbers, sentence, text) -> what the text gives to someone else, or dates otherwise
    lexical(numbers, names, sentence, text) -> (missing + misquoted, misattributed): the whole rule

It cannot see a paraphrase that changes the meaning without changing a figure or a name (e.g. "rose"
for "fell"): that is the judge's (rag.support); the eval suite says so too.
"""
from __future__ import annotations

import re
from difflib import SequenceMatcher

from .text import STOPWORDS, Number, detect_language, fold, is_trivial, numbers, same_number, sentence_spans
from .times import misdated

_NAME = re.compile(r"(?<![\w'’&-])([A-ZÀ-Ý][\w'’&-]*[A-Za-zà-ÿ](?:\s+[A-ZÀ-Ý][\w'’&-]+)*)")  # "S&P 500" too
_NOT_NAMES = set(fold(w) for w in (
    "Le La Les L Un Une Des Du De Selon Cette Ce Ces Il Elle Ils Elles Et Mais En Dans Pour Sur Avec Au Aux "
    "The A An According This That These It Its In On For With And But However Also Yes No Oui Non "
    "After Before Since During While When Despite Unlike Après Avant Depuis Pendant Malgré Lorsque Quand Alors "
    "Lundi Monday Mardi Janvier January Février Source Sources NOT_IN_DOCUMENTS "
    "Combien Quel Quelle Quels Quelles Qui Que Quoi Comment Pourquoi How What Which Who Why Where"
).split())


# One place, several names (French and English spellings, abbreviations)
_SAME_PLACE = [
    {"etats-unis", "etats unis", "usa", "us", "u.s.", "united states", "amerique", "america"},
    {"chine", "china", "chinese", "chinois", "chinoise", "chinoises"},
    {"americain", "americains", "americaine", "americaines", "american", "americans"},
    {"europe", "europeen", "europeens", "europeenne", "europeennes", "european", "europeans"},
    {"france", "francais", "francaise", "francaises", "french"}, {"allemagne", "allemand", "allemands", "germany", "german", "germans"},
    {"royaume-uni", "royaume uni", "uk", "britain", "britannique", "britanniques", "british"},
    {"inde", "india", "indien", "indiens", "indian", "indians"}, {"taiwan", "taiwanais", "taiwanese"},
    {"japon", "japan"}, {"maison-blanche", "maison blanche", "white house"},
    {"congres", "congress"}, {"pekin", "beijing"}, {"canton", "guangzhou"},
]


_ALIASES = {name: group for group in _SAME_PLACE for name in group}


# "DeepSeek AI", "Nvidia Corp": a company's name with its legal or trade designator is the same company
_DESIGNATOR = re.compile(r"\s+(?:AI|IA|Inc|Corp|Corporation|Ltd|LLC|Group|Groupe|SA|SAS|GmbH|PLC|Holdings?)\.?$")


def company(name: str) -> str:
    """The name without its designator ("DeepSeek AI" -> "DeepSeek")."""
    return _DESIGNATOR.sub("", name)


def _company_asked(name: str, q_folded: str) -> bool:
    """A name the question gives without its designator ("DeepSeek AI" when it asks about DeepSeek)."""
    base = fold(company(name))
    return base != fold(name) and len(base) >= 3 and bool(re.search(rf"(?<!\w){re.escape(base)}(?!\w)", q_folded))


def claims(sentence: str, question: str) -> tuple[list[Number], list[str]]:
    """The checkable facts of a sentence: non-trivial numbers and proper names not taken from the question."""
    nums = [n for n in numbers(sentence) if not is_trivial(n)]
    q_folded = fold(question)
    names = []
    for match in _NAME.finditer(sentence):
        words = match.group(1).split()
        while words and fold(words[0]) in _NOT_NAMES:  # "The Luc Besson" -> "Luc Besson"
            words.pop(0)
        name = re.sub(r"['’]s$", "", " ".join(words))  # "DeepSeek's" -> "DeepSeek"
        key = fold(name)
        if not name or key in _NOT_NAMES or key in q_folded or _company_asked(name, q_folded) or len(key) < 3:
            continue
        opens = match.start() == 0 and len(words) == len(match.group(1).split())  # no opening word dropped
        if opens and len(words) == 1 and not re.search(r".[A-Z0-9]", name):
            continue  # "Shares fell…": a capital at the start of a sentence is not a name by itself
        names.append(name)
    return nums, names


def lexical(nums: list[Number], names: list[str], sentence: str, text: str, question: str = "") -> tuple[list[str], list[str]]:
    """The whole lexical rule for `sentence` (its claims: `nums`, `names`) against `text`: (what the
    text never states, its figures, names and quotations; what it gives to someone else, asked only
    when nothing is missing). Both empty: the text holds the sentence as far as words can tell."""
    missing = missing_claims(nums, names, text) + misquoted(sentence, text)
    return missing, [] if missing else misattributed(nums, sentence, text, question)


def missing_claims(nums: list[Number], names: list[str], text: str) -> list[str]:
    have = figures_in(text)
    folded = fold(text)
    words = set(re.findall(r"\w+", folded))
    missing = [n.text for n in nums if not any(same_number(n, h) for h in have)]
    return missing + [name for name in names if not named(fold(name), folded, words) and not _surname(name, folded, words)
                      and not ((base := company(name)) != name and named(fold(base), folded, words))]


def misquoted(sentence: str, text: str) -> list[str]:
    """Quotations of `sentence` that `text` does not have: a quotation says "these very words", so
    three of its words in four must be in the text, in its order, half of them in one run ("La
    formule « Choc provoqué par DeepSeek »", the question's words, for a formula the text gives as
    « révolution copernicienne »). A word spelt another way is the text's word, as in names (« moment
    Sputnik » for « moment Spoutnik »). A sentence in another language than the text quotes it in
    translation: left to the judge."""
    quotations = list(QUOTED.finditer(sentence))
    if not quotations or detect_language(sentence) != detect_language(text):
        return []
    words = re.findall(r"\w+", fold(text))
    have = set(words)
    out = []
    for m in quotations:
        quoted = [w if w in have or len(w) < 4 else _spelt(w, have) or w for w in re.findall(r"\w+", fold(m.group(0)))]
        # three words in four of the quotation in the text, in its order, half of it in one run: its
        # words scattered over a passage are not it ("choc", "par" and "DeepSeek" in "l'onde de choc
        # à Wall Street, DeepSeek subit une attaque massive par déni de service")
        blocks = SequenceMatcher(None, quoted, words, autojunk=False).get_matching_blocks()
        kept, run = sum(b.size for b in blocks), max(b.size for b in blocks)
        if quoted and (kept < 0.75 * len(quoted) or run < len(quoted) / 2):
            out.append("« " + m.group(0).strip(' «»“”"') + " »")
    return out


def figures_in(text: str) -> list[Number]:
    """The figures a text states that can back a claim: an answer's "2,000" (read also the French way,
    2.0) is not stated by a list marker "2." (the small bare integers claims() never checks either)."""
    return [h for h in numbers(text) if not is_trivial(h)]


def _surname(name: str, folded: str, words: set[str]) -> bool:
    """A name of several words named by all but its first, when that first word is capitalised only
    at its start: "Larry Ellison" by "Ellison", and "Facing Washington" (a sentence that opens with an
    ordinary word before a name) by "Washington"; "DeepSeek R1" needs its "DeepSeek"."""
    first, *rest = name.split()
    return bool(rest) and not re.search(r".[A-Z0-9]", first) and named(fold(" ".join(rest)), folded, words)


def misattributed(nums: list[Number], sentence: str, text: str, question: str = "") -> list[str]:
    """Figures of `sentence` that `text` gives to someone the sentence (and the question) never names:
    "le titre Nvidia a plongé de 3,5 %" from "une chute de 3,5 % du Nasdaq" (as "3,5 % (nasdaq)").
    A figure the text also states without an owner, or for one the sentence names, is not. Across
    languages an owner _SAME_PLACE does not know ("des Français" / "French") is left to the judge,
    unless the sentence names someone else whom the text names too. Then the same for a figure the
    text states only in a clause about someone else (other_clause), and a name the sentence gives
    twice where the text gives another (named_twice), and a figure the sentence dates otherwise than
    the text (rag.times.misdated: "last year" for the text's "cette année")."""
    said = fold(sentence + " " + question)
    # across languages, an owner the sentence does not name may be under its translation ("des Français"
    # / "French"), unless _SAME_PLACE knows it, or the sentence gives the figure to a name the text
    # itself names ("Nvidia's share fell 3.5 %" from "une chute de 3,5 % du Nasdaq… pour NVIDIA")
    unknown_ok = False
    if detect_language(sentence) != detect_language(text):
        folded = fold(text)
        unknown_ok = not any(named(fold(n), folded) for n in names_in(sentence))
    have = figures_in(text)
    out, rest = [], []
    for n in nums:
        owners = [owner_of(h, text) for h in have if same_number(n, h)]
        foreign = [o for o in owners if o and not named(o, said) and not (unknown_ok and o not in _ALIASES)]
        if owners and len(foreign) == len(owners):
            out.append(f"{n.text} ({owners[0]})")
        else:
            rest.append(n)
    clause = other_clause(rest, sentence, text)
    unreported = [n for n in rest if not any(c.startswith(n.text + " (") for c in clause)]  # each figure reported once
    return out + clause + named_twice(sentence, text) + misdated(unreported, sentence, text)


def named_twice(sentence: str, text: str) -> list[str]:
    """A name `sentence` gives twice where `text` gives it once, in a sentence that also names
    someone `sentence` leaves out: the repeat stands where the other belongs ("Zuckerberg paid
    Zuckerberg 15 million dollars" from "…Zuckerberg a payé 15 millions de dollars à Trump…"; "X a
    fondé DeepSeek avec X"). Counted as written ("Face à…, … faire face" is no name twice), a name
    inside a longer one ("DeepSeek-R1") or a quotation is not counted. A repeat whose other is only a
    pronoun in the text ("avec le leader chinois Li Qiang", about "lui") is left to the judge."""
    plain = QUOTED.sub(" ", sentence)  # a quotation may well name it again
    names = list(dict.fromkeys(claims(sentence, "")[1]))
    opening = re.match(r"\W*([A-ZÀ-Ý][\w'’-]+)", sentence)  # claims() leaves a lone opening capital out
    if opening and opening_word(sentence) and not any(fold(opening.group(1)) in fold(n) for n in names):
        names.append(opening.group(1))
    twice = [n for n in names if len(re.findall(rf"(?<![\w-]){re.escape(n)}(?![\w-])", plain)) >= 2]
    if not twice:  # the common case: the text need not be split (the Verifier asks every passage)
        return []
    holders = [s.text for s in sentence_spans(text)]
    out = []
    for name in twice:
        said = [h for h in holders if re.search(rf"(?<![\w-]){re.escape(fold(name))}(?![\w-])", fold(h))]
        if len(said) != 1 or len(re.findall(rf"(?<![\w-]){re.escape(fold(name))}(?![\w-])", fold(said[0]))) != 1:
            continue
        if any(not named(fold(m), fold(sentence)) for m in claims(said[0], "")[1]):
            out.append(f"{name} (named twice)")
    return out


# "Le Nasdaq a chuté de 3,5 %, tandis que l'indice S&P 500 a baissé de 2 %": one sentence, two owners
_CONTRAST = re.compile(r"\s*;\s*|,?\s+(?:(?:tandis|alors|pendant|et)\s+qu(?:e\b|['’])|whereas\b|while\b)",
                       re.IGNORECASE)


def other_clause(nums: list[Number], sentence: str, text: str) -> list[str]:
    """Figures of `sentence` that `text` states only in a clause about someone else, in a sentence
    whose other clause names whom `sentence` gives them to: "The S&P 500 fell 3.5 %" from "Le Nasdaq
    Composite a chuté de 3,5 %, tandis que l'indice S&P 500 a enregistré une baisse de 2 %" (as
    "3.5% (Nasdaq Composite)"). The clause is read up to the figure: "et que Meta prévoit 65 milliards
    …, Sam Altman (CEO d'OpenAI) a estimé…" gives the 65 milliards to Meta, not to OpenAI. A clause
    that names no one before its figure, or names whom the sentence names, owns nothing against it."""
    mine = [fold(n) for n in names_in(sentence)]
    if not nums or not mine or not _CONTRAST.search(text):  # one clause a sentence: no other owner
        return []
    # each sentence of the text as its clauses, each clause with its figures
    sentences = [[(c, figures_in(c)) for c in _CONTRAST.split(s.text) if c.strip()] for s in sentence_spans(text)]
    out = []
    for n in nums:
        owners: list[str | None] = []  # per clause that states n: its other owner, or None
        for clauses in sentences:
            for i, (clause, figures) in enumerate(clauses):
                at = next((h for h in figures if same_number(n, h)), None)
                if at is None:
                    continue
                before = clause[: at.end - len(at.text)]
                theirs = names_in(before)
                elsewhere = any(named(m, fold(c)) for j, (c, _) in enumerate(clauses) if j != i for m in mine)
                if theirs and elsewhere and not any(named(m, fold(before)) for m in mine):
                    owners.append(theirs[0])
                else:
                    owners.append(None)
        if owners and all(owners):
            out.append(f"{n.text} ({owners[0]})")
    return out


def names_in(text: str) -> list[str]:
    """The names a text gives: claims()'s, and its opening word when no stop list knows it (folded),
    which claims() leaves out."""
    return claims(text, "")[1] + [w for w in (opening_word(text),) if w]


def named(name: str, folded: str, words: set[str] | None = None) -> bool:
    """Is `name` (folded) named in the folded text: as itself, one of its aliases, or word by word
    with the leeway of the lexical rule ("Nasdaq" in "du Nasdaq Composite")? `words`: the text's
    words, when the caller has them already."""
    if any(re.search(rf"(?<!\w){re.escape(alias)}(?!\w)", folded) for alias in _ALIASES.get(name, {name})):
        return True
    words = set(re.findall(r"\w+", folded)) if words is None else words
    parts = re.findall(r"\w+", name)  # "s&p": letters alone say nothing, the whole name must be there
    return any(len(p) >= 2 for p in parts) and all(_near(part, words) for part in parts)


def _near(word: str, words: set[str]) -> bool:
    """The same name spelt another way (Sputnik / Spoutnik, Beijing's accents) is not another name."""
    if len(word) < 4:  # short names and acronyms: exact, or with a plural s (PME / PMEs)
        return len(word) < 2 or word in words or word + "s" in words
    return _spelt(word, words) is not None


def _spelt(word: str, words: set[str]) -> str | None:
    """The word of `words` that is `word`, or `word` spelt another way (one letter in seven may
    differ): the closest, the same one whatever the set's order."""
    if word in words:
        return word
    near = [(r, w) for w in words if w[:1] == word[:1] and (r := SequenceMatcher(None, word, w).ratio()) >= 0.85]
    return max(near)[1] if near else None


# "une chute de 3,5 % du Nasdaq": the figure is the Nasdaq's, whoever the sentence is about
_OWNER = re.compile(r"\s+(?:(?:du|des|de\s+la|of(?:\s+the)?)\s+|(?:de\s+l|d)['’]\s*)([A-ZÀ-Ý][\w-]+)")


def owner_of(num: Number, text: str) -> str | None:
    m = _OWNER.match(text[num.end :])
    return fold(m.group(1)) if m else None


QUOTED = re.compile(r"[«“\"]\s*[^«»“”\"]{2,}?\s*[»”\"]")


def opening_word(sentence: str) -> str:
    """The sentence's opening capitalised word (folded) when no stop list knows it, else "": claims()
    leaves a lone capital at the start out (it cannot tell "Huawei" from "Shares")."""
    m = re.match(r"\W*([A-ZÀ-Ý][\w'’-]+)", sentence)
    word = fold(m.group(1)) if m else ""
    if re.match(r"(?:[a-z]|qu)'", word):  # "L'indice", "D'après": an article or a preposition, no name
        return ""
    return word if word and word not in _NOT_NAMES and word not in STOPWORDS else ""
