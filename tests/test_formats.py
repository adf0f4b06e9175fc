"""Office, OpenDocument, e-book, RTF and spreadsheet files, and HTML that reads as the page does.

Every file here is made by the library people make such files with (tests/officegen.py); the questions go through
the real pipeline, and each answer's cited source, section and quote are checked.
"""

from __future__ import annotations

import logging
import re
import zipfile
from pathlib import Path

import pytest
from htmlcheck import MANUALS, check_pages, sample_pages
from officegen import (
    make_csv,
    make_docx,
    make_drm_epub,
    make_encrypted_docx,
    make_epub,
    make_odt,
    make_pptx,
    make_rtf,
    make_xlsx,
    make_zip_bomb,
)
from pdfgen import make_pdf

from qa.chunk import chunk_document
from qa.load import load_folder

QUESTIONS = [
    # (question, words the answer's first quote holds, cited source, cited section)
    (
        "How often are the batteries in a harbour gauge replaced?",
        "every 18 months",
        "harbour-handbook.docx",
        "Harbour Gauge Handbook > Installation > Power",
    ),
    (
        "How many stations does the network cover?",
        "312 stations",
        "network-review.pptx",
        "Tide Gauge Network Review > Coverage (slide 2)",
    ),
    (
        "Who calibrates the gauges against a reference pole?",
        "Narvik field team",
        "field-guide.odt",
        "Field Guide > Calibration",
    ),
    (
        "How high did the water rise in the storm of January 2022?",
        "2.4 metres",
        "storm-log.epub",
        "Storm Log > The Winter Storm",
    ),
    ("How much does a replacement sensor cost?", "480 euros", "procurement.rtf", "Procurement Notes"),
    ("Which boat does the North crew use?", "MS Kvitøy", "crews.csv", "Crews"),
    ("How many gauges does the Tromsø station have?", "Station: Tromsø | Gauges: 45", "stations.xlsx", "Stations"),
]


@pytest.fixture(scope="module")
def office_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("office")
    make_docx(d / "harbour-handbook.docx")
    make_pptx(d / "network-review.pptx")
    make_odt(d / "field-guide.odt")
    make_epub(d / "storm-log.epub")
    make_rtf(d / "procurement.rtf")
    make_csv(d / "crews.csv")
    make_xlsx(d / "stations.xlsx")
    return d


@pytest.fixture(scope="module")
def office_index(office_dir, tmp_path_factory):
    from qa import build_index

    return build_index(office_dir, index_dir=tmp_path_factory.mktemp("office_index") / "index")


@pytest.mark.slow
@pytest.mark.parametrize(("question", "expected", "source", "section"), QUESTIONS)
def test_a_question_about_each_format_cites_its_file_section_and_quote(
    office_index, office_dir, question, expected, source, section
):
    from qa import answer

    a = answer(question, index=office_index)
    assert not a.abstained, a
    first = a.citations[0]
    assert (first.source, first.section) == (source, section)
    assert expected in first.quote
    docs = {d.source: d for d in load_folder(office_dir)}
    assert docs[source].text[first.start : first.end] == first.quote  # "view document" shows the same text


def test_headings_slides_and_tables_are_kept_without_inline_markup(office_dir):
    docs = {d.source: d for d in load_folder(office_dir)}
    word = docs["harbour-handbook.docx"]
    assert word.title == "Harbour Gauge Handbook"
    # bold, a code font and Markdown-looking text come out as written: no ** or backticks, no escapes
    assert (
        "Mount each gauge on the north pier and run gaugectl --help to list its options [see Appendix A]. "
        "The file __init__.py and the pattern **/*.md are not special." in word.text
    )
    assert "| Bergen | 97 | 24 months |" in word.text
    assert {c.section for c in chunk_document(word)} == {
        "Harbour Gauge Handbook > Installation",
        "Harbour Gauge Handbook > Installation > Power",
        "Harbour Gauge Handbook > Maintenance",
    }
    deck = docs["network-review.pptx"]
    assert len(deck.pages) == 4
    sections = [c.section for c in chunk_document(deck)]
    assert "Tide Gauge Network Review > Coverage > Notes (slide 2)" in sections  # speaker notes are kept
    assert "Tide Gauge Network Review > Slide 4 (slide 4)" in sections  # a slide without a title is numbered
    assert [c.section for c in chunk_document(docs["storm-log.epub"])] == [
        "Storm Log > The Winter Storm",
        "Storm Log > Repairs",
    ]
    sheets = docs["stations.xlsx"].text
    assert "| Crew | Base | Boat |\n| Crew: North | Base: Hammerfest | Boat: MS Kvitøy |" in sheets  # every sheet


