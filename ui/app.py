"""The Gradio chat UI: `build(bot)` makes the page, `launch(...)` opens the corpus and serves it.

    rag ui                          # http://127.0.0.1:7860
    RAG_PASSWORD=secret RAG_HOST=0.0.0.0 rag ui   # reachable from the network, login "rag"

Each browser session has its own conversation (gr.State); the LLM answers one question at a time
(the answer event has a concurrency limit of 1, the others wait in the queue, which holds at most
QUEUE_SIZE events).
"""
from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
import uuid
import warnings
from pathlib import Path

from rag.config import Settings, apply_environment

apply_environment()  # before gradio loads: no analytics, no hub

import gradio as gr  # noqa: E402

from rag.documents import SUPPORTED, BadFile  # noqa: E402
from rag.errors import RagError  # noqa: E402
from rag.llms import LLMS  # noqa: E402
from rag.uploads import add_file, remove_file  # noqa: E402

from . import render  # noqa: E402
from .i18n import DEFAULT, EXAMPLES, NAMES, pick, t  # noqa: E402

log = logging.getLogger("rag.ui")

# what every launch of this page should use: no footer links, no run history kept in the browser
# (it offers to upload runs to a Hugging Face bucket), errors shown in the page
LAUNCH_OPTIONS = {"footer_links": [], "run_history": False, "show_error": True}
QUEUE_SIZE = 16  # events waiting in Gradio's queue before it answers "busy"
MAX_WAITING = 8  # questions waiting for the model before we ask people to come back later
STALE_AFTER = 15 * 60  # seconds after which a question that never reached the model is forgotten

CSS = (Path(__file__).with_name("style.css")).read_text(encoding="utf-8")

# Citation links [n] in the chat scroll to (and flash) their entry in the sources panel, opening the
# fold of earlier answers when needed; captured before Gradio's own link handling.
JS = """
() => {
  if (window.__ragCiteHandler) return;
  window.__ragCiteHandler = true;
  document.addEventListener('click', (ev) => {
    const a = ev.target && ev.target.closest ? ev.target.closest('a[href^="#src-"]') : null;
    if (!a) return;
    ev.preventDefault();
    ev.stopPropagation();
    const el = document.getElementById(a.getAttribute('href').slice(1));
    if (!el) return;
    for (let d = el.closest('details'); d; d = d.parentElement && d.parentElement.closest('details')) d.open = true;
    el.scrollIntoView({behavior: 'smooth', block: 'center'});
    el.classList.remove('flash'); void el.offsetWidth; el.classList.add('flash');
    setTimeout(() => el.classList.remove('flash'), 2500);
  }, true);
}
"""


def _llm_label(bot) -> str:
    """The LLM in use, as the registry describes its backend."""
    try:
        backend, _ = LLMS.resolve(bot.settings.llm)
    except RagError:
        return bot.settings.llm
    return f"{bot.settings.llm} — {backend.help}"


def _status(bot, lang: str = DEFAULT) -> str:
    try:
        text = render.status_text(bot.status(), lang)
    except Exception as exc:  # a broken index must not break the page
        return render.escape_md(t(lang, "status_unavailable", error=exc))
    if getattr(bot, "notice", None):
        text += "  \n⚠️ " + render.escape_md(bot.notice)
    return text


