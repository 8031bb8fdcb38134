"""Every error the library raises on purpose derives from RagError, with a message a user can act on."""


class RagError(Exception):
    """Base class: something the user can fix (bad input, missing files, unreachable backend)."""


class ConfigError(RagError, ValueError):
    """A setting (a RAG_* variable or a keyword of rag.open) has a value that cannot work."""


class CorpusError(RagError):
    """The corpus folder is missing, empty or unreadable."""


class IndexCorrupt(RagError):
    """The persisted index cannot be trusted (truncated, mismatched, missing parts)."""


class BackendError(RagError):
    """An LLM or embedding backend is misconfigured, missing or unreachable."""


class QuestionError(RagError):
    """The question itself cannot be answered as given (empty, too long)."""


class IndexNotWritable(RagError):
    """The index must be written (changed corpus, rebuild) but its folder cannot be (read-only, full)."""
