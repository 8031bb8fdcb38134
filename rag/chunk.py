"""Documents -> chunks (llama-index TextNodes) with exact character offsets and stable ids."""
from __future__ import annotations

import hashlib

from llama_index.core import Document
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import TextNode


def make_splitter(chunk_size: int, chunk_overlap: int) -> SentenceSplitter:
    return SentenceSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap, include_metadata=False)


def chunk_id(source: str, start: int, text: str) -> str:
    """Stable across runs: the same text at the same place in the same file keeps its id."""
    digest = hashlib.sha1(f"{source}\x00{start}\x00{text}".encode()).hexdigest()
    return digest[:20]


def chunk_document(doc: Document, splitter: SentenceSplitter) -> list[TextNode]:
    """Split one document; every node satisfies doc.text[start:end] == node.text."""
    source, title = doc.metadata["source"], doc.metadata["title"]
    nodes, cursor = [], 0
    for piece in splitter.split_text(doc.text):
        start = _locate(doc.text, piece, cursor)
        if start < 0:
            continue
        end = start + len(piece)
        # Overlapping chunks start before the previous end; search from the previous start.
        cursor = start + 1
        nodes.append(
            TextNode(
                id_=chunk_id(source, start, piece),
                text=piece,
                start_char_idx=start,
                end_char_idx=end,
                metadata={"source": source, "title": title},
                excluded_embed_metadata_keys=["source"],
                excluded_llm_metadata_keys=["source"],
            )
        )
    return nodes


def _locate(text: str, piece: str, cursor: int) -> int:
    start = text.find(piece, cursor)
    return start if start >= 0 else text.find(piece)
