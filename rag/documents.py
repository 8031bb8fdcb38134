"""Corpus folder -> llama-index Documents. Bad files are skipped with a reason, never fatal."""
from __future__ import annotations

import errno
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from llama_index.core import Document

from .errors import CorpusError
from .formats import READERS, FormatError

SUPPORTED = frozenset(READERS)


@dataclass(frozen=True)
class Skipped:
    source: str
    reason: str
    # a condition of the moment (vanished, permission denied, unreadable): tried again next ingest,
    # never remembered; a fault of the content itself is remembered until the file changes
    transient: bool = False


class BadFile(Exception):
    """Why one file cannot be indexed (becomes a Skipped entry)."""

    def __init__(self, reason: str, transient: bool = False) -> None:
        super().__init__(reason)
        self.transient = transient


def list_files(corpus: Path, follow_outside_links: bool = False) -> tuple[list[Path], list[Skipped]]:
    """Supported files under corpus (recursive, sorted; hidden names ignored).

    A symbolic link counts only if it leads to a file inside the corpus folder; with
    follow_outside_links, also to files and folders outside it (RAG_FOLLOW_OUTSIDE_LINKS). Every
    other link is skipped with the reason: broken, a loop, outside the corpus, a linked folder
    inside the corpus (its files are indexed where they are)."""
    if not corpus.exists():
        raise CorpusError(f"corpus folder {str(corpus)!r} does not exist")
    if not corpus.is_dir():
        raise CorpusError(f"corpus {str(corpus)!r} is not a folder")
    root = corpus.resolve()
    files: list[Path] = []
    skipped: list[Skipped] = []

    def visit(folder: Path, walking: frozenset[Path]) -> None:
        """walking: the real paths of the folders being walked, this one included (to see loops)."""
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError as exc:
            if folder == corpus:
                raise CorpusError(f"corpus folder {str(corpus)!r} cannot be listed ({exc.strerror or exc})") from None
            rel = folder.relative_to(corpus).as_posix()
            skipped.append(Skipped(rel, f"folder cannot be listed ({exc.strerror or exc})", transient=True))
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            rel = path.relative_to(corpus).as_posix()
            try:
                if entry.is_symlink():
                    target = _link_target(path)
                    if target.is_dir():
                        _check_folder_link(target, root, walking, follow_outside_links)
                        visit(path, walking | {target})
                        continue
                    if not follow_outside_links and not _inside(target, root):
                        raise BadFile(f"symbolic link to a file outside the corpus folder ({target}); "
                                      f"RAG_FOLLOW_OUTSIDE_LINKS=1 allows it")
                elif entry.is_dir(follow_symlinks=False):
                    visit(path, walking | {path.resolve()})
                    continue
            except BadFile as exc:
                skipped.append(Skipped(rel, str(exc), exc.transient))
                continue
            if path.suffix.lower() not in SUPPORTED:
                skipped.append(Skipped(rel, f"unsupported file type {path.suffix or '(none)'!r}"))
            elif not path.is_file():
                skipped.append(Skipped(rel, "not a regular file (named pipe, socket or device)"))
            else:
                files.append(path)

    visit(corpus, frozenset({root}))
    return files, skipped


def _inside(target: Path, root: Path) -> bool:
    return target == root or root in target.parents


def _shown(folder: Path, root: Path) -> str:
    if folder == root:
        return "the corpus folder"
    return repr(folder.relative_to(root).as_posix()) if _inside(folder, root) else str(folder)


def _link_target(link: Path) -> Path:
    """Where a symbolic link finally leads; BadFile if it leads nowhere."""
    try:
        return link.resolve(strict=True)
    except FileNotFoundError:
        raise BadFile(f"broken symbolic link (its target {os.readlink(link)!r} does not exist)") from None
    except RuntimeError:  # Python < 3.13 reports a loop this way
        raise BadFile("symbolic link loop (the link leads back to itself)") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise BadFile("symbolic link loop (the link leads back to itself)") from None
        raise BadFile(f"cannot follow symbolic link ({exc.strerror or exc})", transient=True) from None


def _check_folder_link(target: Path, root: Path, walking: frozenset[Path], follow_outside_links: bool) -> None:
    """BadFile unless a link to the folder `target` should be walked."""
    if target in walking:
        raise BadFile(f"symbolic link loop: it links back to {_shown(target, root)}, a folder it is in; not followed")
    if _inside(target, root):
        raise BadFile(f"linked folder inside the corpus, not followed: its files are indexed under "
                      f"{target.relative_to(root).as_posix()!r}")
    if not follow_outside_links:
        raise BadFile(f"linked folder outside the corpus folder ({target}), not followed; "
                      f"RAG_FOLLOW_OUTSIDE_LINKS=1 follows it")


def unreadable(exc: OSError) -> BadFile:
    """The transient BadFile for a file that could not be read just now."""
    if isinstance(exc, FileNotFoundError):
        return BadFile("vanished while reading", transient=True)
    if isinstance(exc, PermissionError):
        return BadFile("permission denied", transient=True)
    return BadFile(f"cannot read ({exc.strerror or exc})", transient=True)


def file_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_document(path: Path, corpus: Path, max_bytes: int) -> tuple[Document, str]:
    """One file -> (Document, content hash). Raises BadFile with a specific reason.

    The Document's metadata: source, title, the encoding its text was read in ("utf-8" unless
    the file is a legacy-encoded text file), and its sections as [offset, label] pairs (rag/formats.py)."""
    rel = path.relative_to(corpus).as_posix()
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise BadFile(f"too large ({size / 1e6:.3g} MB > {max_bytes / 1e6:.3g} MB limit, RAG_MAX_FILE_MB)")
        data = path.read_bytes()
    except OSError as exc:
        raise unreadable(exc) from None
    try:
        extracted = READERS[path.suffix.lower()](data)
    except FormatError as exc:
        raise BadFile(str(exc)) from None
    if not extracted.text.strip():
        raise BadFile("empty (no text to index)")
    metadata = {"source": rel, "title": extracted.title or Path(rel).stem, "encoding": extracted.encoding,
                "sections": [list(section) for section in extracted.sections]}
    return Document(text=extracted.text, id_=rel, metadata=metadata), file_hash(data)
