"""Folder -> Documents. Markdown and text as decoded, HTML as its main text, PDF page by page.

Anything that cannot be read becomes one warning line and is skipped; loading never crashes on a file.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from qa.errors import InputError
from qa.types import Document

log = logging.getLogger("qa")

FORMATS = {
    ".md": "md",
    ".markdown": "md",
    ".mdx": "md",
    ".txt": "txt",
    ".text": "txt",
    ".rst": "txt",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".pdf": "pdf",
}
SKIP_DIRS = {".git", ".qa", ".hg", ".svn", "__pycache__", "node_modules", ".venv", "venv", ".ipynb_checkpoints"}


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A file found in the folder, before reading it: enough to tell whether it changed."""

    path: Path
    source: str  # relative to the folder, with forward slashes
    size: int
    mtime_ns: int


def scan(folder: Path, *, max_file_mb: float = 50.0) -> list[SourceFile]:
    """Every loadable file under `folder`, sorted; unknown and oversized files are warned about once."""
    folder = Path(folder).expanduser()
    if not folder.exists():
        raise InputError(f"folder not found: {folder}; pass an existing folder of documents")
    if not folder.is_dir():
        if folder.suffix.lower() in FORMATS:
            st = folder.stat()
            return [SourceFile(folder, folder.name, st.st_size, st.st_mtime_ns)]
        raise InputError(f"not a folder: {folder}; pass a folder of .md, .txt, .html or .pdf files")
    found = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if any(part in SKIP_DIRS or part.startswith(".") for part in rel.parts):
            continue
        if not path.is_file():
            continue
        if path.suffix.lower() not in FORMATS:
            log.warning("skipped %s: unsupported file type (use .md, .txt, .html or .pdf)", rel)
            continue
        st = path.stat()
        if st.st_size > max_file_mb * 1_000_000:
            log.warning(
                "skipped %s: %.0f MB is over the %.0f MB limit (QA_MAX_FILE_MB)", rel, st.st_size / 1e6, max_file_mb
            )
            continue
        found.append(SourceFile(path, rel.as_posix(), st.st_size, st.st_mtime_ns))
    return found


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


def load_file(f: SourceFile, data: bytes | None = None) -> Document | None:
    """Read one file into a Document, or warn and return None."""
    try:
        data = f.path.read_bytes() if data is None else data
    except OSError as e:
        log.warning("skipped %s: cannot read (%s)", f.source, e.strerror or e)
        return None
    fmt = FORMATS[f.path.suffix.lower()]
    try:
        if fmt == "pdf":
            doc = _load_pdf(f, data)
        else:
            text = _decode(f.source, data)
            if text is None:
                return None
            doc = _load_html(f, text) if fmt == "html" else _load_text(f, text, fmt)
    except Exception as e:  # a parser bug on one file must not stop the whole folder
        log.warning("skipped %s: could not parse (%s: %s)", f.source, type(e).__name__, str(e)[:120])
        return None
    if doc is not None and not doc.text.strip():
        log.warning("skipped %s: no text found%s", f.source, " (a scanned PDF needs OCR first)" if fmt == "pdf" else "")
        return None
    return doc


def load_folder(folder: Path, *, max_file_mb: float = 50.0) -> Iterator[Document]:
    """Documents of a folder, recursively, in path order."""
    for f in scan(folder, max_file_mb=max_file_mb):
        doc = load_file(f)
        if doc is not None:
            yield doc


def _decode(source: str, data: bytes) -> str | None:
    if b"\x00" in data[:8192]:
        log.warning("skipped %s: binary content, not text", source)
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    for enc in ("utf-16",) if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ():
        try:
            return data.decode(enc)
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


def _pretty_stem(path: Path) -> str:
    return re.sub(r"[-_]+", " ", path.stem).strip().capitalize() or path.name


def _first_line(text: str) -> str:
    """The first non-blank line with its runs of spaces collapsed: a title candidate ("TAR(1)   GNU TAR Manual")."""
    return next((" ".join(line.split()) for line in text.splitlines() if line.strip()), "")


def _load_text(f: SourceFile, text: str, fmt: str) -> Document:
    title = None
    if fmt == "md":
        m = re.search(r"^#\s+(.+?)\s*#*\s*$", text, re.MULTILINE)
        fm = re.match(r"^---\s*\n(.*?)\n---\s*\n", text, re.DOTALL)
        if fm:
            t = re.search(r"^title:\s*[\"']?(.+?)[\"']?\s*$", fm.group(1), re.MULTILINE)
            title = t.group(1) if t else None
        title = title or (m.group(1) if m else None)
    else:
        first = _first_line(text)
        if 0 < len(first) <= 100 and not first.endswith((".", ",", ";", ":", "!", "?")):
            title = first
    return Document(source=f.source, title=title or _pretty_stem(f.path), text=text, format=fmt)


def _load_html(f: SourceFile, html: str) -> Document | None:
    import trafilatura

    text = trafilatura.extract(
        html, output_format="markdown", include_comments=False, include_tables=True, favor_recall=True
    )
    if not text:  # tiny pages trip the main-text heuristics; fall back to all visible text
        text = trafilatura.html2txt(html)
    meta = trafilatura.extract_metadata(html)
    title = _page_title(html, meta.title if meta is not None else None) or _pretty_stem(f.path)
    if text and not text.lstrip().startswith("#"):
        text = f"# {title}\n\n{text}"
    return Document(source=f.source, title=title, text=text or "", format="html")


def _page_title(html: str, found: str | None) -> str | None:
    """The page's own name: trafilatura takes a lone <h1>, which on a generated site is often the site's name
    in a menu bar; a <title> of "Page - Site" then names the page ("References and Borrowing")."""
    import html as entities

    m = re.search(r"<title[^>]*>(.*?)</title>", html, re.IGNORECASE | re.DOTALL)
    if not found or not m:
        return found
    parts = [" ".join(p.split()) for p in re.split(r"\s+[-|–—·:]\s+", entities.unescape(m.group(1)).strip())]
    rest = [p for p in parts if p and p.casefold() != found.casefold()]
    return " - ".join(rest) if len(parts) > 1 and len(rest) < len(parts) and rest else found


def _load_pdf(f: SourceFile, data: bytes) -> Document | None:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            log.warning("skipped %s: encrypted PDF (decrypt it first)", f.source)
            return None
        parts, pages, pos = [], [], 0
        for page in reader.pages:
            t = (page.extract_text() or "").strip()
            pages.append(pos)
            parts.append(t)
            pos += len(t) + 2
        title = None
        if reader.metadata is not None and reader.metadata.title:
            title = str(reader.metadata.title)
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as e:
        log.warning("skipped %s: unreadable PDF (%s)", f.source, str(e)[:120] or type(e).__name__)
        return None
    text = "\n\n".join(parts)
    if not title:
        first = _first_line(text)
        title = first if 0 < len(first) <= 100 else _pretty_stem(f.path)
    return Document(source=f.source, title=title, text=text, format="pdf", pages=tuple(pages))
