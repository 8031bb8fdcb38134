"""Corpus folder -> persisted index, incrementally.

Unchanged files keep their chunks and vectors; changed files are re-chunked, and only chunks whose
text is new are embedded (vectors are cached by embedding input, and checkpointed on disk as they
are computed, so that a killed ingest resumes); deleted files disappear. A configuration change
(embedder, chunking) or an unreadable index triggers a full rebuild, said out loud in the report.

One file never stops an ingest: whatever goes wrong reading, parsing or chunking it skips that file
with the reason, or keeps its previous version if one is indexed. Finding that nothing changed
takes no lock and writes nothing, so an index on read-only media can be searched.
"""
from __future__ import annotations

import hashlib
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from llama_index.core import Document
from llama_index.core.node_parser import SentenceSplitter

from .checkpoint import Checkpoint
from .chunk import chunk_document, embed_input, make_splitter
from .config import Settings
from .documents import SUPPORTED, BadFile, Skipped, file_hash, list_files, read_document, unreadable
from .embedders import Embedder, load_embedder
from .errors import CorpusError, IndexCorrupt, IndexNotWritable, RagError
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
    kept: list[Skipped] = field(default_factory=list)  # changed, but unreadable: the indexed version stays
    decoded: dict[str, str] = field(default_factory=dict)  # text files read in a legacy encoding -> which
    chunks: int = 0
    embedded: int = 0
    resumed: int = 0  # vectors found in the checkpoint of an interrupted ingest, not embedded again
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
        if self.resumed:
            lines.append(f"  resumed: {self.resumed} chunks already embedded by an interrupted ingest")
        lines += [f"  kept the indexed version of {k.source}: the file cannot be read now ({k.reason})"
                  for k in self.kept]
        lines += [f"  read {source} as {encoding} (it is not UTF-8)" for source, encoding in self.decoded.items()]
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


@dataclass
class _Survey:
    """The corpus against the live index, found without the lock: what an ingest has to do."""

    report: IngestReport
    manifest: dict | None  # the live manifest, if it can be built upon
    hashes: dict[str, str]  # file -> content hash, for every file to index
    known_bad: dict[str, dict]  # skipped before for their content, unchanged since: skipped quietly

    @property
    def up_to_date(self) -> bool:
        remembered = self.manifest.get("skipped", {}) if self.manifest else {}
        return self.manifest is not None and not self.report.changed and set(self.known_bad) == set(remembered)


def ingest(settings: Settings, embedder: Embedder | None = None, progress: Progress | None = None,
           store: Store | None = None, rebuild_because: str | None = None) -> IngestReport:
    """Bring the index up to date with settings.corpus. rebuild_because: the live index is known to
    be unusable (say why); everything is then chunked and embedded anew."""
    started = time.perf_counter()
    embedder = embedder or load_embedder(settings.embedder)
    store = store or open_store(settings.index)
    config = config_of(settings, embedder)
    survey = _survey(settings, config, store, rebuild_because)
    if not survey.up_to_date:
        with ExitStack() as stack:
            try:
                stack.enter_context(store.locked())
            except RagError as exc:
                raise _not_writable(survey.report, exc) from None
            # another process may have done the work while we waited for the lock
            survey = _survey(settings, config, store, rebuild_because, timings=survey.report.timings)
            if not survey.up_to_date:
                try:
                    _build(settings, embedder, config, store, survey, progress)
                except OSError as exc:
                    raise IndexNotWritable(
                        f"cannot write the index in {store.location!r} ({exc.strerror or exc}); "
                        f"the previous index, if any, is still the live one"
                    ) from None
    report = survey.report
    if not report.chunks and survey.manifest:
        report.chunks = survey.manifest["counts"]["chunks"]
    report.seconds = time.perf_counter() - started
    return report


def _not_writable(report: IngestReport, exc: RagError) -> IndexNotWritable:
    if report.rebuilt_because:
        why = f"the index must be rebuilt ({report.rebuilt_because})"
    else:
        n = len(report.added) + len(report.updated) + len(report.removed)
        why = f"the index must be updated ({n} file{'s' * (n != 1)} added, changed or removed)"
    return IndexNotWritable(f"{why}, but {exc}")


