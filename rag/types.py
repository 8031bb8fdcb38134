"""The data the library hands out: plain dataclasses, no heavy imports (JSON-friendly via asdict).

corpus ─▶ Chunk (stored) ─▶ Passage (retrieved, scored) ─▶ Excerpt (what the model reads)
       ─▶ Answer: Sentence (+ verdict) ─▶ Citation (exact span) ; Disagreement (Figure per source)

Rendering to text, Markdown or HTML lives in one place: rag/render.py.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Chunk:
    """A stored piece of a document: text == document_text(source)[start:end]."""

    id: str
    source: str
    title: str
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk: text[start:end] of `source` (offsets into the indexed text)."""

    source: str
    title: str
    start: int
    end: int
    text: str
    score: float
    chunk_id: str


@dataclass(frozen=True)
class Span:
    """A piece of a text with absolute offsets (a sentence of a passage, usually)."""

    start: int
    end: int
    text: str


@dataclass
class Excerpt:
    """What the model sees of passage n: a few of its sentences, each with exact offsets."""

    n: int
    passage: Passage
    sentences: list[Span]
    scores: list[float]

    @property
    def text(self) -> str:
        return " … ".join(s.text for s in self.sentences)


@dataclass(frozen=True)
class Citation:
    """`[n]` in the answer text -> the exact span that supports it: text == document[start:end]."""

    n: int
    source: str
    title: str
    start: int
    end: int
    text: str
    passage: int  # 1-based number of the retrieved passage the span lies in
    section: str | None = None  # where in the document: "p. 3", "slide 2", "Intro > Marché" (Bot fills it)


@dataclass
class Sentence:
    """One sentence of the answer with the citations attached to it and the verdict of the check."""

    text: str
    citations: list[int] = field(default_factory=list)
    supported: bool = True
    reason: str = ""  # why it is unsupported, e.g. "465 milliards not in [2]"


@dataclass(frozen=True)
class Figure:
    """One source's figure in a disagreement, with the citation of the span that states it."""

    text: str  # as the source writes it: "465 milliards", "14 %"
    source: str
    title: str
    citation: int  # Citation.n


@dataclass
class Disagreement:
    """Sources give different figures for the same kind of quantity (one Figure per distinct value)."""

    quantity: str  # "%", "e3" (amounts of the same magnitude), "n:puce" (counts of a noun)
    figures: list[Figure]


@dataclass
class Answer:
    question: str
    text: str  # the answer as shown, with [n] markers (rag.render.text of the parts below)
    citations: list[Citation] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    abstained: bool = False
    sentences: list[Sentence] = field(default_factory=list)
    conflicts: list[Disagreement] = field(default_factory=list)
    language: str = "fr"
    standalone_question: str = ""  # the follow-up rewritten with its history
    removed_citations: int = 0  # [n] the model wrote that pointed at no given passage
    # passages at the end of .passages that were not retrieved for the question but searched for
    # other sources' figures of a claim the answer makes (a disagreement note may cite them)
    rival_passages: int = 0
    # the probability the model gave to starting its reply with "the documents don't say" (None: the
    # backend gives no probabilities), and whether that start was refused as too unsure (it answered,
    # and its sentences were held to a stricter check)
    abstain_p: float | None = None
    abstain_refused: bool = False
    # seconds per stage: condense, retrieval, excerpts, first_token, generation, verify, total
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def unsupported(self) -> list[str]:
        return [s.text for s in self.sentences if not s.supported]