def test_a_500_slide_deck_loads_with_every_slide_numbered(tmp_path):
    make_pptx(tmp_path / "big.pptx", slides=500)
    (deck,) = load_folder(tmp_path)
    assert len(deck.pages) == 500
    last = chunk_document(deck)[-1]
    assert last.section == "Tide Gauge Network Review > Station 500 (slide 500)"
    assert last.text == "Station 500 reported 3500 readings with no gaps."


def test_protected_corrupt_empty_and_lying_files_get_one_warning_each(tmp_path, caplog):
    (tmp_path / "good.md").write_text("# Good\n\nThis file is fine.\n")
    (tmp_path / "scan.docx").write_bytes(make_pdf([["A PDF saved under a .docx name is still read."]]))
    (tmp_path / "notes.docx").write_text("Plain text with a .docx name.")
    make_encrypted_docx(tmp_path / "locked.docx")
    make_zip_bomb(tmp_path / "bomb.docx", unpacked_mb=250)
    make_drm_epub(tmp_path / "locked.epub")
    deck = make_pptx(tmp_path / "whole.pptx").read_bytes()
    (tmp_path / "whole.pptx").unlink()
    (tmp_path / "cut.pptx").write_bytes(deck[: len(deck) // 2])  # a download that stopped half way
    (tmp_path / "empty.odt").write_bytes(b"")
    (tmp_path / "old.doc").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500))
    with caplog.at_level(logging.WARNING, logger="qa"):
        docs = {d.source: d for d in load_folder(tmp_path)}
    assert set(docs) == {"good.md", "scan.docx"}
    assert docs["scan.docx"].format == "pdf"
    messages = [r.getMessage() for r in caplog.records]
    expected = {
        "scan.docx": "the content is a .pdf file, not .docx; read as PDF",
        "notes.docx": "not a real .docx file (it holds plain text)",
        "locked.docx": "password-protected .docx file",
        "bomb.docx": "expands to 250 MB, over the 200 MB limit",
        "locked.epub": "DRM-protected .epub file",
        "cut.pptx": "damaged or not a real .pptx file",
        "empty.odt": "empty file",
        "old.doc": "legacy binary Office file (save it as .docx)",
    }
    for name, says in expected.items():
        mine = [m for m in messages if name in m]
        assert len(mine) == 1 and says in mine[0], (name, mine)
    assert all("\n" not in m for m in messages)


def test_the_unpack_cap_follows_qa_max_file_mb(tmp_path, caplog):
    make_zip_bomb(tmp_path / "big.docx", unpacked_mb=30)
    with caplog.at_level(logging.WARNING, logger="qa"):
        assert list(load_folder(tmp_path, max_file_mb=5)) == []
    assert "expands to 30 MB, over the 20 MB limit" in caplog.text


def test_an_epub_zip_is_not_mistaken_for_a_docx(tmp_path):
    """A zip is told apart by its parts: an e-book renamed .docx is read as the e-book it is."""
    make_epub(tmp_path / "book.docx")
    (doc,) = load_folder(tmp_path)
    assert doc.format == "epub" and "2.4 metres" in doc.text
    with zipfile.ZipFile(tmp_path / "book.docx") as z:
        assert "word/document.xml" not in z.namelist()


# --- HTML ------------------------------------------------------------------------------------

