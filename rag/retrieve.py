"""Hybrid retrieval: FAISS (dense) + BM25 (lexical, French stemmer), fused by reciprocal rank."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from llama_index.core.vector_stores.types import VectorStoreQuery

from .embed import Embedder
from .stores.files import IndexData

Mode = Literal["hybrid", "dense", "bm25"]
RRF_K = 60  # the constant from Cormack et al. (2009); damps the weight of the very top ranks


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


class Retriever:
    def __init__(self, data: IndexData, embedder: Embedder) -> None:
        self.data = data
        self.embedder = embedder
        self._position = {node.node_id: i for i, node in enumerate(data.nodes)}

    def search(self, query: str, k: int = 4, mode: Mode = "hybrid") -> list[Passage]:
        if mode not in ("hybrid", "dense", "bm25"):
            raise ValueError(f"mode must be 'hybrid', 'dense' or 'bm25', not {mode!r}")
        n = len(self.data.nodes)
        if n == 0 or k <= 0:
            return []
        depth = min(n, max(20, 4 * k))
        if mode == "dense":
            ranked = self.dense(query, depth)
        elif mode == "bm25":
            ranked = self.lexical(query, depth)
        else:
            ranked = fuse([self.dense(query, depth), self.lexical(query, depth)])
        return [self._passage(i, score) for i, score in ranked[:k]]

    def dense(self, query: str, depth: int) -> list[tuple[int, float]]:
        vector = self.embedder.embed_query(query)
        result = self.data.vectors.query(
            VectorStoreQuery(query_embedding=vector.tolist(), similarity_top_k=depth)
        )
        return [(int(i), float(s)) for i, s in zip(result.ids, result.similarities) if int(i) >= 0]

    def lexical(self, query: str, depth: int) -> list[tuple[int, float]]:
        bm25 = self.data.bm25
        bm25.similarity_top_k = depth
        hits = bm25.retrieve(query)
        return [(self._position[h.node.node_id], float(h.score)) for h in hits if h.score > 0]

    def _passage(self, i: int, score: float) -> Passage:
        node = self.data.nodes[i]
        return Passage(
            source=node.metadata["source"],
            title=node.metadata["title"],
            start=node.start_char_idx,
            end=node.end_char_idx,
            text=node.text,
            score=score,
            chunk_id=node.node_id,
        )


def fuse(rankings: list[list[tuple[int, float]]]) -> list[tuple[int, float]]:
    """Reciprocal-rank fusion: score(d) = sum over rankings of 1 / (RRF_K + rank)."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, (i, _) in enumerate(ranking, start=1):
            scores[i] = scores.get(i, 0.0) + 1.0 / (RRF_K + rank)
    return sorted(scores.items(), key=lambda item: -item[1])
