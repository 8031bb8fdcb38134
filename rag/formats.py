"""File bytes -> the text that is indexed, its title and where its sections start, one reader per format.

The text a reader returns is exactly what is chunked, stored and cited: chunk offsets point into it.
Sections are (offset, label) pairs in increasing offset order: "p. 3" for a PDF page, "slide 2" for a
slide, a heading path ("Intro > Marché") for the formats that have headings. A reader raises
FormatError with a specific reason for content it cannot read."""
from __future__ import annotations

import bisect
import csv
import io
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Callable, Iterable, Sequence
from xml.etree import ElementTree


class FormatError(Exception):
    """Why the content of one file cannot be read (a fault of the file, not of the moment)."""


@dataclass(frozen=True)
class Extracted:
    text: str
    title: str  # "" when the file has none (the caller falls back to the file name)
    sections: tuple[tuple[int, str], ...] = ()
    encoding: str = "utf-8"  # what a text file was decoded from


Block = tuple[str, str | None]  # a block of text, and the label of the section it starts (if any)


def join(blocks: Iterable[Block], sep: str) -> tuple[str, tuple[tuple[int, str], ...]]:
    """Blocks (stripped, empty ones dropped) joined by sep, and the offsets of the labelled ones."""
    parts: list[str] = []
    sections: list[tuple[int, str]] = []
    length = 0
    for block, label in blocks:
        block = block.strip()
        if not block:
            continue
        if parts:
            length += len(sep)
        if label and (not sections or sections[-1][1] != label):
            sections.append((length, label))
        parts.append(block)
        length += len(block)
    return sep.join(parts), tuple(sections)


class HeadingPath:
    """The chain of headings above the current point: "Intro > Marché"."""

    def __init__(self) -> None:
        self._stack: list[tuple[int, str]] = []

    def enter(self, level: int, heading: str) -> str:
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        self._stack.append((level, " ".join(heading.split())[:80]))
        return " > ".join(h for _, h in self._stack)


def section_at(sections: Sequence[Sequence], offset: int) -> str | None:
    """The label of the last section starting at or before offset (sections as [offset, label])."""
    at = bisect.bisect_right([start for start, _ in sections], offset)
    return sections[at - 1][1] if at else None


def first_line(text: str) -> str:
    return next((ln.strip()[:160] for ln in text.splitlines() if ln.strip()), "")


def decode(data: bytes) -> tuple[str, str]:
    """(text, encoding): UTF-8; else Windows-1252 (Latin-1's superset) when charset-normalizer finds
    it plausible; else charset-normalizer's best guess. Its ranking alone cannot be trusted on French
    text: it prefers mac_latin2 or cp1250, which turn "crème" into "crčme"."""
    if b"\x00" in data[:8192]:
        raise FormatError("binary content (NUL bytes) in a text file")
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError as exc:
        not_utf8 = f"not valid UTF-8 (byte {data[exc.start]:#04x} at offset {exc.start})"
    from charset_normalizer import from_bytes

    match = from_bytes(data, cp_isolation=["cp1252"]).best() or from_bytes(data).best()
    if match is None:
        raise FormatError(f"{not_utf8} and no other text encoding fits; re-save it as UTF-8")
    return str(match), match.encoding


def plain(data: bytes) -> Extracted:
    text, encoding = decode(data)
    return Extracted(text, first_line(text), encoding=encoding)


def markdown(data: bytes) -> Extracted:
    """The file as it is; each "#" heading line starts a section named by its heading path."""
    text, encoding = decode(data)
    path, sections, offset, title = HeadingPath(), [], 0, ""
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith("#"):
            level = len(stripped) - len(stripped.lstrip("#"))
            heading = stripped.lstrip("#").strip()
            if heading and level <= 6:
                title = title or heading[:160]
                sections.append((offset, path.enter(level, heading)))
        offset += len(line)
    return Extracted(text, title or first_line(text), tuple(sections), encoding)


