"""rag: a private, local, cited question-answering bot over a folder of documents.

    import rag
    bot = rag.open(corpus="corpus", index="index")   # builds or updates the index
    for p in bot.search("Combien Nvidia a-t-elle perdu ?", k=3):
        print(p.source, p.start, p.end, p.score)
    answer = bot.ask("Qui a fondé DeepSeek ?")
"""
from .bot import Bot, open
from .config import Settings
from .errors import BackendError, ConfigError, CorpusError, IndexCorrupt, QuestionError, RagError
from .ingest import IngestReport
from .retrieve import Passage

__all__ = [
    "open", "Bot", "Settings", "Passage", "IngestReport",
    "RagError", "ConfigError", "CorpusError", "IndexCorrupt", "BackendError", "QuestionError",
]