def _survey(settings: Settings, config: dict, store: Store, rebuild_because: str | None,
            timings: dict[str, float] | None = None) -> _Survey:
    report = IngestReport(timings=timings if timings is not None else {})
    with _timed(report, "scan"):
        files, report.skipped = list_files(settings.corpus, settings.follow_outside_links)
        manifest, report.rebuilt_because = (None, rebuild_because) if rebuild_because else \
            _compatible_manifest(store, config)
        old_files = manifest["files"] if manifest else {}
        remembered = manifest.get("skipped", {}) if manifest else {}
        max_bytes = int(settings.max_file_mb * 1e6)
        hashes: dict[str, str] = {}
        known_bad: dict[str, dict] = {}
        for path in files:
            rel = path.relative_to(settings.corpus).as_posix()
            try:
                size = path.stat().st_size
                # never read a file over the limit, just to hash it
                digest = f"size:{size}" if size > max_bytes else file_hash(path.read_bytes())
            except OSError as exc:
                problem = Skipped(rel, str(unreadable(exc)), transient=True)
                gone = isinstance(exc, FileNotFoundError)
                (report.kept if rel in old_files and not gone else report.skipped).append(problem)
                continue
            if remembered.get(rel, {}).get("sha256") == digest:
                known_bad[rel] = remembered[rel]
                report.skipped.append(Skipped(rel, remembered[rel]["reason"]))
                continue
            hashes[rel] = digest
    kept = {k.source for k in report.kept}
    report.removed = sorted(set(old_files) - set(hashes) - kept)
    for rel, digest in hashes.items():
        if rel not in old_files:
            report.added.append(rel)
        elif old_files[rel]["sha256"] != digest:
            report.updated.append(rel)
        else:
            report.unchanged.append(rel)
    return _Survey(report, manifest, hashes, known_bad)


