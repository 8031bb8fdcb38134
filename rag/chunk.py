"""Documents -> Chunks with exact character offsets and stable ids (llama-index's SentenceSplitter)."""
from __future__ import annotations

import hashlib
from typing import Iterator

from llama_index.core import Document
from llama_index.core.node_parser import SentenceSplitter

from .types import Chunk

# The sentence splitter hands a whole paragraph-less stretch of text to nltk's punkt tokenizer,
# whose regular expressions run under a 5 s wall-clock guard: ~20 MB of short sentences trips it
# (TimeoutError). Splitting first into blocks of about this many characters, at paragraph breaks,
# keeps every call small, so chunking time grows linearly with the size of the file.
BLOCK_CHARS = 100_000
_BREAKS = ("\n\n", "\n", " ")  # where a block may end, best first


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


def blocks(text: str, size: int = BLOCK_CHARS) -> Iterator[tuple[int, str]]:
    """(offset, block) pieces covering text in order, each at most `size` characters long, ending at
    a paragraph break if there is one in its second half, else at a line break, else at a space."""
    start = 0
    while len(text) - start > size:
        end = start + size
        for mark in _BREAKS:
            cut = text.rfind(mark, start + size // 2, end)
            if cut >= 0:
                end = cut + len(mark)
                break
        yield start, text[start:end]
        start = end
    if start < len(text):
        yield start, text[start:]


def chunk_document(doc: Document, splitter: SentenceSplitter) -> list[Chunk]:
    """Split one document; every chunk satisfies doc.text[start:end] == chunk.text.

    A document shorter than BLOCK_CHARS is one block, so its chunks (and their ids) are what the
    splitter alone gives; longer ones are chunked block by block and chunks never straddle blocks."""
    source, title = doc.metadata["source"], doc.metadata["title"]
    chunks = []
    for offset, block in blocks(doc.text):
        cursor = 0
        for piece in splitter.split_text(block):
            found = _locate(block, piece, cursor)
            if found < 0:
                continue
            # Overlapping chunks start before the previous end; search from the previous start.
            cursor = found + 1
            start = offset + found
            chunks.append(Chunk(chunk_id(source, start, piece), source, title, start, start + len(piece), piece))
    return chunks


def _locate(text: str, piece: str, cursor: int) -> int:
    start = text.find(piece, cursor)
    return start if start >= 0 else text.find(piece)
