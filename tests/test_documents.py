"""Every supported format, made in the test by the library that writes it: indexed, searchable, each
chunk an exact slice of the indexed text, and citations can say which page, slide or heading."""
import io
import zipfile
from email.message import EmailMessage

import pytest

import rag
from rag.documents import SUPPORTED
from rag.formats import READERS

from conftest import INDEX_SETTINGS

FILLER = "Ce paragraphe sert de remplissage pour que le document fasse plusieurs morceaux. " * 6


def make_docx(path):
    from docx import Document

    doc = Document()
    doc.core_properties.title = "Note sur le marché"
    doc.add_heading("Introduction", level=1)
    doc.add_paragraph("Le wombat astronomique observe les étoiles chaque nuit. " + FILLER)
    doc.add_heading("Marché", level=1)
    doc.add_heading("Prix", level=2)
    doc.add_paragraph("Le prix du carburateur violet a doublé en mars. " + FILLER)
    table = doc.add_table(rows=2, cols=2)
    for row, cells in zip(table.rows, (("Produit", "Prix"), ("tabouret", "12 euros"))):
        for cell, value in zip(row.cells, cells):
            cell.text = value
    doc.save(path)


def make_pptx(path):
    from pptx import Presentation

    deck = Presentation()
    for title, body in (("Ouverture", "Bienvenue à tous. " + FILLER),
                        ("Résultats", "Le pingouin comptable a bouclé le bilan trimestriel. " + FILLER)):
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
    deck.save(path)


def make_odt(path):
    from odf.opendocument import OpenDocumentText
    from odf.text import H, P

    doc = OpenDocumentText()
    doc.text.addElement(H(outlinelevel=1, text="Contexte"))
    doc.text.addElement(P(text="Le hérisson diplomate négocie un traité de paix. " + FILLER))
    doc.text.addElement(H(outlinelevel=2, text="Détails"))
    doc.text.addElement(P(text="La girafe archiviste range les dossiers par couleur. " + FILLER))
    doc.save(str(path))


def make_epub(path):
    chapters = {"c1.xhtml": ("Premier chapitre", "Le lama cartographe dessine la vallée. " + FILLER),
                "c2.xhtml": ("Second chapitre", "La loutre horlogère répare le beffroi. " + FILLER)}
    with zipfile.ZipFile(path, "w") as book:
        book.writestr("mimetype", "application/epub+zip")
        book.writestr("META-INF/container.xml", '<?xml version="1.0"?><container version="1.0" '
                      'xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles><rootfile '
                      'full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles></container>')
        items = "".join(f'<item id="{n}" href="{n}" media-type="application/xhtml+xml"/>' for n in chapters)
        spine = "".join(f'<itemref idref="{n}"/>' for n in chapters)
        book.writestr("OEBPS/content.opf", '<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" '
                      'version="3.0"><metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Contes de la '
                      f'vallée</dc:title></metadata><manifest>{items}</manifest><spine>{spine}</spine></package>')
        for name, (heading, body) in chapters.items():
            book.writestr(f"OEBPS/{name}", f'<html xmlns="http://www.w3.org/1999/xhtml"><body><h1>{heading}</h1>'
                          f"<p>{body}</p></body></html>")


def make_eml(path):
    message = EmailMessage()
    message["From"] = "alice@example.org"
    message["To"] = "bob@example.org"
    message["Subject"] = "Commande de trombones"
    message.set_content("Bonjour Bob, le koala logisticien livrera les trombones jeudi. " + FILLER)
    message.add_attachment(b"\x00binaire", maintype="application", subtype="octet-stream", filename="x.bin")
    path.write_bytes(bytes(message))


def make_csv(path):
    path.write_text("ville;animal;population\nLyon;ornithorynque;12\nNantes;salamandre;7\n", encoding="utf-8")


