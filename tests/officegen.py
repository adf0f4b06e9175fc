"""Real Office, OpenDocument, e-book and RTF files for tests, written by the libraries people make them with.

Each file states facts no other file states, so a question about it has one right source.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path


def make_docx(path: Path, *, title: str = "Harbour Gauge Handbook", crew: str = "Alesund") -> Path:
    """A Word file: Title, Heading 1 and 2, body text with code-like words, a bullet list and a table."""
    import docx

    d = docx.Document()
    d.core_properties.title = title
    d.add_heading(title, 0)
    d.add_heading("Installation", 1)
    p = d.add_paragraph("Mount each gauge on the ")
    p.add_run("north pier").bold = True
    p.add_run(" and run ")
    p.add_run("gaugectl --help").font.name = "Courier New"
    p.add_run(" to list its options [see Appendix A]. The file __init__.py and the pattern **/*.md are not special.")
    d.add_heading("Power", 2)
    d.add_paragraph(f"Batteries in each harbour gauge are replaced every 18 months by a crew from {crew}.")
    d.add_paragraph("Check the seal.", style="List Bullet")
    d.add_paragraph("Record the voltage.", style="List Bullet")
    table = d.add_table(rows=3, cols=3)
    for i, row in enumerate(
        [["Station", "Gauges", "Battery life"], ["Alesund", "312", "18 months"], ["Bergen", "97", "24 months"]]
    ):
        for j, value in enumerate(row):
            table.cell(i, j).text = value
    d.add_heading("Maintenance", 1)
    d.add_paragraph("A gauge that stays silent for ten minutes raises an alarm in the harbour office.")
    d.save(path)
    return path


def make_pptx(path: Path, *, slides: int = 4) -> Path:
    """A deck: a title slide, a bulleted slide with speaker notes, a table slide, an untitled text box; then more
    numbered slides up to `slides`."""
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    s = deck.slides.add_slide(deck.slide_layouts[0])
    s.shapes.title.text = "Tide Gauge Network Review"
    s.placeholders[1].text = "Status report for the spring meeting"
    s = deck.slides.add_slide(deck.slide_layouts[1])
    s.shapes.title.text = "Coverage"
    body = s.placeholders[1].text_frame
    body.text = "The network covers 312 stations along the fjord."
    body.add_paragraph().text = "Readings arrive every 6 minutes."
    s.notes_slide.notes_text_frame.text = "Mention the two stations added in March."
    s = deck.slides.add_slide(deck.slide_layouts[5])
    s.shapes.title.text = "Battery schedule"
    table = s.shapes.add_table(3, 2, Inches(1), Inches(2), Inches(6), Inches(2)).table
    for i, row in enumerate([["Station", "Battery life"], ["Alesund", "18 months"], ["Bergen", "24 months"]]):
        for j, value in enumerate(row):
            table.cell(i, j).text = value
    s = deck.slides.add_slide(deck.slide_layouts[6])
    box = s.shapes.add_textbox(Inches(1), Inches(1), Inches(6), Inches(1))
    box.text_frame.text = "Questions about the review go to the harbour office in Bergen."
    for n in range(5, slides + 1):
        s = deck.slides.add_slide(deck.slide_layouts[1])
        s.shapes.title.text = f"Station {n}"
        s.placeholders[1].text_frame.text = f"Station {n} reported {n * 7} readings with no gaps."
    deck.save(path)
    return path


def make_xlsx(path: Path) -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Stations"
    for row in [
        ["Station", "Gauges", "Battery life (months)"],
        ["Alesund", 312, 18],
        ["Bergen", 97, 24],
        ["Tromsø", 45, 12],
    ]:
        sheet.append(row)
    crews = book.create_sheet("Crews")
    for row in [["Crew", "Base", "Boat"], ["North", "Hammerfest", "MS Kvitøy"], ["West", "Florø", "MS Svanen"]]:
        crews.append(row)
    book.save(path)
    return path


def make_odt(path: Path) -> Path:
    """An OpenDocument text written by odfdo: headings with outline levels, paragraphs, a list."""
    from odfdo import Document, Header, List, Paragraph

    doc = Document("text")
    doc.meta.set_title("Field Guide")
    body = doc.body
    body.append(Header(1, "Calibration"))
    body.append(Paragraph("Each gauge is calibrated against a reference pole every spring by the Narvik field team."))
    body.append(Header(2, "Tools"))
    body.append(List(["A levelling staff.", "A tide table for the current year."]))
    body.append(Header(1, "Safety"))
    body.append(Paragraph("Nobody climbs a pier ladder alone after dark."))
    doc.save(path)
    return path


def make_epub(path: Path) -> Path:
    """An EPUB 3 written by ebooklib: two chapters, a table of contents and a navigation document."""
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("storm-log-1")
    book.set_title("Storm Log")
    book.set_language("en")
    chapters = []
    for n, (name, body) in enumerate(
        [
            (
                "The Winter Storm",
                "<p>The storm of January 2022 pushed the water 2.4 metres above the mean tide at "
                "Bergen.</p><p>Three gauges on the outer quay were lost.</p>",
            ),
            ("Repairs", "<p>The lost gauges were replaced within 11 days by the Bergen harbour crew.</p>"),
        ],
        1,
    ):
        ch = epub.EpubHtml(title=name, file_name=f"chap_{n}.xhtml", lang="en")
        ch.content = f"<h1>{name}</h1>{body}"
        book.add_item(ch)
        chapters.append(ch)
    book.toc = chapters
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", *chapters]
    epub.write_epub(str(path), book)
    return path


# Written the way Word writes RTF: font and style tables, \pard paragraphs with style numbers, a \listtext
# bullet, a table of \cell and \row, a non-ASCII letter as \'f8, and the title in \info.
RTF = r"""{\rtf1\ansi\ansicpg1252\deff0
{\fonttbl{\f0\froman\fcharset0 Times New Roman;}{\f1\fswiss\fcharset0 Arial;}{\f2\fnil\fcharset2 Symbol;}}
{\stylesheet{\s0 Normal;}{\s1\outlinelevel0\b\fs32 heading 1;}{\s2\outlinelevel1\b\fs28 heading 2;}}
{\info{\title Procurement Notes}{\author Harbour Institute}}
\pard\s1\outlinelevel0\b\fs32 Procurement Notes\par
\pard\s0\b0\fs24 Replacement sensors are bought from Nordic Instruments at 480 euros each.\par
\pard\s0 Orders go out every March and arrive in Troms\'f8 by May.\par
\pard\s2\outlinelevel1\b\fs28 Suppliers\par
\pard\s0\b0\fs24{\listtext\f2 \'b7\tab}Nordic Instruments, sensors.\par
{\listtext\f2 \'b7\tab}Fjord Batteries, lithium packs.\par
\trowd\cellx3000\cellx6000
\pard\intbl Item\cell Price\cell\row
\trowd\cellx3000\cellx6000
\pard\intbl Sensor\cell 480 euros\cell\row
\pard\s0 Prices are reviewed each autumn.\par
}"""


def make_rtf(path: Path) -> Path:
    path.write_text(RTF, encoding="ascii")
    return path


def make_csv(path: Path) -> Path:
    path.write_text("Crew,Base,Boat\nNorth,Hammerfest,MS Kvitøy\nWest,Florø,MS Svanen\n", encoding="utf-8")
    return path


def make_zip_bomb(path: Path, *, unpacked_mb: int = 250) -> Path:
    """A .docx-shaped zip whose document.xml unpacks to `unpacked_mb` MB of zeros from a few hundred KB."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        with z.open("word/document.xml", "w", force_zip64=True) as f:
            block = b"\0" * 1_000_000
            for _ in range(unpacked_mb):
                f.write(block)
    return path


def make_encrypted_docx(path: Path, password: str = "secret") -> Path:
    """A Word file saved with a password: Office wraps the encrypted zip in a Compound File (msoffcrypto-tool)."""
    from msoffcrypto.format.ooxml import OOXMLFile

    plain = io.BytesIO()
    make_docx(path.with_suffix(".tmp.docx"))
    plain.write(path.with_suffix(".tmp.docx").read_bytes())
    path.with_suffix(".tmp.docx").unlink()
    plain.seek(0)
    with path.open("wb") as out:
        OOXMLFile(plain).encrypt(password, out)
    return path


def make_drm_epub(path: Path) -> Path:
    """An EPUB whose chapters are listed as encrypted in META-INF/encryption.xml, as DRM-locked books are."""
    src = make_epub(path.with_suffix(".tmp.epub"))
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(path, "w") as zout:
        for item in zin.infolist():
            zout.writestr(item, zin.read(item.filename))
        zout.writestr(
            "META-INF/encryption.xml",
            '<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" '
            'xmlns:enc="http://www.w3.org/2001/04/xmlenc#"><enc:EncryptedData>'
            '<enc:CipherData><enc:CipherReference URI="EPUB/chap_1.xhtml"/></enc:CipherData>'
            "</enc:EncryptedData></encryption>",
        )
    src.unlink()
    return path