def html_text(html: str) -> tuple[str, str, tuple[tuple[int, str], ...]]:
    """Visible text of an HTML page, one line per text node; its title; its h1-h6 heading paths."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    heading = soup.find(["h1", "title"])
    title = heading.get_text(" ", strip=True) if heading else ""
    body = soup.body or soup
    lines = [ln.strip() for ln in body.get_text("\n").splitlines()]
    text = "\n".join(ln for ln in lines if ln)
    path, sections, cursor = HeadingPath(), [], 0
    for found in body.find_all(["h1", "h2", "h3", "h4", "h5", "h6"]):
        heading = first_line(found.get_text("\n"))
        at = text.find(heading, cursor) if heading else -1
        if at >= 0:
            sections.append((at, path.enter(int(found.name[1]), found.get_text(" ", strip=True))))
            cursor = at + len(heading)
    return text, title[:160] or first_line(text), tuple(sections)


def html(data: bytes) -> Extracted:
    source, encoding = decode(data)
    text, title, sections = html_text(source)
    return Extracted(text, title, sections, encoding)


def pdf(data: bytes) -> Extracted:
    """pypdf's text of each page, pages separated by a blank line; each page is a section "p. N"."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [((page.extract_text() or ""), f"p. {n}") for n, page in enumerate(reader.pages, 1)]
        meta_title = (reader.metadata.title if reader.metadata else None) or ""
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise FormatError(f"unreadable PDF ({exc})") from None
    text, sections = join(pages, "\n\n")
    return Extracted(text, str(meta_title).strip()[:160] or first_line(text), sections)


