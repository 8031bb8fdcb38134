"""Corpus folder -> llama-index Documents. Bad files are skipped with a reason, never fatal."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from llama_index.core import Document

from .errors import CorpusError

SUPPORTED = {".txt", ".md", ".markdown", ".html", ".htm", ".pdf"}


@dataclass(frozen=True)
class Skipped:
    source: str
    reason: str


class BadFile(Exception):
    """Why one file cannot be indexed (becomes a Skipped entry)."""


def list_files(corpus: Path) -> tuple[list[Path], list[Skipped]]:
    """Supported files under corpus (recursive, sorted, symlinked folders not followed)."""
    if not corpus.exists():
        raise CorpusError(f"corpus folder {str(corpus)!r} does not exist")
    if not corpus.is_dir():
        raise CorpusError(f"corpus {str(corpus)!r} is not a folder")
    files, skipped = [], []
    for root, dirs, names in os.walk(corpus, followlinks=False, onerror=None):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            path = Path(root) / name
            rel = path.relative_to(corpus).as_posix()
            if name.startswith("."):
                continue
            if path.suffix.lower() not in SUPPORTED:
                skipped.append(Skipped(rel, f"unsupported file type {path.suffix or '(none)'!r}"))
            elif not path.is_file():  # follows links: False for pipes, sockets, devices, broken or looping links
                skipped.append(Skipped(rel, "not a regular file (named pipe, socket, device, or broken or looping link)"))
            else:
                files.append(path)
    return files, skipped


def file_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_document(path: Path, corpus: Path, max_bytes: int) -> tuple[Document, str]:
    """One file -> (Document, content hash). Raises BadFile with a specific reason."""
    rel = path.relative_to(corpus).as_posix()
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise BadFile(f"too large ({size / 1e6:.3g} MB > {max_bytes / 1e6:.3g} MB limit, RAG_MAX_FILE_MB)")
        data = path.read_bytes()
    except PermissionError:
        raise BadFile("permission denied") from None
    except FileNotFoundError:
        raise BadFile("vanished while reading") from None
    except OSError as exc:
        raise BadFile(f"cannot read ({exc.strerror or exc})") from None
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        text, title = _pdf_text(data)
    else:
        text = _decode(data)
        if suffix in (".html", ".htm"):
            text, title = _html_text(text)
        else:
            title = _first_line(text, markdown=suffix in (".md", ".markdown"))
    if not text.strip():
        raise BadFile("empty (no text to index)")
    title = title or Path(rel).stem
    doc = Document(text=text, id_=rel, metadata={"source": rel, "title": title})
    return doc, file_hash(data)


def _decode(data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise BadFile("binary content (NUL bytes) in a text file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadFile(f"not valid UTF-8 (byte {data[exc.start]:#04x} at offset {exc.start}); re-save it as UTF-8") from None


def _first_line(text: str, markdown: bool) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if markdown:
        for ln in lines:
            if ln.startswith("#"):
                return ln.lstrip("#").strip()[:160]
    return lines[0][:160] if lines else ""


def _html_text(html: str) -> tuple[str, str]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    heading = soup.find(["h1", "title"])
    title = heading.get_text(" ", strip=True) if heading else ""
    body = soup.body or soup
    lines = [ln.strip() for ln in body.get_text("\n").splitlines()]
    text = "\n".join(ln for ln in lines if ln)
    return text, title[:160] or _first_line(text, markdown=False)


def _pdf_text(data: bytes) -> tuple[str, str]:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
        meta_title = (reader.metadata.title if reader.metadata else None) or ""
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise BadFile(f"unreadable PDF ({exc})") from None
    text = "\n\n".join(p for p in pages if p)
    return text, str(meta_title).strip()[:160] or _first_line(text, markdown=False)
