"""Corpus folder -> persisted index, incrementally.

Unchanged files keep their chunks and vectors; changed files are re-chunked, and only chunks whose
text is new are embedded (vectors are cached by embedding input); deleted files disappear. A
configuration change (embedder, chunking) or an unreadable index triggers a full rebuild, said
out loud in the report.
"""
from __future__ import annotations

import hashlib
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .chunk import chunk_document, embed_input, make_splitter
from .config import Settings
from .documents import BadFile, Skipped, file_hash, list_files, read_document
from .embedders import Embedder, load_embedder
from .errors import CorpusError, IndexCorrupt
from .stores import Index, Store, open_store
from .types import Chunk

EMBED_BATCH = 16
Progress = Callable[[int, int], None]  # (done, total) embedding progress


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    chunks: int = 0
    embedded: int = 0
    rebuilt_because: str | None = None
    seconds: float = 0.0
    # seconds per stage: scan, load_old, read, chunk, embed, write, and the store's own write.<step>
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed or self.rebuilt_because)

    def summary(self) -> str:
        lines = [
            f"{len(self.added)} added, {len(self.updated)} updated, {len(self.removed)} removed, "
            f"{len(self.unchanged)} unchanged, {len(self.skipped)} skipped; "
            f"{self.chunks} chunks ({self.embedded} embedded) in {self.seconds:.1f}s"
        ]
        if self.rebuilt_because:
            lines.insert(0, f"rebuilt the index: {self.rebuilt_because}")
        lines += [f"  skipped {s.source}: {s.reason}" for s in self.skipped]
        return "\n".join(lines)