class _Waiting:
    """Questions accepted but not answered yet, across sessions (to tell people when the model is busy).
    A ticket whose answer never ran (page closed while queued) is forgotten after STALE_AFTER."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._since: dict[str, float] = {}

    def count(self) -> int:
        now = time.monotonic()
        with self._lock:
            for ticket, since in list(self._since.items()):
                if now - since > STALE_AFTER:
                    del self._since[ticket]
            return len(self._since)

    def add(self) -> str:
        ticket = uuid.uuid4().hex
        with self._lock:
            self._since[ticket] = time.monotonic()
        return ticket

    def done(self, ticket: str | None) -> None:
        with self._lock:
            self._since.pop(ticket, None)


def _shown_question(message: str, lang: str, limit: int = 1200) -> str:
    """The question as shown in the chat (a pasted novel is cut; the model still gets all of it)."""
    if len(message) <= limit:
        return render.escape_md(message)
    size = f"{len(message):,}".replace(",", " ")
    return render.escape_md(message[:limit]) + render.waiting_message(f" … ({size} {t(lang, 'characters')})")


def _documents(bot) -> list[str]:
    try:
        return sorted(bot.index.manifest["files"])
    except Exception:  # a broken index must not break the page
        return []


def uploads_allowed(settings: Settings, host: str, password: str | None) -> bool:
    """RAG_UPLOADS when set; else on, unless the page is served to the network without a password."""
    return settings.uploads if settings.uploads is not None else _is_loopback(host) or bool(password)


def build(bot, max_waiting: int = MAX_WAITING, uploads: bool = False) -> gr.Blocks:
    """The chat page for an opened rag.Bot (not launched; queue already configured). With uploads,
    a "Documents" section adds files to the corpus folder and removes them."""
    waiting = _Waiting()

    def submit(message, chat, lang):
        """Fast step: show the question at once (or say why it will not be asked)."""
        message = message or ""
        chat = list(chat or [])
        if not message.strip():
            chat.append({"role": "assistant", "content": render.waiting_message(t(lang, "empty_question"))})
            return "", chat, chat, None, gr.skip(), gr.skip()
        count = waiting.count()
        if count >= max_waiting:
            chat.append({"role": "assistant", "content": render.error_message(t(lang, "too_busy", waiting=count))})
            return message, chat, chat, None, gr.skip(), gr.skip()
        ticket = waiting.add()
        chat.append({"role": "user", "content": _shown_question(message, lang)})
        chat.append({"role": "assistant", "content": render.waiting_message(t(lang, "queued" if count else "searching"))})
        # the box and button stay disabled until the answer is in: one question at a time per session
        return gr.Textbox(value="", interactive=False), chat, chat, {"question": message, "ticket": ticket}, \
            gr.Button(interactive=False), gr.skip()

    def answer(pending, chat, history, panels, turn, k, lang):
        """Slow step (one at a time): stream the model's answer, then render it with its sources."""
        keep = gr.skip()
        if not pending:
            yield keep, keep, keep, keep, keep, keep
            return
        question = pending["question"]
        chat = list(chat or [])
        history = list(history or [])
        try:
            chat[-1] = {"role": "assistant", "content": render.waiting_message(t(lang, "searching"))}
            yield chat, chat, keep, keep, keep, keep
            result = None
            text = ""
            for item in bot.stream(question, history=history, k=int(k or bot.settings.top_k)):
                if isinstance(item, str):
                    text += item
                    chat[-1] = {"role": "assistant", "content": render.streaming_message(text, lang)}
                    yield chat, chat, keep, keep, keep, keep
                else:
                    result = item
            if result is None:
                raise RagError("the model returned no answer")
            turn = int(turn or 0) + 1
            chat[-1] = {"role": "assistant", "content": render.answer_message(result, turn, lang)}
            history += [{"role": "user", "content": question}, {"role": "assistant", "content": result.text}]
            panels = list(panels or []) + [render.sources_panel(result, turn, bot.document_text, lang)]
            yield chat, chat, history, panels, turn, render.sources_history(panels, lang)
        except RagError as exc:
            chat[-1] = {"role": "assistant", "content": render.error_message(str(exc))}
            yield chat, chat, keep, keep, keep, keep
        except Exception as exc:  # never leave the page hanging on a bug
            log.exception("answering %r failed", question[:200])
            chat[-1] = {"role": "assistant", "content": render.error_message(t(lang, "unexpected", error=exc))}
            yield chat, chat, keep, keep, keep, keep
        finally:
            waiting.done(pending.get("ticket"))

    def unlock(pending):
        if pending:
            waiting.done(pending.get("ticket"))  # in case the answer never ran (cancelled, queue full)
        return gr.Textbox(interactive=True), gr.Button(interactive=True), None

    def new_conversation(pending, lang):
        if pending:
            waiting.done(pending.get("ticket"))
        return [], [], [], [], 0, render.placeholder_panel(lang), gr.Textbox(value="", interactive=True), \
            gr.Button(interactive=True), None

    def ingest(lang: str, progress: gr.Progress) -> str:
        """Bring the index up to date with the corpus folder, with a progress bar; the report."""
        progress(0, desc=t(lang, "reading_corpus"))

        def step(done, total):
            progress((done, total), desc=t(lang, "embedding"), unit=t(lang, "passages"))

        try:
            return bot.ingest(progress=step, background=True).summary()
        except RagError as exc:
            return f"⚠️ {exc}"
        except Exception as exc:
            log.exception("re-indexing failed")
            return "⚠️ " + t(lang, "unexpected", error=exc)

    def reindex(lang, progress=gr.Progress()):
        return ingest(lang, progress), _status(bot, lang)

    def add_documents(files, lang, progress=gr.Progress()):
        """Check and save each uploaded file, then index them all at once."""
        lines, added = [], 0
        for file in files or []:
            path = Path(file if isinstance(file, str) else file.name)
            try:
                add_file(bot.settings.corpus, path.name, path, int(bot.settings.max_file_mb * 1e6))
                added += 1
            except BadFile as exc:
                lines.append(f"✗ {path.name} : {exc}")
            except OSError as exc:
                lines.append(f"✗ {path.name} : " + t(lang, "cannot_save", error=exc.strerror or exc))
        if added:
            lines.append(ingest(lang, progress))
        return "\n".join(lines), _status(bot, lang), gr.Dropdown(choices=_documents(bot), value=None), None

    def remove_document(source, lang, progress=gr.Progress()):
        if not source:
            return t(lang, "choose_first"), gr.skip(), gr.skip()
        try:
            remove_file(bot.settings.corpus, source, set(_documents(bot)))
        except (BadFile, OSError) as exc:
            return f"✗ {source} : {exc}", gr.skip(), gr.skip()
        return ingest(lang, progress), _status(bot, lang), gr.Dropdown(choices=_documents(bot), value=None)

    with warnings.catch_warnings():
        # Gradio 6 prefers css/js/theme on launch(); keeping them on the Blocks makes build(bot)
        # self-contained for any caller of demo.launch() (the CLI, the tests).
        warnings.simplefilter("ignore", UserWarning)
        demo = gr.Blocks(
            title=t(DEFAULT, "title"),  # the browser tab; set once for the whole server
            analytics_enabled=False,
            css=CSS,
            js=JS,
            theme=gr.themes.Soft(
                primary_hue="indigo", neutral_hue="slate",
                # system fonts: a private app must not fetch fonts from the Internet
                font=["system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "sans-serif"],
                font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"],
            ),
        )
    with demo:
        chat_state = gr.State([])  # the messages as displayed (this browser session only)
        history = gr.State([])  # the raw conversation given to the bot
        panels = gr.State([])  # sources panel of each answer
        turn = gr.State(0)
        pending = gr.State(None)  # the question handed from the fast step to the model step

        lang = gr.State(DEFAULT)  # the page's language: the browser's (on load), or the switch's

        with gr.Row(equal_height=False):
            intro = gr.Markdown(t(DEFAULT, "intro"), elem_id="app-title")
            language = gr.Radio([(name, code) for code, name in NAMES.items()], value=DEFAULT, label=t(DEFAULT, "language"),
                                elem_id="language", scale=0, min_width=220)
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(
                    value=[],
                    elem_id="chatbot",
                    label=t(DEFAULT, "conversation"),
                    height=540,
                    sanitize_html=True,
                    render_markdown=True,
                    latex_delimiters=[],
                    feedback_options=None,
                    buttons=[],  # Gradio's copy buttons would copy the escaped markup, not the text
                    placeholder=t(DEFAULT, "chat_placeholder"),
                )
                with gr.Row(equal_height=True):
                    question = gr.Textbox(
                        elem_id="question",
                        show_label=False,
                        placeholder=t(DEFAULT, "question_placeholder"),
                        lines=1,
                        max_lines=6,
                        scale=8,
                        autofocus=True,
                        submit_btn=False,
                    )
                    send = gr.Button(t(DEFAULT, "send"), variant="primary", elem_id="send", scale=1, min_width=110)
                with gr.Row():
                    new_chat = gr.Button(t(DEFAULT, "new_chat"), elem_id="new-chat", size="sm", variant="secondary")
                examples = gr.Examples(examples=[[e] for e in EXAMPLES[DEFAULT]], inputs=[question],
                                       label=t(DEFAULT, "examples"))
            with gr.Column(scale=2):
                gr.Markdown(t(DEFAULT, "sources"), elem_id="sources-title")
                sources = gr.HTML(render.placeholder_panel(), elem_id="sources", js_on_load=None, padding=False)

        with gr.Accordion(t(DEFAULT, "settings"), open=False, elem_id="settings") as settings:
            with gr.Row():
                top_k = gr.Slider(
                    1, 8, value=bot.settings.top_k, step=1, label=t(DEFAULT, "top_k"),
                    info=t(DEFAULT, "top_k_info"), elem_id="top-k",
                )
                llm = gr.Textbox(value=_llm_label(bot), label=t(DEFAULT, "llm"), interactive=False, elem_id="llm")
            status = gr.Markdown(_status(bot), elem_id="corpus-status")
            with gr.Row():
                reindex_btn = gr.Button(t(DEFAULT, "reindex"), elem_id="reindex", size="sm")
            report = gr.Textbox(label=t(DEFAULT, "reindex_report"), interactive=False, lines=2, elem_id="reindex-report")

        types = ", ".join(sorted(SUPPORTED))
        if uploads:
            with gr.Accordion(t(DEFAULT, "documents"), open=False, elem_id="documents") as documents:
                # no file_types: Gradio would drop other files silently; add_file says why it refuses one
                upload = gr.File(label=t(DEFAULT, "upload", types=types), file_count="multiple", elem_id="upload")
                with gr.Row(equal_height=True):
                    chosen = gr.Dropdown(choices=_documents(bot), value=None, label=t(DEFAULT, "remove_choice"),
                                         elem_id="remove-choice", scale=4)
                    remove = gr.Button(t(DEFAULT, "remove"), elem_id="remove", variant="stop", scale=1)
                documents_report = gr.Textbox(label=t(DEFAULT, "documents_report"), interactive=False, lines=2,
                                              elem_id="documents-report")

        def relabel(code: str, shown_panels) -> list:
            """The language, then every label, placeholder and example of the page in it."""
            words = [
                code, gr.Radio(value=code, label=t(code, "language")), t(code, "intro"),
                gr.Chatbot(label=t(code, "conversation"), placeholder=t(code, "chat_placeholder")),
                gr.Textbox(placeholder=t(code, "question_placeholder")), gr.Button(t(code, "send")),
                gr.Button(t(code, "new_chat")),
                gr.Dataset(samples=[[e] for e in EXAMPLES[code]], label=t(code, "examples")),
                render.sources_history(list(shown_panels or []), code),
                gr.Accordion(label=t(code, "settings")),
                gr.Slider(label=t(code, "top_k"), info=t(code, "top_k_info")), gr.Textbox(label=t(code, "llm")),
                _status(bot, code), gr.Button(t(code, "reindex")), gr.Textbox(label=t(code, "reindex_report")),
            ]
            if uploads:
                words += [gr.Accordion(label=t(code, "documents")), gr.File(label=t(code, "upload", types=types)),
                          gr.Dropdown(label=t(code, "remove_choice")), gr.Button(t(code, "remove")),
                          gr.Textbox(label=t(code, "documents_report"))]
            return words

        def browser_language(shown_panels, request: gr.Request):
            return relabel(pick(request.headers.get("accept-language") if request else None), shown_panels)

        labelled = [lang, language, intro, chatbot, question, send, new_chat, examples.dataset, sources, settings,
                    top_k, llm, status, reindex_btn, report]
        if uploads:
            labelled += [documents, upload, chosen, remove, documents_report]
        demo.load(browser_language, [panels], labelled, concurrency_limit=None, show_progress="hidden")
        language.input(relabel, [language, panels], labelled, concurrency_limit=None, show_progress="hidden")

        ask_outputs = [question, chatbot, chat_state, pending, send, sources]
        answer_inputs = [pending, chat_state, history, panels, turn, top_k, lang]
        answer_outputs = [chatbot, chat_state, history, panels, turn, sources]
        events = []
        for trigger in (question.submit, send.click):
            asked = trigger(submit, [question, chat_state, lang], ask_outputs, concurrency_limit=None, show_progress="hidden")
            # one answer at a time, the others queued: two at once on 2 cores each read their prompt in
            # 7.8 s and decode at 8 tok/s, against 3.4 s and 15 tok/s in turn (README, Under load)
            answered = asked.then(
                answer, answer_inputs, answer_outputs, concurrency_limit=1, concurrency_id="llm", show_progress="hidden"
            )
            answered.then(unlock, [pending], [question, send, pending], concurrency_limit=None, show_progress="hidden")
            events.append(answered)
        reset_outputs = [chatbot, chat_state, history, panels, turn, sources, question, send, pending]
        new_chat.click(new_conversation, [pending, lang], reset_outputs, cancels=events, concurrency_limit=None)
        # the chat's own trash button starts over too (otherwise the model would keep the old history)
        chatbot.clear(new_conversation, [pending, lang], reset_outputs, cancels=events, concurrency_limit=None)
        # shares the model's slot: no re-indexing in the middle of an answer
        reindex_btn.click(reindex, [lang], [report, status], concurrency_limit=1, concurrency_id="llm")
        if uploads:
            upload.upload(add_documents, [upload, lang], [documents_report, status, chosen, upload],
                          concurrency_limit=1, concurrency_id="llm")
            remove.click(remove_document, [chosen, lang], [documents_report, status, chosen],
                         concurrency_limit=1, concurrency_id="llm")

    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=1)
    return demo


