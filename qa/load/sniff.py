"""What a file really is, from its first bytes and, for a zip, its member names; and whether a zip is safe to open.

A file's extension can lie (a PDF saved as .docx, a Word file renamed .txt); an Office or e-book file can be a
zip bomb (a few KB that expand to gigabytes), password-protected, or DRM-locked. Each is told apart here, before
a parser sees the bytes, so each gets one warning line that names the problem.
"""

from __future__ import annotations

import io
import re
import zipfile

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Compound File: legacy .doc/.ppt/.xls, or an encrypted .docx


class Refused(Exception):
    """A file qa will not read, with the one-line reason."""


def kind_of(data: bytes) -> str:
    """The format the bytes are in: a FORMATS value, "zip", "ole", or "text" (decided later by decoding)."""
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _zip_kind(data)
    if data.startswith(OLE_MAGIC):
        return "ole"
    if head.startswith(b"{\\rtf"):
        return "rtf"
    if re.match(rb"(?is)(<!--.*?-->\s*)*<(!doctype\s+html|html[\s>]|\?xml[^>]*>\s*<(!doctype\s+)?html)", head):
        return "html"
    return "text"


def _zip_kind(data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            names = set(z.namelist())
            mimetype = z.read("mimetype")[:100].strip() if "mimetype" in names else b""
    except (zipfile.BadZipFile, OSError, KeyError, ValueError, EOFError, NotImplementedError):
        return "zip"
    if "word/document.xml" in names:
        return "docx"
    if "ppt/presentation.xml" in names:
        return "pptx"
    if "xl/workbook.xml" in names:
        return "xlsx"
    if mimetype == b"application/vnd.oasis.opendocument.text":
        return "odt"
    if mimetype == b"application/epub+zip" or "META-INF/container.xml" in names:
        return "epub"
    return "zip"


def describe(kind: str) -> str:
    """A kind in words, for a warning."""
    return {
        "zip": "a zip archive",
        "ole": "a legacy or password-protected Office file",
        "text": "plain text",
        "html": "an HTML page",
    }.get(kind, f"a .{kind} file")


def check_zip(data: bytes, ext: str, max_bytes: int) -> None:
    """Refuse a zip that would expand past `max_bytes` or whose content is encrypted.

    The sizes the zip declares are a hard cap: Python's zipfile stops at a member's declared size (and fails its
    checksum), so a bomb cannot write more than its directory admits.
    """
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise Refused(f"damaged {ext} file ({e})") from None
    with z:
        infos = z.infolist()
        total = sum(i.file_size for i in infos)
        if total > max_bytes:
            raise Refused(
                f"expands to {total / 1e6:,.0f} MB, over the {max_bytes / 1e6:,.0f} MB limit for what is unpacked "
                "(4 x QA_MAX_FILE_MB); a zip bomb, or raise QA_MAX_FILE_MB"
            )
        if len(infos) > 100_000:
            raise Refused(f"{len(infos):,} parts in one {ext} file; not a document")
        if any(i.flag_bits & 0x1 for i in infos):
            raise Refused(f"password-protected {ext} file (save it without a password)")
        names = {i.filename for i in infos}
        if "META-INF/manifest.xml" in names and b"encryption-data" in z.read("META-INF/manifest.xml"):
            raise Refused(f"password-protected {ext} file (save it without a password)")
        if "META-INF/encryption.xml" in names:
            enc = z.read("META-INF/encryption.xml").decode("utf-8", "replace")
            locked = [u for u in re.findall(r'URI="([^"]+)"', enc) if not re.search(r"\.(otf|ttf|woff2?)$", u, re.I)]
            if locked:
                raise Refused(f"DRM-protected {ext} file ({len(locked)} encrypted parts); qa reads only open files")


def ole_reason(data: bytes, ext: str) -> str:
    """Why an Office extension holds a Compound File: a password (Office encrypts .docx into one) or a legacy file."""
    if any(name.encode("utf-16-le") in data for name in ("EncryptionInfo", "EncryptedPackage")):
        return f"password-protected {ext} file (save it without a password)"
    return f"legacy binary Office file, not {ext} (save it as .docx, .pptx or .xlsx)"
