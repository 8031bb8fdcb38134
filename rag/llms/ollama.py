"""LLM backend `ollama:<model>`: a running Ollama server (OLLAMA_HOST), through the official client."""
from __future__ import annotations

from typing import Iterator

from ..config import Settings
from ..errors import BackendError
from . import Messages, StartGate


class OllamaLLM:
    def __init__(self, model: str, host: str, n_ctx: int) -> None:
        import ollama

        self.host = host
        self.model = model
        self.id = f"ollama:{model}"
        # Ollama's default context silently truncates long RAG prompts: always send num_ctx.
        self.options = {"temperature": 0.0, "num_ctx": n_ctx}
        self._client = ollama.Client(host=self.host, timeout=120)

    def request(self, messages: Messages, max_tokens: int) -> dict:
        """The exact arguments sent to ollama.Client.chat (tested without a server)."""
        return {
            "model": self.model,
            "messages": messages,
            "stream": True,
            "options": {**self.options, "num_predict": max_tokens},
        }

    def stream(self, messages: Messages, max_tokens: int, gate: StartGate | None = None) -> Iterator[str]:
        """`gate` is left alone: the server gives no probabilities while it streams."""
        import httpx
        import ollama

        try:
            for part in self._client.chat(**self.request(messages, max_tokens)):
                content = part["message"]["content"]
                if content:
                    yield content
        except (httpx.ConnectError, httpx.TimeoutException, ConnectionError) as exc:
            raise BackendError(
                f"Ollama is unreachable at {self.host} ({exc}); start it with `ollama serve` "
                f"or set OLLAMA_HOST, or use RAG_LLM=embedded"
            ) from None
        except ollama.ResponseError as exc:
            hint = f"; pull it with `ollama pull {self.model}`" if exc.status_code == 404 else ""
            raise BackendError(f"Ollama at {self.host} refused model {self.model!r}: {exc.error}{hint}") from None

    def short_reply(self, messages: Messages, max_tokens: int) -> str:
        return "".join(self.stream(messages, max_tokens))

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 4)  # Ollama has no tokenize endpoint: about 4 characters a token

    def next_token_probs(self, messages: Messages, options: list[str]) -> dict[str, float] | None:
        return None  # Ollama's chat API gives no token probabilities


def load(model: str, settings: Settings) -> OllamaLLM:
    if not model:
        raise BackendError("RAG_LLM='ollama:' names no model; use ollama:<model>, e.g. ollama:qwen2.5:7b")
    return OllamaLLM(model, settings.ollama_host, settings.context_window)
