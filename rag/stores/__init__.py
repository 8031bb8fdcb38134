"""Index stores: where chunks, vectors and the manifest live. One interface, one module per backend.

A `Store` is an index location (a folder today; a database URL for a server backend). It hands out
the live, committed generation as a read-only `Index`, and takes a whole new generation from ingest
in one `write`, which becomes visible atomically: readers never see half an ingest.
"""
from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Iterator, Protocol

import numpy as np

from ..registry import Backend, Registry
from ..types import Chunk


class Index(Protocol):
    """One committed generation, read-only. Hits are (chunk id, score), best first."""

    manifest: dict  # embedder {id, dim}, chunking, files {source: {sha256, chunks, title}}, counts, created

    def __len__(self) -> int: ...

    def dense(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]: ...

    def lexical(self, query: str, k: int) -> list[tuple[str, float]]: ...

    def chunk(self, chunk_id: str) -> Chunk: ...

    def document_text(self, source: str) -> str:
        """The indexed text of one document (what chunk offsets point into); KeyError if unknown."""
        ...

    def stored(self) -> Iterator[tuple[Chunk, np.ndarray]]:
        """Every chunk with its vector, in document order (what an incremental ingest reuses)."""
        ...


class Store(Protocol):
    location: str

    def read_manifest(self) -> dict | None:
        """The live generation's manifest (cheap), None when there is no index yet; IndexCorrupt."""
        ...

    def load(self) -> Index | None:
        """The live generation, verified; None when there is no index yet; IndexCorrupt."""
        ...

    def locked(self) -> AbstractContextManager:
        """Held by the one writer (ingest); other writers wait. Readers never need it."""
        ...

    def write(self, manifest: dict, chunks: list[Chunk], vectors: np.ndarray, texts: dict[str, str]) -> dict[str, float]:
        """Commit a complete new generation atomically; the previous one serves until then. Returns
        the seconds its own steps took ({"faiss": …, "bm25": …}), which ingest reports as write.<step>."""
        ...


STORES = Registry("index store", "RAG_INDEX", [
    Backend("files", "/path/to/folder", "FAISS (dense) + BM25 (French stemmer) files, one immutable generation "
            "per ingest, switched atomically (default)", "rag.stores.files:open_store", default=True),
    Backend("postgresql", "postgresql://user@host:port/db", "PostgreSQL: pgvector HNSW (dense) + BM25 over French "
            "full-text lexemes (GIN), one generation per ingest committed in one transaction",
            "rag.stores.postgres:open_store", aliases=("postgres",)),
])


def open_store(location: str) -> Store:
    return STORES.load(str(location))
