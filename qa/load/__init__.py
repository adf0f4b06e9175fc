"""Folder -> Documents: Markdown and text as decoded; HTML, Office files, e-books and RTF as the text a reader
sees, with their headings as Markdown `#` lines; PDF page by page.

Anything that cannot be read becomes one warning line and is skipped; loading never crashes on a file.
What a file is comes from its bytes, not only its name (sniff.py): a PDF named .docx is read as a PDF.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from qa.errors import InputError
from qa.load import sniff
from qa.load.plain import decode, markdown_title, pretty_stem, title_line
from qa.load.sniff import Refused
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
    ".docx": "docx",
    ".pptx": "pptx",
    ".xlsx": "xlsx",
    ".csv": "csv",
    ".odt": "odt",
    ".epub": "epub",
    ".rtf": "rtf",
}
TEXT_FORMATS = frozenset({"md", "txt", "html", "csv"})  # decoded from bytes; the rest are binary containers
LEGACY = {".doc": ".docx", ".ppt": ".pptx", ".xls": ".xlsx"}
SKIP_DIRS = {".git", ".qa", ".hg", ".svn", "__pycache__", "node_modules", ".venv", "venv", ".ipynb_checkpoints"}
UNPACK_FACTOR = 4  # an Office or e-book file may unpack to 4 x QA_MAX_FILE_MB (text XML compresses ~5-10x)


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A file found in the folder, before reading it: enough to tell whether it changed."""

    path: Path
    source: str  # relative to the folder, with forward slashes
    size: int
    mtime_ns: int
    max_file_mb: float = 50.0  # the limit it was scanned under; zips may unpack to UNPACK_FACTOR times this


def _supported(rel: str, path: Path) -> bool:
    ext = path.suffix.lower()
    if ext in FORMATS:
        return True
    if ext in LEGACY:
        log.warning("skipped %s: legacy binary Office file (save it as %s)", rel, LEGACY[ext])
    else:
        log.warning("skipped %s: unsupported file type (use %s)", rel, ", ".join(sorted(set(FORMATS) - {".mdx"})))
    return False


def scan(folder: Path, *, max_file_mb: float = 50.0, follow_links: bool = False) -> list[SourceFile]:
    """Every loadable file under `folder`, sorted; unknown, oversized, unreadable and vanished files, unreadable
    folders and links out of the folder are each warned about once and skipped.

    Links are not followed out of the folder unless `follow_links` (QA_FOLLOW_LINKS): a link to /etc/passwd
    must not become a document anyone with the web UI can read.
    """
    folder = Path(folder).expanduser()
    if not folder.exists():
        raise InputError(f"folder not found: {folder}; pass an existing folder of documents")
    if not folder.is_dir():
        if folder.suffix.lower() in FORMATS:
            st = folder.stat()
            return [SourceFile(folder, folder.name, st.st_size, st.st_mtime_ns, max_file_mb)]
        raise InputError(f"not a folder: {folder}; pass a folder of documents ({', '.join(sorted(FORMATS))})")
    root = folder.resolve()
    found: list[SourceFile] = []
    seen_dirs: set[Path] = set()

    def rel(p: str | Path) -> str:
        return Path(p).relative_to(folder).as_posix()

    def unreadable(e: OSError) -> None:
        log.warning("skipped %s/: cannot read the folder (%s)", rel(e.filename), e.strerror or e)

    def outside(p: Path) -> bool:
        return not p.resolve().is_relative_to(root)

    for dirpath, dirnames, filenames in os.walk(folder, onerror=unreadable, followlinks=follow_links):
        here = Path(dirpath)
        if follow_links:  # a link back up the tree would loop forever
            real = here.resolve()
            if real in seen_dirs:
                dirnames[:] = []
                continue
            seen_dirs.add(real)
        keep = []
        for name in sorted(dirnames):
            p = here / name
            if name in SKIP_DIRS or name.startswith("."):
                continue
            if p.is_symlink() and not follow_links:
                log.warning("skipped %s/: a link to a folder (set QA_FOLLOW_LINKS=true to follow links)", rel(p))
                continue
            keep.append(name)
        dirnames[:] = keep
        for name in filenames:
            p = here / name
            source = rel(p)
            if name.startswith(".") or not _supported(source, p):
                continue
            try:
                if p.is_symlink() and not follow_links and outside(p):
                    log.warning(
                        "skipped %s: a link to a file outside the folder (set QA_FOLLOW_LINKS=true to follow it)",
                        source,
                    )
                    continue
                st = p.stat()
            except FileNotFoundError:  # deleted since the folder was listed, or a broken link
                log.warning("skipped %s: the file vanished while scanning (or is a broken link)", source)
                continue
            except OSError as e:
                log.warning("skipped %s: cannot read (%s)", source, e.strerror or e)
                continue
            if not os.path.isfile(p):
                continue
            if st.st_size > max_file_mb * 1_000_000:
                log.warning(
                    "skipped %s: %.0f MB is over the %.0f MB limit (QA_MAX_FILE_MB)",
                    source,
                    st.st_size / 1e6,
                    max_file_mb,
                )
                continue
            found.append(SourceFile(p, source, st.st_size, st.st_mtime_ns, max_file_mb))
    return sorted(found, key=lambda f: f.source)


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


