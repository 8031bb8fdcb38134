"""Citations you can trust: parse the model's [n], check every sentence against what it cites with the
lexical rule (rag.claims), and attribute in code where the model's citation is missing or wrong."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .claims import claims, figures_in, lexical
from .mend import mend
from .prompt import SentenceScorer, usable_spans
from .text import MARKERS, Number, content_stems, marker_numbers, same_number, sentence_spans
from .types import Citation, Excerpt, Passage, Sentence, Span

_MARKERS_AFTER_STOP = re.compile(r"([.!?])((?:\s*" + MARKERS.pattern.replace("(", "(?:", 1) + ")+)")


# "This information is found in excerpt [2]." says nothing about the question: never an answer sentence
# (one that also states a figure or a name, "the excerpt says Luc Besson's film…", is checked as usual)
_ABOUT_THE_EXCERPTS = re.compile(r"\b(?:excerpts?|extraits?|passages? (?:cités?|fournis)|provided (?:text|passages?))\b",
                                 re.IGNORECASE)


# "According to excerpt [1], TikTok has…": once its marker is a citation, the opening says nothing (and
# reads "According to excerpt, …"); the sentence starts after it
_PREAMBLE = re.compile(
    r"^(?:according\s+to|based\s+on|as\s+(?:stated|said|mentioned|shown)\s+in|in|selon|d['’]après|dans"
    r"|comme\s+(?:le\s+|l['’]\s*)?(?:dit|disent|indique|indiquent))\s+"
    r"(?:(?:(?:the|these|this|that|l['’]|les?|la|ces?|cet)\s*)?(?:(?:given|provided|cited)\s+)?"
    r"(?:excerpts?|extraits?|passages?|documents?|texts?)"
    r"|(?:the|these|this|l['’]|les?|la|ces?|cette)\s*(?:(?:given|provided|cited)\s+)?sources?)"  # "According to sources, …" hedges: kept
    r"(?:\s+(?:fournis|cités?|donnés?|provided|given|cited|above))?(?:\s*(?:n°\s*)?\d{1,2})?\s*[,:]\s*(?=\w)", re.IGNORECASE)


def _without_preamble(sentence: str) -> str:
    """The sentence without an opening that only points at the excerpts, its first letter put up
    (not a name's: "eBay")."""
    rest = _PREAMBLE.sub("", sentence, count=1)
    if rest == sentence or rest[1:2].isupper():
        return rest
    return rest[:1].upper() + rest[1:]


@dataclass
class Draft:
    text: str  # sentence without markers
    cited: list[int]


def split_answer(text: str) -> list[Draft]:
    """Answer text -> sentences with the passage numbers cited in each (markers after a full stop
    belong to the sentence before it)."""
    text = _MARKERS_AFTER_STOP.sub(lambda m: f"{m.group(2)}{m.group(1)}", text.strip())
    drafts = []
    for span in sentence_spans(text):
        cited = [n for group in MARKERS.findall(span.text) for n in marker_numbers(group)]
        clean = _without_preamble(re.sub(r"\s+([.!?,;:])", r"\1", MARKERS.sub("", span.text)).strip())
        if clean:
            drafts.append(Draft(clean, list(dict.fromkeys(cited))))
    return drafts


class Verifier:
    def __init__(self, question: str, parts: list[Excerpt], scorer: SentenceScorer) -> None:
        self.question = question
        self.parts = list(parts)
        self.scorer = scorer
        # only what the model was shown can support a sentence: the passages in its prompt, without
        # their planted instructions
        self.spans = {e.n: spans for e in parts if e.sentences and (spans := usable_spans(e.passage))}
        self.texts = {n: " ".join(s.text for s in spans) for n, spans in self.spans.items()}
        self.citations: list[Citation] = []
        self.removed = 0
        self._sentence_vectors: dict[str, np.ndarray] = {}  # a sentence is compared with several spans

    def widen(self, passages: list[Passage], score: Callable[[list[Span]], list[float]] | None = None) -> None:
        """More passages to look for other sources' figures in (never to support a sentence: the
        check is over). Each becomes an excerpt numbered after the shown ones, so it can be cited;
        `score`: how much each of its sentences bears on the question (else all alike)."""
        known = {(e.passage.source, e.passage.start) for e in self.parts}
        for p in passages:
            if (p.source, p.start) in known or not (spans := usable_spans(p)):
                continue
            known.add((p.source, p.start))
            self.parts.append(Excerpt(len(self.parts) + 1, p, spans, score(spans) if score else [0.0] * len(spans)))
            self.spans[len(self.parts)] = spans
            self.texts[len(self.parts)] = " ".join(x.text for x in spans)

    def check(self, drafts: list[Draft]) -> list[Sentence]:
        return [self._check_one(self._mended(d)) for d in drafts]

    def _cited_else_all(self, draft: Draft) -> list[int]:
        """The passages the draft cites among those that can support it (the ones shown to the model:
        the check runs before widen()); all of them when it cites none of them."""
        return [n for n in draft.cited if n in self.spans] or list(self.spans)

    def _mended(self, draft: Draft) -> Draft:
        """The draft with its figures said as the passages it cites (else any) say them (rag.mend)."""
        text = mend(draft.text, [self.texts[n] for n in self._cited_else_all(draft)])
        return draft if text == draft.text else Draft(text, draft.cited)

    def _check_one(self, draft: Draft) -> Sentence:
        valid = [n for n in draft.cited if n in self.spans]
        self.removed += len(draft.cited) - len(valid)
        nums, names = claims(draft.text, self.question)
        if _ABOUT_THE_EXCERPTS.search(draft.text) and not (nums or names):
            return Sentence(draft.text, [], False, "talks about the excerpts, not about the question")
        passages = {e.n: e.passage for e in self.parts if e.n in self.spans}

        def holds(n: int) -> bool:
            return not any(lexical(nums, names, draft.text, self.texts[n], self.question))

        # 1. the model's own citations, if they hold
        supporting = [n for n in valid if holds(n)]
        # 2. otherwise the passage that holds every claim and resembles the sentence most
        if not supporting:
            holders = [n for n in passages if holds(n)]
            if holders:
                supporting = [max(holders, key=lambda n: self._best_span(n, draft.text, nums)[1])]
        if not supporting:
            text = " ".join(self.texts[n] for n in self._cited_else_all(draft))
            missing, foreign = lexical(nums, names, draft.text, text, self.question)
            reason = (f"not in the cited passages: {', '.join(missing)}" if missing
                      else f"the cited passages give it to another owner or time: {', '.join(foreign)}" if foreign
                      else "no passage supports it")
            return Sentence(draft.text, [self.cite(n, draft.text, nums) for n in valid], False, reason)
        if not (nums or names):
            # nothing checkable: keep it if it shares words or meaning with the passage it cites
            n = supporting[0]
            span, score = self._best_span(n, draft.text, nums)
            if score < 0.78 and not (content_stems(draft.text) & content_stems(span.text)):
                return Sentence(draft.text, [], False, "shares nothing with any passage")
        return Sentence(draft.text, [self.cite(n, draft.text, nums) for n in supporting[:2]], True)

    def _best_span(self, n: int, sentence: str, nums: list[Number]) -> tuple[Span, float]:
        spans = self.spans[n]
        stems = content_stems(sentence)
        if sentence not in self._sentence_vectors:
            self._sentence_vectors[sentence] = self.scorer.embedder.embed_query(sentence)
        dense = self.scorer.vectors([s.text for s in spans]) @ self._sentence_vectors[sentence]
        best, best_score = spans[0], -1.0
        for span, d in zip(spans, dense):
            found = sum(any(same_number(x, h) for h in figures_in(span.text)) for x in nums)
            score = float(d) + 0.3 * found + 0.02 * len(stems & content_stems(span.text))
            if score > best_score:
                best, best_score = span, score
        return best, best_score

    def cite(self, n: int, sentence: str, nums: list[Number]) -> int:
        span, _ = self._best_span(n, sentence, nums)
        passage: Passage = self.parts[n - 1].passage
        for c in self.citations:
            if (c.source, c.start, c.end) == (passage.source, span.start, span.end):
                return c.n
        self.citations.append(
            Citation(len(self.citations) + 1, passage.source, passage.title, span.start, span.end, span.text, n)
        )
        return self.citations[-1].n
