"""Documents -> Chunks with exact character offsets and stable ids (llama-index's SentenceSplitter)."""
from __future__ import annotations

import hashlib

from llama_index.core import Document
from llama_index.core.node_parser import SentenceSplitter

from .types import Chunk


def make_splitter(chunk_size: int, chunk_overlap: int) -> SentenceSplitter:
    return SentenceSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap, include_metadata=False)


def chunk_id(source: str, start: int, text: str) -> str:
    """Stable across runs: the same text at the same place in the same file keeps its id."""
    digest = hashlib.sha1(f"{source}\x00{start}\x00{text}".encode()).hexdigest()
    return digest[:20]


def embed_input(chunk: Chunk) -> str:
    """What the embedder reads of a chunk: its document's title, then its text (llama-index's
    MetadataMode.EMBED layout, which indexes built before this function existed used)."""
    return f"title: {chunk.title}\n\n{chunk.text}"


def chunk_document(doc: Document, splitter: SentenceSplitter) -> list[Chunk]:
    """Split one document; every chunk satisfies doc.text[start:end] == chunk.text."""
    source, title = doc.metadata["source"], doc.metadata["title"]
    chunks, cursor = [], 0
    for piece in splitter.split_text(doc.text):
        start = _locate(doc.text, piece, cursor)
        if start < 0:
            continue
        end = start + len(piece)
        # Overlapping chunks start before the previous end; search from the previous start.
        cursor = start + 1
        chunks.append(Chunk(chunk_id(source, start, piece), source, title, start, end, piece))
    return chunks


def _locate(text: str, piece: str, cursor: int) -> int:
    start = text.find(piece, cursor)
    return start if start >= 0 else text.find(piece)
