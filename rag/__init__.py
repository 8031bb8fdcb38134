"""rag: a private, local, cited question-answering bot over a folder of documents.

    import rag
    bot = rag.open(corpus="corpus", index="index")   # builds or updates the index
    for p in bot.search("Combien Nvidia a-t-elle perdu ?", k=3):
        print(p.source, p.start, p.end, p.score)
    answer = bot.ask("Qui a fondé DeepSeek ?")       # -> rag.Answer

The result types (Answer, Sentence, Citation, Disagreement, Figure, Passage, Excerpt, Chunk) are plain
dataclasses; the backend interfaces (Store, Index, LLM, Embedder) are Protocols with one registry each
(STORES, LLMS, EMBEDDERS). Every error raised on purpose is a RagError.
"""
from .config import apply_environment

apply_environment()  # offline hygiene before any library underneath loads

from .bot import Bot, open  # noqa: E402
from .config import Settings  # noqa: E402
from .documents import Skipped  # noqa: E402
from .embedders import EMBEDDERS, Embedder  # noqa: E402
from .errors import (  # noqa: E402
    BackendError, ConfigError, CorpusError, IndexCorrupt, IndexNotWritable, QuestionError, RagError,
)
from .ingest import IngestReport  # noqa: E402
from .llms import LLMS, LLM  # noqa: E402
from .stores import STORES, Index, Store  # noqa: E402
from .types import Answer, Chunk, Citation, Disagreement, Excerpt, Figure, Passage, Sentence, Span  # noqa: E402

__all__ = [
    "open", "Bot", "Settings",
    "Answer", "Sentence", "Citation", "Disagreement", "Figure", "Passage", "Excerpt", "Chunk", "Span",
    "IngestReport", "Skipped",
    "Store", "Index", "LLM", "Embedder", "STORES", "LLMS", "EMBEDDERS",
    "RagError", "ConfigError", "CorpusError", "IndexCorrupt", "IndexNotWritable", "BackendError", "QuestionError",
]