def load_file(f: SourceFile, data: bytes | None = None) -> Document | None:
    """Read one file into a Document, or warn once and return None."""
    try:
        data = f.path.read_bytes() if data is None else data
    except OSError as e:
        log.warning("skipped %s: cannot read (%s)", f.source, e.strerror or e)
        return None
    ext = f.path.suffix.lower()
    fmt = FORMATS.get(ext, "txt")
    try:
        if not data.strip():
            raise Refused("empty file")
        fmt = _real_format(f, fmt, data)
        doc = _READERS[fmt](f, data)
    except _Silent:
        return None
    except Refused as e:
        log.warning("skipped %s: %s", f.source, e)
        return None
    except Exception as e:  # a parser bug on one file must not stop the whole folder
        log.warning("skipped %s: could not parse (%s: %s)", f.source, type(e).__name__, " ".join(str(e).split())[:120])
        return None
    if doc is not None and not doc.text.strip():
        log.warning("skipped %s: no text found%s", f.source, " (a scanned PDF needs OCR first)" if fmt == "pdf" else "")
        return None
    return doc


def _real_format(f: SourceFile, fmt: str, data: bytes) -> str:
    """The format to read the bytes as: the extension's, unless the content is clearly another format."""
    kind = sniff.kind_of(data)
    ext = f.path.suffix.lower()
    if kind in ("zip", "ole"):
        if fmt in ("docx", "pptx", "xlsx") and kind == "ole":
            raise Refused(sniff.ole_reason(data, ext))
        if fmt in TEXT_FORMATS or fmt == "rtf":
            raise Refused(f"binary content, not text ({sniff.describe(kind)})")
        raise Refused(f"damaged or not a real {ext} file (it is {sniff.describe(kind)})")
    if kind == fmt or (kind in ("text", "html") and fmt in TEXT_FORMATS):
        real = fmt
    elif kind in ("text", "html") and fmt == "pdf":
        real = fmt  # a PDF may start with up to 1 KB of junk; pypdf decides
    elif kind in ("text", "html"):
        raise Refused(f"not a real {ext} file (it holds {sniff.describe(kind)})")
    else:
        real = kind
        log.warning("%s: the content is %s, not %s; read as %s", f.source, sniff.describe(kind), ext, kind.upper())
    if real in ("docx", "pptx", "xlsx", "odt", "epub"):
        sniff.check_zip(data, ext, int(f.max_file_mb * 1_000_000 * UNPACK_FACTOR))
    return real


def load_folder(folder: Path, *, max_file_mb: float = 50.0, follow_links: bool = False) -> Iterator[Document]:
    """Documents of a folder, recursively, in path order."""
    for f in scan(folder, max_file_mb=max_file_mb, follow_links=follow_links):
        doc = load_file(f)
        if doc is not None:
            yield doc


# --- one reader per format: bytes -> Document ------------------------------------------------


class _Silent(Refused):
    """A file skipped with its warning given already (by decode())."""


def _text(f: SourceFile, data: bytes) -> str:
    text = decode(f.source, data)
    if text is None:
        raise _Silent()
    return text


def _read_md(f: SourceFile, data: bytes) -> Document:
    text = _text(f, data)
    return Document(f.source, markdown_title(text) or pretty_stem(f.path), text, "md")


def _read_txt(f: SourceFile, data: bytes) -> Document:
    text = _text(f, data)
    return Document(f.source, title_line(text) or pretty_stem(f.path), text, "txt")


def _read_html(f: SourceFile, data: bytes) -> Document:
    from qa.load.html import html_text

    text, title = html_text(_text(f, data))
    title = title or pretty_stem(f.path)
    return Document(f.source, title, text if text.strip() else "", "html")


def _read_csv(f: SourceFile, data: bytes) -> Document:
    from qa.load.office import csv_text

    return Document(f.source, pretty_stem(f.path), csv_text(_text(f, data)), "csv")


def _read_pdf(f: SourceFile, data: bytes) -> Document:
    from qa.load.pdf import pdf_text

    text, title, pages = pdf_text(data)
    return Document(f.source, title or title_line(text) or pretty_stem(f.path), text, "pdf", pages=pages)


def _read_docx(f: SourceFile, data: bytes) -> Document:
    from qa.load.office import docx_text

    text, title = docx_text(data)
    return Document(f.source, title or pretty_stem(f.path), text, "docx")


def _read_pptx(f: SourceFile, data: bytes) -> Document:
    from qa.load.office import pptx_text

    text, title, pages = pptx_text(data)
    return Document(f.source, title or pretty_stem(f.path), text, "pptx", pages=pages)


def _read_xlsx(f: SourceFile, data: bytes) -> Document:
    from qa.load.office import xlsx_text

    text, title = xlsx_text(data)
    return Document(f.source, title or pretty_stem(f.path), text, "xlsx")


def _read_odt(f: SourceFile, data: bytes) -> Document:
    from qa.load.opendoc import odt_text

    text, title = odt_text(data)
    return Document(f.source, title or pretty_stem(f.path), text, "odt")


def _read_epub(f: SourceFile, data: bytes) -> Document:
    from qa.load.opendoc import epub_text

    text, title = epub_text(data)
    return Document(f.source, title or pretty_stem(f.path), text, "epub")


def _read_rtf(f: SourceFile, data: bytes) -> Document:
    from qa.load.opendoc import rtf_text

    text, title = rtf_text(data)
    return Document(f.source, title or title_line(text) or pretty_stem(f.path), text, "rtf")


_READERS = {
    "md": _read_md,
    "txt": _read_txt,
    "html": _read_html,
    "csv": _read_csv,
    "pdf": _read_pdf,
    "docx": _read_docx,
    "pptx": _read_pptx,
    "xlsx": _read_xlsx,
    "odt": _read_odt,
    "epub": _read_epub,
    "rtf": _read_rtf,
}
