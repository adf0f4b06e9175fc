"""Word (.docx), PowerPoint (.pptx), Excel (.xlsx) and CSV through their maintained libraries.

python-docx gives paragraphs with their styles (Title, Heading N, List ...) and tables in document order;
python-pptx gives each slide's title, text frames, tables and notes; openpyxl gives each sheet's cell values.
All are written as Markdown-like text (markup.py), so headings and slide titles become section paths and
slide numbers appear in citations. A spreadsheet row names its columns; a table inside a document stays as shown.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

from qa.load.markup import TextWriter

_DEFAULT_TITLES = {"", "PowerPoint Presentation", "Microsoft Word - Document", "Document"}


def _core_title(props) -> str | None:  # type: ignore[no-untyped-def]
    title = " ".join((props.title or "").split())
    return title if title not in _DEFAULT_TITLES else None


# --- Word -----------------------------------------------------------------------------------


def _heading_level(paragraph) -> int:  # type: ignore[no-untyped-def]
    """Title -> 1, Heading N -> N + 1, any style with an outline level likewise; 0 for body text."""
    style = paragraph.style
    name = (style.name or "") if style is not None else ""
    if name == "Title":
        return 1
    m = re.fullmatch(r"[Hh]eading (\d)", name)
    if m:
        return int(m.group(1)) + 1
    for el in (paragraph._p.pPr, style.element.pPr if style is not None else None):
        lvl = el.find(_w("outlineLvl")) if el is not None else None
        if lvl is not None and (v := lvl.get(_w("val"), "9")).isdigit() and int(v) < 9:
            return int(v) + 2
    return 0


def _w(tag: str) -> str:
    return "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}" + tag


def docx_text(data: bytes) -> tuple[str, str | None]:
    """(stored text, document title) of a Word file."""
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    document = docx.Document(io.BytesIO(data))
    out = TextWriter()
    first_heading: str | None = None

    def blocks(parent) -> None:  # type: ignore[no-untyped-def]
        nonlocal first_heading
        for el in parent.iterchildren():
            if el.tag == _w("p"):
                p = Paragraph(el, document._body)
                text = p.text.replace("\r", "\n")
                style = (p.style.name or "") if p.style is not None else ""
                if style.startswith("TOC") or not text.strip():
                    continue  # a table of contents repeats the headings
                level = _heading_level(p)
                if level:
                    out.heading(level, text)
                    first_heading = first_heading or " ".join(text.split())
                elif style.startswith("List") or (p._p.pPr is not None and p._p.pPr.numPr is not None):
                    out.item(text)
                else:
                    out.para(text)
            elif el.tag == _w("tbl"):
                table = Table(el, document._body)
                for row in table.rows:
                    cells, seen = [], set()
                    for cell in row.cells:  # a merged cell is returned once per grid column it spans
                        if id(cell._tc) not in seen:
                            seen.add(id(cell._tc))
                            cells.append(cell.text)
                    out.row(cells)
            elif el.tag == _w("sdt"):  # a content control wraps ordinary paragraphs
                content = el.find(_w("sdtContent"))
                if content is not None:
                    blocks(content)

    blocks(document.element.body)
    return out.text(), _core_title(document.core_properties) or first_heading


# --- PowerPoint -----------------------------------------------------------------------------


def pptx_text(data: bytes) -> tuple[str, str | None, tuple[int, ...]]:
    """(stored text, title, offset where each slide starts) of a deck; each slide's title is a level-1 heading."""
    from pptx import Presentation
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    deck = Presentation(io.BytesIO(data))
    out = TextWriter()
    first_title: str | None = None

    def shapes(group, title_id) -> None:  # type: ignore[no-untyped-def]
        ordered = sorted(group, key=lambda s: (s.top or 0, s.left or 0))
        for shape in ordered:
            if shape.shape_id == title_id:
                continue
            if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
                shapes(shape.shapes, title_id)
            elif shape.has_text_frame:
                for p in shape.text_frame.paragraphs:
                    out.para(p.text.replace("\v", "\n"))
            elif getattr(shape, "has_table", False) and shape.has_table:
                for row in shape.table.rows:
                    out.row([cell.text.replace("\v", " ") for cell in row.cells])

    for n, slide in enumerate(deck.slides, 1):
        title_shape = slide.shapes.title
        title = " ".join(title_shape.text.split()) if title_shape is not None and title_shape.has_text_frame else ""
        first_title = first_title or title or None
        out.page()
        out.heading(1, title or f"Slide {n}")
        shapes(slide.shapes, title_shape.shape_id if title_shape is not None else None)
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            notes = slide.notes_slide.notes_text_frame.text.strip()
            if notes:
                out.heading(2, "Notes")
                for line in notes.split("\n"):
                    out.para(line)
    return out.text(), _core_title(deck.core_properties) or first_title, tuple(out.pages)


# --- spreadsheets ---------------------------------------------------------------------------


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return str(value)


def _rows(out: TextWriter, rows) -> None:  # type: ignore[no-untyped-def]
    """A sheet's rows; under a header row of names, each cell is labelled with its column's name
    ("| Station: Tromsø | Gauges: 45 |"), so a row quoted alone still says what its numbers are."""
    header: list[str] | None = None
    for row in rows:
        cells = [_cell(v) for v in row]
        while cells and not cells[-1].strip():
            cells.pop()
        if not any(c.strip() for c in cells):
            continue
        if header is None:
            names = [" ".join(c.split()) for c in cells]
            header = names if all(n and not _NUMBER.fullmatch(n) for n in names) else []
            out.row(cells)
            continue
        if header:
            cells = [f"{header[i]}: {c}" if i < len(header) and c.strip() else c for i, c in enumerate(cells)]
        out.row(cells)


_NUMBER = re.compile(r"[-+]?[\d.,]+%?")


def xlsx_text(data: bytes) -> tuple[str, str | None]:
    """(stored text, title): each visible sheet a level-1 heading, each row a table row of its cell values."""
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        out = TextWriter()
        for sheet in book.worksheets:
            if sheet.sheet_state != "visible":
                continue
            out.heading(1, sheet.title)
            _rows(out, sheet.iter_rows(values_only=True))
        return out.text(), _core_title(book.properties)
    finally:
        book.close()


def csv_text(text: str) -> str:
    """A CSV file as table rows; the delimiter is sniffed (comma, semicolon, tab or pipe)."""
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    out = TextWriter()
    _rows(out, csv.reader(io.StringIO(text), dialect))
    return out.text()
