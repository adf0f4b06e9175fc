"""Loading a folder: every format, and bad files that warn once and never crash."""

import logging

import pytest
from conftest import make_kb

from qa.chunk import chunk_document
from qa.errors import InputError
from qa.load import load_folder, scan


def test_every_format_loads_with_title_and_text(tmp_path):
    kb = make_kb(tmp_path / "kb")
    docs = {d.source: d for d in load_folder(kb)}
    assert set(docs) == {"lighthouse.md", "driftwood.txt", "release-notes.html", "gauges.pdf"}
    assert docs["lighthouse.md"].title == "Lighthouse"
    assert docs["lighthouse.md"].text == (kb / "lighthouse.md").read_text()  # offsets point into the file itself
    assert docs["driftwood.txt"].title == "Driftwood"
    html = docs["release-notes.html"]
    assert "LoRaWAN" in html.text and "Subscribe to our newsletter" not in html.text  # boilerplate dropped
    pdf = docs["gauges.pdf"]
    assert "312 stations" in pdf.text and len(pdf.pages) == 2  # page offsets kept


def test_a_generated_site_page_is_named_by_its_title_not_the_site_menu(tmp_path):
    """mdBook and similar generators put the site's name in the page's only <h1> (the menu bar)."""
    page = """<!DOCTYPE html><html><head><title>Alarms - Lighthouse Handbook</title></head><body>
    <div class="menu-bar"><h1 class="menu-title">Lighthouse Handbook</h1></div>
    <main><h2 id="alarms">Alarms</h2>
    <p>A gauge that stays silent for ten minutes raises an alarm on the dashboard of the harbour office.</p>
    <p>The on-call engineer is paged only after a second missed reading, to avoid waking people for one lost
    packet of data.</p></main></body></html>"""
    (tmp_path / "alarms.html").write_text(page)
    (doc,) = load_folder(tmp_path)
    assert doc.title == "Alarms"
    assert {c.section for c in chunk_document(doc)} == {"Alarms"}  # not "Lighthouse Handbook > Alarms"
    (tmp_path / "alarms.html").write_text(  # "Page | Site" with the site's name cased differently in the <h1>
        page.replace("Alarms - Lighthouse Handbook", "Alarms | Lighthouse handbook")
    )
    assert next(iter(load_folder(tmp_path))).title == "Alarms"


def test_bad_files_are_skipped_with_one_warning_each(tmp_path, caplog):
    (tmp_path / "good.md").write_text("# Good\n\nThis file is fine.\n")
    (tmp_path / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (tmp_path / "legacy.txt").write_bytes("Caf\xe9 cr\xe8me is served at na\xefve prices.".encode("latin-1"))
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj garbage that is not a pdf")
    (tmp_path / "data.bin").write_bytes(b"\x00\x01\x02")
    with caplog.at_level(logging.WARNING, logger="qa"):
        docs = {d.source: d for d in load_folder(tmp_path)}
    assert set(docs) == {"good.md", "legacy.txt"}
    assert "Café crème" in docs["legacy.txt"].text  # decoded with a fallback, not dropped
    messages = [r.getMessage() for r in caplog.records]
    for name in ("image.txt", "legacy.txt", "broken.pdf", "data.bin"):
        assert sum(name in m for m in messages) == 1, messages
    assert all("\n" not in m for m in messages)


def test_missing_or_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="folder not found"):
        scan(tmp_path / "nope")
    assert scan(tmp_path) == []


def test_a_title_line_laid_out_with_spaces_reads_as_one_title(tmp_path):
    (tmp_path / "tar.txt").write_text(
        "TAR(1)       GNU TAR Manual       TAR(1)\n\nNAME\n       tar - an archiving utility\n"
    )
    (doc,) = load_folder(tmp_path)
    assert doc.title == "TAR(1) GNU TAR Manual TAR(1)"
    assert chunk_document(doc, max_tokens=200)[-1].section == "TAR(1) GNU TAR Manual TAR(1) > NAME"  # said once
