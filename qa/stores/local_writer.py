"""Writing the embedded store: the next generation from the live one plus what changed, swapped in atomically.

The writer owns change detection (size and time, then content hash), reuses the vectors of unchanged text, and
writes a complete generation in a temporary folder before CURRENT names it: a killed build leaves the previous
index answering, and the next build clears what it left.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import fcntl
import json
import logging
import os
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qa.errors import IndexCorruptError, IndexMissingError, IndexOutdatedError, InputError
from qa.settings import IndexSettings
from qa.stores import ann
from qa.stores.local import FORMAT_VERSION, SCHEMA, Index, current_generation, open_index
from qa.text import terms
from qa.types import BuildReport, Chunk, Document, FileState

if TYPE_CHECKING:
    from qa.load import SourceFile

log = logging.getLogger("qa")


@dataclass(frozen=True, slots=True)
class _Added:
    doc: Document
    state: FileState
    chunks: tuple[Chunk, ...]


class LocalWriter:
    """Builds the next generation of a local index; holds the folder's lock from __enter__ to __exit__."""

    def __init__(self, root: Path, settings: IndexSettings, folder: Path, *, rebuild: bool = False):
        self.root, self.settings, self.folder = Path(root).expanduser(), settings, folder
        self.report = BuildReport(index_dir=str(self.root))
        self.previous: Index | None = None
        self._old: dict[str, FileState] = {}
        self._added: dict[str, _Added] = {}
        self._kept: list[str] = []  # sources carried over unchanged from the previous generation
        self._lockfile: Any = None
        self._rebuild = rebuild
        self._reuse: tuple[dict[str, np.ndarray], dict[str, np.ndarray]] | None = None
        self._t0 = time.perf_counter()

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
            if not self._rebuild and current_generation(self.root) is not None:
                try:
                    self.previous = open_index(self.root, self.settings)
                    self._old = self.previous.file_states()
                except (IndexCorruptError, IndexMissingError, IndexOutdatedError) as e:
                    log.warning("previous index unusable (%s); building from scratch", str(e).split(";")[0])
        except BaseException:
            self.__exit__()  # __exit__ is not called when __enter__ fails: release the lock here
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            self.previous.close()
        if self._lockfile is not None:
            fcntl.flock(self._lockfile, fcntl.LOCK_UN)
            self._lockfile.close()
            self._lockfile = None

    def _clean_stale(self) -> None:
        """Remove generations a killed build left behind (safe: we hold the lock)."""
        live = current_generation(self.root)
        for p in self.root.iterdir():
            if p.is_dir() and p.name.startswith(("g-", "tmp-")) and p != live:
                shutil.rmtree(p, ignore_errors=True)

    # --- change detection ---------------------------------------------------------------------

    def plan(self, files: Sequence[SourceFile]) -> list[SourceFile]:
        to_read = []
        for f in files:
            prev = self._old.get(f.source)
            if prev and prev.size == f.size and prev.mtime_ns == f.mtime_ns:
                self._kept.append(f.source)
            else:
                to_read.append(f)
        self.report.deleted = sorted(set(self._old) - {f.source for f in files})
        return to_read

    def unchanged(self, source: str, digest: str) -> bool:
        prev = self._old.get(source)
        if prev is None or prev.digest != digest:
            return False
        self._kept.append(source)
        return True

    def keep(self, source: str) -> bool:
        if source not in self._old:
            return False
        self._kept.append(source)
        return True

    def add(self, doc: Document, state: FileState, chunks: Sequence[Chunk]) -> None:
        self._added[doc.source] = _Added(doc, state, tuple(chunks))
        (self.report.changed if doc.source in self._old else self.report.added).append(doc.source)

    def missing_texts(self) -> tuple[list[str], list[str]]:
        known_c, known_s = self._reusable_vectors()
        new = [c for a in self._added.values() for c in a.chunks]
        chunk_texts = list(dict.fromkeys(c.indexed_text for c in new if c.indexed_text not in known_c))
        sent_texts = list(dict.fromkeys(s for c in new for s in c.sentence_texts() if s not in known_s))
        return chunk_texts, sent_texts

    def _reusable_vectors(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Vectors of the previous generation's changed sources, keyed by the text they embed, so text that did
        not change is never embedded again."""
        if self._reuse is None:
            chunk_vecs: dict[str, np.ndarray] = {}
            sent_vecs: dict[str, np.ndarray] = {}
            if self.previous is not None and self._added:
                for row in self.previous.source_rows(list(self._added)):
                    r, _, _, _, section, start, _, text, sents, sent_row = row
                    spans = json.loads(sents)
                    cvec, svecs = self.previous.raw_vectors(r, sent_row, len(spans))
                    chunk_vecs[f"{section}\n{text}"] = np.asarray(cvec, dtype=np.float32)
                    for i, (s, e) in enumerate(spans):
                        sent_vecs[text[s - start : e - start]] = np.asarray(svecs[i], dtype=np.float32)
            self._reuse = (chunk_vecs, sent_vecs)
        return self._reuse

    # --- commit -------------------------------------------------------------------------------

    def commit(self, vectors: Mapping[str, np.ndarray], *, dim: int | None, model_source: str) -> Index:
        r = self.report
        r.unchanged = len(self._kept)
        if not self._kept and not self._added:
            raise InputError(f"no readable text in {self.folder}: every file was skipped (see the warnings above)")
        if self.previous is not None and not self._added and not r.deleted:
            r.up_to_date = True
            index, self.previous = self.previous, None  # hand the open index over instead of reopening it
            return self._finish(index)
        known_c, known_s = self._reusable_vectors()
        chunk_vecs = {**known_c, **vectors}
        sent_vecs = {**known_s, **vectors}
        if dim is None:
            dim = int(self.previous.manifest["dim"]) if self.previous is not None else 0
        self._write(chunk_vecs, sent_vecs, dim, model_source)
        return self._finish(open_index(self.root, self.settings))

    def _finish(self, index: Index) -> Index:
        self.report.documents, self.report.chunks = index.n_documents, index.n_chunks
        self.report.seconds = time.perf_counter() - self._t0
        index.build_report = self.report
        return index

    def _write(
        self, chunk_vectors: Mapping[str, np.ndarray], sentence_vectors: Mapping[str, np.ndarray], dim: int, model: str
    ) -> None:
        """Write the new generation (kept + new documents) in a temporary folder, then make it live atomically."""
        timings = self.report.timings
        t0 = time.perf_counter()
        gen_name = f"g-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        tmp = self.root / f"tmp-{gen_name}"
        tmp.mkdir()
        try:
            db = sqlite3.connect(tmp / "store.sqlite")
            db.executescript(SCHEMA)
            kept = set(self._kept)
            order = sorted(kept | set(self._added))
            stats = self.previous.source_counts() if self.previous is not None else {}
            n_chunks = sum(stats[s][0] for s in kept) + sum(len(a.chunks) for a in self._added.values())
            n_sents = sum(stats[s][1] for s in kept) + sum(
                len(c.sentences) for a in self._added.values() for c in a.chunks
            )
            cvec = np.lib.format.open_memmap(tmp / "chunk_vecs.npy", mode="w+", dtype=np.float16, shape=(n_chunks, dim))
            svec = np.lib.format.open_memmap(tmp / "sent_vecs.npy", mode="w+", dtype=np.float16, shape=(n_sents, dim))
            row = srow = 0
            tokens: list[list[str]] = []
            for source in order:
                if source in self._added:
                    row, srow = self._write_added(db, self._added[source], chunk_vectors, sentence_vectors, cvec, svec, row, srow, tokens)  # fmt: skip
                else:
                    row, srow = self._copy_kept(db, source, cvec, svec, row, srow, tokens)
            db.commit()
            db.close()
            cvec.flush()
            svec.flush()
            timings["store_s"] = time.perf_counter() - t0

            t1 = time.perf_counter()
            import bm25s

            if not tokens or not any(tokens):
                tokens = tokens or [[""]]
            retriever = bm25s.BM25()
            retriever.index(tokens, show_progress=False)
            retriever.save(str(tmp / "bm25"))
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

            manifest = self._manifest(params, dim, model, len(order), n_chunks, n_sents)
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
            _fsync_tree(tmp)
            os.rename(tmp, self.root / gen_name)
            _atomic_write(self.root / "CURRENT", gen_name)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        old = self.previous.dir if self.previous is not None else None
        if self.previous is not None:
            self.previous.close()
            self.previous = None
        if old is not None and old.exists():
            shutil.rmtree(old, ignore_errors=True)

    @staticmethod
    def _write_added(db, added, chunk_vectors, sentence_vectors, cvec, svec, row, srow, tokens):  # noqa: ANN001, ANN205
        d = added.doc
        db.execute(
            "INSERT INTO documents VALUES (?,?,?,?,?,?,?,?)",
            (d.source, d.title, d.format, d.text, added.state.digest, added.state.size, added.state.mtime_ns,
             json.dumps(d.pages)),
        )  # fmt: skip
        for c in added.chunks:
            cvec[row] = chunk_vectors[c.indexed_text]
            for k, s in enumerate(c.sentence_texts()):
                svec[srow + k] = sentence_vectors[s]
            db.execute(
                "INSERT INTO chunks VALUES (?,?,?,?,?,?,?,?,?,?)",
                (row, c.id, c.source, c.title, c.section, c.start, c.end, c.text, json.dumps(c.sentences), srow),
            )
            tokens.append(terms(c.indexed_text))
            row += 1
            srow += len(c.sentences)
        return row, srow

    def _copy_kept(self, db, source, cvec, svec, row, srow, tokens):  # noqa: ANN001, ANN202
        p = self.previous
        assert p is not None
        db.execute("INSERT INTO documents VALUES (?,?,?,?,?,?,?,?)", p.document_row(source))
        for old_row, cid, src, title, section, start, end, text, sents, old_srow in p.source_rows([source]):
            n_s = len(json.loads(sents))
            cvec[row], svec[srow : srow + n_s] = p.raw_vectors(old_row, old_srow, n_s)
            db.execute(
                "INSERT INTO chunks VALUES (?,?,?,?,?,?,?,?,?,?)",
                (row, cid, src, title, section, start, end, text, sents, srow),
            )
            tokens.append(terms(f"{section}\n{text}"))
            row += 1
            srow += n_s
        return row, srow

    def _manifest(
        self, params: ann.AnnParams, dim: int, model_source: str, n_docs: int, n_chunks: int, n_sents: int
    ) -> dict[str, Any]:
        from importlib.metadata import PackageNotFoundError, version

        def v(pkg: str) -> str:
            try:
                return version(pkg)
            except PackageNotFoundError:
                return ""

        return {
            "format": FORMAT_VERSION,
            "built_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "folder": str(self.folder),
            "model": self.settings.model,
            "model_source": model_source,
            "dim": dim,
            "shape": self.settings.shape(),
            "ann": dataclasses.asdict(params),
            "documents": n_docs,
            "chunks": n_chunks,
            "sentences": n_sents,
            "versions": {p: v(p) for p in ("qa", "sentence-transformers", "torch", "faiss-cpu", "bm25s")},
        }


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
