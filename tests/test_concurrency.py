"""Load test of the real chat UI (bench/concurrency.py): several sessions asking at once through the page's own
events, with the real embedded LLM answering one question at a time. No lost question, no failure, and
no session ever sees another session's questions. The checker itself is tested first, without a model."""
from __future__ import annotations

import pytest

import rag
from bench.concurrency import check_loopback, conversation_problems, format_report, make_tags, plain, run_load, tagged
from ui import render

SESSIONS = 3
DURATION = 45.0  # seconds of questions; the answers asked by then are waited for (≈ 2-3 min in all)


# -- the checker (no model, no server) ---------------------------------------------------------------

def _chat(*turns):
    """Messages as gradio_client returns them (Gradio 6), escaped the way the page shows them."""
    return [{"role": role, "metadata": None, "content": [{"text": render.escape_md(text) if role == "user" else text,
                                                          "type": "text"}], "options": None} for role, text in turns]


def test_only_loopback_targets_are_accepted():
    assert check_loopback("http://127.0.0.1:7860") == "http://127.0.0.1:7860/"
    assert check_loopback("http://localhost:7860/") == "http://localhost:7860/"
    assert check_loopback("http://[::1]:7860") == "http://[::1]:7860/"
    for url in ("http://192.168.1.10:7860", "http://example.com", "ftp://127.0.0.1", "127.0.0.1:7860"):
        with pytest.raises(ValueError):
            check_loopback(url)
    with pytest.raises(ValueError):
        run_load("http://10.0.0.1:7860", 1, 1)


def test_tags_are_distinct_letter_words():
    tags = make_tags(50, seed=1)
    assert len(set(tags)) == 50 and all(t.isalpha() and t.islower() and len(t) == 7 for t in tags)
    question = tagged("Qu'est-ce que le projet « Stargate » ? [1] *x*", tags[0])
    assert plain(render.escape_md(question)) == question  # the page's escaping is undone exactly


def test_the_checker_finds_mixed_lost_and_unanswered_turns():
    mine, other = "zqaaaaa", "zqbbbbb"
    q1, q2 = tagged("Qui a fondé DeepSeek ?", mine), tagged("Qu'est-ce que Stargate ?", mine)
    good = _chat(("user", q1), ("assistant", "Liang Wenfeng [1]."), ("user", q2), ("assistant", "Un projet."))
    assert conversation_problems(good, "<div>sources</div>", [q1, q2], 0, mine, [other]) == []

    foreign = tagged("Combien ?", other)
    mixed = _chat(("user", q1), ("assistant", "a"), ("user", foreign), ("assistant", "b"))
    assert any("foreign" in p for p in conversation_problems(mixed, "", [q1, q2], 0, mine, [other]))
    leaked = _chat(("user", q1), ("assistant", f"a {other}"))
    assert any(other in p for p in conversation_problems(leaked, "", [q1], 0, mine, [other]))
    in_sources = conversation_problems(_chat(("user", q1), ("assistant", "a")), f"« {foreign} »", [q1], 0, mine, [other])
    assert any("another session" in p for p in in_sources)
    lost = _chat(("user", q2), ("assistant", "b"))
    assert any("missing" in p for p in conversation_problems(lost, "", [q1, q2], 0, mine, [other]))
    unanswered = _chat(("user", q1), ("user", q2), ("assistant", "b"))
    assert any("no answer" in p for p in conversation_problems(unanswered, "", [q1, q2], 0, mine, [other]))


# -- the real UI under load ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def load_server(default_bot, serve_ui):
    """The real page over the default corpus (the session's index), with short answers to keep the run
    cheap: 32 tokens, 2 passages."""
    base = default_bot.settings
    bot = rag.open(base.corpus, base.index, update=False, embedder=base.embedder, chunk_size=base.chunk_size,
                   chunk_overlap=base.chunk_overlap, max_answer_tokens=32, top_k=2)
    bot.llm  # load the model before the clock starts
    demo, url = serve_ui(bot)
    yield url
    demo.close()


@pytest.mark.llm
def test_concurrent_sessions_lose_nothing_and_never_mix(load_server):
    report = run_load(load_server, sessions=SESSIONS, duration=DURATION, answer_timeout=240, seed=7)
    print("\n" + format_report(report))

    assert report["failures"] == 0, report["error_details"]
    assert report["lost"] == 0, report["error_details"]
    assert report["mixed"] == [], report["mixed"]
    # 3 sessions stay under the page's MAX_WAITING (8) and Gradio's queue (16): nobody may be turned away
    assert report["busy"] == 0 and report["queue_full"] == 0, report["errors"]
    assert report["completed"] == report["submitted"] >= SESSIONS
    assert all(s["completed"] >= 1 for s in report["per_session"]), report["per_session"]
    # at least one follow-up question: the history given back to the model was the session's own
    assert max(s["longest_conversation"] for s in report["per_session"]) >= 2, report["per_session"]
    assert report["throughput_per_min"] > 0 and report["latency_s"]["p95"] is not None
