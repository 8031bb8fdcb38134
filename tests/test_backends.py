"""LLM backend selection and the Ollama client: against a small Ollama-like server on 127.0.0.1
(rag.testing.FakeOllama) always; the live test runs when a real Ollama server answers at OLLAMA_HOST."""
import os

import httpx
import pytest

from rag.config import Settings
from rag.errors import BackendError
from rag.llms import load_llm
from rag.llms.ollama import OllamaLLM
from rag.testing import FakeLLM, FakeOllama, tokens


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(BackendError, match="unknown LLM backend 'gpt4'"):
        load_llm(Settings().with_(llm="gpt4"))


def test_missing_gguf_names_the_path():
    with pytest.raises(BackendError, match="/nowhere/model.gguf"):
        load_llm(Settings().with_(llm="gguf:/nowhere/model.gguf"))


def test_ollama_request_sets_the_context_window_explicitly():
    llm = load_llm(Settings().with_(llm="ollama:qwen2.5:7b", context_window=8192))
    request = llm.request([{"role": "user", "content": "hi"}], max_tokens=99)
    assert request["model"] == "qwen2.5:7b" and request["stream"] is True
    assert request["options"]["num_ctx"] == 8192  # Ollama's default would truncate RAG prompts
    assert request["options"]["num_predict"] == 99 and request["options"]["temperature"] == 0.0


def test_ollama_host_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", "http://127.0.0.1:1")
    assert load_llm(Settings().with_(llm="ollama:m")).host == "http://127.0.0.1:1"


def test_unreachable_ollama_says_which_host_and_what_to_do(monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", "http://127.0.0.1:9")  # discard port: nothing listens
    llm = load_llm(Settings().with_(llm="ollama:qwen2.5:7b"))
    with pytest.raises(BackendError, match=r"unreachable at http://127.0.0.1:9.*ollama serve"):
        list(llm.stream([{"role": "user", "content": "hi"}], 8))


MESSAGES = [{"role": "system", "content": "Answer from the excerpts."}, {"role": "user", "content": "Qui a fondé DeepSeek ?"}]


def test_ollama_stream_is_read_piece_by_piece_with_the_request_it_needs():
    reply = "DeepSeek a été fondée par Liang Wenfeng [1]."
    with FakeOllama(FakeLLM([reply]), models=["qwen2.5:7b"]) as server:
        llm = OllamaLLM("qwen2.5:7b", server.url, 8192)
        pieces = list(llm.stream(MESSAGES, max_tokens=99))
    assert pieces == tokens(reply) and len(pieces) > 5  # each NDJSON line is one piece, in order
    [sent] = server.requests
    assert sent["model"] == "qwen2.5:7b" and sent["messages"] == MESSAGES and sent["stream"] is True
    assert sent["options"] == {"temperature": 0.0, "num_ctx": 8192, "num_predict": 99}


def test_ollama_stops_where_the_server_stops():
    with FakeOllama(FakeLLM(["un deux trois quatre cinq"])) as server:
        assert "".join(OllamaLLM("fake", server.url, 4096).stream(MESSAGES, max_tokens=3)) == "un deux trois"


def test_a_model_the_server_does_not_have_says_how_to_pull_it():
    with FakeOllama(FakeLLM([]), models=["qwen2.5:7b"]) as server:
        llm = OllamaLLM("llama3:70b", server.url, 4096)
        with pytest.raises(BackendError) as caught:
            list(llm.stream(MESSAGES, 8))
    message = str(caught.value)
    assert f"Ollama at {server.url} refused model 'llama3:70b'" in message
    assert 'model "llama3:70b" not found' in message and message.endswith("pull it with `ollama pull llama3:70b`")


def _ollama_models() -> list[str] | None:
    host = os.environ.get("OLLAMA_HOST", "http://127.0.0.1:11434")
    if not host.startswith("http"):
        host = "http://" + host
    try:
        return [m["name"] for m in httpx.get(f"{host}/api/tags", timeout=2).json().get("models", [])]
    except (httpx.HTTPError, ValueError):
        return None


def test_live_ollama_answers_with_citations(tmp_path):
    models = _ollama_models()
    if models is None:
        pytest.skip("no Ollama server answers at OLLAMA_HOST (default http://127.0.0.1:11434)")
    if not models:
        pytest.skip("the Ollama server has no model pulled")
    import rag

    bot = rag.open("corpus", tmp_path / "index", llm=f"ollama:{os.environ.get('RAG_OLLAMA_MODEL', models[0])}")
    answer = bot.ask("Qui a fondé DeepSeek ?")
    assert "Liang Wenfeng" in answer.text and answer.citations