TEXINFO_PAGE = """<!DOCTYPE html><html><head><title>Invoking cmp (Comparing and Merging Files)</title></head>
<body><div class="chapter" id="Invoking-cmp">
<div class="header"><p>Next: <a href="Invoking-diff.html" rel="next">Invoking <code>diff</code></a>, Previous:
<a href="Making-Patches.html" rel="prev">Tips for Making and Using Patches</a>, Up: <a href="index.html" rel="up">
Comparing and Merging Files</a> &nbsp; [<a href="index.html#SEC_Contents" rel="contents">Contents</a>][<a
href="Index.html" rel="index">Index</a>]</p></div>
<h2 class="chapter">12 Invoking <code>cmp</code><a class="copiable-anchor" href="#Invoking-cmp"> &para;</a></h2>
<p>The <code>cmp</code> command compares two files, and if they differ, tells the first byte and line number where
they differ. Its home page is (normally <code>https://www.gnu.org/software/<var>pkg</var></code>).</p>
<p><strong>Keep correct records</strong> of what you compare; the options are <em>not</em> checked twice.</p>
<pre class="example">cmp <var>options</var>&hellip; <var>from-file</var> [<var>to-file</var>]</pre>
<p>An exit status of 0 means no differences were found, 1 means some differences were found, and 2 means trouble.</p>
</div></body></html>"""


def test_html_quotes_say_what_the_page_says_and_leave_out_its_furniture(tmp_path):
    """The failures of trafilatura's Markdown, one per line: backticks around code, ** around emphasis, a lost
    <var>, escaped brackets and the 'Next: ..., Previous: ..., Up: ...' line quoted as content."""
    (tmp_path / "Invoking-cmp.html").write_text(TEXINFO_PAGE)
    (doc,) = load_folder(tmp_path)
    assert doc.title == "Invoking cmp (Comparing and Merging Files)"
    assert "The cmp command compares two files" in doc.text
    assert "(normally https://www.gnu.org/software/pkg)" in doc.text
    assert "Keep correct records of what you compare; the options are not checked twice." in doc.text
    prose = "\n".join(line for line in doc.text.splitlines() if line != "```")  # code is fenced, as Markdown does
    assert not re.search(r"Next:|Previous:|\[Contents\]|\\\[|`|\*\*|¶", prose), doc.text
    assert "```\ncmp options… from-file [to-file]\n```" in doc.text
    assert {c.section for c in chunk_document(doc)} == {"Invoking cmp (Comparing and Merging Files) > 12 Invoking cmp"}


def test_side_notes_and_footnotes_are_content_not_furniture(tmp_path):
    """DocBook's sidebars ("TIP" boxes) and Sphinx's footnotes (<aside>) hold facts; a menu of links does not."""
    (tmp_path / "apt.html").write_text(
        """<html><head><title>apt-get</title></head><body><div class="navheader"><a href="a.html">Prev</a>
        <a href="c.html">Next</a></div><div class="section"><h2>6.2. aptitude, apt-get, and apt</h2>
        <p>APT is a vast project, whose original plans included a graphical interface.</p>
        <div class="sidebar"><p class="title"><strong>TIP</strong> Installing the same selection</p>
        <p>The package list can be saved with dpkg --get-selections and restored on another machine.</p></div>
        <p>The first command-line frontend was apt-get.<a class="footnote-reference" href="#f1">1</a></p>
        <aside class="footnote brackets" id="f1" role="note"><p>It was written in 1998.</p></aside>
        </div></body></html>"""
    )
    (doc,) = load_folder(tmp_path)
    assert "TIP Installing the same selection" in doc.text
    assert "restored on another machine." in doc.text
    assert "It was written in 1998." in doc.text
    assert "Prev" not in doc.text and "Next" not in doc.text


@pytest.mark.slow
@pytest.mark.parametrize("manual", sorted(MANUALS))
def test_every_chunk_of_real_manual_pages_is_text_the_page_shows(manual):
    """20 pages of each manual Debian ships as HTML; benchmarks/formats.md has the figures for the old loader."""
    if not MANUALS[manual].is_dir():
        pytest.skip(f"{MANUALS[manual]} is missing: ./dev setup all installs the Debian documentation packages")
    result = check_pages(sample_pages(manual, 20))
    assert result.pages >= 15 and result.chunks >= 100
    assert result.bad_chunks == 0, result.examples
    assert result.kept_words >= 0.85 * result.page_words  # furniture goes (menus, sidebars, copyright), content stays
