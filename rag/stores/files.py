"""Store backend `files` (default): FAISS + BM25 in one immutable *generation* folder per ingest,
switched in atomically.

    index/CURRENT          -> name of the live generation (replaced with os.replace)
    index/gen-XXXX/        manifest.json, nodes.json, texts.json, vectors.faiss, bm25/

A generation is written completely (and checksummed) before CURRENT points at it, so a crash
mid-ingest leaves the previous generation live. Opening verifies checksums and counts.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import faiss
import numpy as np
import Stemmer
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.types import VectorStoreQuery
from llama_index.retrievers.bm25 import BM25Retriever
from llama_index.vector_stores.faiss import FaissVectorStore

from ..errors import IndexCorrupt, RagError
from ..types import Chunk

# One query at a time: FAISS's OpenMP threads only add wake-up cost (exact search over 100k chunks:
# ~12 ms on one thread, ~16 ms on both cores here) and would compete with the LLM for the cores.
faiss.omp_set_num_threads(1)

FORMAT = 1
STEMMER_LANGUAGE = "french"
_ARTEFACTS = ("nodes.json", "texts.json", "vectors.faiss")


@dataclass
class IndexData:
    manifest: dict
    nodes: list[TextNode]
    texts: dict[str, str]  # source -> full extracted text (offsets point into it)
    vectors: FaissVectorStore
    bm25: BM25Retriever
    path: Path

    def __post_init__(self) -> None:
        self._position = {node.node_id: i for i, node in enumerate(self.nodes)}

    def matrix(self) -> np.ndarray:
        index = self.vectors.client
        return index.reconstruct_n(0, index.ntotal) if index.ntotal else np.zeros((0, index.d), "float32")

    # -- the Index interface (rag.stores.Index) ------------------------------------------------
    def __len__(self) -> int:
        return len(self.nodes)

    def dense(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        result = self.vectors.query(VectorStoreQuery(query_embedding=vector.tolist(), similarity_top_k=k))
        return [(self.nodes[int(i)].node_id, float(s)) for i, s in zip(result.ids, result.similarities) if int(i) >= 0]

    def lexical(self, query: str, k: int) -> list[tuple[str, float]]:
        self.bm25.similarity_top_k = k
        return [(hit.node.node_id, float(hit.score)) for hit in self.bm25.retrieve(query) if hit.score > 0]

    def chunk(self, chunk_id: str) -> Chunk:
        return to_chunk(self.nodes[self._position[chunk_id]])

    def document_text(self, source: str) -> str:
        return self.texts[source]

    def stored(self):
        matrix = self.matrix()
        for i, node in enumerate(self.nodes):
            yield to_chunk(node), matrix[i]


def to_chunk(node: TextNode) -> Chunk:
    meta = node.metadata
    return Chunk(node.node_id, meta["source"], meta["title"], node.start_char_idx, node.end_char_idx, node.text)


def to_node(chunk: Chunk) -> TextNode:
    """How a chunk is persisted (llama-index's node format, which BM25Retriever and FAISS take)."""
    return TextNode(
        id_=chunk.id, text=chunk.text, start_char_idx=chunk.start, end_char_idx=chunk.end,
        metadata={"source": chunk.source, "title": chunk.title},
        excluded_embed_metadata_keys=["source"], excluded_llm_metadata_keys=["source"],
    )


class FileStore:
    """rag.stores.Store over an index folder."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.location = str(self.folder)

    def read_manifest(self) -> dict | None:
        return read_manifest(self.folder)

    def load(self) -> IndexData | None:
        return load(self.folder)

    def locked(self):
        return locked(self.folder)

    def write(self, manifest: dict, chunks: list[Chunk], vectors: np.ndarray, texts: dict[str, str]) -> dict[str, float]:
        timings: dict[str, float] = {}
        write(self.folder, manifest, chunks, vectors, texts, timings)
        return timings


def open_store(folder: str) -> FileStore:
    return FileStore(folder)


def library_versions() -> dict[str, str]:
    names = ("llama-index-core", "llama-index-retrievers-bm25", "llama-index-vector-stores-faiss", "faiss-cpu", "bm25s")
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "missing"
    return out


def french_stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer(STEMMER_LANGUAGE)


def build_bm25(nodes: list[TextNode]) -> BM25Retriever:
    return BM25Retriever.from_defaults(nodes=nodes, stemmer=french_stemmer(), language="fr")


def current_generation(index_dir: Path) -> Path | None:
    pointer = index_dir / "CURRENT"
    if not pointer.exists():
        return None
    try:
        name = pointer.read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexCorrupt(f"index pointer {pointer} is unreadable ({exc})") from None
    if not name or "/" in name or name.startswith("."):
        raise IndexCorrupt(f"index pointer {pointer} names no generation ({name!r})")
    return index_dir / name


def read_manifest(index_dir: Path) -> dict | None:
    """The live manifest, or None if there is no index yet. Cheap: reads one small JSON file."""
    gen = current_generation(index_dir)
    return None if gen is None else _manifest_at(gen)


def _manifest_at(gen: Path) -> dict:
    try:
        manifest = json.loads((gen / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise IndexCorrupt(f"index manifest in {gen} is unreadable ({exc})") from None
    if not isinstance(manifest, dict) or not all(
        isinstance(manifest.get(key), dict) for key in ("embedder", "chunking", "files", "counts", "checksums")
    ):
        raise IndexCorrupt(f"index manifest in {gen} is not a valid index manifest")
    return manifest


def load(index_dir: Path) -> IndexData | None:
    """Load and verify the live generation. None if no index; IndexCorrupt if it can't be trusted.

    A concurrent ingest may switch CURRENT and delete the generation being read: then read the new one."""
    for _ in range(3):
        gen = current_generation(index_dir)
        if gen is None:
            return None
        try:
            return _load_generation(gen)
        except IndexCorrupt:
            if current_generation(index_dir) == gen:
                raise  # really damaged, not replaced under us
    raise IndexCorrupt(f"the index in {index_dir} kept changing while being read")


def _load_generation(gen: Path) -> IndexData:
    manifest = _manifest_at(gen)
    if manifest.get("format") != FORMAT:
        raise IndexCorrupt(f"index format {manifest.get('format')} is not {FORMAT}")
    for rel, expected in manifest["checksums"].items():
        try:
            actual = _sha256(gen / rel)
        except FileNotFoundError:
            raise IndexCorrupt(f"index file {rel} is missing from {gen}") from None
        except OSError as exc:
            raise IndexCorrupt(f"index file {rel} in {gen} cannot be read ({exc.strerror or exc})") from None
        if actual != expected:
            raise IndexCorrupt(f"index file {rel} is corrupted (checksum mismatch)")
    try:
        nodes = [TextNode.from_dict(d) for d in json.loads((gen / "nodes.json").read_text())]
        texts = json.loads((gen / "texts.json").read_text())
        vectors = FaissVectorStore.from_persist_path(str(gen / "vectors.faiss"))
        bm25 = BM25Retriever.from_persist_dir(str(gen / "bm25"), show_progress=False)
    except Exception as exc:  # any parse failure means the same thing: rebuild
        raise IndexCorrupt(f"index in {gen} cannot be read ({type(exc).__name__}: {exc})") from None
    bm25.stemmer = french_stemmer()  # BM25Retriever does not persist its stemmer
    n = manifest["counts"]["chunks"]
    if not (len(nodes) == vectors.client.ntotal == n):
        raise IndexCorrupt(f"index counts disagree: manifest {n}, nodes {len(nodes)}, vectors {vectors.client.ntotal}")
    if vectors.client.d != manifest["embedder"]["dim"]:
        raise IndexCorrupt(f"vector dimension {vectors.client.d} != manifest {manifest['embedder']['dim']}")
    return IndexData(manifest, nodes, texts, vectors, bm25, gen)


def write(index_dir: Path, manifest: dict, chunks: list[Chunk], vectors: np.ndarray, texts: dict[str, str],
          timings: dict[str, float] | None = None) -> Path:
    """Write a complete new generation, then switch CURRENT to it atomically; old ones are removed.
    `timings` receives seconds spent on faiss, bm25 and persist (JSON, checksums, fsync, switch)."""
    timings = {} if timings is None else timings
    started = time.perf_counter()
    nodes = [to_node(c) for c in chunks]
    index_dir.mkdir(parents=True, exist_ok=True)
    name = f"gen-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    tmp = index_dir / f"{name}.tmp"
    tmp.mkdir()
    try:
        (tmp / "nodes.json").write_text(json.dumps([n.to_dict() for n in nodes], ensure_ascii=False))
        (tmp / "texts.json").write_text(json.dumps(texts, ensure_ascii=False))
        t = time.perf_counter()
        flat = faiss.IndexFlatIP(int(manifest["embedder"]["dim"]))
        if len(vectors):
            flat.add(np.ascontiguousarray(vectors, dtype="float32"))
        FaissVectorStore(faiss_index=flat).persist(str(tmp / "vectors.faiss"))
        timings["faiss"] = time.perf_counter() - t
        t = time.perf_counter()
        build_bm25(nodes).persist(str(tmp / "bm25"), show_progress=False)
        timings["bm25"] = time.perf_counter() - t
        files = list(_ARTEFACTS) + sorted(f"bm25/{p.name}" for p in (tmp / "bm25").iterdir())
        manifest = {**manifest, "format": FORMAT, "versions": library_versions(), "checksums": {rel: _sha256(tmp / rel) for rel in files}}
        (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1))
        _fsync_tree(tmp)
        os.rename(tmp, index_dir / name)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    pointer_tmp = index_dir / f"CURRENT.{uuid.uuid4().hex[:6]}"
    pointer_tmp.write_text(name + "\n")
    _fsync(pointer_tmp)
    os.replace(pointer_tmp, index_dir / "CURRENT")
    _fsync(index_dir)
    remove_stale(index_dir)
    timings["persist"] = time.perf_counter() - started - timings["faiss"] - timings["bm25"]
    return index_dir / name


def remove_stale(index_dir: Path) -> None:
    """Delete every generation but the live one (old ones and .tmp leftovers of crashed ingests)."""
    live = current_generation(index_dir)
    for child in index_dir.iterdir():
        if child.is_dir() and child.name.startswith("gen-") and child != live:
            shutil.rmtree(child, ignore_errors=True)
        elif child.name.startswith("CURRENT."):
            child.unlink(missing_ok=True)


@contextmanager
def locked(index_dir: Path):
    """One writer at a time per index folder (other processes wait)."""
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        handle = open(index_dir / ".lock", "w")
    except OSError as exc:
        raise RagError(
            f"cannot create or write the index folder {str(index_dir)!r} ({exc.strerror or exc}); "
            f"choose another with --index or RAG_INDEX"
        ) from None
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    for path in sorted(root.rglob("*"), reverse=True):
        _fsync(path)
    _fsync(root)
