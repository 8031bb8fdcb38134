"""What an answer is made of. Everything here is plain data (JSON-friendly via dataclasses.asdict)."""
from __future__ import annotations

from dataclasses import dataclass, field

from .retrieve import Passage


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


@dataclass
class Sentence:
    """One sentence of the answer with the citations attached to it and the verdict of the check."""

    text: str
    citations: list[int] = field(default_factory=list)
    supported: bool = True
    reason: str = ""  # why it is unsupported, e.g. "465 milliards not in [2]"


@dataclass
class Answer:
    question: str
    text: str  # the answer as shown, with [n] markers
    citations: list[Citation] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    abstained: bool = False
    sentences: list[Sentence] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)  # "sources disagree on …" notes
    language: str = "fr"
    standalone_question: str = ""  # the follow-up rewritten with its history
    removed_citations: int = 0  # [n] the model wrote that pointed at no given passage
    timings: dict[str, float] = field(default_factory=dict)  # retrieval, first_token, total (seconds)

    @property
    def unsupported(self) -> list[str]:
        return [s.text for s in self.sentences if not s.supported]
