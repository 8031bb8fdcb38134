"""Adding a file to the corpus folder, or removing one, from outside the machine (the UI's upload).

An added file passes the rules a file in the folder is indexed by (a supported type, at most
RAG_MAX_FILE_MB, readable, with text) before anything is written; its name is a plain file name, so it
can only land directly in the corpus folder; it is written under a hidden temporary name and renamed,
so the folder never holds half a file. Removal only takes a document the index knows."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .documents import SUPPORTED, BadFile
from .formats import READERS, FormatError


def check_name(name: str) -> str:
    """The name as given if it is a plain, visible file name of a supported type; BadFile otherwise."""
    if not name or name in (".", "..") or any(c in name for c in "/\\\x00"):
        raise BadFile("the file name must be a plain name, without folders")
    if name.startswith("."):
        raise BadFile("hidden file names (starting with '.') are not indexed")
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED:
        raise BadFile(f"unsupported file type {suffix or '(none)'!r} (supported: {', '.join(sorted(SUPPORTED))})")
    return name


def add_file(corpus: Path, name: str, source: Path, max_bytes: int) -> Path:
    """Copy the file at `source` into the corpus folder as `name` (replacing a file of that name)
    once it passes the checks; BadFile with the reason otherwise, and nothing is written."""
    check_name(name)
    size = source.stat().st_size
    if size > max_bytes:
        raise BadFile(f"too large ({size / 1e6:.3g} MB > {max_bytes / 1e6:.3g} MB limit, RAG_MAX_FILE_MB)")
    data = source.read_bytes()
    try:
        extracted = READERS[Path(name).suffix.lower()](data)
    except FormatError as exc:
        raise BadFile(str(exc)) from None
    if not extracted.text.strip():
        raise BadFile("empty (no text to index)")
    target = corpus / name
    descriptor, temporary = tempfile.mkstemp(prefix=".upload-", dir=corpus)
    try:
        with os.fdopen(descriptor, "wb") as out:
            out.write(data)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def remove_file(corpus: Path, source: str, indexed: set[str]) -> None:
    """Delete the corpus file of an indexed document (`source` as the index names it)."""
    if source not in indexed:
        raise BadFile(f"{source!r} is not an indexed document")
    path = corpus / source
    if path.is_symlink() or not path.is_file():
        raise BadFile(f"{source!r} is not a plain file in the corpus folder; remove it on the server")
    path.unlink()
