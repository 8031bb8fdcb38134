"""The Python API: open a corpus, keep its index fresh, search it, ask it.

A Bot composes the parts: a store (RAG_INDEX), an embedder (RAG_EMBEDDER), a retriever over the
store's live index, an LLM (RAG_LLM, loaded on first use) and an Answerer built from them.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import replace
from pathlib import Path
from typing import Iterator

from .answer import Answerer
from .config import Settings
from .embedders import load_embedder
from .errors import CorpusError, IndexCorrupt
from .formats import section_at
from .ingest import IngestReport, Progress, ingest
from .llms import LLM, load_llm
from .prompt import SentenceScorer
from .retrieve import Mode, Retriever
from .stores import Index, open_store
from .support import THRESHOLD, SupportCheck
from .types import Answer, Passage

log = logging.getLogger("rag")


class Bot:
    """A corpus, its persisted index and (lazily) an LLM. Safe to share between threads."""

    def __init__(self, settings: Settings, progress: Progress | None = None, llm: LLM | None = None) -> None:
        self.settings = settings
        self.store = open_store(settings.index)
        self.embedder = load_embedder(settings.embedder)
        self.scorer = SentenceScorer(self.embedder)  # ranks passage sentences for the prompt and citations
        self._lock = threading.RLock()
        self._llm = llm
        self._answerer: Answerer | None = None
        self.last_report: IngestReport | None = None
        self.notice: str | None = None  # e.g. "the index was corrupted and has been rebuilt"
        self._retriever: Retriever | None = None
        self._progress = progress

    # -- index -------------------------------------------------------------------------------
    def ingest(self, progress: Progress | None = None, rebuild_because: str | None = None,
               background: bool = False) -> IngestReport:
        """Bring the index up to date with the corpus folder (incremental) and reload it.
        background: while answers are being served, ingest in a child process at lower priority
        (settings.ingest_priority; rag/background.py) so that they keep their speed."""
        if background and self.settings.ingest_priority == "idle":
            from .background import ingest_in_background

            report = ingest_in_background(self.settings, progress or self._progress, rebuild_because)
        else:
            report = ingest(self.settings, self.embedder, progress or self._progress, self.store, rebuild_because)
        self.last_report = report
        if report.rebuilt_because:
            self.notice = f"The index was rebuilt: {report.rebuilt_because}."
        if report.changed or self._retriever is None:
            self._reload()
        return report

    def _reload(self) -> None:
        index = self.store.load()
        if index is None:
            raise IndexCorrupt(f"no index in {self.store.location}; run `rag ingest`")
        with self._lock:
            self._retriever = Retriever(index, self.embedder)

    def open_index(self, update: bool = True) -> None:
        """Load the index, rebuilding it from the corpus when it is missing or broken."""
        try:
            if update:
                self.ingest()
            else:
                self._reload()
        except IndexCorrupt as exc:
            if not self.settings.corpus.is_dir():
                raise IndexCorrupt(
                    f"{exc}; the corpus {str(self.settings.corpus)!r} is gone too, so it cannot be rebuilt: "
                    f"restore the corpus folder or point RAG_CORPUS at it, then run `rag ingest`"
                ) from None
            # Rebuilt without deleting anything first: the new generation replaces it atomically, and
            # where the index cannot be written (read-only media) the error says so, claiming nothing.
            self.ingest(rebuild_because=str(exc))
            self.notice = f"The index could not be used ({exc}); it was rebuilt from the corpus."
            log.warning(self.notice)

    @property
    def retriever(self) -> Retriever:
        if self._retriever is None:
            self.open_index(update=False)
        return self._retriever

    @property
    def index(self) -> Index:
        """The live generation being searched."""
        return self.retriever.index

    def status(self) -> dict:
        manifest = self.index.manifest
        return {
            "corpus": str(self.settings.corpus),
            "files": manifest["counts"]["files"],
            "chunks": manifest["counts"]["chunks"],
            "indexed_at": manifest["created"],
            "embedder": manifest["embedder"]["id"],
            "llm": self.settings.llm,
        }

    def document_text(self, source: str) -> str:
        """The indexed text of one document (what passage offsets point into)."""
        return self.index.document_text(source)

    def section_of(self, source: str, offset: int) -> str | None:
        """Where in its document an offset lies: "p. 3", "slide 2", "Intro > Marché"; None for a
        document without sections (plain text) or an offset before the first one."""
        entry = self.index.manifest["files"].get(source, {})
        return section_at(entry.get("sections", ()), offset)

    # -- retrieval ---------------------------------------------------------------------------
    def search(self, query: str, k: int | None = None, mode: Mode = "hybrid") -> list[Passage]:
        with self._lock:
            retriever = self.retriever
            return retriever.search(query, self.settings.top_k if k is None else k, mode)

    # -- answers -----------------------------------------------------------------------------
    @property
    def llm(self) -> LLM:
        with self._lock:
            if self._llm is None:
                self._llm = load_llm(self.settings)
            return self._llm

    @property
    def answerer(self) -> Answerer:
        with self._lock:
            if self._answerer is None:
                llm = _LazyLLM(self)
                threshold = THRESHOLD if self.settings.support_threshold is None else self.settings.support_threshold
                check = SupportCheck(llm, threshold) if threshold > 0 else None
                self._answerer = Answerer(self.search, llm, self.scorer, self.settings, check)
            return self._answerer

    def ask(self, question: str, history: list[dict] | None = None, k: int | None = None) -> Answer:
        return self._located(self.answerer.ask(question, history, k))

    def stream(self, question: str, history: list[dict] | None = None, k: int | None = None) -> Iterator:
        """Text pieces while the answer is generated, then the final Answer."""
        pieces = self.answerer.stream(question, history, k)
        return (self._located(p) if isinstance(p, Answer) else p for p in pieces)

    def _located(self, answer: Answer) -> Answer:
        """The answer with each citation's section (page, slide, heading path) filled in."""
        answer.citations = [replace(c, section=self.section_of(c.source, c.start)) for c in answer.citations]
        return answer


class _LazyLLM:
    """The Bot's LLM, loaded on first use: a refused question or an empty search never loads it."""

    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    def __getattr__(self, name: str):
        return getattr(self._bot.llm, name)


def open(
    corpus: str | Path | None = None,
    index: str | Path | None = None,
    *,
    update: bool = True,
    progress: Progress | None = None,
    llm: LLM | None = None,
    **settings,
) -> Bot:
    """Open a corpus: build or update its index (unless update=False) and return a ready Bot.

    Extra keyword arguments override Settings fields (embedder=, llm=, top_k=, chunk_size=, …); `llm`
    may also be an LLM object (a server client you configured, or rag.testing.FakeLLM).
    """
    if llm is not None and not isinstance(llm, str):
        llm_object, settings_llm = llm, None
    else:
        llm_object, settings_llm = None, llm
    base = Settings()
    chosen = base.with_(
        corpus=Path(corpus) if corpus is not None else None,
        index=str(index) if index is not None else None,
        llm=settings_llm,
        **settings,
    )
    if update and not chosen.corpus.exists() and not _has_index(open_store(chosen.index)):
        raise CorpusError(f"corpus folder {str(chosen.corpus)!r} does not exist and there is no index yet")
    bot = Bot(chosen, progress=progress, llm=llm_object)
    bot.open_index(update=update and chosen.corpus.exists())
    return bot


def _has_index(store) -> bool:
    try:
        return store.read_manifest() is not None
    except IndexCorrupt:
        return True  # there is one, broken: open_index says what can be done
