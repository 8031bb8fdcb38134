"""LLM backends `embedded` and `gguf:/path`: llama.cpp in-process (llama-cpp-python)."""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Iterator

from ..config import Settings
from ..errors import BackendError
from .. import load
from . import Messages, StartGate

# how rag runs llama.cpp (the benchmark probes use the same): flash attention reads the prompt ~5 %
# faster on CPU at the same decoding speed (measured here)
LLAMA_OPTIONS = {"n_batch": 512, "flash_attn": True}
# next_token_probs and short_reply read a second, small context on the same loaded model: its KV cache
# (~60 MB) keeps the checks' prefix while the first context keeps the answers' system prompt (a
# translation read there evicted it: the next answer read its 77 tokens again, ~0.6 s)
CHECK_CONTEXT = 2048


class LlamaCppLLM:
    """One model per process; llama.cpp reuses the KV cache of the longest common prompt prefix,
    so the fixed system prompt is evaluated once and reused by later questions."""

    def __init__(self, path: Path, n_ctx: int, n_threads: int, name: str | None = None,
                 check_ctx: int = CHECK_CONTEXT, decode_threads: int = 0) -> None:
        """n_threads: threads that read prompts (and the most that decode); decode_threads: a fixed
        number for decoding, or 0 to use the cores other programs leave free (rag/load.py);
        check_ctx: size of the context that next_token_probs reads (prompt + question + span + sentence)."""
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise BackendError(f"embedded LLM runtime llama-cpp-python is not installed ({exc}); run `make install`") from None
        if not path.is_file():
            raise BackendError(f"GGUF model file {str(path)!r} does not exist")
        try:
            self._llama = Llama(model_path=str(path), n_ctx=n_ctx, n_threads=decode_threads or n_threads,
                                n_threads_batch=n_threads, verbose=False, **LLAMA_OPTIONS)
        except (ValueError, RuntimeError) as exc:
            raise BackendError(f"llama.cpp could not load {str(path)!r}: {exc}") from None
        self._lock = threading.Lock()  # one model call at a time, whichever context it uses
        self._threads = n_threads
        self._watch = None if decode_threads else load.CoreWatch()
        self.decode_threads = decode_threads or n_threads  # what the last answer decoded with (bench reads it)
        self.id = name or path.name
        self._check_ctx = check_ctx
        self._reader = None  # NextTokenReader, made on first use
        self._template = None  # ChatTemplate of the model, likewise
        self._gate_ids: dict[str, list[int]] = {}  # StartGate text -> the tokens that start it

    def stream(self, messages: Messages, max_tokens: int, gate: StartGate | None = None) -> Iterator[str]:
        with self._lock:
            self._adapt_threads()
            checked = time.monotonic()
            for chunk in self._llama.create_chat_completion(
                messages=messages, max_tokens=max_tokens, temperature=0.0, stream=True,
                logits_processor=self._gated(gate) if gate is not None else None,
            ):
                if time.monotonic() - checked >= load.INTERVAL:  # between two tokens: a load may have come or gone
                    self._adapt_threads()
                    checked = time.monotonic()
                delta = chunk["choices"][0]["delta"].get("content")
                if delta:
                    yield delta

    def short_reply(self, messages: Messages, max_tokens: int) -> str:
        """Read in the side context (next_token.NextTokenReader.reply); one too long for it, in the answering one."""
        with self._lock:
            self._adapt_threads()
            text = self._side().reply(messages, max_tokens)
        return text if text is not None else "".join(self.stream(messages, max_tokens))

    def _gated(self, gate: StartGate):
        """A logits processor that reads the first token's probabilities (the logits llama.cpp already
        computed: no extra model call) and takes the gated start away when it is under gate.min_p."""
        from llama_cpp import LogitsProcessorList

        from .next_token import softmax, start_tokens

        ids = self._gate_ids.get(gate.text)
        if ids is None:  # tokenized once per text, not per answer
            # only tokens that spell a real start of it ("NOT", " Not"): one like "N" would also start "Nvidia"
            ids = self._gate_ids[gate.text] = sorted(
                t for t in start_tokens(self._llama, gate.text)
                if len(self._llama.detokenize([t]).decode("utf-8", "replace").strip()) >= min(3, len(gate.text)))
        first = True

        def processor(_input_ids, logits):
            nonlocal first
            if first and ids and len(logits) == self._llama.n_vocab():
                first = False
                gate.p = float(softmax(logits)[ids].sum())
                if gate.p < gate.min_p:
                    gate.refused = bool(logits[ids].max() >= logits.max())  # it was the model's choice
                    logits[ids] = -float("inf")
            return logits

        return LogitsProcessorList([processor])

    def _adapt_threads(self) -> None:
        """Decode with the cores nobody else is using; read prompts with all of them (a prompt's big
        matrix products tolerate a busy core, token-by-token decoding collapses: rag/load.py)."""
        if self._watch is None:
            return
        wanted = load.decode_threads(self._threads, self._watch.others_busy())
        if wanted != self.decode_threads:
            self._llama._ctx.set_n_threads(wanted, self._threads)
            if self._reader is not None:
                self._reader.set_threads(wanted, self._threads)
            self.decode_threads = wanted

    def count_tokens(self, text: str) -> int:
        return len(self._llama.tokenize(text.encode(), add_bos=False, special=True))

    # -- what the benchmark reads (public, so that bench/ needs no private access) ---------------
    def chat_tokens(self, messages: Messages) -> list[int]:
        """The tokens the answering context is fed for these messages (the model's chat template)."""
        from .next_token import ChatTemplate

        if self._template is None:
            self._template = ChatTemplate(self._llama)
        return self._template.tokens(messages)

    def held_tokens(self) -> list[int]:
        """The tokens the answering context holds in its KV cache: the prefix the next prompt can reuse."""
        return self._llama.input_ids[: self._llama.n_tokens].tolist()

    @property
    def runtime(self):
        """The llama_cpp.Llama that answers (for probes that compare with raw llama.cpp)."""
        return self._llama

    def next_token_probs(self, messages: Messages, options: list[str]) -> dict[str, float]:
        with self._lock:
            return self._side().probs(messages, options)

    def _side(self):
        """The side context (next_token.NextTokenReader), made on first use; the caller holds the lock."""
        if self._reader is None:
            from .next_token import NextTokenReader

            try:
                self._reader = NextTokenReader(self._llama, self._check_ctx)
                if self.decode_threads != self._threads:  # made while a load is on: decode as the answers do
                    self._reader.set_threads(self.decode_threads, self._threads)
            except ValueError as exc:  # llama.cpp could not make the context
                raise BackendError(f"{self.id}: no side context (next-token probabilities, short replies): {exc}") from None
        return self._reader


def load_packaged(_: str, settings: Settings) -> LlamaCppLLM:
    from ..models import DEFAULT, PACKAGED, assemble

    path = assemble(PACKAGED[DEFAULT], settings.model_dir)
    return LlamaCppLLM(path, settings.context_window, settings.llm_threads, name=DEFAULT,
                       decode_threads=settings.llm_decode_threads)


def load_gguf(path: str, settings: Settings) -> LlamaCppLLM:
    return LlamaCppLLM(Path(path).expanduser(), settings.context_window, settings.llm_threads,
                       decode_threads=settings.llm_decode_threads)