def make_pdf(path):
    """Three pages, one sentence each (fpdf2 writes real text, which pypdf reads back)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title("Rapport trimestriel")
    pdf.set_font("helvetica", size=12)
    for sentence in ("Page un : le budget.", "Page deux : le castor ingenieur construit un barrage de 40 metres.",
                     "Page trois : la conclusion."):
        pdf.add_page()
        pdf.multi_cell(0, 8, sentence + " " + FILLER.replace("é", "e").replace("à", "a"))
    pdf.output(str(path))


# name -> (maker, a query only that file answers, the section the matching chunk lies in)
FILES = {
    "note.docx": (make_docx, "carburateur violet", "Marché > Prix"),
    "deck.pptx": (make_pptx, "pingouin comptable", "slide 2"),
    "traite.odt": (make_odt, "girafe archiviste", "Contexte > Détails"),
    "contes.epub": (make_epub, "loutre horlogère", "Second chapitre"),
    "commande.eml": (make_eml, "koala logisticien", None),
    "villes.csv": (make_csv, "salamandre", None),
    "rapport.pdf": (make_pdf, "castor ingenieur barrage", "p. 2"),
}


@pytest.fixture(scope="module")
def bot(tmp_path_factory, embedder):
    folder = tmp_path_factory.mktemp("formats")
    corpus = folder / "corpus"
    corpus.mkdir()
    for name, (make, _, _) in FILES.items():
        make(corpus / name)
    return rag.open(corpus, folder / "index", **INDEX_SETTINGS)


def test_every_reader_is_a_supported_suffix():
    assert SUPPORTED == set(READERS) >= {".docx", ".pptx", ".odt", ".epub", ".eml", ".csv"}


def test_each_format_is_indexed_and_every_chunk_is_an_exact_slice(bot):
    assert sorted(bot.last_report.added) == sorted(FILES) and bot.last_report.skipped == []
    for chunk, _ in bot.index.stored():
        assert bot.document_text(chunk.source)[chunk.start:chunk.end] == chunk.text


@pytest.mark.parametrize("name", FILES)
def test_each_format_is_searchable_and_cites_its_section(bot, name):
    _, query, section = FILES[name]
    hit = bot.search(query, k=1, mode="bm25")[0]
    assert hit.source == name
    assert bot.document_text(name)[hit.start:hit.end] == hit.text
    where = hit.start + hit.text.lower().index(query.split()[0].lower())
    assert bot.section_of(name, where) == section


def test_what_each_reader_extracts(bot):
    assert bot.document_text("villes.csv") == ("ville: Lyon; animal: ornithorynque; population: 12\n"
                                               "ville: Nantes; animal: salamandre; population: 7")
    mail = bot.document_text("commande.eml")
    assert mail.startswith("From: alice@example.org\nTo: bob@example.org\nSubject: Commande de trombones\n\n")
    assert "binaire" not in mail  # attachments are not read
    assert "Produit | Prix\ntabouret | 12 euros" in bot.document_text("note.docx")
    titles = {c.source: c.title for c, _ in bot.index.stored()}
    assert titles["note.docx"] == "Note sur le marché" and titles["contes.epub"] == "Contes de la vallée"
    assert titles["commande.eml"] == "Commande de trombones" and titles["rapport.pdf"] == "Rapport trimestriel"
    pdf = bot.document_text("rapport.pdf")
    assert [bot.section_of("rapport.pdf", pdf.index(p)) for p in ("Page un", "Page deux", "Page trois")] == \
        ["p. 1", "p. 2", "p. 3"]
    assert bot.section_of("villes.csv", 0) is None


@pytest.mark.parametrize("suffix", [".docx", ".pptx", ".odt", ".epub"])
def test_a_damaged_package_is_skipped_with_its_reason(tmp_path, suffix):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / f"abime{suffix}").write_bytes(b"PK\x03\x04 pas vraiment un zip")
    (corpus / "ok.txt").write_text("Un texte lisible.\n", encoding="utf-8")
    bot = rag.open(corpus, tmp_path / "index", **INDEX_SETTINGS)
    [skipped] = bot.last_report.skipped
    assert skipped.source == f"abime{suffix}" and skipped.reason.startswith("unreadable") and not skipped.transient


def test_markdown_and_html_headings_are_sections():
    text = "# Titre\nIntro.\n## Marché\nLe marché.\n# Fin\nFin.\n"
    md = READERS[".md"](text.encode())
    assert md.text == text and md.title == "Titre"
    assert md.sections == ((0, "Titre"), (text.index("## Marché"), "Titre > Marché"), (text.index("# Fin"), "Fin"))
    page = READERS[".html"]("<html><body><h1>Titre</h1><p>Intro.</p><h2>Marché</h2><p>Le marché.</p></body></html>".encode())
    assert page.text == "Titre\nIntro.\nMarché\nLe marché."
    assert page.sections == ((0, "Titre"), (page.text.index("Marché"), "Titre > Marché"))


def test_a_cited_answer_says_which_page_in_rag_ask_and_the_sources_panel(bot):
    from rag.render import terminal
    from rag.testing import FakeLLM
    from ui.render import sources_panel

    reply = FakeLLM(["Le castor ingenieur construit un barrage de 40 metres [1]."], probabilities={"OUI": 1.0})
    asker = rag.open(bot.settings.corpus, bot.settings.index, update=False, llm=reply, **INDEX_SETTINGS)
    answer = asker.ask("Quelle est la hauteur du barrage du castor ingenieur ?")
    [citation] = answer.citations
    assert (citation.source, citation.section) == ("rapport.pdf", "p. 2") and "40 metres" in citation.text
    out = io.StringIO()
    terminal(answer, out)
    assert f"[1] rapport.pdf, p. 2:{citation.start}-{citation.end}" in out.getvalue()
    assert '<span class="src-section">p. 2</span>' in sources_panel(answer, 1, asker.document_text)
