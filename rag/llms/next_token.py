"""What a llama.cpp model would answer first, as probabilities, without generating anything.

    NextTokenReader(llama).probs(messages, ["oui", "non"]) -> {"oui": 0.83, "non": 0.12}

The prompt is built with the model's own chat template, exactly as create_chat_completion does, and
evaluated once; the probabilities come from the logits of its last position (`logits_all` is not
needed: it would keep every position's logits, ~1 GB for a 4k context). The context keeps what it
already holds: the longest common token prefix with the previous prompt is reused from the KV cache,
as Llama.generate does, so a fixed prefix (instructions, examples) is read once.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from llama_cpp import Llama


class NextTokenReader:
    """Reads next-token probabilities from one llama.cpp context (which it leaves consistent for
    Llama.generate: the tokens it evaluated are recorded as the context's cached prefix)."""

    def __init__(self, llama: "Llama") -> None:
        from llama_cpp import llama_chat_format

        template = llama.metadata.get("tokenizer.chat_template")
        if not template:
            raise ValueError("this GGUF has no chat template (tokenizer.chat_template)")
        self.llama = llama
        self._formatter = llama_chat_format.Jinja2ChatFormatter(
            template=template, eos_token=self._text(llama.token_eos()), bos_token=self._text(llama.token_bos())
        )
        self._option_ids: dict[str, set[int]] = {}

    def _text(self, token: int) -> str:
        return self.llama._model.token_get_text(token) if token != -1 else ""

    def chat_tokens(self, messages: list[dict[str, str]]) -> list[int]:
        """The tokens create_chat_completion would feed the model, up to the start of the assistant reply."""
        prompt = self._formatter(messages=messages)
        return self.llama.tokenize(prompt.prompt.encode("utf-8"), add_bos=not prompt.added_special, special=True)

    def last_logits(self, tokens: list[int]) -> np.ndarray:
        """Evaluate `tokens`, reusing the longest prefix the context already holds; the logits of the
        last position (a copy: the next decode overwrites llama.cpp's buffer)."""
        llama = self.llama
        if not tokens:
            raise ValueError("no tokens to evaluate")
        if len(tokens) > llama.n_ctx():
            raise ValueError(f"prompt of {len(tokens)} tokens does not fit the context window ({llama.n_ctx()})")
        held = llama.input_ids[: llama.n_tokens]
        size = min(len(held), len(tokens))
        differ = np.nonzero(held[:size] != np.asarray(tokens[:size], dtype=held.dtype))[0]
        common = int(differ[0]) if differ.size else size
        common = min(common, len(tokens) - 1)  # evaluate at least one token: its logits are the answer
        if common and not llama._ctx.kv_cache_seq_rm(-1, common, -1):
            common = 0  # this model's memory cannot drop a suffix: start over
        if not common:
            llama.reset()
        llama.n_tokens = common
        llama.eval(tokens[common:])
        return np.ctypeslib.as_array(llama._ctx.get_logits(), shape=(llama.n_vocab(),)).copy()

    def option_tokens(self, option: str) -> set[int]:
        """The tokens that start a reply with `option` whatever its case or leading space ("oui",
        "Oui", "OUI", " oui"…)."""
        if option not in self._option_ids:
            found = set()
            for variant in {option.lower(), option.capitalize(), option.upper()}:
                for text in (variant, " " + variant):
                    # a variant that takes several tokens counts by its first one ("OUI" = "O" + "UI")
                    first = self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=False)[:1]
                    if first and self.llama.detokenize(first).strip():
                        found.add(first[0])
            self._option_ids[option] = found
        return self._option_ids[option]

    def probs(self, messages: list[dict[str, str]], options: list[str]) -> dict[str, float]:
        """P(the assistant reply starts with each option): softmax over the whole vocabulary, summed
        over the option's token variants."""
        ids = {option: self.option_tokens(option) for option in options}
        shared = [(a, b) for i, a in enumerate(options) for b in options[i + 1 :] if ids[a] & ids[b]]
        if shared:
            raise ValueError(f"options {shared[0][0]!r} and {shared[0][1]!r} share a token: they cannot be told apart")
        logits = self.last_logits(self.chat_tokens(messages)).astype(np.float64)
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        return {option: float(probs[list(ids[option])].sum()) for option in options}
