"""HTML for the chat UI, built by hand: every piece of document or answer text goes through escape().

Two kinds of output:

- chat messages (shown by gr.Chatbot, which renders Markdown): the text is HTML-escaped *and*
  Markdown-escaped, so neither a document nor a prompt-injected answer can produce tags, links or
  images; the only markup is the few inline tags written here (<a class="cite">, <span>).
- the sources panel (gr.HTML, not sanitized by Gradio): HTML-escaped text inside our own markup.
"""
from __future__ import annotations

import html
import re
from typing import Callable, Iterable

from rag import render as answer_render
from rag.text import MARKERS, marker_numbers

from .i18n import DEFAULT, t

CONTEXT_CHARS = 300  # characters of surrounding text shown on each side of a cited span

# CommonMark backslash-escapable punctuation that could start markup (emphasis, links, images, code,
# headings, tables, strike-through, LaTeX, autolinks); "<", ">", "&" and quotes become entities (html.escape).
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~$=^:@])")  # ":" and "@" stop URL and e-mail autolinks
_WWW = re.compile(r"(?i)\b(www)\.")
_SPACES = re.compile(r"\s+")


def escape(text: str) -> str:
    """Plain text -> HTML-safe text (for gr.HTML)."""
    return html.escape(text or "", quote=True)


def escape_md(text: str) -> str:
    """Plain text -> text that Markdown + HTML render literally (for gr.Chatbot messages)."""
    # Markdown first (backslashes), HTML second: escaping after html.escape would break its entities
    escaped = html.escape(_WWW.sub(r"\1\\.", _MD_SPECIAL.sub(r"\\\1", text or "")), quote=True)
    # a line starting with "-" or "1." would become a list: keep it literal
    escaped = re.sub(r"(?m)^(\s*)-", r"\1\\-", escaped)
    return re.sub(r"(?m)^(\s*\d+)\.", r"\1\\.", escaped)


def anchor(turn: int, n: int) -> str:
    """The id of source entry n of a given answer (turn), e.g. "src-2-1"; links point at "#" + it."""
    return f"src-{turn}-{n}"


def cite_link(turn: int, n: int, lang: str = DEFAULT) -> str:
    return f'<a class="cite" href="#{anchor(turn, n)}" title="{t(lang, "see_source", n=n)}">[{n}]</a>'


def _linked(text: str, turn: int, known: Iterable[int], esc: Callable[[str], str], lang: str) -> str:
    """Escape text with `esc` and turn its citation markers into links to the sources panel
    (a marker naming a citation that does not exist stays plain text)."""
    known = set(known)
    out, last = [], 0
    for m in MARKERS.finditer(text):
        out.append(esc(text[last:m.start()]))
        numbers = marker_numbers(m.group(1))
        if all(n in known for n in numbers):
            out.append("".join(cite_link(turn, n, lang) for n in numbers))
        else:
            out.append(esc(m.group(0)))
        last = m.end()
    out.append(esc(text[last:]))
    return "".join(out)


def link_citations(text: str, turn: int, known: Iterable[int], lang: str = DEFAULT) -> str:
    """For the chat (Markdown-rendered): escaped, with linked citation markers."""
    return _linked(text, turn, known, escape_md, lang)


def link_citations_html(text: str, turn: int, known: Iterable[int], lang: str = DEFAULT) -> str:
    """For the sources panel (plain HTML): escaped, with linked citation markers."""
    return _linked(text, turn, known, escape, lang)


def streaming_message(text: str, lang: str = DEFAULT) -> str:
    """The model's draft while it is being generated: labelled as a draft and greyed, never shown as
    the answer; the verified answer replaces it (only checked sentences survive)."""
    return (f'<span class="draft-label">{escape_md(t(lang, "draft"))}</span> '
            f'<span class="draft">{escape_md(text.strip())}</span> <span class="cursor">▍</span>')


def waiting_message(text: str) -> str:
    return f'<span class="status-note">{escape_md(text)}</span>'


def error_message(error: str) -> str:
    return f'<span class="error-note">⚠️ {escape_md(error)}</span>'


def answer_message(answer, turn: int, lang: str = DEFAULT) -> str:
    """The final answer for the chat: linked citations, unsupported sentences and conflicts marked."""
    known = [c.n for c in answer.citations]
    if answer.abstained:
        return (
            '<span class="abstain-note">' + t(lang, "no_answer") + '</span> '
            f'<span class="abstain-text">{escape_md(answer.text)}</span>'
        )
    if not answer.sentences:
        return link_citations(answer.text, turn, known, lang)
    # only checked sentences are the answer; the ones that failed are listed in the sources panel
    parts = [link_citations(answer_render.sentence(s), turn, known, lang) for s in answer.sentences if s.supported]
    for d in answer.conflicts:
        note = link_citations(answer_render.disagreement(d, answer.language), turn, known, lang)
        parts.append(f'<span class="conflict-note">⚖️ {note}</span>')
    out = " ".join(parts)
    total = (answer.timings or {}).get("total")
    if total:
        out += f' <span class="timing">· {total:.1f} s</span>'
    return out


def _squash(text: str) -> str:
    return _SPACES.sub(" ", text)


