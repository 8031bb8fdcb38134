"""LLM backend `openai:<model>`: any OpenAI-compatible `/v1/chat/completions` server (vLLM, llama.cpp's
server, LM Studio, TGI, Ollama's /v1), through the official `openai` client.

The base URL is RAG_OPENAI_BASE_URL; the API key, if the server wants one, RAG_OPENAI_API_KEY or
OPENAI_API_KEY. The key is never logged, shown in a repr or put in an error message. Every failure
(unreachable host, unknown model, refused key, time-out, a server dying mid-answer) is a BackendError
that names the URL and what to do.

Token probabilities come from `logprobs`/`top_logprobs` on a one-token reply. Servers that do not
give them (they refuse the parameters, or answer without them) get None, as the LLM interface says.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterator

from ..config import Settings
from ..errors import BackendError
from . import Messages, StartGate

TOP_LOGPROBS = 20  # the most the OpenAI API allows
NO_KEY = "unused"
AGAIN = "it may have crashed or restarted: check its log and ask again"  # the client insists on a key; servers without authentication ignore it


class OpenAILLM:
    def __init__(self, model: str, base_url: str, api_key: str, timeout: float) -> None:
        import openai

        self.model = model
        self.base_url = base_url.rstrip("/")
        self.id = f"openai:{model}"
        self._timeout = timeout
        self._key = api_key
        self._client = openai.OpenAI(base_url=self.base_url, api_key=api_key or NO_KEY, timeout=timeout,
                                     max_retries=0)

    def __repr__(self) -> str:  # the key stays out
        return f"OpenAILLM(model={self.model!r}, base_url={self.base_url!r})"

    def stream(self, messages: Messages, max_tokens: int, gate: StartGate | None = None) -> Iterator[str]:
        """`gate` is left alone: the server gives no probabilities while it streams."""
        with self._errors():
            reply = self._client.chat.completions.create(
                model=self.model, messages=messages, max_tokens=max_tokens, temperature=0.0, stream=True
            )
        finished = False
        with self._errors(answering=True):
            with reply:
                for chunk in reply:
                    if not chunk.choices:
                        continue
                    choice = chunk.choices[0]
                    if choice.delta is not None and choice.delta.content:
                        yield choice.delta.content
                    finished = finished or choice.finish_reason is not None
        if not finished:  # the connection closed cleanly, but the server never said it was done
            raise BackendError(self._say(f"stopped sending before the answer was finished; {AGAIN}"))

    def short_reply(self, messages: Messages, max_tokens: int) -> str:
        return "".join(self.stream(messages, max_tokens))

    def count_tokens(self, text: str) -> int:
        # The chat API has no tokenizer endpoint (llama.cpp's and vLLM's differ): about 4 characters a token.
        return max(1, len(text) // 4)

    def next_token_probs(self, messages: Messages, options: list[str]) -> dict[str, float] | None:
        """P(reply starts with option): the summed probabilities of the top first tokens that begin it."""
        import openai

        with self._errors():
            try:
                reply = self._client.chat.completions.create(
                    model=self.model, messages=messages, max_tokens=1, temperature=0.0,
                    logprobs=True, top_logprobs=TOP_LOGPROBS,
                )
            except openai.BadRequestError:
                return None  # a server that does not take the logprobs parameters
        logprobs = reply.choices[0].logprobs if reply.choices else None
        if logprobs is None or not logprobs.content:
            return None  # it took them, and gave nothing back
        first = logprobs.content[0]
        probs = dict.fromkeys(options, 0.0)
        for candidate in first.top_logprobs or [first]:
            token = candidate.token.strip().lower()
            for option in options:
                if token and option.lower().startswith(token):
                    probs[option] += math.exp(candidate.logprob)
        return probs

    # -- errors -------------------------------------------------------------------------------
    def _say(self, problem: str) -> str:
        message = f"the OpenAI-compatible server at {self.base_url} {problem}"
        return message.replace(self._key, "***") if self._key else message

    @contextmanager
    def _errors(self, answering: bool = False):
        """Turn the client's and the transport's exceptions into BackendErrors a user can act on;
        `answering`: the reply has begun, so a lost connection means the server went away mid-answer."""
        import httpx
        import openai

        try:
            yield
        except BackendError:
            raise
        except (openai.APITimeoutError, httpx.TimeoutException):
            raise BackendError(self._say(f"gave no answer within {self._timeout:g} s; it is overloaded or hung: "
                                         f"check it, or raise RAG_OPENAI_TIMEOUT")) from None
        except (openai.APIConnectionError, httpx.HTTPError) as exc:
            if answering:
                raise BackendError(self._say(f"broke off the answer ({exc.__cause__ or exc}); {AGAIN}")) from None
            raise BackendError(self._say(
                f"is unreachable ({exc.__cause__ or exc}); start it (e.g. `python -m llama_cpp.server --model "
                f"model.gguf`, `vllm serve <model>`) or point RAG_OPENAI_BASE_URL at it"
            )) from None
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            raise BackendError(self._say(
                f"refused the API key ({exc.status_code}); set RAG_OPENAI_API_KEY (or OPENAI_API_KEY) to a key "
                f"it accepts"
            )) from None
        except openai.NotFoundError:
            raise BackendError(self._say(
                f"has no model {self.model!r} (404); {self._served_models()}"
            )) from None
        except openai.APIStatusError as exc:
            raise BackendError(self._say(f"answered {exc.status_code}: {exc.message}")) from None

    def _served_models(self) -> str:
        import openai

        try:
            names = [m.id for m in self._client.models.list()]
        except openai.OpenAIError:
            return f"see GET {self.base_url}/models for the ones it serves"
        return f"it serves {', '.join(map(repr, names))}: use RAG_LLM=openai:<one of them>" if names else \
            "it lists no models"


def load(model: str, settings: Settings) -> OpenAILLM:
    if not model:
        raise BackendError("RAG_LLM='openai:' names no model; use openai:<model>, as the server names it "
                           f"(GET {settings.openai_base_url}/models)")
    return OpenAILLM(model, settings.openai_base_url, settings.openai_api_key, settings.openai_timeout)
