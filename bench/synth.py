"""Synthetic data built from the default corpus: bigger corpora (copies with shuffled paragraphs and a
copy marker in the title, so no two chunks are identical) and retrieval nodes made of corpus sentences."""
from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np

from rag.documents import list_files, read_document
from rag.text import sentence_spans
from rag.types import Chunk

_NUMBER = re.compile(r"\d+")


def corpus_texts(corpus: Path) -> dict[str, str]:
    """{file name: raw text} of the supported files of the default corpus."""
    files, _ = list_files(corpus)
    return {p.relative_to(corpus).as_posix(): p.read_text(encoding="utf-8-sig") for p in files}


def corpus_bytes(corpus: Path) -> int:
    files, _ = list_files(corpus)
    return sum(p.stat().st_size for p in files)


def _perturb(text: str, copy: int, rng: random.Random) -> str:
    lines = text.split("\n")
    head = f"(copie {copy}) " + lines[0].strip()  # in front: titles are cut at 160 characters
    paragraphs = [p for p in "\n".join(lines[1:]).split("\n\n") if p.strip()]
    rng.shuffle(paragraphs)
    # nudge some figures so copies also differ in content, not only in order
    paragraphs = [_NUMBER.sub(lambda m: str(int(m.group()) + copy) if rng.random() < 0.3 else m.group(), p)
                  for p in paragraphs]
    return head + "\n\n" + "\n\n".join(paragraphs) + "\n"


def make_corpus(source: Path, target: Path, size_bytes: int, seed: int = 0) -> dict:
    """Write copies of the default corpus into `target` until it holds at least size_bytes."""
    target.mkdir(parents=True, exist_ok=True)
    docs = corpus_texts(source)
    rng = random.Random(seed)
    total, files, copy = 0, 0, 0
    while total < size_bytes:
        for name, text in docs.items():
            data = _perturb(text, copy, rng).encode("utf-8")
            (target / f"c{copy:04d}_{name}").write_bytes(data)
            total += len(data)
            files += 1
            if total >= size_bytes:
                break
        copy += 1
    return {"bytes": total, "files": files}


def corpus_sentences(corpus: Path) -> list[str]:
    out = []
    for path in list_files(corpus)[0]:
        doc, _ = read_document(path, corpus, 10**9)
        out += [s.text for s in sentence_spans(doc.text) if len(s.text) >= 25]
    return out


def make_chunks(n: int, sentences: list[str], seed: int = 0, chars: int = 800) -> tuple[list[Chunk], dict[str, str]]:
    """n chunks (~`chars` characters of French corpus sentences each), 50 per synthetic file."""
    rng = random.Random(seed)
    nodes, texts, pieces = [], {}, []
    per_file = 50
    for i in range(n):
        parts, size = [], 0
        while size < chars:
            s = sentences[rng.randrange(len(sentences))]
            parts.append(s)
            size += len(s) + 1
        text = " ".join(parts)
        source = f"synth/{i // per_file:05d}.txt"
        if i % per_file == 0:
            pieces = []
        start = sum(len(p) + 1 for p in pieces)
        pieces.append(text)
        nodes.append(Chunk(f"s{i:07d}", source, f"Document synthétique {i // per_file}", start, start + len(text), text))
        texts[source] = "\n".join(pieces)
    return nodes, texts


def unit_vectors(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    m = rng.standard_normal((n, dim), dtype=np.float32)
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    return m
