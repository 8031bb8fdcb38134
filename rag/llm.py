"""LLM backends behind one small interface: `stream(messages, max_tokens) -> Iterator[str]`.

- ``embedded`` (default): llama.cpp in-process (llama-cpp-python) on the packaged Qwen2.5 GGUF.
- ``gguf:/path/model.gguf``: any local GGUF through the same runtime.
- ``ollama:<model>``: a running Ollama server (host from OLLAMA_HOST), official client.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Iterator, Protocol

from .config import Settings
from .errors import BackendError

Messages = list[dict[str, str]]
# how rag runs llama.cpp (the benchmark probes use the same): flash attention reads the prompt ~5 %
# faster on CPU at the same decoding speed (measured here)
LLAMA_OPTIONS = {"n_batch": 512, "flash_attn": True}


class LLM(Protocol):
    id: str

    def stream(self, messages: Messages, max_tokens: int) -> Iterator[str]: ...


class LlamaCppLLM:
    """One model per process; llama.cpp reuses the KV cache of the longest common prompt prefix,
    so the fixed system prompt is evaluated once and reused by later questions."""

    def __init__(self, path: Path, n_ctx: int, n_threads: int, name: str | None = None) -> None:
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise BackendError(f"embedded LLM runtime llama-cpp-python is not installed ({exc}); run `make install`") from None
        if not path.is_file():
            raise BackendError(f"GGUF model file {str(path)!r} does not exist")
        try:
            self._llama = Llama(model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, verbose=False,
                                **LLAMA_OPTIONS)
        except (ValueError, RuntimeError) as exc:
            raise BackendError(f"llama.cpp could not load {str(path)!r}: {exc}") from None
        self._lock = threading.Lock()  # a llama.cpp context serves one generation at a time
        self.id = name or path.name

    def stream(self, messages: Messages, max_tokens: int) -> Iterator[str]:
        with self._lock:
            for chunk in self._llama.create_chat_completion(
                messages=messages, max_tokens=max_tokens, temperature=0.0, stream=True
            ):
                delta = chunk["choices"][0]["delta"].get("content")
                if delta:
                    yield delta

    def count_tokens(self, text: str) -> int:
        return len(self._llama.tokenize(text.encode(), add_bos=False, special=True))


class OllamaLLM:
    def __init__(self, model: str, host: str | None, n_ctx: int) -> None:
        import ollama

        self.host = host or os.environ.get("OLLAMA_HOST") or "http://127.0.0.1:11434"
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

    def stream(self, messages: Messages, max_tokens: int) -> Iterator[str]:
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


def load_llm(settings: Settings) -> LLM:
    spec = settings.llm.strip()
    if spec in ("embedded", "", "default"):
        from .models import DEFAULT, PACKAGED, assemble

        path = assemble(PACKAGED[DEFAULT], settings.model_dir)
        return LlamaCppLLM(path, settings.context_window, settings.llm_threads, name=DEFAULT)
    if spec.startswith("gguf:"):
        return LlamaCppLLM(Path(spec[5:]).expanduser(), settings.context_window, settings.llm_threads)
    if spec.startswith("ollama:") and spec[7:]:
        return OllamaLLM(spec[7:], None, settings.context_window)
    raise BackendError(
        f"unknown LLM backend {spec!r} (RAG_LLM); use 'embedded', 'gguf:/path/model.gguf' or 'ollama:<model>'"
    )
