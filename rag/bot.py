"""The Python API: open a corpus, keep its index fresh, search it, ask it."""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Iterator

from .stores import files as store
from .config import Settings
from .embed import load_embedder
from .errors import CorpusError, IndexCorrupt
from .ingest import IngestReport, Progress, ingest
from .prompt import SentenceScorer
from .retrieve import Mode, Passage, Retriever

log = logging.getLogger("rag")


class Bot:
    """A corpus, its persisted index and (lazily) an LLM. Safe to share between threads."""

    def __init__(self, settings: Settings, progress: Progress | None = None) -> None:
        self.settings = settings
        self.embedder = load_embedder(settings.embedder)
        self.scorer = SentenceScorer(self.embedder)  # ranks passage sentences for the prompt and citations
        self._lock = threading.RLock()
        self._llm = None
        self.last_report: IngestReport | None = None
        self.notice: str | None = None  # e.g. "the index was corrupted and has been rebuilt"
        self._retriever: Retriever | None = None
        self._progress = progress

    # -- index -------------------------------------------------------------------------------
    def ingest(self, progress: Progress | None = None) -> IngestReport:
        """Bring the index up to date with the corpus folder (incremental) and reload it."""
        report = ingest(self.settings, self.embedder, progress or self._progress)
        self.last_report = report
        if report.rebuilt_because:
            self.notice = f"The index was rebuilt: {report.rebuilt_because}."
        if report.changed or self._retriever is None:
            self._reload()
        return report

    def _reload(self) -> None:
        data = store.load(self.settings.index)
        if data is None:
            raise IndexCorrupt(f"no index in {self.settings.index}; run `rag ingest`")
        with self._lock:
            self._retriever = Retriever(data, self.embedder)

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
            self.notice = f"The index could not be used ({exc}); it was rebuilt from the corpus."
            log.warning(self.notice)
            store.discard(self.settings.index)
            self.ingest()

    @property
    def retriever(self) -> Retriever:
        if self._retriever is None:
            self.open_index(update=False)
        return self._retriever

    def status(self) -> dict:
        data = self.retriever.data
        return {
            "corpus": str(self.settings.corpus),
            "files": data.manifest["counts"]["files"],
            "chunks": data.manifest["counts"]["chunks"],
            "indexed_at": data.manifest["created"],
            "embedder": data.manifest["embedder"]["id"],
            "llm": self.settings.llm,
        }

    def document_text(self, source: str) -> str:
        """The indexed text of one document (what passage offsets point into)."""
        return self.retriever.data.texts[source]

    # -- retrieval ---------------------------------------------------------------------------
    def search(self, query: str, k: int | None = None, mode: Mode = "hybrid") -> list[Passage]:
        with self._lock:
            retriever = self.retriever
            return retriever.search(query, self.settings.top_k if k is None else k, mode)

    # -- answers -----------------------------------------------------------------------------
    @property
    def llm(self):
        with self._lock:
            if self._llm is None:
                from .llm import load_llm

                self._llm = load_llm(self.settings)
            return self._llm

    def ask(self, question: str, history: list[dict] | None = None, k: int | None = None):
        from .answer import answer

        return answer(self, question, history, k)

    def stream(self, question: str, history: list[dict] | None = None, k: int | None = None) -> Iterator:
        from .answer import stream

        return stream(self, question, history, k)


def open(
    corpus: str | Path | None = None,
    index: str | Path | None = None,
    *,
    update: bool = True,
    progress: Progress | None = None,
    **settings,
) -> Bot:
    """Open a corpus: build or update its index (unless update=False) and return a ready Bot.

    Extra keyword arguments override Settings fields (embedder=, llm=, top_k=, chunk_size=, …).
    """
    base = Settings()
    chosen = base.with_(
        corpus=Path(corpus) if corpus is not None else None,
        index=Path(index) if index is not None else None,
        **settings,
    )
    if update and not chosen.corpus.exists() and store.current_generation(chosen.index) is None:
        raise CorpusError(f"corpus folder {str(chosen.corpus)!r} does not exist and there is no index yet")
    bot = Bot(chosen, progress=progress)
    bot.open_index(update=update and chosen.corpus.exists())
    return bot
