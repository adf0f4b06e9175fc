"""Files -> (Document, FileState, Chunks), read and chunked in worker processes while the model embeds in this one,
streamed back in path order with a bounded number in flight: memory stays flat however large the folder.

A file is read until two looks at it agree: its size and time are taken before and after reading, and a file
that changed meanwhile is read again (up to 3 times), so a half-written file is never indexed as if whole.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from qa.chunk import chunk_document
from qa.load import SourceFile, content_hash, load_file
from qa.types import Chunk, Document, FileState

log = logging.getLogger("qa")

READ_TRIES = 3  # a file still changing after three reads is left for the next build
WORKERS_FROM_MB = 2.0  # smaller jobs read in-process: starting a worker (~1-2 s) would cost more than it saves
WORKERS_FROM_FILES = 200


@dataclass(frozen=True, slots=True)
class Parsed:
    """One file as read: its Document (None when it could not be used), chunks, and what it was when read."""

    file: SourceFile
    doc: Document | None
    state: FileState
    chunks: tuple[Chunk, ...] = ()
    gone: bool = False  # it vanished before it could be read
    logs: tuple[tuple[int, str], ...] = ()  # warnings from a worker process, re-logged here


def read_stable(f: SourceFile) -> tuple[bytes | None, FileState, bool]:
    """(bytes, state, gone): the file's content from a read during which it did not change; None with a warning when
    it cannot be read or keeps changing."""
    for attempt in range(READ_TRIES):
        try:
            with open(f.path, "rb") as fh:
                before = os.fstat(fh.fileno())
                data = fh.read()
                after = _look(f.path)
        except FileNotFoundError:
            log.warning("%s: removed while indexing; dropped", f.source)
            return None, FileState("", f.size, f.mtime_ns), True
        except OSError as e:
            log.warning("skipped %s: cannot read (%s)", f.source, e.strerror or e)
            return None, FileState("", f.size, f.mtime_ns), False
        same = (before.st_size, before.st_mtime_ns, before.st_ino) == (after.st_size, after.st_mtime_ns, after.st_ino)
        if same and len(data) == after.st_size:
            return data, FileState(content_hash(data), after.st_size, after.st_mtime_ns), False
        time.sleep(0.05 * (attempt + 1))
    log.warning("%s: still changing after %d reads; left for the next build", f.source, READ_TRIES)
    return None, FileState("", f.size, f.mtime_ns), False


def _look(path: Path) -> os.stat_result:
    """The file's state after reading it (a seam, so a test can change the file at exactly this moment)."""
    return os.stat(path)


def parse(f: SourceFile, max_tokens: int, count_tokens: Callable[[Sequence[str]], list[int]]) -> Parsed:
    """Read, load and chunk one file."""
    data, state, gone = read_stable(f)
    if data is None:
        return Parsed(f, None, state, gone=gone)
    doc = load_file(f, data)
    chunks = tuple(chunk_document(doc, max_tokens=max_tokens, count_tokens=count_tokens)) if doc else ()
    return Parsed(f, doc, state, chunks)


def parsed(
    files: Sequence[SourceFile],
    *,
    model: str,
    max_tokens: int,
    workers: int = -1,
    count_tokens: Callable[[Sequence[str]], list[int]] | None = None,
) -> Iterator[Parsed]:
    """Every file parsed, in order; by worker processes when there are enough (workers=-1: one per spare core)."""
    n = _workers(files, workers)
    if n == 0:
        counter = count_tokens or token_counter(model)
        for f in files:
            yield parse(f, max_tokens, counter)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    # spawn, not fork: the parent may hold torch's threads, which a forked child inherits broken
    with ProcessPoolExecutor(n, mp_context=mp.get_context("spawn"), initializer=_quiet) as pool:
        window: deque = deque()
        todo = iter(files)
        for f in todo:
            window.append(pool.submit(_parse_in_worker, f, max_tokens, model))
            if len(window) >= 16 * n:  # some files ahead of the model, never the whole folder
                break
        while window:
            item = window.popleft().result()
            nxt = next(todo, None)
            if nxt is not None:
                window.append(pool.submit(_parse_in_worker, nxt, max_tokens, model))
            for level, msg in item.logs:
                log.log(level, "%s", msg)
            yield item


def _workers(files: Sequence[SourceFile], workers: int) -> int:
    if workers >= 0:
        return workers
    big = sum(f.size for f in files) / 1e6 >= WORKERS_FROM_MB or len(files) >= WORKERS_FROM_FILES
    return max(1, (os.cpu_count() or 1) - 1) if big else 0


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[tuple[int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.levelno, record.getMessage()))


def _quiet() -> None:
    logging.getLogger("qa").propagate = False
    for noisy in ("trafilatura", "pypdf", "htmldate", "courlan"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


def _parse_in_worker(f: SourceFile, max_tokens: int, model: str) -> Parsed:
    qa_log = logging.getLogger("qa")
    handler = _Collect()
    qa_log.addHandler(handler)
    try:
        item = parse(f, max_tokens, token_counter(model))
    finally:
        qa_log.removeHandler(handler)
    return Parsed(item.file, item.doc, item.state, item.chunks, item.gone, tuple(handler.records))


@cache
def token_counter(model: str) -> Callable[[Sequence[str]], list[int]]:
    """Word pieces per text, as the model counts them: its tokenizer alone when it ships a tokenizer.json (no torch
    in a worker), else the model's own."""
    from qa.embed import load_embedder, resolve_model

    path = Path(resolve_model(model)) / "tokenizer.json"
    if not path.is_file():
        return load_embedder(model).count_tokens
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path))
    tok.no_truncation()
    tok.no_padding()

    def count(texts: Sequence[str]) -> list[int]:
        return [len(e.ids) for e in tok.encode_batch(list(texts), add_special_tokens=True)] if texts else []

    return count
