"""Uploads from the web page into the documents folder: a readable name that stays inside the folder, never
over another document, and only files qa can read (an .exe renamed .md is refused, not kept)."""

from __future__ import annotations

import logging
import os
import threading
import unicodedata
from pathlib import Path

from qa.errors import InputError

log = logging.getLogger("qa")

UPLOAD_TYPES = (".md", ".txt", ".html", ".htm", ".pdf")
MAX_NAME_BYTES = 200  # most file systems allow 255 bytes a name; room left for " (99)" and the extension


def safe_stem(stem: str) -> str:
    """A file name stem with only letters, marks and digits of any script, space, dot, dash and underscore: three
    uploads named in Chinese stay three readable names, while < > ; $ ( ) and control characters become "_"."""
    stem = unicodedata.normalize("NFC", stem)
    out, gap = [], False
    for ch in stem:
        keep = ch in " .-_" or unicodedata.category(ch)[0] in "LMN"
        if keep:
            out.append(ch)
        elif not gap:
            out.append("_")
        gap = not keep
    safe = "".join(out).strip(" ._")
    while len(safe.encode()) > MAX_NAME_BYTES:
        safe = safe[:-1]
    return safe.rstrip(" ._") or "document"


def unreadable_reason(src: Path, name: str) -> str | None:
    """Why qa's loader would skip this upload (binary content, no text, a broken PDF), or None when it reads."""
    from qa.load import SourceFile, load_file

    reasons: list[str] = []
    me = threading.get_ident()

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.thread == me and record.levelno >= logging.WARNING:
                reasons.append(record.getMessage())

    catch = Catch()
    logging.getLogger("qa").addHandler(catch)
    try:
        st, data = src.stat(), src.read_bytes()  # read here: the loader goes by the name's extension, not src's
        doc = load_file(SourceFile(Path(name), name, st.st_size, st.st_mtime_ns), data)
    finally:
        logging.getLogger("qa").removeHandler(catch)
    if doc is not None:
        return None
    reason = reasons[-1] if reasons else "no text could be read from it"
    return reason.removeprefix(f"skipped {name}: ")


def save_upload(src: str | Path, name: str, folder: Path, *, max_mb: float) -> Path:
    """Copy an uploaded file into the documents folder and return where it went.

    Refuses (InputError, nothing written) a name that could escape the folder, another file type, an oversized
    file, one qa cannot read, and a copy of a document already there. A name another document holds gets a
    free one ("notes (2).md"): an upload never replaces a document.
    """
    raw = str(name)
    if not raw or "\x00" in raw or "/" in raw or "\\" in raw or raw.startswith(".") or ".." in raw:
        raise InputError(f"refused the file name {raw!r}: use a plain name like notes.md")
    stem, ext = os.path.splitext(raw)
    if ext.lower() not in UPLOAD_TYPES:
        raise InputError(f"refused {raw}: only {', '.join(UPLOAD_TYPES)} files can be added")
    src = Path(src)
    size = os.stat(src).st_size
    if size > max_mb * 1_000_000:
        raise InputError(f"refused {raw}: {size / 1e6:.1f} MB is over the {max_mb:g} MB limit (QA_UPLOAD_MAX_MB)")
    reason = unreadable_reason(src, raw)
    if reason is not None:
        raise InputError(f"refused {raw}: {reason}; nothing was saved")
    folder.mkdir(parents=True, exist_ok=True)
    root = folder.resolve()
    safe, data = safe_stem(stem), src.read_bytes()
    for n in range(1, 1000):
        target = root / (f"{safe}{ext.lower()}" if n == 1 else f"{safe} ({n}){ext.lower()}")
        if target.is_symlink() or target.resolve().parent != root or (target.exists() and not target.is_file()):
            raise InputError(f"refused {raw}: {target.name} in the documents folder is not a plain file")
        if target.exists() and target.read_bytes() == data:
            raise InputError(f"{raw} is already in the documents folder as {target.name} (same content); not added")
        try:  # O_EXCL: created here and now, so two uploads of one name can never write the same file
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        except FileExistsError:
            continue
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        return target
    raise InputError(f"refused {raw}: 999 documents already have this name; rename the file")


def discard_upload(path: str | Path) -> None:
    """Remove Gradio's temporary copy of an upload (and its folder, when empty) once it is saved or refused."""
    import gradio.utils

    p = Path(path)
    try:
        temp = Path(gradio.utils.get_upload_folder()).resolve()
        if temp not in p.resolve().parents:  # only ever delete inside Gradio's own upload folder
            return
        p.unlink(missing_ok=True)
        if p.parent.resolve() != temp:
            p.parent.rmdir()  # fails, harmlessly, if anything else is in it
    except OSError as e:
        log.debug("could not remove the upload %s: %s", p, e)


__all__ = ["UPLOAD_TYPES", "discard_upload", "safe_stem", "save_upload"]
