"""OpenDocument text (.odt), EPUB e-books and RTF through their maintained libraries.

odfdo gives an .odt's headings with their outline level, paragraphs, lists and tables; ebooklib gives an
e-book's chapters in reading order, each an XHTML page read like any other HTML (html.py); striprtf gives an
RTF file's text, which keeps no headings (chunk.py then guesses them from short lines, as for plain text).
"""

from __future__ import annotations

import io
import re

from qa.load.html import parse, render
from qa.load.markup import TextWriter

# --- OpenDocument ---------------------------------------------------------------------------

_TEXT_NS = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
_SKIP = {
    "text:table-of-content",
    "text:alphabetical-index",
    "text:illustration-index",
    "text:bibliography",
    "text:sequence-decls",
    "text:tracked-changes",
    "office:forms",
    "text:variable-decls",
}


def odt_text(data: bytes) -> tuple[str, str | None]:
    """(stored text, title): Title -> level 1, Heading N -> N + 1, list items, table rows."""
    from odfdo import Document

    document = Document(io.BytesIO(data))
    out = TextWriter()
    first_heading: str | None = None

    def text_of(el) -> str:  # type: ignore[no-untyped-def]
        return str(el.inner_text or "")

    def blocks(parent, in_list: bool = False) -> None:  # type: ignore[no-untyped-def]
        nonlocal first_heading
        for el in parent.children:
            tag = el.tag
            if tag in _SKIP:
                continue
            if tag == "text:h":
                level = int(el.get_attribute("text:outline-level") or 1)
                out.heading(level + 1, text_of(el))
                first_heading = first_heading or " ".join(text_of(el).split()) or None
            elif tag == "text:p":
                style = str(el.get_attribute("text:style-name") or "")
                if style == "Title":
                    out.heading(1, text_of(el))
                    first_heading = first_heading or " ".join(text_of(el).split()) or None
                elif in_list:
                    out.item(text_of(el))
                else:
                    out.para(text_of(el))
            elif tag in ("text:list", "text:list-item", "text:list-header"):
                blocks(el, in_list=True)
            elif tag == "table:table":
                for row in el.get_elements("descendant::table:table-row"):
                    cells = row.get_elements("table:table-cell")
                    out.row([" ".join(text_of(p) for p in c.get_elements("descendant::text:p")) for c in cells])
            else:  # sections, frames and text boxes hold ordinary paragraphs
                blocks(el, in_list)

    blocks(document.body)
    title = document.meta.get_title() if document.meta is not None else None
    return out.text(), (" ".join(title.split()) if title and title.strip() else None) or first_heading


# --- EPUB -----------------------------------------------------------------------------------


def epub_text(data: bytes) -> tuple[str, str | None]:
    """(stored text, title): the chapters in reading order; a chapter without a heading gets its TOC title."""
    import ebooklib
    from ebooklib import epub

    book = epub.read_epub(io.BytesIO(data), options={"ignore_ncx": False})
    toc: dict[str, str] = {}

    def walk_toc(entries) -> None:  # type: ignore[no-untyped-def]
        for e in entries:
            if isinstance(e, tuple):
                walk_toc([e[0]])
                walk_toc(e[1])
            elif getattr(e, "href", None) and getattr(e, "title", None):
                toc.setdefault(e.href.split("#")[0], e.title)

    walk_toc(book.toc)
    out = TextWriter()
    for idref, _linear in book.spine:
        item = book.get_item_with_id(idref)
        if item is None or item.get_type() != ebooklib.ITEM_DOCUMENT or isinstance(item, epub.EpubNav):
            continue
        chapter = TextWriter()
        render(parse(item.get_content()), chapter, main_only=False)
        if chapter.empty:
            continue
        if not chapter.starts_with_heading() and toc.get(item.get_name()):
            out.heading(1, toc[item.get_name()])
        out.extend(chapter)
    titles = book.get_metadata("DC", "title")
    title = " ".join(titles[0][0].split()) if titles and titles[0][0] else None
    return out.text(), title


# --- RTF ------------------------------------------------------------------------------------

_BULLET = re.compile(r"^\s*(?:[\uf0b7\uf0a7\u2022\u25aa\u25cf\u2013·-]|\d{1,3}[.)])\s*\t\s*")


def rtf_text(data: bytes) -> tuple[str, str | None]:
    """(stored text, title): one paragraph per line, bullets as `- ` items, table rows with pipes."""
    from striprtf.striprtf import rtf_to_text

    raw = data.decode("cp1252", errors="replace")
    m = re.search(r"\{\\title\s+([^{}]*)\}", raw)
    text = rtf_to_text(raw, errors="ignore")
    lines = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.rstrip().endswith("|") and line.count("|") >= 2:  # striprtf ends each table cell with "|"
            lines.append("| " + " | ".join(c.strip() for c in line.rstrip().rstrip("|").split("|")) + " |")
        else:
            lines.append(_BULLET.sub("- ", line.strip()))
    # table rows on consecutive lines, everything else a paragraph of its own
    parts: list[str] = []
    for line in lines:
        if parts and line.startswith("| ") and parts[-1].startswith("| "):
            parts[-1] += "\n" + line
        else:
            parts.append(line)
    title = " ".join(m.group(1).split()) if m and m.group(1).strip() else None
    return "\n\n".join(parts), title