def _key(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def config_of(settings: Settings, embedder: Embedder) -> dict:
    return {
        "embedder": {"id": embedder.id, "dim": embedder.dim},
        "chunking": {"size": settings.chunk_size, "overlap": settings.chunk_overlap, "splitter": "SentenceSplitter"},
    }


@contextmanager
def _timed(report: IngestReport, stage: str):
    started = time.perf_counter()
    try:
        yield
    finally:
        report.timings[stage] = report.timings.get(stage, 0.0) + time.perf_counter() - started


def ingest(settings: Settings, embedder: Embedder | None = None, progress: Progress | None = None,
           store: Store | None = None) -> IngestReport:
    started = time.perf_counter()
    embedder = embedder or load_embedder(settings.embedder)
    store = store or open_store(settings.index)
    config = config_of(settings, embedder)
    report = IngestReport()
    with _timed(report, "scan"):
        files, skipped = list_files(settings.corpus)
    report.skipped = list(skipped)
    with store.locked():
        old_manifest, reason = _compatible_manifest(store, config)
        report.rebuilt_because = reason
        old_files = old_manifest["files"] if old_manifest else {}

        old_skipped = old_manifest.get("skipped", {}) if old_manifest else {}
        max_bytes = int(settings.max_file_mb * 1e6)
        hashes: dict[str, str] = {}
        known_bad: dict[str, dict] = {}  # skipped before and unchanged since: skip again, quietly
        for path in files:
            rel = path.relative_to(settings.corpus).as_posix()
            try:
                size = path.stat().st_size
                # never read a file over the limit, just to hash it
                digest = f"size:{size}" if size > max_bytes else file_hash(path.read_bytes())
            except FileNotFoundError:
                report.skipped.append(Skipped(rel, "vanished while reading"))
                continue
            except PermissionError:
                report.skipped.append(Skipped(rel, "permission denied"))
                continue
            except OSError as exc:
                report.skipped.append(Skipped(rel, f"cannot read ({exc.strerror or exc})"))
                continue
            if old_skipped.get(rel, {}).get("sha256") == digest:
                known_bad[rel] = old_skipped[rel]
                report.skipped.append(Skipped(rel, old_skipped[rel]["reason"]))
                continue
            hashes[rel] = digest
        report.removed = sorted(set(old_files) - set(hashes))
        for rel, digest in hashes.items():
            if rel not in old_files:
                report.added.append(rel)
            elif old_files[rel]["sha256"] != digest:
                report.updated.append(rel)
            else:
                report.unchanged.append(rel)
        if old_manifest and not report.changed and set(known_bad) == set(old_skipped):
            report.chunks = old_manifest["counts"]["chunks"]
            report.seconds = time.perf_counter() - started
            return report

        with _timed(report, "load_old"):
            old = _load_or_none(store, report) if old_manifest else None
            old_by_source: dict[str, list[tuple[Chunk, np.ndarray]]] = {}
            cache: dict[str, np.ndarray] = {}
            if old is not None:
                for chunk, vector in old.stored():
                    old_by_source.setdefault(chunk.source, []).append((chunk, vector))
                    cache[_key(embed_input(chunk))] = vector

        splitter = make_splitter(settings.chunk_size, settings.chunk_overlap)
        chunks: list[Chunk] = []
        vectors: list[np.ndarray | None] = []
        texts: dict[str, str] = {}
        file_entries: dict[str, dict] = {}
        for rel in sorted(hashes):
            if rel in report.unchanged and old is not None and rel in old_by_source:
                chunks += [chunk for chunk, _ in old_by_source[rel]]
                vectors += [vector for _, vector in old_by_source[rel]]
                texts[rel] = old.document_text(rel)
                file_entries[rel] = old_files[rel]
                continue
            try:
                with _timed(report, "read"):
                    doc, digest = read_document(settings.corpus / rel, settings.corpus, int(settings.max_file_mb * 1e6))
            except BadFile as exc:
                report.skipped.append(Skipped(rel, str(exc)))
                known_bad[rel] = {"sha256": hashes[rel], "reason": str(exc)}
                for bucket in (report.added, report.updated, report.unchanged):
                    if rel in bucket:
                        bucket.remove(rel)
                if rel in old_files and rel not in report.removed:
                    report.removed.append(rel)
                continue
            with _timed(report, "chunk"):
                doc_chunks = chunk_document(doc, splitter)
            chunks += doc_chunks
            vectors += [cache.get(_key(embed_input(n))) for n in doc_chunks]
            texts[rel] = doc.text
            file_entries[rel] = {"sha256": digest, "chunks": len(doc_chunks), "title": doc.metadata["title"]}

        if not chunks:
            raise CorpusError(
                f"nothing to index in {str(settings.corpus)!r}: "
                + ("no supported files (.txt, .md, .html, .pdf)" if not report.skipped else "every file was skipped")
                + ("\n" + report.summary() if report.skipped else "")
            )
        # identical chunks (copies of a file, repeated boilerplate) are embedded once
        todo: dict[str, list[int]] = {}
        for i, v in enumerate(vectors):
            if v is None:
                todo.setdefault(_key(embed_input(chunks[i])), []).append(i)
        keys = list(todo)
        for done in range(0, len(keys), EMBED_BATCH):
            batch = keys[done : done + EMBED_BATCH]
            with _timed(report, "embed"):
                embedded = embedder.embed_passages([embed_input(chunks[todo[key][0]]) for key in batch])
            for key, vec in zip(batch, embedded):
                for i in todo[key]:
                    vectors[i] = vec
            if progress:
                progress(min(done + EMBED_BATCH, len(keys)), len(keys))
        report.embedded = len(keys)
        report.chunks = len(chunks)
        manifest = {
            **config,
            "files": file_entries,
            "skipped": known_bad,
            "counts": {"files": len(file_entries), "chunks": len(chunks)},
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        matrix_new = np.vstack(vectors).astype("float32") if vectors else np.zeros((0, embedder.dim), "float32")
        with _timed(report, "write"):
            steps = store.write(manifest, chunks, matrix_new, texts)
        report.timings.update({f"write.{step}": seconds for step, seconds in (steps or {}).items()})
    report.seconds = time.perf_counter() - started
    return report


def _compatible_manifest(store: Store, config: dict) -> tuple[dict | None, str | None]:
    """The live manifest if it can be built upon, else (None, why a rebuild is needed)."""
    try:
        manifest = store.read_manifest()
    except IndexCorrupt as exc:
        return None, str(exc)
    if manifest is None:
        return None, None
    for key in ("embedder", "chunking"):
        if manifest.get(key) != config[key]:
            return None, f"{key} changed ({manifest.get(key)} -> {config[key]})"
    return manifest, None


def _load_or_none(store: Store, report: IngestReport) -> Index | None:
    try:
        return store.load()
    except IndexCorrupt as exc:
        report.rebuilt_because = str(exc)
        report.added = sorted(set(report.added) | set(report.updated) | set(report.unchanged))
        report.updated, report.unchanged = [], []
        return None


def tqdm_progress(desc: str = "embedding") -> Progress:
    """A progress bar on stderr for long ingests (only drawn when something is embedded)."""
    from tqdm import tqdm

    bar = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=desc, unit="chunk", file=sys.stderr, disable=None)
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()

    return update
