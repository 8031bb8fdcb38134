"""Fakes for fast tests: a scripted LLM, a hashed bag-of-words embedder, and an Ollama-like server.

    llm = FakeLLM(["Liang Wenfeng a fondé DeepSeek [1]."])           # one reply per call, in order
    llm = FakeLLM(lambda messages: "NOT_IN_DOCUMENTS")               # or a reply computed from the prompt
    embedder = FakeEmbedder()                                       # same words -> same vector
    with FakeOllama(llm) as server:                                 # RAG_LLM=ollama:fake OLLAMA_HOST=server.url
        ...

FakeLLM and FakeEmbedder follow the interfaces rag.LLM and rag.Embedder, so anything that
takes an LLM or an embedder takes them; FakeOllama speaks Ollama's HTTP API on 127.0.0.1, so a whole
process (the CLI, the UI) can run on a scripted model. Use them where the model is not what is under
test; tests about what the real models do keep the real models.
"""
from __future__ import annotations

import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterator, Mapping, Sequence

import numpy as np

from .llms import StartGate
from .text import fold

Messages = list[dict[str, str]]
Reply = Sequence[str] | Callable[[Messages], str]
# a token: a word or one punctuation mark, with the spaces before it ("".join(tokens) == text)
_TOKEN = re.compile(r"\s*(?:\w+|[^\w\s])|\s+$")


def tokens(text: str) -> list[str]:
    """The pieces FakeLLM streams and counts."""
    return _TOKEN.findall(text)


class FakeLLM:
    """An LLM that says what the test scripted.

    replies: a list (one reply per call, in order; running out is an error) or a function of the
    messages. A reply is streamed token by token and cut at max_tokens, like a real model's.
    probabilities: what next_token_probs returns, a mapping or a function of the messages; by default
    the first word of the scripted reply gets all the mass.
    Every call is recorded in `calls`; `prompt_tokens` and `generated_tokens` add up what it read and wrote.
    """

    def __init__(self, replies: Reply, probabilities: Mapping[str, float] | Callable[[Messages], Mapping[str, float]]
                 | None = None, id: str = "fake-llm") -> None:
        self.id = id
        self._replies = replies if callable(replies) else list(replies)
        self._probabilities = probabilities
        self._used = 0
        self.calls: list[Messages] = []
        self.prompt_tokens = 0
        self.generated_tokens = 0

    def _reply(self, messages: Messages) -> str:
        if callable(self._replies):
            return self._replies(messages)
        if self._used >= len(self._replies):
            raise AssertionError(f"FakeLLM was called {self._used + 1} times but scripted {len(self._replies)} replies; "
                                 f"last prompt: {messages[-1]['content'][:200]!r}")
        self._used += 1
        return self._replies[self._used - 1]

    def stream(self, messages: Messages, max_tokens: int, gate: StartGate | None = None) -> Iterator[str]:
        """With a gate: P(the reply starts with gate.text) is `probabilities[gate.text]` when that
        is a mapping that has it, else 1 or 0 (whether the reply starts with it); a reply that starts
        with gate.text when that is under gate.min_p says what follows it instead (its second choice):
        FakeLLM(["NOT_IN_DOCUMENTS Meta investit 65 milliards [1]."], {"NOT_IN_DOCUMENTS": 0.3})."""
        self.calls.append(messages)
        self.prompt_tokens += self.count_tokens("\n".join(m["content"] for m in messages))
        reply = self._reply(messages)
        if gate is not None:
            scripted = self._probabilities if isinstance(self._probabilities, Mapping) else {}
            gate.p = float(scripted.get(gate.text, reply.lstrip().startswith(gate.text)))
            if gate.p < gate.min_p and reply.lstrip().startswith(gate.text):
                gate.refused = True
                reply = reply.lstrip()[len(gate.text):].lstrip()
        for piece in tokens(reply)[:max_tokens]:
            self.generated_tokens += 1
            yield piece

    def short_reply(self, messages: Messages, max_tokens: int) -> str:
        return "".join(self.stream(messages, max_tokens))

    def count_tokens(self, text: str) -> int:
        return len(tokens(text))

    def next_token_probs(self, messages: Messages, options: list[str]) -> dict[str, float]:
        """P(the reply starts with each option), options compared without case, accents and spaces."""
        self.calls.append(messages)
        if self._probabilities is None:
            first = next(iter(tokens(self._reply(messages))), "")
            scripted = {first: 1.0}
        elif callable(self._probabilities):
            scripted = dict(self._probabilities(messages))
        else:
            scripted = dict(self._probabilities)
        by_key = {fold(k).strip(): float(p) for k, p in scripted.items()}
        return {o: by_key.get(fold(o).strip(), 0.0) for o in options}


