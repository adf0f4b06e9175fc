"""The stored text of a converted document (HTML, Office, e-book): Markdown-like, never marked up inline.

chunk.py reads Markdown structure: `#` headings become section paths, `- ` items and `| a | b |` table rows stay
whole, fenced code is searched but never quoted. Inline markup (`**bold**`, backticks, `\\[` escapes) is never
written, so every quote reads exactly as the document does.
"""

from __future__ import annotations

import re

_SPACES = re.compile(r"[ \t\r\n\f\v]+")  # HTML's collapsible whitespace; a no-break space is kept


def collapse(text: str) -> str:
    """Runs of spaces, tabs and line breaks as one space, as a browser or word processor shows them."""
    return _SPACES.sub(" ", text).strip()


class TextWriter:
    """Appends blocks and remembers where each page (PDF page, slide) starts."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._kinds: list[str] = []
        self._blocks: list[tuple[str, str]] = []
        self._len = 0
        self.pages: list[int] = []
        self._page_pending = False

    def _add(self, kind: str, text: str) -> None:
        if not text:
            return
        if self._parts:
            # items of one list and rows of one table sit on consecutive lines; other blocks are paragraphs
            sep = "\n" if kind == self._kinds[-1] and kind in ("item", "row") else "\n\n"
            self._parts.append(sep)
            self._len += len(sep)
        if self._page_pending:
            self.pages.append(self._len)
            self._page_pending = False
        self._parts.append(text)
        self._kinds.append(kind)
        self._blocks.append((kind, text))
        self._len += len(text)

    def page(self) -> None:
        """The next block starts a new page or slide."""
        self._page_pending = True

    def heading(self, level: int, text: str) -> None:
        text = collapse(text)
        if text:
            self._add("heading", "#" * max(1, min(6, level)) + " " + text)

    def para(self, text: str) -> None:
        # a line break inside a paragraph stays; blank lines would split it, and it is one paragraph
        lines = [collapse(line) for line in text.split("\n")]
        self._add("para", "\n".join(line for line in lines if line))

    def item(self, text: str, marker: str = "-") -> None:
        self._add("item", f"{marker} {collapse(text)}" if collapse(text) else "")

    def row(self, cells: list[str]) -> None:
        cells = [collapse(c) for c in cells]
        if any(cells):
            self._add("row", "| " + " | ".join(cells) + " |")

    def code(self, text: str) -> None:
        text = text.strip("\n")
        if text.strip():
            fence = "~~~" if "```" in text else "```"
            self._add("code", f"{fence}\n{text}\n{fence}")

    def extend(self, other: TextWriter) -> None:
        """Append another writer's blocks (an e-book's chapter)."""
        for kind, text in other._blocks:
            self._add(kind, text)

    @property
    def empty(self) -> bool:
        return not self._parts

    def starts_with_heading(self) -> bool:
        return bool(self._kinds) and self._kinds[0] == "heading"

    def text(self) -> str:
        return "".join(self._parts)