def _build(settings: Settings, embedder: Embedder, config: dict, store: Store, survey: _Survey,
           progress: Progress | None) -> None:
    """Chunk what changed, embed what is new, write and switch to a new generation (under the lock)."""
    report, hashes, known_bad = survey.report, survey.hashes, survey.known_bad
    old_files = survey.manifest["files"] if survey.manifest else {}
    with _timed(report, "load_old"):
        old = _load_or_none(store, report) if survey.manifest else None
        old_by_source: dict[str, list[tuple[Chunk, np.ndarray]]] = {}
        cache: dict[str, np.ndarray] = {}
        if old is not None:
            for chunk, vector in old.stored():
                old_by_source.setdefault(chunk.source, []).append((chunk, vector))
                cache[_key(embed_input(chunk))] = vector

    splitter = make_splitter(settings.chunk_size, settings.chunk_overlap)
    max_bytes = int(settings.max_file_mb * 1e6)
    chunks: list[Chunk] = []
    vectors: list[np.ndarray | None] = []
    texts: dict[str, str] = {}
    file_entries: dict[str, dict] = {}

    def keep_old(rel: str) -> None:
        chunks.extend(chunk for chunk, _ in old_by_source[rel])
        vectors.extend(vector for _, vector in old_by_source[rel])
        texts[rel] = old.document_text(rel)
        file_entries[rel] = old_files[rel]

    kept = {k.source for k in report.kept}
    for rel in sorted(set(hashes) | kept):
        if rel in old_by_source and (rel in report.unchanged or rel in kept):
            keep_old(rel)
            continue
        if rel in kept:  # unreadable now, and its indexed version is lost with the old index
            report.kept = [k for k in report.kept if k.source != rel]
            report.skipped.append(Skipped(rel, "cannot be read now, and the index is being rebuilt", True))
            continue
        try:
            doc, digest, doc_chunks = _read_and_chunk(settings.corpus / rel, settings.corpus, splitter, max_bytes, report)
        except BadFile as exc:
            _forget(report, rel)
            if rel in old_by_source and (settings.corpus / rel).exists():
                report.kept.append(Skipped(rel, str(exc), exc.transient))
                keep_old(rel)
                continue
            report.skipped.append(Skipped(rel, str(exc), exc.transient))
            if not exc.transient:  # the content itself: skipped quietly until the file changes
                known_bad[rel] = {"sha256": hashes[rel], "reason": str(exc)}
            if rel in old_files and rel not in report.removed:
                report.removed.append(rel)
            continue
        if doc.metadata["encoding"] != "utf-8":
            report.decoded[rel] = doc.metadata["encoding"]
        chunks += doc_chunks
        vectors += [None] * len(doc_chunks)
        texts[rel] = doc.text
        file_entries[rel] = {"sha256": digest, "chunks": len(doc_chunks), "title": doc.metadata["title"]}
        if doc.metadata["sections"]:
            file_entries[rel]["sections"] = doc.metadata["sections"]

    if survey.up_to_date:  # the only changed files could not be read: their indexed versions stay
        return
    if not chunks:
        raise CorpusError(
            f"nothing to index in {str(settings.corpus)!r}: "
            + (f"no supported files ({', '.join(sorted(SUPPORTED))})" if not report.skipped else "every file was skipped")
            + ("\n" + report.summary() if report.skipped else "")
        )
    checkpoint = Checkpoint(_checkpoint_folder(store, settings), embedder.id, embedder.dim)
    _embed(chunks, vectors, cache, checkpoint, embedder, report, progress)
    report.chunks = len(chunks)
    manifest = {
        **config,
        "files": file_entries,
        "skipped": known_bad,
        "counts": {"files": len(file_entries), "chunks": len(chunks)},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    with _timed(report, "write"):
        steps = store.write(manifest, chunks, np.vstack(vectors).astype("float32"), texts)
    report.timings.update({f"write.{step}": seconds for step, seconds in (steps or {}).items()})
    checkpoint.discard()  # its vectors are in the live generation now


def _checkpoint_folder(store: Store, settings: Settings) -> Path:
    """The index folder (the files store's location); for a database URL, a local folder of its own
    under RAG_MODEL_DIR (its name is a digest of the URL, which is never written out)."""
    if "://" not in store.location:
        return Path(store.location)
    folder = settings.model_dir / "checkpoints" / hashlib.sha256(store.location.encode()).hexdigest()[:16]
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _read_and_chunk(path: Path, corpus: Path, splitter: SentenceSplitter, max_bytes: int,
                    report: IngestReport) -> tuple[Document, str, list[Chunk]]:
    """One file's document, content hash and chunks; BadFile for anything that goes wrong with it."""
    try:
        with _timed(report, "read"):
            doc, digest = read_document(path, corpus, max_bytes)
        with _timed(report, "chunk"):
            return doc, digest, chunk_document(doc, splitter)
    except BadFile:
        raise
    except MemoryError:
        raise BadFile("out of memory while reading or chunking it", transient=True) from None
    except Exception as exc:  # noqa: BLE001 - a parser or tokenizer failure must cost this file only
        detail = str(exc)
        detail = detail if len(detail) <= 200 else detail[:200] + "…"
        raise BadFile(f"failed while reading or chunking it ({type(exc).__name__}: {detail})") from None


def _forget(report: IngestReport, rel: str) -> None:
    for bucket in (report.added, report.updated, report.unchanged):
        if rel in bucket:
            bucket.remove(rel)


def _embed(chunks: list[Chunk], vectors: list[np.ndarray | None], cache: dict[str, np.ndarray],
           checkpoint: Checkpoint, embedder: Embedder, report: IngestReport, progress: Progress | None) -> None:
    """Fill in the missing vectors: from the old index, from an interrupted ingest's checkpoint, else
    by embedding (identical chunks once), each batch checkpointed before the next one starts."""
    saved = checkpoint.load()
    todo: dict[str, list[int]] = {}
    resumed: set[str] = set()
    for i, vector in enumerate(vectors):
        if vector is None:
            key = _key(embed_input(chunks[i]))
            if key in cache:
                vectors[i] = cache[key]
            elif key in saved:
                vectors[i] = saved[key]
                resumed.add(key)
            else:
                todo.setdefault(key, []).append(i)
    report.resumed = len(resumed)
    keys = list(todo)
    if progress and keys:
        progress(0, len(keys))
    for done in range(0, len(keys), EMBED_BATCH):
        batch = keys[done : done + EMBED_BATCH]
        with _timed(report, "embed"):
            embedded = embedder.embed_passages([embed_input(chunks[todo[key][0]]) for key in batch])
        checkpoint.append(batch, embedded)
        for key, vec in zip(batch, embedded):
            for i in todo[key]:
                vectors[i] = vec
        if progress:
            progress(min(done + EMBED_BATCH, len(keys)), len(keys))
    report.embedded = len(keys)


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