class FakeEmbedder:
    """Deterministic hashed bag-of-words vectors, L2-normalised: texts that share words are close,
    texts that share none are orthogonal (up to hash collisions). Same text, same vector, in every
    process. No meaning, no languages: not for tests about retrieval quality."""

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim
        self.id = f"fake-bag-of-words-{dim}"

    def _vector(self, text: str) -> np.ndarray:
        vec = np.zeros(self.dim, dtype=np.float32)
        for word in re.findall(r"\w+", fold(text)):
            digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
            vec[int.from_bytes(digest, "little") % self.dim] += 1.0
        norm = float(np.linalg.norm(vec))
        return vec / norm if norm else vec

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return np.vstack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dim), dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self._vector(text)


class FakeOllama:
    """An Ollama server on a free 127.0.0.1 port whose models all answer with one FakeLLM: POST /api/chat
    streams NDJSON as Ollama does (num_predict caps the tokens), an unknown model gets Ollama's 404
    "model not found", GET /api/tags lists the models. `requests` keeps every /api/chat body received."""

    def __init__(self, llm: FakeLLM, models: Sequence[str] = ("fake",)) -> None:
        self.llm = llm
        self.models = list(models)
        self.requests: list[dict] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _OllamaHandler)
        self._server.fake = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "FakeOllama":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def chat(self, body: dict) -> tuple[int, Iterator[dict]]:
        """(HTTP status, NDJSON lines) of Ollama's /api/chat for one request body."""
        self.requests.append(body)
        model = body.get("model", "")
        if model not in self.models:
            return 404, iter([{"error": f'model "{model}" not found, try pulling it first'}])
        limit = int(body.get("options", {}).get("num_predict", 256))
        return 200, self._stream(model, body["messages"], limit)

    def _stream(self, model: str, messages: Messages, limit: int) -> Iterator[dict]:
        for piece in self.llm.stream(messages, limit):
            yield {"model": model, "created_at": "2025-01-27T00:00:00Z",
                   "message": {"role": "assistant", "content": piece}, "done": False}
        yield {"model": model, "created_at": "2025-01-27T00:00:00Z",
               "message": {"role": "assistant", "content": ""}, "done": True, "done_reason": "stop"}


class _OllamaHandler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # quiet
        pass

    def _send(self, status: int, lines: Iterator[dict]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/x-ndjson")
        self.end_headers()
        for line in lines:  # one line at a time, as the model writes: the client sees a stream
            self.wfile.write(json.dumps(line).encode() + b"\n")
            self.wfile.flush()

    def do_GET(self) -> None:
        fake: FakeOllama = self.server.fake  # type: ignore[attr-defined]
        if self.path == "/api/tags":
            self._send(200, iter([{"models": [{"name": m, "model": m} for m in fake.models]}]))
        else:
            self._send(404, iter([{"error": "not found"}]))

    def do_POST(self) -> None:
        fake: FakeOllama = self.server.fake  # type: ignore[attr-defined]
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if self.path == "/api/chat":
            self._send(*fake.chat(body))
        else:
            self._send(404, iter([{"error": "not found"}]))
