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


# --- hostile folders (issue 18): each of these failed on the loader before qa/load/ ----------------------------


def test_utf16_text_with_a_bom_is_read_not_skipped_as_binary(tmp_path):
    """UTF-16 text is full of NUL bytes; the BOM says what it is, so it is checked first."""
    (tmp_path / "notes.txt").write_bytes("Tide tables for Ålesund are printed in May.\n".encode("utf-16"))
    (tmp_path / "wide.md").write_bytes("# Wide\n\nThe pier is 40 metres long.\n".encode("utf-32"))
    docs = {d.source: d for d in load_folder(tmp_path)}
    assert docs["notes.txt"].text == "Tide tables for Ålesund are printed in May.\n"
    assert docs["wide.md"].title == "Wide"


def test_a_file_deleted_while_the_folder_is_scanned_is_skipped_with_a_warning(tmp_path, monkeypatch, caplog):
    """The file is deleted at the worst moment: after the scan has seen it, before it reads its size."""
    from pathlib import Path

    (tmp_path / "kept.md").write_text("# Kept\n\nStill here.\n")
    doomed = tmp_path / "doomed.md"
    doomed.write_text("# Doomed\n\nDeleted by another program.\n")
    real_stat, calls = Path.stat, []

    def stat(self, **kw):  # type: ignore[no-untyped-def]
        if self == doomed:
            calls.append(1)
            if len(calls) == 2 and doomed.exists():
                doomed.unlink()
        return real_stat(self, **kw)

    monkeypatch.setattr(Path, "stat", stat)
    with caplog.at_level(logging.WARNING, logger="qa"):
        files = scan(tmp_path)
    assert [f.source for f in files] == ["kept.md"]
    assert "skipped doomed.md: the file vanished while scanning" in caplog.text


def test_a_link_out_of_the_folder_is_not_followed_unless_asked(tmp_path, caplog):
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "passwd.txt").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (tmp_path / "outside" / "more").mkdir()
    (tmp_path / "outside" / "more" / "secret.md").write_text("# Secret\n\nNot for the index.\n")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "notes.md").write_text("# Notes\n\nThe harbour opens at six.\n")
    (docs / "inside.md").symlink_to(docs / "notes.md")  # a link within the folder is harmless
    (docs / "passwd.txt").symlink_to(tmp_path / "outside" / "passwd.txt")
    (docs / "more").symlink_to(tmp_path / "outside" / "more", target_is_directory=True)
    with caplog.at_level(logging.WARNING, logger="qa"):
        assert [f.source for f in scan(docs)] == ["inside.md", "notes.md"]
    assert "skipped passwd.txt: a link to a file outside the folder (set QA_FOLLOW_LINKS=true" in caplog.text
    assert "skipped more/: a link to a folder" in caplog.text
    assert [f.source for f in scan(docs, follow_links=True)] == [
        "inside.md",
        "more/secret.md",
        "notes.md",
        "passwd.txt",
    ]


def test_an_unreadable_subfolder_is_warned_about(tmp_path):
    """chmod 000 on a subfolder: one warning naming it. As root, the scan runs without the capability that lets
    root read any folder (setpriv), so the permission bites as it does for a user."""
    import os
    import shutil
    import subprocess
    import sys

    (tmp_path / "open").mkdir()
    (tmp_path / "open" / "a.md").write_text("# A\n\nReadable.\n")
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked" / "b.md").write_text("# B\n\nHidden by permissions.\n")
    (tmp_path / "locked").chmod(0)
    prefix = []
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv: root reads a chmod 000 folder anyway")
        caps = "-dac_override,-dac_read_search"
        prefix = ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}"]
    code = "import sys, logging; from qa.load import scan; print([f.source for f in scan(sys.argv[1])])"
    try:
        run = subprocess.run(
            [*prefix, sys.executable, "-c", code, str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
    finally:
        (tmp_path / "locked").chmod(0o755)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "['open/a.md']"
    assert "skipped locked/: cannot read the folder (Permission denied)" in run.stderr


@pytest.mark.slow
def test_a_fact_on_a_pdfs_first_line_can_be_quoted(tmp_path):
    """The first line of a PDF without a title in its metadata names the document, and was never quotable: a
    question answered only by that line got a wrong answer."""
    from conftest import make_pdf

    from qa import answer, build_index

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "survey.pdf").write_bytes(
        make_pdf(
            [
                ["The harbour survey counted 47 mooring rings on the east quay"],  # the cover page
                ["Method", "Two divers inspected each ring from a boat in calm weather."],
                ["Findings", "Most rings were sound; three need new bolts before the winter storms."],
            ]
        )
    )
    index = build_index(tmp_path / "docs", index_dir=tmp_path / "index")
    a = answer("How many mooring rings are on the east quay?", index=index)
    assert not a.abstained
    assert "47 mooring rings" in a.citations[0].quote
