"""The embedded store: an index in one folder. Chunk store (SQLite), vectors (FAISS + float16 arrays), BM25, manifest.

Layout of an index folder:
    CURRENT            name of the live generation; replaced atomically (os.replace) after a build
    lock               held while a build runs, so two builds never interleave
    g-<time>-<rand>/   one complete generation: manifest.json, store.sqlite, chunk_vecs.npy,
                       sent_vecs.npy, dense.faiss, bm25/
A build (qa/stores/local_writer.py) writes a new generation beside the live one and flips CURRENT last, so
killing it at any moment leaves the previous index untouched and usable.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
import zlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qa.errors import IndexCorruptError, IndexMissingError, IndexOutdatedError
from qa.settings import IndexSettings
from qa.stores import ann, check_manifest
from qa.types import BuildReport, Chunk, Document, FileState

FORMAT_VERSION = 1
SCHEMA = """
CREATE TABLE documents (source TEXT PRIMARY KEY, title TEXT, format TEXT, text TEXT, hash TEXT,
                        size INTEGER, mtime_ns INTEGER, pages TEXT);
CREATE TABLE chunks (row INTEGER PRIMARY KEY, id TEXT, source TEXT, title TEXT, section TEXT,
                     start INTEGER, "end" INTEGER, text TEXT, sentences TEXT, sent_row INTEGER);
