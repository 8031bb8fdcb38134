"""LLMs: one small interface and the table of backends.

Answering needs streaming and token counting, and short replies that are no part of an answer (a
follow-up made standalone, a question translated for the search); the meaning-level citation check needs the
probabilities of the first token of a reply (`next_token_probs`). A backend that cannot give them
returns None there, and the check falls back to the lexical rule alone; likewise it leaves a
StartGate alone (the reply starts as the model chose).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Protocol

from ..config import Settings
from ..registry import Backend, Registry

Messages = list[dict[str, str]]


@dataclass
class StartGate:
    """A reply may start with `text` only if the model gives that start at least `min_p`; below it,
    the reply starts with the model's next most likely token instead. The backend fills in what it
    saw: `p`, the probability of that start (None when it gives no probabilities), and `refused`."""

    text: str
    min_p: float
    p: float | None = None
    refused: bool = False


class LLM(Protocol):
    id: str

    def stream(self, messages: Messages, max_tokens: int, gate: StartGate | None = None) -> Iterator[str]:
        """The reply, piece by piece (temperature 0)."""
        ...

    def short_reply(self, messages: Messages, max_tokens: int) -> str:
        """A short reply that is no part of an answer, whole (temperature 0). A backend that caches the
        answers' prompt reads it apart, so that the next answer still finds its prompt's prefix."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` in this model's vocabulary (an estimate where the backend cannot tell)."""
        ...

    def next_token_probs(self, messages: Messages, options: list[str]) -> dict[str, float] | None:
        """P(the reply starts with each option), or None when the backend gives no probabilities."""
        ...


LLMS = Registry("LLM backend", "RAG_LLM", [
    Backend("embedded", "embedded", "llama.cpp in-process on the packaged Qwen2.5-Coder-1.5B-Instruct Q4_K_M "
            "(default)", "rag.llms.llamacpp:load_packaged"),
    Backend("gguf", "gguf:/path/model.gguf", "any local GGUF through the same llama.cpp runtime",
            "rag.llms.llamacpp:load_gguf"),
    Backend("ollama", "ollama:<model>", "a running Ollama server (OLLAMA_HOST)", "rag.llms.ollama:load"),
    Backend("openai", "openai:<model>", "any OpenAI-compatible chat server: vLLM, llama.cpp's server, LM Studio, TGI "
            "(RAG_OPENAI_BASE_URL, RAG_OPENAI_API_KEY)", "rag.llms.openai:load"),
])


def load_llm(settings: Settings) -> LLM:
    return LLMS.load(settings.llm, settings)
