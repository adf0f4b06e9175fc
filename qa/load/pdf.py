"""PDF page by page through pypdf; Document.pages keeps where each page starts, for "(p. N)" in citations."""

from __future__ import annotations

import io
import logging

from qa.load.sniff import Refused


def pdf_text(data: bytes) -> tuple[str, str | None, tuple[int, ...]]:
    """(stored text, title from the PDF's metadata, offset where each page starts)."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise Refused("encrypted PDF (decrypt it first)")
        parts: list[str] = []
        pages: list[int] = []
        pos = 0
        for page in reader.pages:
            t = (page.extract_text() or "").strip()
            pages.append(pos)
            parts.append(t)
            pos += len(t) + 2
        title = str(reader.metadata.title).strip() if reader.metadata is not None and reader.metadata.title else None
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as e:
        raise Refused(f"unreadable PDF ({str(e)[:120] or type(e).__name__})") from None
    return "\n\n".join(parts), title or None, tuple(pages)
