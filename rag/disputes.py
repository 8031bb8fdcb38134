"""Figures the sources dispute: different figures of the same quantity from different sources, among
the sentences that bear most on the question (disagreements, disputed), or in another source's
sentence that makes the answer's claim with its own figure (rival_figures)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from .asks import asked_quantity
from .claims import claims, named, owner_of
from .prompt import SentenceScorer
from .text import STOPWORDS, Number, content_stems, fold, is_trivial, is_year, numbers, same_number
from .types import Excerpt, Span

_PREPOSITIONS = set("par pour avec sans chez vers contre depuis entre selon dans sur sous apres avant "
                    "by for with without since from to under after before per".split())


def _quantity(num: Number, text: str) -> str | None:
    """What kind of quantity a figure is, so that only like is compared with like: a percentage, an
    amount in scale words (within a factor of ten: "465 milliards" vs "600 milliards", not "100
    millions"), or a count of the noun that follows it ("2 000 puces" vs "10 000 puces")."""
    if num.unit == "%":
        return "%"
    if num.unit == "scale":
        return f"e{len(str(int(max(num.values))))}"
    noun = re.match(r"\s+(?:de\s+|d'|of\s+)?([^\W\d]{3,})", text[num.end :])
    word = fold(noun.group(1)) if noun else ""
    stems = content_stems(word) if word and word not in STOPWORDS and word not in _PREPOSITIONS else set()
    if stems and max(num.values) >= 100:  # "2023 par Liang Wenfeng" counts nothing
        return "n:" + min(stems)
    return None


def quantity_of(num: Number, text: str, asked: str | None = None) -> str | None:
    """_quantity(), or for a bare count ("n'en a besoin que de 2 000") the quantity the question
    counts (`asked`, from counted())."""
    return _quantity(num, text) or (asked if num.unit == "" else None)


def subject_of(sentence: str) -> str | None:
    """Whose figures a sentence states: the first name before its first figure, a date or a year
    left out ("DeepSeek used 2,000 chips", "Le 27 janvier, DeepSeek a utilisé 2 000 puces"); None
    when no name comes before it ("The stock markets lost 2,000 billion dollars because of the
    DeepSeek shock" states the markets' loss, not DeepSeek's). A lone capital opening the sentence
    is no name (claims())."""
    first = next((n for n in numbers(sentence) if not is_trivial(n) and not _date(n, sentence)), None)
    return next(iter(claims(sentence[: first.end - len(first.text)] if first else sentence, "")[1]), None)


_MONTHS = (r"janvier|février|fevrier|mars|avril|mai|juin|juillet|août|aout|septembre|octobre|novembre|décembre"
           r"|decembre|january|february|march|april|may|june|july|august|september|october|november|december")
_MONTH_AFTER = re.compile(rf"\s*(?:{_MONTHS})\b", re.IGNORECASE)  # "27 janvier"
_MONTH_BEFORE = re.compile(rf"\b(?:{_MONTHS})\s+$", re.IGNORECASE)  # "January 27"


def _date(n: Number, text: str) -> bool:
    """A year, or a day of a month ("27 janvier", "January 27")."""
    return is_year(n) or n.unit == "" and bool(_MONTH_AFTER.match(text[n.end:])
                                               or _MONTH_BEFORE.search(text[: n.end - len(n.text)]))


@dataclass
class FigureAt:
    """A figure as one excerpt's sentence states it."""

    number: Number
    excerpt: Excerpt
    span: Span


def disagreements(question: str, parts: list[Excerpt]) -> list[tuple[str, list[FigureAt]]]:
    """(quantity, figures): different figures for the same kind of quantity, from different sources,
    among the sentence of each excerpt that bears most on the question; a figure its sentence gives
    to someone the question does not name ("3,5 % du Nasdaq" when asked about Nvidia) is left out."""
    q_stems = content_stems(question)
    groups: dict[str, list[FigureAt]] = {}
    for e in parts:
        if not e.sentences:
            continue
        top = max(range(len(e.sentences)), key=lambda j: e.scores[j])
        span = e.sentences[top]
        if len(q_stems & content_stems(span.text)) < 1:
            continue
        for num in numbers(span.text):
            key = _quantity(num, span.text)
            owner = owner_of(num, span.text)
            if owner and not named(owner, fold(question)):
                continue  # asked about Nvidia, "3,5 % du Nasdaq" is not a side of the dispute
            if key and not is_trivial(num):
                groups.setdefault(key, []).append(FigureAt(num, e, span))
    out = []
    for key, figures in groups.items():
        sources = {f.excerpt.passage.source for f in figures}
        distinct = []
        for f in figures:
            if not any(same_number(f.number, g.number) for g in distinct):
                distinct.append(f)
        if len(sources) >= 2 and len(distinct) >= 2:
            out.append((key, distinct))
    return out


def disputed(question: str, parts: list[Excerpt], wordings: tuple[str, ...] = ()) -> tuple[str, list[FigureAt]] | None:
    """The figures the sources dispute for just what the question asks, when the answer cannot be
    had from the model: different figures of the quantity the question asks for (asked_quantity),
    from two sources or more, each in a sentence that names whom the question asks about (its first
    name: "l'action Nvidia" -> Nvidia; a question about Apple gets none of Nvidia's figures). None
    when the question's wording does not say what quantity it asks for, or names no one. `wordings`:
    the question as asked, when `question` is its translation ("By what percentage…" may come out as
    "Quelle était la perte de pourcentage…")."""
    quantity = next(filter(None, map(asked_quantity, (question, *wordings))), None)
    subject = next((n for w in (question, *wordings) for n in claims(w, "")[1]), None)
    if quantity is None or subject is None:
        return None
    for key, figures in disagreements(question, parts):
        if key == quantity and all(named(fold(subject), fold(f.span.text)) for f in figures):
            return key, figures
    return None


# Two sentences from different sources that make the same claim with a different figure are this close
# (multilingual-e5 cosine): "Nvidia a perdu 465 milliards" / "589 milliards de capitalisation effacés"
# scored 0.905, "l'action a chuté de 20 %" / "de 14 %" 0.913, while a figure of another thing in a
# nearby sentence (the Nasdaq's 3,5 %, ChatGPT's 16 000 chips) scored 0.857-0.868. Set on the dev
# split of eval/questions.jsonl (conflict, fact and English items) without the LLM.
SAME_CLAIM = 0.89


# Between NEAR_CLAIM and SAME_CLAIM the embedding cannot tell a rival figure for the same thing ("un
# réseau de 10 000 puces A100, l'entreprise…" against "DeepSeek n'en a besoin que de 2 000", 0.868) from
# a figure of something else (the Nasdaq's 3,5 % against Nvidia's 14 %, 0.843-0.857): the judge is
# asked whether the rival sentence says the answer's claim with the rival's figure in it. On the dev
# split's conflict items it gave 0.54-0.59 to rival figures and 0.05-0.26 to the others.
NEAR_CLAIM = 0.84
RIVAL_P = 0.5
NEAR_RIVALS = 2  # judged per claimed figure, the closest first: one model call each


def rival_figures(span: Span, source: str, figures: list[Number], spans: dict[int, list[Span]],
                  parts: list[Excerpt], scorer: SentenceScorer, asked: str | None = None,
                  subject: str | None = None, claim: str | None = None,
                  confirm: Callable[[str, str], bool] | None = None) -> list[tuple[str, list[FigureAt]]]:
    """Figures that other sources give for the claim `span` (from `source`) makes with `figures`: a
    sentence of another passage, about the same thing (SAME_CLAIM) and naming the answer's `subject`
    (ChatGPT's 16 000 chips are not disputed by a count of DeepSeek's), with a different figure of
    the same kind of quantity. `asked`: the quantity the question counts, for a bare figure (a count
    of another noun can then be its rival, if the judge confirms it). With `confirm(claim with the rival figure, rival sentence)`
    (the judge), a sentence only NEAR_CLAIM close is taken too if it confirms; the subject may then
    be named in the sentence before it ("DeepSeek a su… En exploitant 10 000 puces, l'entreprise…")."""
    wanted = {k: n for n in figures if not is_trivial(n) and (k := quantity_of(n, span.text, asked))}
    if not wanted:
        return []
    by_n = {e.n: e for e in parts}
    about = [w for w in re.findall(r"\w{3,}", fold(subject or ""))]

    def names_subject(text: str) -> bool:
        return not about or any(re.search(rf"(?<!\w){w}(?!\w)", fold(text)) for w in about)

    # (excerpt, sentence, the sentence before it in the same excerpt)
    candidates = [(by_n[n], s, group[i - 1].text if i else "") for n, group in spans.items()
                  if by_n[n].passage.source != source for i, s in enumerate(group)
                  if names_subject(s.text) or (confirm is not None and i and names_subject(group[i - 1].text))]
    if not candidates:
        return []
    bare = {k: _quantity(n, span.text) is None for k, n in wanted.items()}  # a count without its noun
    vectors = scorer.vectors([span.text] + [s.text for _, s, _ in candidates])
    similar = vectors[1:] @ vectors[0]
    groups: dict[str, list[FigureAt]] = {}
    judged: dict[str, int] = {}
    for (excerpt, other, before), score in sorted(zip(candidates, similar), key=lambda c: -c[1]):
        if score < (NEAR_CLAIM if confirm is not None else SAME_CLAIM):
            break
        theirs = [m for m in numbers(other.text) if not is_trivial(m)]
        for key, figure in wanted.items():
            m = _counterpart([m for m in theirs if m.unit == figure.unit])
            if m is None or same_number(m, figure):
                continue
            said = claim or span.text
            owner = owner_of(m, other.text)
            if owner and not named(owner, fold(said)):
                continue  # "une chute de 3,5 % du Nasdaq": the Nasdaq's figure, whoever the sentence is about
            theirs_key = _quantity(m, other.text)
            # a bare count ("n'en a besoin que de 2 000") takes the noun the question counts; a count of
            # another noun may be its rival only if the judge says so
            other_noun = bare[key] and theirs_key != key and bool(theirs_key) and theirs_key.startswith("n:")
            if theirs_key != key and not other_noun:
                continue
            if score < SAME_CLAIM or not names_subject(other.text) or other_noun:
                if judged.get(key, 0) >= NEAR_RIVALS or confirm is None:
                    continue
                if not names_subject(other.text) and any(fold(n) not in fold(said) for n in claims(other.text, "")[1]):
                    continue  # the subject only before it, and it names another ("Le Nasdaq… a chuté de 3,5 %")
                rewritten = _with_figure(said, figure, m)
                if rewritten is None:
                    continue
                judged[key] = judged.get(key, 0) + 1
                if not confirm(rewritten, f"{before} {other.text}".strip()):
                    continue
            groups.setdefault(key, []).append(FigureAt(m, excerpt, other))
    return list(groups.items())


def _with_figure(claim: str, figure: Number, rival: Number) -> str | None:
    """`claim` with `figure` replaced by `rival` where the claim states it ("2 000 puces" -> "10 000
    puces"); None when the claim does not state it as such."""
    for x in numbers(claim):
        if not is_trivial(x) and same_number(x, figure):
            start = x.end - len(x.text)
            return claim[:start] + rival.text + claim[x.end:]
    return None


def _counterpart(options: list[Number]) -> Number | None:
    """The figure another sentence gives for the same thing: its only figure of that unit. A sentence
    with several ("ChatGPT uses 16 000 chips, the Chinese model only 2 000") is no evidence: which of
    them matches is a guess, and a wrong guess would put a false disagreement in the answer."""
    return options[0] if len(options) == 1 else None
