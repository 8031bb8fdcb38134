"""Hybrid retrieval over any store's Index: dense + lexical rankings fused by reciprocal rank."""
from __future__ import annotations

from typing import Literal

from .embedders import Embedder
from .stores import Index
from .types import Passage

Mode = Literal["hybrid", "dense", "bm25"]
MODES = ("hybrid", "dense", "bm25")
RRF_K = 60  # the constant from Cormack et al. (2009); damps the weight of the very top ranks


class Retriever:
    def __init__(self, index: Index, embedder: Embedder) -> None:
        self.index = index
        self.embedder = embedder

    def search(self, query: str, k: int = 4, mode: Mode = "hybrid") -> list[Passage]:
        if mode not in MODES:
            raise ValueError(f"mode must be 'hybrid', 'dense' or 'bm25', not {mode!r}")
        n = len(self.index)
        if n == 0 or k <= 0:
            return []
        depth = min(n, max(20, 4 * k))
        if mode == "dense":
            ranked = self.dense(query, depth)
        elif mode == "bm25":
            ranked = self.index.lexical(query, depth)
        else:
            ranked = fuse([self.dense(query, depth), self.index.lexical(query, depth)])
        return [self._passage(chunk_id, score) for chunk_id, score in ranked[:k]]

    def dense(self, query: str, depth: int) -> list[tuple[str, float]]:
        return self.index.dense(self.embedder.embed_query(query), depth)

    def _passage(self, chunk_id: str, score: float) -> Passage:
        c = self.index.chunk(chunk_id)
        return Passage(c.source, c.title, c.start, c.end, c.text, score, c.id)


def fuse(rankings: list[list[tuple[str, float]]]) -> list[tuple[str, float]]:
    """Reciprocal-rank fusion: score(d) = sum over rankings of 1 / (RRF_K + rank)."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, (key, _) in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + 1.0 / (RRF_K + rank)
    return sorted(scores.items(), key=lambda item: -item[1])
