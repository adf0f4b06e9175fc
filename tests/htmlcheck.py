"""Does qa quote an HTML page as the page reads? Shared by tests/test_formats.py and benchmarks/html_fidelity.py.

A page's visible text is what a browser shows: the text of <body> without <script>, <style> and <template>.
Every line of every chunk must be in it, whitespace aside; the structure qa adds to the stored text (a list
marker, a table row's pipes) is not a quote and is taken off first.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path


def _newest(pattern: str) -> Path:
    found = sorted(Path("/").glob(pattern.lstrip("/")))
    return found[-1] if found else Path(pattern.replace("*", "N"))


# Manuals shipped as HTML by Debian packages (./dev setup all installs them)
MANUALS = {
    "python": _newest("/usr/share/doc/python3.*[0-9]/html"),  # python3-doc: Sphinx
    "postgresql": _newest("/usr/share/doc/postgresql-doc-*/html"),  # postgresql-doc: DocBook
    "diffutils": Path("/usr/share/doc/diffutils"),  # diffutils-doc: GNU Texinfo 6.8, a node per page
    "gettext": Path("/usr/share/doc/gettext"),  # gettext-doc: GNU texi2html, a chapter per page
}

_MARKERS = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)]|#{1,6})\s+")  # a list item's marker, a heading's #s
_WS = re.compile(r"\s+")


def visible_text(html: str | bytes, *, keep_spaces: bool = False) -> str:
    """The text a reader sees on the page, with all whitespace removed."""
    import lxml.html

    root = lxml.html.fromstring(html)
    for el in root.xpath("//script|//style|//template|//head|//comment()"):
        if el.getparent() is not None:
            el.drop_tree()
    return root.text_content() if keep_spaces else _WS.sub("", root.text_content())


def pieces(chunk_text: str) -> list[str]:
    """What a chunk says, line by line, without the heading marks, list markers, table pipes and code fences qa adds."""
    out = []
    for line in chunk_text.splitlines():
        if line.strip() in ("```", "~~~"):
            continue  # a code fence
        line = _MARKERS.sub("", line, count=1)
        cells = [c for c in line.strip().strip("|").split(" | ")] if line.lstrip().startswith("|") else [line]
        out.extend(c for c in cells if c.strip())
    return out


@dataclass
class Fidelity:
    pages: int = 0
    chunks: int = 0
    bad_chunks: int = 0
    page_words: int = 0  # distinct words a reader sees, summed over pages
    kept_words: int = 0  # ... of which the chunks hold: furniture dropped, nothing else
    examples: list[tuple[str, str]] = field(default_factory=list)  # (page, the first line not on the page)


def sample_pages(manual: str, n: int, seed: int = 21) -> list[Path]:
    """n pages of a manual, the same ones every run; pages that only redirect elsewhere are left out."""
    root = MANUALS[manual]
    pages = sorted(p for p in root.rglob("*.html") if "genindex" not in p.name and "_static" not in p.parts)
    pages = [p for p in pages if b'http-equiv="Refresh"' not in p.read_bytes()[:4000]]
    random.Random(seed).shuffle(pages)
    return sorted(pages[:n])


def check_pages(paths: list[Path], *, max_examples: int = 20) -> Fidelity:
    """Load each page with qa, chunk it, and count chunks with a line the page does not show."""
    from qa.chunk import chunk_document
    from qa.load import SourceFile, load_file

    result = Fidelity()
    for path in paths:
        st = path.stat()
        doc = load_file(SourceFile(path, path.name, st.st_size, st.st_mtime_ns))
        if doc is None:
            continue
        result.pages += 1
        page = visible_text(path.read_bytes())
        chunks = chunk_document(doc)
        seen = set(re.findall(r"\w+", visible_text(path.read_bytes(), keep_spaces=True).lower()))
        held = set(re.findall(r"\w+", " ".join(c.section + " " + c.text for c in chunks).lower()))
        result.page_words += len(seen)
        result.kept_words += len(seen & held)
        for chunk in chunks:
            result.chunks += 1
            missing = [p for p in pieces(chunk.text) if _WS.sub("", p) not in page]
            if missing:
                result.bad_chunks += 1
                if len(result.examples) < max_examples:
                    result.examples.append((path.name, missing[0][:160]))
    return result
