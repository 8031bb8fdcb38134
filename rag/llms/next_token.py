"""A second, small llama.cpp context for what is no part of an answer: what the model would answer
first, as probabilities, without generating anything, and short replies.

    reader = NextTokenReader(llama, n_ctx=2048)
    reader.probs(messages, ["oui", "non"]) -> {"oui": 0.83, "non": 0.12}
    reader.reply(messages, max_tokens=64) -> "Combien Nvidia a-t-elle perdu ?"   (greedy)

The reader has its own small llama.cpp context on the model `llama` already loaded (the weights are
not loaded twice), so that what it reads never evicts the answering context's cached prompt, and the
other way round. The prompt is built with the model's own chat template, exactly as
create_chat_completion does, and evaluated once; the probabilities come from the logits of its last
position (`logits_all` is not needed: it would keep every position's logits, ~1 GB for a 4k context).
The longest common token prefix with the previous prompt is kept in the KV cache, as Llama.generate
does, so a fixed prefix (instructions, the question shared by one answer's checks) is read once.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from llama_cpp import Llama


class ChatTemplate:
    """The model's chat template: messages -> the tokens create_chat_completion would feed the model,
    up to the start of the assistant reply."""

    def __init__(self, llama: "Llama") -> None:
        from llama_cpp import llama_chat_format

        template = llama.metadata.get("tokenizer.chat_template")
        if not template:
            raise ValueError("this GGUF has no chat template (tokenizer.chat_template)")
        self.llama = llama

        def text(token: int) -> str:
            return llama._model.token_get_text(token) if token != -1 else ""

        self._formatter = llama_chat_format.Jinja2ChatFormatter(
            template=template, eos_token=text(llama.token_eos()), bos_token=text(llama.token_bos())
        )

    def tokens(self, messages: list[dict[str, str]]) -> list[int]:
        prompt = self._formatter(messages=messages)
        return self.llama.tokenize(prompt.prompt.encode("utf-8"), add_bos=not prompt.added_special, special=True)


def start_tokens(llama: "Llama", option: str) -> set[int]:
    """The tokens that start a reply with `option` whatever its case or leading space ("oui", "Oui",
    "OUI", " oui"…)."""
    found = set()
    for variant in {option.lower(), option.capitalize(), option.upper()}:
        for text in (variant, " " + variant):
            # a variant that takes several tokens counts by its first one ("OUI" = "O" + "UI")
            first = llama.tokenize(text.encode("utf-8"), add_bos=False, special=False)[:1]
            if first and llama.detokenize(first).strip():
                found.add(first[0])
    return found


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits.astype(np.float64) - logits.max())
    return z / z.sum()


class NextTokenReader:
    def __init__(self, llama: "Llama", n_ctx: int) -> None:
        from llama_cpp import _internals, llama_cpp

        self.llama = llama  # tokenizer and model; its own context is left alone
        self.template = ChatTemplate(llama)
        params = llama_cpp.llama_context_params.from_buffer_copy(llama.context_params)  # threads, flash attention…
        params.n_ctx = n_ctx
        params.n_batch = min(params.n_batch, n_ctx)
        params.n_ubatch = min(params.n_ubatch, n_ctx)
        self.n_ctx, self.n_batch = n_ctx, params.n_batch
        self._ctx = _internals.LlamaContext(model=llama._model, params=params, verbose=False)
        self._batch = _internals.LlamaBatch(n_tokens=params.n_batch, embd=0, n_seq_max=1, verbose=False)
        self.held: list[int] = []  # the tokens whose keys and values the context holds
        self._option_ids: dict[str, set[int]] = {}

    def last_logits(self, tokens: list[int]) -> np.ndarray:
        """Evaluate `tokens`, reusing the longest prefix the context already holds; the logits of the
        last position (a copy: the next decode overwrites llama.cpp's buffer)."""
        if not tokens:
            raise ValueError("no tokens to evaluate")
        if len(tokens) > self.n_ctx:
            raise ValueError(f"prompt of {len(tokens)} tokens does not fit the check context ({self.n_ctx})")
        common = 0
        for held, new in zip(self.held, tokens[:-1]):  # evaluate at least the last token: its logits are the answer
            if held != new:
                break
            common += 1
        if not self._ctx.kv_cache_seq_rm(-1, common, -1):
            self._ctx.kv_cache_clear()  # this model's memory cannot drop a suffix: start over
            common = 0
        self.held = tokens[:common]
        for start in range(common, len(tokens), self.n_batch):
            chunk = tokens[start : start + self.n_batch]
            self._batch.set_batch(chunk, n_past=start, logits_all=False)
            self._ctx.decode(self._batch)
            self.held = tokens[: start + len(chunk)]
        return np.ctypeslib.as_array(self._ctx.get_logits(), shape=(self.llama.n_vocab(),)).copy()

    def reply(self, messages: list[dict[str, str]], max_tokens: int) -> str | None:
        """The reply, greedily (temperature 0, as the answering context is asked), whole: each new token
        is one decode, its prompt read once (last_logits keeps the prefix). None when the prompt and
        max_tokens do not fit this context."""
        from llama_cpp import llama_cpp

        tokens = self.template.tokens(messages)
        if len(tokens) + max_tokens > self.n_ctx:
            return None
        out: list[int] = []
        vocab = self.llama._model.vocab
        for _ in range(max_tokens):
            token = int(np.argmax(self.last_logits(tokens + out)))
            if llama_cpp.llama_vocab_is_eog(vocab, token):
                break
            out.append(token)
        return self.llama.detokenize(out).decode("utf-8", "replace")

    def set_threads(self, decode: int, batch: int) -> None:
        self._ctx.set_n_threads(decode, batch)

    def option_tokens(self, option: str) -> set[int]:
        if option not in self._option_ids:
            self._option_ids[option] = start_tokens(self.llama, option)
        return self._option_ids[option]

    def probs(self, messages: list[dict[str, str]], options: list[str]) -> dict[str, float]:
        """P(the assistant reply starts with each option): softmax over the whole vocabulary, summed
        over the option's token variants."""
        ids = {option: self.option_tokens(option) for option in options}
        shared = [(a, b) for i, a in enumerate(options) for b in options[i + 1 :] if ids[a] & ids[b]]
        if shared:
            raise ValueError(f"options {shared[0][0]!r} and {shared[0][1]!r} share a token: they cannot be told apart")
        probs = softmax(self.last_logits(self.template.tokens(messages)))
        return {option: float(probs[list(ids[option])].sum()) for option in options}
