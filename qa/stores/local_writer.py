"""Writing the embedded store: the next generation from the live one plus what changed, swapped in atomically.

The writer owns change detection (size and time, then content hash), reuses the vectors of unchanged text, and
writes a complete generation in a temporary folder before CURRENT names it: a killed build leaves the previous
index answering, and the next build clears what it left.

Memory stays bounded however large the folder: added documents and chunks are staged in a SQLite file as they
arrive, vectors are looked up by text when the generation is written (from the Mapping commit() is given, which
may live on disk), and vectors and BM25 postings are written row by row.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import errno
import fcntl
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qa.errors import DiskFullError, IndexCorruptError, IndexMissingError, IndexOutdatedError, InputError
from qa.settings import IndexSettings
from qa.stores import ann
from qa.stores.diff import ChangeDetection
from qa.stores.local import (
    CHUNK_COLUMNS,
    FORMAT_VERSION,
    SCHEMA,
    Index,
    checksums,
    current_generation,
    open_index,
)
from qa.text import terms
from qa.types import BuildReport, Chunk, Document, FileState

if TYPE_CHECKING:
    pass

log = logging.getLogger("qa")


def _h(text: str) -> bytes:
    """A text's key in the maps of reusable vectors (16 bytes instead of the text)."""
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


class LocalWriter(ChangeDetection):
    """Builds the next generation of a local index; holds the folder's lock from __enter__ to __exit__."""

    def __init__(self, root: Path, settings: IndexSettings, folder: Path, *, rebuild: bool = False):
        super().__init__()
        self.root, self.settings, self.folder = Path(root).expanduser(), settings, folder
        self.report = BuildReport(index_dir=str(self.root))
        self.previous: Index | None = None
        self._added: dict[str, tuple[int, int]] = {}  # source -> (chunks, sentences) staged
        self._lockfile: Any = None
        self._rebuild = rebuild
        self._stage: sqlite3.Connection | None = None  # added documents and chunks, on disk until commit
        self._stage_dir: Path | None = None
        self._pending: list[Chunk] = []  # added since the last missing_texts()
        # text key -> row of the previous generation, for the changed sources' text that did not change
        self._reuse_c: dict[bytes, int] = {}
        self._reuse_s: dict[bytes, int] = {}

    # --- the lock and the previous generation -------------------------------------------------

    def __enter__(self) -> LocalWriter:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".write-test-{uuid.uuid4().hex[:6]}"
            probe.write_text("")
            probe.unlink()
        except OSError as e:
            raise InputError(
                f"cannot write the index to {self.root} ({e.strerror or e}); pass --index DIR or set QA_HOME to a writable folder"
            ) from e
        self._lockfile = open(self.root / "lock", "w")  # noqa: SIM115 (held for the whole build)
        try:
            fcntl.flock(self._lockfile, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            self._lockfile.close()
            raise InputError(f"another qa index is already writing {self.root}; wait for it to finish") from e
        try:
            self._clean_stale()
            if not self._rebuild:
                try:
                    if current_generation(self.root) is not None:
                        self.previous = open_index(self.root, self.settings)
                        self._old = self.previous.file_states()
                except (IndexCorruptError, IndexMissingError, IndexOutdatedError) as e:
                    log.warning("previous index unusable (%s); building from scratch", str(e).split(";")[0])
        except BaseException:
            self.__exit__()  # __exit__ is not called when __enter__ fails: release the lock here
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stage is not None:
            self._stage.close()
            self._stage = None
        if self._stage_dir is not None:
            shutil.rmtree(self._stage_dir, ignore_errors=True)
            self._stage_dir = None
        if self.previous is not None:
            self.previous.close()
        if self._lockfile is not None:
            fcntl.flock(self._lockfile, fcntl.LOCK_UN)
            self._lockfile.close()
            self._lockfile = None

    def _clean_stale(self) -> None:
        """Remove what killed builds left and generations no longer live (safe: we hold the lock). While CURRENT
        is damaged the generations stay, until a new one is live."""
        try:
            live = current_generation(self.root)
        except IndexCorruptError:
            live = None
        for p in self.root.iterdir():
            stale = p.name.startswith("tmp-") or (live is not None and p.name.startswith("g-") and p != live)
            if p.is_dir() and stale:
                shutil.rmtree(p, ignore_errors=True)

    # --- change detection ---------------------------------------------------------------------

    def add(self, doc: Document, state: FileState, chunks: Sequence[Chunk]) -> None:
        db = self._staging()
        if doc.source in self._added:  # the same source twice: the last one wins
            db.execute("DELETE FROM documents WHERE source=?", (doc.source,))
            db.execute("DELETE FROM chunks WHERE source=?", (doc.source,))
        else:
            self.noted_added(doc.source)
        try:
            db.execute(
                "INSERT INTO documents VALUES (?,?,?,?,?,?,?,?)",
                (doc.source, doc.title, doc.format, doc.text, state.digest, state.size, state.mtime_ns,
                 json.dumps(doc.pages)),
            )  # fmt: skip
            db.executemany(
                "INSERT INTO chunks VALUES (NULL,?,?,?,?,?,?,?,?,0)",
                [(c.id, c.source, c.title, c.section, c.start, c.end, c.text, json.dumps(c.sentences)) for c in chunks],
            )
            db.commit()
        except sqlite3.Error as e:
            if _is_full(e):
                raise self._disk_full(e) from e
            raise
        self._added[doc.source] = (len(chunks), sum(len(c.sentences) for c in chunks))
        self._pending.extend(chunks)
        if self.previous is not None and doc.source in self._old:
            # the changed file's text that did not change keeps its vectors: remember where they are
            for row in self.previous.source_rows([doc.source]):
                r, _, _, _, section, start, _, text, sents, sent_row = row
                self._reuse_c[_h(f"{section}\n{text}")] = r
                for i, (a, b) in enumerate(json.loads(sents)):
                    self._reuse_s[_h(text[a - start : b - start])] = sent_row + i

    def _staging(self) -> sqlite3.Connection:
        if self._stage is None:
            self._stage_dir = self.root / f"tmp-stage-{uuid.uuid4().hex[:6]}"
            self._stage_dir.mkdir()
            self._stage = sqlite3.connect(self._stage_dir / "staged.sqlite")
            self._stage.execute("PRAGMA journal_mode=OFF")  # scratch: a killed build re-reads its files
            self._stage.execute("PRAGMA synchronous=OFF")
            self._stage.executescript(SCHEMA)
        return self._stage

    def missing_texts(self) -> tuple[list[str], list[str]]:
        """Of the chunks added since the last call: the texts the previous generation holds no vector for."""
        new, self._pending = self._pending, []
        chunk_texts = list(dict.fromkeys(c.indexed_text for c in new if _h(c.indexed_text) not in self._reuse_c))
        sent_texts = list(dict.fromkeys(s for c in new for s in c.sentence_texts() if _h(s) not in self._reuse_s))
        return chunk_texts, sent_texts

    # --- commit -------------------------------------------------------------------------------

    def commit(self, vectors: Mapping[str, np.ndarray], *, dim: int | None, model_source: str) -> Index:
        if (index := self.unchanged_generation()) is not None:
            return index
        if dim is None:
            dim = int(self.previous.manifest["dim"]) if self.previous is not None else None
        self._write(vectors, dim, model_source)
        return self._finish(open_index(self.root, self.settings))

    def _write(self, vectors: Mapping[str, np.ndarray], dim: int | None, model: str) -> None:
        """Write the new generation (kept + new documents) in a temporary folder, then make it live atomically."""
        timings = self.report.timings
        t0 = time.perf_counter()
        gen_name = f"g-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        tmp = self.root / f"tmp-{gen_name}"
        try:
            tmp.mkdir()
            db = sqlite3.connect(tmp / "store.sqlite")
            db.executescript(SCHEMA)
            kept = set(self._kept)
            order = sorted(kept | set(self._added))
            stats = self.previous.source_counts() if self.previous is not None else {}
            n_chunks = sum(stats[s][0] for s in kept) + sum(n for n, _ in self._added.values())
            n_sents = sum(stats[s][1] for s in kept) + sum(m for _, m in self._added.values())
            if dim is None:  # every vector came from the cache: the first one says
                first = next(iter(self._staging().execute("SELECT section, text FROM chunks LIMIT 1")), None)
                dim = len(self._vector(vectors, f"{first[0]}\n{first[1]}", None)) if first else 0
            rows = _Rows(tmp, dim, n_chunks, n_sents)
            for source in order:
                if source in self._added:
                    self._write_added(db, source, vectors, rows)
                else:
                    self._copy_kept(db, source, rows)
            db.commit()
            db.close()
            rows.close()
            timings["store_s"] = time.perf_counter() - t0

            t1 = time.perf_counter()
            import bm25s

            retriever = bm25s.BM25()
            if rows.vocab:
                retriever.index((rows.token_ids, rows.vocab), show_progress=False)
            else:  # no chunk has a searchable word
                retriever.index([[""]] * max(1, n_chunks), show_progress=False)
            rows.token_ids = []
            retriever.save(str(tmp / "bm25"))
            del retriever
            timings["bm25_s"] = time.perf_counter() - t1

            t2 = time.perf_counter()
            import faiss

            params = ann.choose(self.settings.index_type, n_chunks)
            vecs = np.load(tmp / "chunk_vecs.npy", mmap_mode="r")

            def batches() -> Iterator[np.ndarray]:
                for i in range(0, n_chunks, 50_000):
                    yield np.asarray(vecs[i : i + 50_000], dtype=np.float32)

            faiss.write_index(ann.build(params, dim, n_chunks, batches), str(tmp / "dense.faiss"))
            timings["faiss_s"] = time.perf_counter() - t2

            counts = (len(order), n_chunks, n_sents)
            manifest = self._manifest(
                FORMAT_VERSION, dataclasses.asdict(params), dim, model, counts, ("faiss-cpu", "bm25s")
            )
            manifest["files"] = checksums(tmp)
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
            _fsync_tree(tmp)
            os.rename(tmp, self.root / gen_name)
            _atomic_write(self.root / "CURRENT", gen_name)
        except (OSError, sqlite3.Error, RuntimeError) as e:
            shutil.rmtree(tmp, ignore_errors=True)
            if _is_full(e):
                raise self._disk_full(e) from e
            raise
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if self.previous is not None:
            self.previous.close()
            self.previous = None
        self._clean_stale()

    def _disk_full(self, e: BaseException) -> DiskFullError:
        return DiskFullError(
            f"no space left on the disk holding the index {self.root} ({str(e)[:80]}); free some space and run "
            "qa index again: the previous index still answers, and vectors computed so far are kept"
        )

    def _vector(
        self, vectors: Mapping[str, np.ndarray], text: str, reuse: tuple[dict, np.ndarray] | None
    ) -> np.ndarray:
        v = vectors.get(text)
        if v is not None:
            return v
        if reuse is not None and self.previous is not None:
            row = reuse[0].get(_h(text))
            if row is not None:
                return reuse[1][row]
        raise KeyError(f"no vector for {text[:60]!r}: the build did not embed it")

    def _write_added(self, db, source: str, vectors: Mapping[str, np.ndarray], rows: _Rows) -> None:  # noqa: ANN001
        stage = self._staging()
        db.execute("INSERT INTO documents VALUES (?,?,?,?,?,?,?,?)",
                   stage.execute("SELECT * FROM documents WHERE source=?", (source,)).fetchone())  # fmt: skip
        prev_c = (self._reuse_c, self.previous.all_vectors()[0]) if self.previous is not None else None
        prev_s = (self._reuse_s, self.previous.all_vectors()[1]) if self.previous is not None else None
        for r in stage.execute(f"SELECT {CHUNK_COLUMNS} FROM chunks WHERE source=? ORDER BY row", (source,)):
            _, cid, src, title, section, start, end, text, sents, _ = r
            spans = json.loads(sents)
            indexed = f"{section}\n{text}"
            svecs = [self._vector(vectors, text[a - start : b - start], prev_s) for a, b in spans]
            row, srow = rows.add(self._vector(vectors, indexed, prev_c), svecs, terms(indexed))
            db.execute("INSERT INTO chunks VALUES (?,?,?,?,?,?,?,?,?,?)",
                       (row, cid, src, title, section, start, end, text, sents, srow))  # fmt: skip

    def _copy_kept(self, db, source: str, rows: _Rows) -> None:  # noqa: ANN001
        p = self.previous
        assert p is not None
        db.execute("INSERT INTO documents VALUES (?,?,?,?,?,?,?,?)", p.document_row(source))
        for old_row, cid, src, title, section, start, end, text, sents, old_srow in p.source_rows([source]):
            n_s = len(json.loads(sents))
            cvec, svecs = p.raw_vectors(old_row, old_srow, n_s)
            row, srow = rows.add(cvec, svecs, terms(f"{section}\n{text}"))
            db.execute("INSERT INTO chunks VALUES (?,?,?,?,?,?,?,?,?,?)",
                       (row, cid, src, title, section, start, end, text, sents, srow))  # fmt: skip


class _Rows:
    """The generation's vector files, written row by row (float16 .npy), and its BM25 postings as token ids: what
    a build holds in memory is a word list per chunk as integers, not every vector and every token string."""

    def __init__(self, folder: Path, dim: int, n_chunks: int, n_sents: int):
        self.dim, self.row, self.srow = dim, 0, 0
        self.n_chunks, self.n_sents = n_chunks, n_sents
        self.files = [self._open(folder / "chunk_vecs.npy", n_chunks), self._open(folder / "sent_vecs.npy", n_sents)]
        self.vocab: dict[str, int] = {}
        self.token_ids: list[list[int]] = []

    def _open(self, path: Path, n: int) -> Any:
        f = open(path, "wb", buffering=1 << 20)  # noqa: SIM115 (closed in close())
        header = {
            "descr": np.lib.format.dtype_to_descr(np.dtype(np.float16)),
            "fortran_order": False,
            "shape": (n, self.dim),
        }
        np.lib.format.write_array_header_1_0(f, header)
        return f

    def add(
        self, chunk_vector: np.ndarray, sentence_vectors: Sequence[np.ndarray] | np.ndarray, words: list[str]
    ) -> tuple[int, int]:
        """Append one chunk's vectors and words; returns its (row, first sentence row)."""
        row, srow = self.row, self.srow
        self.files[0].write(np.asarray(chunk_vector, dtype=np.float16).tobytes())
        if len(sentence_vectors):
            self.files[1].write(np.asarray(sentence_vectors, dtype=np.float16).reshape(-1, self.dim).tobytes())
        vocab = self.vocab
        self.token_ids.append([vocab.setdefault(w, len(vocab)) for w in words])
        self.row, self.srow = row + 1, srow + len(sentence_vectors)
        return row, srow

    def close(self) -> None:
        for f in self.files:
            f.flush()
            f.close()
        if (self.row, self.srow) != (self.n_chunks, self.n_sents):
            raise RuntimeError(
                f"wrote {self.row} chunks, {self.srow} sentences; expected {self.n_chunks}, {self.n_sents}"
            )


def _is_full(e: BaseException) -> bool:
    return (isinstance(e, OSError) and e.errno == errno.ENOSPC) or "disk is full" in str(e) or "No space left" in str(e)


def _atomic_write(path: Path, content: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        f.write(content)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _fsync_tree(path: Path) -> None:
    for p in path.rglob("*"):
        if p.is_file():
            with open(p, "rb+") as f:
                os.fsync(f.fileno())
    _fsync_dir(path)