def _office(data: bytes, kind: str, opener: Callable[[io.BytesIO], object]) -> object:
    try:
        return opener(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise FormatError(f"unreadable {kind} file ({type(exc).__name__}: {exc})") from None
    except Exception as exc:  # noqa: BLE001 - the parsers raise their own types for damaged packages
        raise FormatError(f"unreadable {kind} file ({type(exc).__name__})") from None


def _heading_level(style_name: str) -> int | None:
    """python-docx style name -> heading level: "Title" 1, "Heading 2" 2, anything else None."""
    if style_name == "Title":
        return 1
    if style_name.startswith("Heading "):
        level = style_name.removeprefix("Heading ")
        return int(level) if level.isdigit() else None
    return None


def docx(data: bytes) -> Extracted:
    """python-docx: paragraphs and tables in body order (a table row is "cell | cell"); Heading
    styles give the heading paths."""
    from docx import Document as open_docx
    from docx.table import Table

    document = _office(data, "Word", open_docx)
    path, blocks = HeadingPath(), []
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            blocks += [(" | ".join(c.text.strip() for c in row.cells), None) for row in item.rows]
            continue
        level = _heading_level(item.style.name if item.style is not None else "")
        label = path.enter(level, item.text) if level and item.text.strip() else None
        blocks.append((item.text, label))
    text, sections = join(blocks, "\n")
    title = (document.core_properties.title or "").strip()
    return Extracted(text, title[:160] or (sections[0][1] if sections else first_line(text)), sections)


def pptx(data: bytes) -> Extracted:
    """python-pptx: each slide's text frames and tables in shape order, then its notes; each slide is
    a section "slide N"."""
    from pptx import Presentation

    deck = _office(data, "PowerPoint", Presentation)
    blocks: list[Block] = []
    for n, slide in enumerate(deck.slides, 1):
        lines: list[str] = []
        for shape in slide.shapes:
            if shape.has_text_frame:
                lines += [p.text for p in shape.text_frame.paragraphs]
            elif getattr(shape, "has_table", False) and shape.has_table:
                lines += [" | ".join(c.text.strip() for c in row.cells) for row in shape.table.rows]
        if slide.has_notes_slide:
            lines.append(slide.notes_slide.notes_text_frame.text)
        blocks.append(("\n".join(ln.strip() for ln in lines if ln.strip()), f"slide {n}"))
    text, sections = join(blocks, "\n\n")
    title = (deck.core_properties.title or "").strip()
    return Extracted(text, title[:160] or first_line(text), sections)


def odt(data: bytes) -> Extracted:
    """odfpy: text:h and text:p elements in document order (inside lists, sections and tables too);
    text:h's outline level gives the heading paths."""
    from odf import teletype
    from odf.namespaces import TEXTNS
    from odf.opendocument import load

    document = _office(data, "OpenDocument", load)
    path, blocks = HeadingPath(), []

    def walk(element) -> None:
        for node in element.childNodes:
            if node.nodeType != node.ELEMENT_NODE:
                continue
            if node.qname == (TEXTNS, "h"):
                heading = teletype.extractText(node)
                level = int(node.getAttrNS(TEXTNS, "outline-level") or 1)
                blocks.append((heading, path.enter(level, heading) if heading.strip() else None))
            elif node.qname == (TEXTNS, "p"):
                blocks.append((teletype.extractText(node), None))
            else:
                walk(node)

    walk(document.text)
    text, sections = join(blocks, "\n")
    titles = [teletype.extractText(t) for t in document.meta.childNodes if t.qname[1] == "title"]
    title = (titles[0] if titles else "").strip()
    return Extracted(text, title[:160] or (sections[0][1] if sections else first_line(text)), sections)


_CONTAINER = "{urn:oasis:names:tc:opendocument:xmlns:container}"
_OPF = "{http://www.idpf.org/2007/opf}"
_DC = "{http://purl.org/dc/elements/1.1/}"


def epub(data: bytes) -> Extracted:
    """The standard library's zipfile + the HTML reader: the spine's chapters in reading order, each
    chapter a section named by its first heading (or "chapter N")."""
    try:
        book = zipfile.ZipFile(io.BytesIO(data))
        container = ElementTree.fromstring(book.read("META-INF/container.xml"))
        opf_path = container.find(f".//{_CONTAINER}rootfile").get("full-path")
        opf = ElementTree.fromstring(book.read(opf_path))
        base = PurePosixPath(opf_path).parent
        items = {i.get("id"): i.get("href") for i in opf.iter(f"{_OPF}item")}
        chapters = [book.read(str(base / items[ref.get("idref")])) for ref in opf.iter(f"{_OPF}itemref")]
    except (zipfile.BadZipFile, KeyError, AttributeError, ElementTree.ParseError) as exc:
        raise FormatError(f"unreadable EPUB ({type(exc).__name__}: {exc})") from None
    blocks: list[Block] = []
    for n, chapter in enumerate(chapters, 1):
        text, heading, _ = html_text(decode(chapter)[0])
        blocks.append((text, heading or f"chapter {n}"))
    text, sections = join(blocks, "\n\n")
    title = opf.findtext(f".//{_DC}title") or ""
    return Extracted(text, title.strip()[:160] or first_line(text), sections)


def eml(data: bytes) -> Extracted:
    """The standard library's email parser: From, To, Date and Subject lines, then the plain-text
    body (or the HTML one's visible text). Attachments are not read."""
    from email import policy
    from email.parser import BytesParser

    message = BytesParser(policy=policy.default).parsebytes(data)
    headers = [f"{name}: {message[name]}" for name in ("From", "To", "Date", "Subject") if message[name]]
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None and not headers:
        raise FormatError("not an e-mail message (no headers and no text body)")
    body = part.get_content() if part is not None else ""
    if part is not None and part.get_content_subtype() == "html":
        body = html_text(body)[0]
    text, _ = join([("\n".join(headers), None), (body, None)], "\n\n")
    return Extracted(text, str(message["Subject"] or "").strip()[:160] or first_line(text))


def table(data: bytes) -> Extracted:
    """CSV as text: one line per row, "column: value; column: value" (the header row names the
    columns); the delimiter is sniffed among , ; tab and |."""
    source, encoding = decode(data)
    try:
        dialect = csv.Sniffer().sniff(source[:8192], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    rows = [row for row in csv.reader(io.StringIO(source), dialect) if any(cell.strip() for cell in row)]
    if not rows:
        return Extracted("", "", encoding=encoding)
    header = [h.strip() or f"column {i}" for i, h in enumerate(rows[0], 1)]
    lines = ["; ".join(f"{header[i] if i < len(header) else f'column {i + 1}'}: {cell.strip()}"
                       for i, cell in enumerate(row) if cell.strip()) for row in rows[1:]]
    text, _ = join(((line, None) for line in lines), "\n")
    return Extracted(text, "", encoding=encoding)


READERS: dict[str, Callable[[bytes], Extracted]] = {
    ".txt": plain, ".md": markdown, ".markdown": markdown, ".html": html, ".htm": html, ".pdf": pdf,
    ".docx": docx, ".pptx": pptx, ".odt": odt, ".epub": epub, ".eml": eml, ".csv": table,
}
