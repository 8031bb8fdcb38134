"""LLM backend selection and the Ollama client: everything testable without a server runs always;
the live test runs when an Ollama server answers at OLLAMA_HOST."""
import os

import httpx
import pytest

from rag.config import Settings
from rag.errors import BackendError
from rag.llms import load_llm


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
