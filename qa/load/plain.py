"""Markdown and plain text as decoded: the stored text is the file itself, so offsets point into the file."""

from __future__ import annotations

import logging
import re
from pathlib import Path

log = logging.getLogger("qa")

_BOMS = (  # longest first: a UTF-32 BOM starts with the UTF-16 one
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)


def decode(source: str, data: bytes) -> str | None:
    """Bytes -> text: a BOM first (UTF-16 text is full of NUL bytes), then UTF-8, then a legacy 8-bit code page;
    binary data is refused with one warning."""
    for bom, enc in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(enc)
            except UnicodeDecodeError:
                break
    if b"\x00" in data[:8192]:
        log.warning("skipped %s: binary content, not text", source)
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    # cp1252 covers most legacy Western text; latin-1 maps every byte, so nothing is lost
    try:
        text = data.decode("cp1252")
        enc = "cp1252"
    except UnicodeDecodeError:
        text, enc = data.decode("latin-1"), "latin-1"
    controls = sum(1 for c in text[:4096] if ord(c) < 32 and c not in "\t\n\r\f")
    if controls > 8:
        log.warning("skipped %s: not UTF-8 and does not look like text", source)
        return None
    log.warning("%s: not valid UTF-8; decoded as %s", source, enc)
    return text


def pretty_stem(path: Path) -> str:
    return re.sub(r"[-_]+", " ", path.stem).strip().capitalize() or path.name


def first_line(text: str) -> str:
    """The first non-blank line with its runs of spaces collapsed: a title candidate ("TAR(1)   GNU TAR Manual")."""
    return next((" ".join(line.split()) for line in text.splitlines() if line.strip()), "")


def title_line(text: str) -> str | None:
    """The first line when it reads as a title: short, and not a sentence (no closing punctuation)."""
    first = first_line(text)
    return first if 0 < len(first) <= 100 and not first.endswith((".", ",", ";", ":", "!", "?")) else None


def markdown_title(text: str) -> str | None:
    """Front matter's `title:`, else the first `# ` heading."""
    fm = re.match(r"^---\s*\n(.*?)\n---\s*\n", text, re.DOTALL)
    if fm:
        t = re.search(r"^title:\s*[\"']?(.+?)[\"']?\s*$", fm.group(1), re.MULTILINE)
        if t:
            return t.group(1)
    m = re.search(r"^#\s+(.+?)\s*#*\s*$", text, re.MULTILINE)
    return m.group(1) if m else None
