"""Fakes for fast tests of the answer logic: a scripted LLM and a hashed bag-of-words embedder.

    llm = FakeLLM(["Liang Wenfeng a fondé DeepSeek [1]."])           # one reply per call, in order
    llm = FakeLLM(lambda messages: "NOT_IN_DOCUMENTS")               # or a reply computed from the prompt
    embedder = FakeEmbedder()                                       # same words -> same vector

They follow the interfaces of rag.llm.LLM and rag.embed.Embedder, so anything that takes an LLM or an
embedder takes them. Use them where the model is not what is under test; tests about what the real
models do keep the real models.
"""
from __future__ import annotations

import hashlib
import re
from typing import Callable, Iterator, Mapping, Sequence

import numpy as np

from .text import fold

Messages = list[dict[str, str]]
Reply = Sequence[str] | Callable[[Messages], str]
# a token: a word or one punctuation mark, with the spaces before it ("".join(tokens) == text)
_TOKEN = re.compile(r"\s*(?:\w+|[^\w\s])|\s+$")


def tokens(text: str) -> list[str]:
    """The pieces FakeLLM streams and counts."""
    return _TOKEN.findall(text)


class FakeLLM:
    """An LLM that says what the test scripted.

    replies: a list (one reply per call, in order; running out is an error) or a function of the
    messages. A reply is streamed token by token and cut at max_tokens, like a real model's.
    probabilities: what next_token_probabilities returns, a mapping or a function of the messages;
    by default the first word of the scripted reply gets all the mass.
    Every call is recorded in `calls`; `prompt_tokens` and `generated_tokens` add up what it read and wrote.
    """

    def __init__(self, replies: Reply, probabilities: Mapping[str, float] | Callable[[Messages], Mapping[str, float]]
                 | None = None, id: str = "fake-llm") -> None:
        self.id = id
        self._replies = replies if callable(replies) else list(replies)
        self._probabilities = probabilities
        self._used = 0
        self.calls: list[Messages] = []
        self.prompt_tokens = 0
        self.generated_tokens = 0

    def _reply(self, messages: Messages) -> str:
        if callable(self._replies):
            return self._replies(messages)
        if self._used >= len(self._replies):
            raise AssertionError(f"FakeLLM was called {self._used + 1} times but scripted {len(self._replies)} replies; "
                                 f"last prompt: {messages[-1]['content'][:200]!r}")
        self._used += 1
        return self._replies[self._used - 1]

    def stream(self, messages: Messages, max_tokens: int) -> Iterator[str]:
        self.calls.append(messages)
        self.prompt_tokens += self.count_tokens("\n".join(m["content"] for m in messages))
        for piece in tokens(self._reply(messages))[:max_tokens]:
            self.generated_tokens += 1
            yield piece

    def count_tokens(self, text: str) -> int:
        return len(tokens(text))

    def next_token_probabilities(self, messages: Messages, candidates: Sequence[str]) -> dict[str, float]:
        """P(next token = candidate) for each candidate (compared without case, accents and spaces)."""
        self.calls.append(messages)
        if self._probabilities is None:
            first = next(iter(tokens(self._reply(messages))), "")
            scripted = {first: 1.0}
        elif callable(self._probabilities):
            scripted = dict(self._probabilities(messages))
        else:
            scripted = dict(self._probabilities)
        by_key = {fold(k).strip(): float(p) for k, p in scripted.items()}
        return {c: by_key.get(fold(c).strip(), 0.0) for c in candidates}


class FakeEmbedder:
    """Deterministic hashed bag-of-words vectors, L2-normalised: texts that share words are close,
    texts that share none are orthogonal (up to hash collisions). Same text, same vector, in every
    process. No meaning, no languages: not for tests about retrieval quality."""

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim
        self.id = f"fake-bag-of-words-{dim}"

    def _vector(self, text: str) -> np.ndarray:
        vec = np.zeros(self.dim, dtype=np.float32)
        for word in re.findall(r"\w+", fold(text)):
            digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
            vec[int.from_bytes(digest, "little") % self.dim] += 1.0
        norm = float(np.linalg.norm(vec))
        return vec / norm if norm else vec

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return np.vstack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dim), dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self._vector(text)