def _is_loopback(host: str) -> bool:
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_host(host: str, password: str | None, allow_open: bool | None = None) -> None:
    """Refuse to serve the documents to the network without a password (unless RAG_ALLOW_OPEN=1)."""
    if _is_loopback(host) or password or (Settings().allow_open if allow_open is None else allow_open):
        return
    raise RagError(
        f"refusing to serve the UI on {host!r} without a password: anyone on the network could read the "
        f"documents. Set RAG_PASSWORD=<password> (login 'rag'), or RAG_ALLOW_OPEN=1 to serve it open, "
        f"or use RAG_HOST=127.0.0.1"
    )


def check_port(host: str, port: int) -> None:
    """RagError in one line unless host:port can be bound (checked before indexing: fails fast)."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will
            probe.bind((host, port))
    except OSError as exc:
        raise port_error(host, port, exc) from None


def port_error(host: str, port: int, exc: OSError) -> RagError:
    return RagError(
        f"cannot serve the UI on {host}:{port} ({exc.strerror or exc}): another program is probably "
        f"using that port; stop it, or choose another port with --port or RAG_PORT"
    )


def launch(corpus=None, index=None, host=None, port=None, llm=None, embedder=None, **launch_kwargs):
    """Open the corpus (building or updating its index) and serve the chat UI until interrupted."""
    import rag
    from rag.progress import terminal_progress

    settings = Settings()
    host = host or settings.host
    port = int(port or settings.port)
    password = settings.password or None
    check_host(host, password, settings.allow_open)
    check_port(host, port)
    bot = rag.open(corpus, index, llm=llm, embedder=embedder, progress=terminal_progress())
    if bot.notice:
        print(bot.notice)
    demo = build(bot, uploads=uploads_allowed(settings, host, password))
    print(f"Chat UI on http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
          + (" (login: rag)" if password else ""))
    try:
        return demo.launch(
            server_name=host,
            server_port=port,
            auth=("rag", password) if password else None,
            auth_message="Identifiant : rag — mot de passe : celui de RAG_PASSWORD",
            share=False,
            **{**LAUNCH_OPTIONS, **launch_kwargs},
        )
    except OSError as exc:  # taken while the index was being opened
        raise port_error(host, port, exc) from None


def main(argv: list[str] | None = None) -> int:
    """`rag ui [--corpus …] [--index …] [--llm …] [--host …] [--port …]`."""
    import argparse

    from rag.cli import add_common, add_llm

    p = argparse.ArgumentParser(prog="rag ui", description="Serve the chat UI on the corpus.")
    add_common(p)
    add_llm(p, k=False)
    p.add_argument("--host", default=None, help="bind address (default $RAG_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default $RAG_PORT or 7860)")
    args = p.parse_args(argv)
    launch(corpus=args.corpus, index=args.index, host=args.host, port=args.port, llm=args.llm,
           embedder=args.embedder)
    return 0