CREATE INDEX chunks_source ON chunks(source);
CREATE INDEX chunks_id ON chunks(id);
"""
CALIBRATION = "calibration.json"  # written beside the manifest once the generation is live
CHUNK_COLUMNS = 'row, id, source, title, section, start, "end", text, sentences, sent_row'  # SELECT order of a Chunk
GENERATION = re.compile(r"g-[0-9]{8}-[0-9]{6}-[0-9a-f]{6}")  # the names the writer gives generations


def rebuild_hint(folder: str | None) -> str:
    return f"qa index {folder or 'DOCS'} --rebuild"


class Index:
    """One opened generation of a local index: read-only, safe to share between threads."""

    def __init__(self, root: Path, gen: Path, manifest: dict[str, Any]):
        self.root, self.dir, self.manifest = root, gen, manifest
        self.folder: str | None = manifest.get("folder")
        self.build_report: BuildReport | None = None
        self.calibration: dict[str, Any] | None = _read_json(gen / CALIBRATION)
        self._lock = threading.Lock()
        verify_files(root, gen, manifest)
        try:
            self._db = sqlite3.connect(f"file:{gen / 'store.sqlite'}?mode=ro", uri=True, check_same_thread=False)
            n = self._db.execute("SELECT count(*) FROM chunks").fetchone()[0]
            self.n_documents = self._db.execute("SELECT count(*) FROM documents").fetchone()[0]
            self._chunk_vecs = np.load(gen / "chunk_vecs.npy", mmap_mode="r")
            self._sent_vecs = np.load(gen / "sent_vecs.npy", mmap_mode="r")
            import faiss

            self.ann_params = ann.AnnParams(**manifest["ann"])
            self.dense = faiss.read_index(str(gen / "dense.faiss"))
            ann.configure(self.dense, self.ann_params)
            import bm25s

            self.bm25 = bm25s.BM25.load(str(gen / "bm25"), mmap=False)
        except (sqlite3.Error, OSError, ValueError, EOFError, RuntimeError, KeyError, TypeError) as e:
            raise IndexCorruptError(
                f"index at {root} is damaged ({type(e).__name__}: {str(e)[:100]}); rebuild it with: {rebuild_hint(self.folder)}"
            ) from e
        counts = {
            "chunks": n,
            "vectors": self._chunk_vecs.shape[0],
            "faiss": self.dense.ntotal,
            "bm25": int(self.bm25.scores["num_docs"]),
        }
        dims = {self._chunk_vecs.shape[-1], self._sent_vecs.shape[-1], self.dense.d, manifest.get("dim")}
        sentences = manifest.get("sentences", self._sent_vecs.shape[0])
        if (
            len(set(counts.values())) != 1
            or n != manifest.get("chunks", n)
            or len(dims) != 1
            or (self._sent_vecs.shape[0] != sentences)
        ):
            raise IndexCorruptError(
                f"index at {root} is inconsistent ({counts}); rebuild it with: {rebuild_hint(self.folder)}"
            )
        self.n_chunks = n
        indptr = np.asarray(self.bm25.scores["indptr"])
        self._df = np.diff(indptr)  # documents containing each term: BM25's postings give it for free

    @property
    def model(self) -> str:
        return str(self.manifest["model"])

    @property
    def built_at(self) -> str:
        return str(self.manifest.get("built_at", ""))

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def chunks(self, rows: Sequence[int]) -> list[Chunk]:
        rows = [int(r) for r in rows]
        if not rows:
            return []
        found = {r[0]: r for r in self._rows(f"SELECT {CHUNK_COLUMNS} FROM chunks WHERE row IN ({_marks(rows)})", rows)}
        return [chunk_from_row(found[r]) for r in rows if r in found]

    def chunk_by_id(self, chunk_id: str) -> Chunk | None:
        r = self._rows(f"SELECT {CHUNK_COLUMNS} FROM chunks WHERE id=?", (chunk_id,))
        return chunk_from_row(r[0]) if r else None

    def chunk_vectors(self, rows: Sequence[int]) -> np.ndarray:
        rows = [int(r) for r in rows]
        if not rows:
            return np.zeros((0, self._chunk_vecs.shape[1]), dtype=np.float32)
        return np.asarray(self._chunk_vecs[rows], dtype=np.float32)

    def sentence_vectors(self, rows: Sequence[int]) -> list[np.ndarray]:
        rows = [int(r) for r in rows]
        if not rows:
            return []
        found = {
            r: (s, n)
            for r, s, n in self._rows(
                f"SELECT row, sent_row, json_array_length(sentences) FROM chunks WHERE row IN ({_marks(rows)})", rows
            )
        }
        return [np.asarray(self._sent_vecs[found[r][0] : found[r][0] + found[r][1]], dtype=np.float32) for r in rows]

    def document(self, source: str) -> Document | None:
        r = self._rows("SELECT source, title, text, format, pages FROM documents WHERE source=?", (source,))
        return Document(r[0][0], r[0][1], r[0][2], r[0][3], tuple(json.loads(r[0][4] or "[]"))) if r else None

    def documents(self) -> list[tuple[str, str, int]]:
        return self._rows("SELECT source, title, length(text) FROM documents ORDER BY source")  # type: ignore[return-value]

    def file_states(self) -> dict[str, FileState]:
        return {
            s: FileState(h, size, m)
            for s, h, size, m in self._rows("SELECT source, hash, size, mtime_ns FROM documents")
        }

    def rows(self) -> range:
        return range(self.n_chunks)

    def dense_search(self, vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return ann.search(self.dense, vector, k)

    def keyword_search(self, terms: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        ids = self.bm25.get_tokens_ids(list(terms))
        if not ids:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        scores = self.bm25.get_scores_from_ids(ids)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        top = top[scores[top] > 0]
        return top.astype(np.int64), scores[top].astype(np.float32)

    def idf(self, terms: Iterable[str]) -> dict[str, float]:
        n = self.n_chunks
        out = {}
        for t in terms:
            tid = self.bm25.vocab_dict.get(t)
            df = int(self._df[tid]) if tid is not None and tid < len(self._df) else 0
            out[t] = float(np.log(1 + (n - df + 0.5) / (df + 0.5)))
        return out

    # what the writer copies from the previous generation: whole sources, vectors included
    def source_rows(self, sources: Sequence[str]) -> list[tuple]:
        """CHUNK_COLUMNS of every chunk of these sources, in row order."""
        return self._rows(
            f"SELECT {CHUNK_COLUMNS} FROM chunks WHERE source IN ({_marks(sources)}) ORDER BY row", list(sources)
        )

    def document_row(self, source: str) -> tuple:
        return self._rows("SELECT * FROM documents WHERE source=?", (source,))[0]

    def source_counts(self) -> dict[str, tuple[int, int]]:
        """source -> (chunks, sentences), in one query."""
        rows = self._rows(
            "SELECT source, count(*), coalesce(sum(json_array_length(sentences)), 0) FROM chunks GROUP BY source"
        )
        return {src: (int(n), int(m)) for src, n, m in rows}

    def raw_vectors(self, row: int, sent_row: int, n_sentences: int) -> tuple[np.ndarray, np.ndarray]:
        """A chunk's stored vector and its sentences' (float16, as on disk)."""
        return self._chunk_vecs[row], self._sent_vecs[sent_row : sent_row + n_sentences]

    def save_calibration(self, record: Mapping[str, Any]) -> None:
        tmp = self.dir / f"{CALIBRATION}.tmp"
        tmp.write_text(json.dumps(record, indent=2))
        os.replace(tmp, self.dir / CALIBRATION)
        self.calibration = dict(record)

    def all_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """The chunk and sentence vector arrays (float16, mapped from disk, not read into memory)."""
        return self._chunk_vecs, self._sent_vecs

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # not measured yet, or unreadable: measured again on the next build
    return data if isinstance(data, dict) else None


def _marks(items: Sequence[Any]) -> str:
    return ",".join("?" * len(items))


def chunk_from_row(r: tuple) -> Chunk:
    """A Chunk from a CHUNK_COLUMNS row."""
    sents = tuple(tuple(x) for x in json.loads(r[8]))
    return Chunk(r[1], r[2], r[3], r[4], r[5], r[6], r[7], sents)  # type: ignore[arg-type]


def current_generation(root: Path) -> Path | None:
    """The live generation CURRENT names; None when there is no index, IndexCorruptError when CURRENT is damaged."""
    try:
        name = (root / "CURRENT").read_bytes().decode("ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        name = f"unreadable: {type(e).__name__}"
    if not GENERATION.fullmatch(name) or not (root / name).is_dir():
        raise IndexCorruptError(
            f"index at {root} is damaged (its CURRENT file names no generation: {name[:40]!r}); "
            f"rebuild it with: {rebuild_hint(None)}"
        )
    return root / name


def checksums(gen: Path) -> dict[str, list[int]]:
    """Size and CRC-32 of every file of a generation, by relative path: CRC-32 runs at ~3 GB/s, so checking a
    whole generation on open costs milliseconds for docs/ and well under a second for 100k chunks."""
    out = {}
    for path in sorted(p for p in gen.rglob("*") if p.is_file() and p.name != CALIBRATION):
        crc = 0
        with open(path, "rb") as f:
            while block := f.read(1 << 22):
                crc = zlib.crc32(block, crc)
        out[path.relative_to(gen).as_posix()] = [path.stat().st_size, crc]
    return out


def verify_files(root: Path, gen: Path, manifest: Mapping[str, Any]) -> None:
    """Check every file the manifest lists against its size and checksum (indexes from before checksums were
    recorded are checked for counts and shapes only)."""
    expected = manifest.get("files")
    if not isinstance(expected, dict):
        return
    found = checksums(gen)
    for name, want in expected.items():
        got = found.get(name)
        if got != want:
            what = "missing" if got is None else "truncated or grown" if got[0] != want[0] else "changed on disk"
            raise IndexCorruptError(
                f"index at {root} is damaged ({name} is {what}); rebuild it with: {rebuild_hint(manifest.get('folder'))}"
            )


def open_index(root: Path, settings: IndexSettings | None = None) -> Index:
    """Open the live generation in `root`, checking it was built with `settings`' model and chunking."""
    root = Path(root).expanduser()
    gen = current_generation(root)
    if gen is None:
        raise IndexMissingError(f"no index at {root}; build one with: qa index DOCS_FOLDER")
    try:
        manifest = json.loads((gen / "manifest.json").read_text())
        if not isinstance(manifest, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as e:
        raise IndexCorruptError(
            f"index at {root} has no readable manifest ({str(e)[:80]}); rebuild it with: {rebuild_hint(None)}"
        ) from e
    folder = manifest.get("folder")
    if manifest.get("format") != FORMAT_VERSION:
        raise IndexOutdatedError(
            f"index at {root} has format {manifest.get('format')}, this qa reads {FORMAT_VERSION}; "
            f"rebuild it with: {rebuild_hint(folder)}"
        )
    if settings is not None:
        check_manifest(manifest, settings, str(root), rebuild_hint(folder))
    return Index(root, gen, manifest)


class LocalStore:
    """An index in a folder on this machine."""

    def __init__(self, root: Path, settings: IndexSettings):
        self.root, self.settings = Path(root).expanduser(), settings
        self.location = str(self.root)

    def open(self) -> Index:
        return open_index(self.root, self.settings)

    def writer(self, folder: Path, *, rebuild: bool = False):  # noqa: ANN201 (a LocalWriter)
        from qa.stores.local_writer import LocalWriter

        return LocalWriter(self.root, self.settings, folder, rebuild=rebuild)

    def generation(self) -> str | None:
        gen = current_generation(self.root)
        return gen.name if gen is not None else None