def context_window(document: str, start: int, end: int, chars: int = CONTEXT_CHARS) -> tuple[str, str, str, bool, bool]:
    """(before, cited, after, cut_before, cut_after): document[start:end] with up to `chars` around it,
    cut at word boundaries."""
    start = max(0, min(start, len(document)))
    end = max(start, min(end, len(document)))
    a = max(0, start - chars)
    b = min(len(document), end + chars)
    if a > 0:  # do not begin mid-word
        space = document.find(" ", a, start)
        a = space + 1 if space != -1 else a
    if b < len(document):
        space = document.rfind(" ", end, b)
        b = space if space != -1 else b
    return document[a:start], document[start:end], document[end:b], a > 0, b < len(document)


def source_entry(citation, document: str, turn: int, lang: str = DEFAULT) -> str:
    """One entry of the sources panel: [n], title, file, and the passage in context with the span marked."""
    before, cited, after, cut_before, cut_after = context_window(document, citation.start, citation.end)
    if cited != citation.text and citation.text:  # offsets do not match the text we have: show the cited text
        before, cited, after, cut_before, cut_after = "", citation.text, "", False, False
    title = citation.title or citation.source
    section = f'<span class="src-section">{escape(citation.section)}</span> · ' if citation.section else ""
    return (
        f'<div class="src" id="{anchor(turn, citation.n)}">'
        f'<div class="src-head"><span class="src-n">[{citation.n}]</span> '
        f'<span class="src-title">{escape(title)}</span></div>'
        f'<div class="src-file">{escape(citation.source)} · {section}{t(lang, "characters")} {citation.start}–{citation.end}</div>'
        f'<blockquote class="src-text">{"… " if cut_before else ""}{escape(_squash(before))}'
        f"<mark>{escape(_squash(cited))}</mark>"
        f'{escape(_squash(after))}{" …" if cut_after else ""}</blockquote>'
        f"</div>"
    )


def sources_panel(answer, turn: int, document_text: Callable[[str], str], lang: str = DEFAULT) -> str:
    """The sources panel for one answer (HTML for gr.HTML)."""
    head = f'<div class="sources-for">{t(lang, "sources_for", question=escape(_short(answer.question)))}</div>'
    boxes = []
    known = [c.n for c in answer.citations]
    if answer.conflicts:
        notes = "".join(f"<li>{link_citations_html(answer_render.figures(d), turn, known, lang)}</li>" for d in answer.conflicts)
        boxes.append(
            f'<div class="box conflict"><div class="box-title">{t(lang, "sources_disagree")}</div>'
            f'<ul>{notes}</ul><div class="box-hint">{t(lang, "compare")}</div></div>'
        )
    unsupported = [s for s in answer.sentences if not s.supported] if not answer.abstained else []
    if unsupported:
        items = "".join(
            f"<li>{escape(s.text)} <span class=\"reason\">({escape(s.reason or t(lang, 'unverified'))})</span></li>"
            for s in unsupported
        )
        boxes.append(
            f'<div class="box warning"><div class="box-title">{t(lang, "dropped_sentences")}</div>'
            f'<ul>{items}</ul><div class="box-hint">{t(lang, "dropped_hint")}</div></div>'
        )
    if answer.abstained:
        boxes.append(
            f'<div class="box abstain"><div class="box-title">{t(lang, "no_answer")}</div>'
            f'<div class="box-hint">{t(lang, "abstain_hint")}</div></div>'
        )
    entries = []
    for c in answer.citations:
        try:
            document = document_text(c.source)
        except Exception:
            document = ""
        entries.append(source_entry(c, document, turn, lang))
    if not entries and not answer.abstained:
        entries.append(f'<div class="empty">{t(lang, "no_source")}</div>')
    return f'<div class="sources">{head}{"".join(boxes)}{"".join(entries)}</div>'


def _short(text: str, limit: int = 120) -> str:
    text = _squash(text).strip()
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + "…"


def placeholder_panel(lang: str = DEFAULT) -> str:
    return f'<div class="sources"><div class="empty">{t(lang, "sources_placeholder")}</div></div>'


def status_text(status: dict, lang: str = DEFAULT) -> str:
    """Corpus status for the settings (Markdown, escaped)."""
    when = str(status.get("indexed_at", "?"))
    m = re.match(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d)", when)
    if m:
        when = t(lang, "when", y=m[1], m=m[2], d=m[3], H=m[4], M=m[5])
    return t(lang, "status", files=status.get("files", "?"), chunks=status.get("chunks", "?"), when=escape_md(when),
             corpus=escape_md(str(status.get("corpus", "?"))), embedder=escape_md(str(status.get("embedder", "?"))))


def sources_history(panels: list[str], lang: str = DEFAULT) -> str:
    """The sources of the latest answer, with those of earlier answers folded away below it
    (their [n] links still work: the click handler opens the fold)."""
    if not panels:
        return placeholder_panel(lang)
    latest, older = panels[-1], panels[:-1]
    out = latest
    if older:
        items = "".join(f'<div class="turn">{p}</div>' for p in reversed(older))
        out += (
            f'<details class="older"><summary>{t(lang, "older_sources", count=len(older))}</summary>'
            f"{items}</details>"
        )
    return out
