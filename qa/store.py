"""The index on disk: chunk store (SQLite), vectors (FAISS + float16 arrays), BM25, manifest, atomic swap.

Layout of an index folder:
    CURRENT            name of the live generation; replaced atomically (os.replace) after a build
    lock               held while a build runs, so two builds never interleave
    g-<time>-<rand>/   one complete generation: manifest.json, store.sqlite, chunk_vecs.npy,
                       sent_vecs.npy, dense.faiss, bm25/
A build writes a new generation beside the live one and flips CURRENT last, so killing it at any moment
leaves the previous index untouched and usable.
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
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qa.errors import IndexCorruptError, IndexMismatchError, IndexMissingError, IndexOutdatedError, InputError
from qa.settings import Settings
from qa.stores import ann
from qa.types import Chunk, Document

log = logging.getLogger("qa")

FORMAT_VERSION = 1
_SCHEMA = """
CREATE TABLE documents (source TEXT PRIMARY KEY, title TEXT, format TEXT, text TEXT, hash TEXT,
                        size INTEGER, mtime_ns INTEGER, pages TEXT);
CREATE TABLE chunks (row INTEGER PRIMARY KEY, id TEXT, source TEXT, title TEXT, section TEXT,
                     start INTEGER, "end" INTEGER, text TEXT, sentences TEXT, sent_row INTEGER);
CREATE INDEX chunks_source ON chunks(source);
CREATE INDEX chunks_id ON chunks(id);
"""


def _rebuild_hint(folder: str | None) -> str:
    return f"qa index {folder or 'DOCS'} --rebuild"


# --- reading --------------------------------------------------------------------------------


class Index:
    """One opened generation of an index: read-only, safe to share between threads."""

    def __init__(self, root: Path, gen: Path, manifest: dict):
        self.root, self.dir, self.manifest = root, gen, manifest
        self.folder: str | None = manifest.get("folder")
        self.build_report: BuildReport | None = None
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(f"file:{gen / 'store.sqlite'}?mode=ro", uri=True, check_same_thread=False)
            n = self._db.execute("SELECT count(*) FROM chunks").fetchone()[0]
            self.n_documents = self._db.execute("SELECT count(*) FROM documents").fetchone()[0]
            self.chunk_vectors = np.load(gen / "chunk_vecs.npy", mmap_mode="r")
            self.sentence_vectors = np.load(gen / "sent_vecs.npy", mmap_mode="r")
            import faiss

            self.ann_params = ann.AnnParams(**manifest["ann"])
            self.dense = faiss.read_index(str(gen / "dense.faiss"))
            ann.configure(self.dense, self.ann_params)
            import bm25s

            self.bm25 = bm25s.BM25.load(str(gen / "bm25"), mmap=False)
        except (sqlite3.Error, OSError, ValueError, RuntimeError, KeyError, TypeError) as e:
            raise IndexCorruptError(
                f"index at {root} is damaged ({type(e).__name__}: {str(e)[:100]}); rebuild it with: {_rebuild_hint(self.folder)}"
            ) from e
        counts = {
            "chunks": n,
            "vectors": self.chunk_vectors.shape[0],
            "faiss": self.dense.ntotal,
            "bm25": int(self.bm25.scores["num_docs"]),
        }
        if len(set(counts.values())) != 1 or n != manifest.get("chunks", n):
            raise IndexCorruptError(
                f"index at {root} is inconsistent ({counts}); rebuild it with: {_rebuild_hint(self.folder)}"
            )
        self.n_chunks = n
        indptr = np.asarray(self.bm25.scores["indptr"])
        self._df = np.diff(indptr)  # documents containing each term: BM25's postings give it for free

    # the model and when it was built, for status lines
    @property
    def model(self) -> str:
        return str(self.manifest["model"])

    @property
    def built_at(self) -> str:
        return str(self.manifest.get("built_at", ""))

    def chunks(self, rows: Sequence[int]) -> list[Chunk]:
        """Chunks by row, in the order asked."""
        rows = [int(r) for r in rows]
        if not rows:
            return []
        q = f'SELECT row, id, source, title, section, start, "end", text, sentences FROM chunks WHERE row IN ({",".join("?" * len(rows))})'
        with self._lock:
            found = {r[0]: r for r in self._db.execute(q, rows)}
        return [_chunk(found[r]) for r in rows if r in found]

    def chunk_by_id(self, chunk_id: str) -> Chunk | None:
        with self._lock:
            r = self._db.execute(
                'SELECT row, id, source, title, section, start, "end", text, sentences FROM chunks WHERE id=?',
                (chunk_id,),
            ).fetchone()
        return _chunk(r) if r else None

    def sentence_rows(self, rows: Sequence[int]) -> dict[int, tuple[int, int]]:
        """Chunk row -> (first sentence-vector row, number of sentences)."""
        rows = [int(r) for r in rows]
        with self._lock:
            q = f"SELECT row, sent_row, json_array_length(sentences) FROM chunks WHERE row IN ({','.join('?' * len(rows))})"
            return {r: (s, n) for r, s, n in self._db.execute(q, rows)} if rows else {}

    def document(self, source: str) -> Document | None:
        with self._lock:
            r = self._db.execute(
                "SELECT source, title, text, format, pages FROM documents WHERE source=?", (source,)
            ).fetchone()
        return Document(r[0], r[1], r[2], r[3], tuple(json.loads(r[4] or "[]"))) if r else None

    def documents(self) -> list[tuple[str, str, int]]:
        """(source, title, characters) of every document."""
        with self._lock:
            return list(self._db.execute("SELECT source, title, length(text) FROM documents ORDER BY source"))

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
        """Inverse document frequency of each term; a term the corpus never uses gets the highest."""
        n = self.n_chunks
        out = {}
        for t in terms:
            tid = self.bm25.vocab_dict.get(t)
            df = int(self._df[tid]) if tid is not None and tid < len(self._df) else 0
            out[t] = float(np.log(1 + (n - df + 0.5) / (df + 0.5)))
        return out

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _chunk(r: tuple) -> Chunk:
    sents = tuple(tuple(x) for x in json.loads(r[8]))
    return Chunk(r[1], r[2], r[3], r[4], r[5], r[6], r[7], sents)  # type: ignore[arg-type]


def _current(root: Path) -> Path | None:
    try:
        name = (root / "CURRENT").read_text().strip()
    except FileNotFoundError:
        return None
    return root / name


def open_store(root: Path, settings: Settings | None = None) -> Index:
    """Open the live generation in `root`, checking it was built with `settings`' model and chunking."""
    root = Path(root).expanduser()
    gen = _current(root)
    if gen is None:
        raise IndexMissingError(f"no index at {root}; build one with: qa index DOCS_FOLDER")
    try:
        manifest = json.loads((gen / "manifest.json").read_text())
    except (OSError, ValueError) as e:
        raise IndexCorruptError(
            f"index at {root} has no readable manifest ({e}); rebuild it with: qa index DOCS --rebuild"
        ) from e
    folder = manifest.get("folder")
    if manifest.get("format") != FORMAT_VERSION:
        raise IndexOutdatedError(
            f"index at {root} has format {manifest.get('format')}, this qa reads {FORMAT_VERSION}; "
            f"rebuild it with: {_rebuild_hint(folder)}"
        )
    if settings is not None and manifest.get("shape") != settings.shape():
        theirs, ours = manifest.get("shape", {}), settings.shape()
        differ = [k for k in ours if theirs.get(k) != ours.get(k)]
        if differ == ["chunker"]:  # qa's own chunking changed, not the user's settings
            raise IndexOutdatedError(
                f"index at {root} was chunked by an older qa (chunker {theirs.get('chunker')}, this qa "
                f"{ours['chunker']}); rebuild it with: {_rebuild_hint(folder)}"
            )
        diff = ", ".join(f"{k}: index {theirs.get(k)!r} vs settings {ours.get(k)!r}" for k in differ)
        raise IndexMismatchError(
            f"index at {root} was built with other settings ({diff}); rebuild it with: {_rebuild_hint(folder)} "
            "(or use the settings it was built with)"
        )
    return Index(root, gen, manifest)


# --- writing --------------------------------------------------------------------------------


@dataclass
class BuildReport:
    """What a build did: the figures `qa index` prints and tests assert on."""

    index_dir: str = ""
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: int = 0
    documents: int = 0
    chunks: int = 0
    chunks_embedded: int = 0
    sentences_embedded: int = 0
    seconds: float = 0.0
    up_to_date: bool = False
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class _NewDoc:
    source: str
    doc: Document
    digest: str
    size: int
    mtime_ns: int
    chunks: list[Chunk]


class IndexWriter:
    """Builds the next generation of an index from the previous one plus changed documents."""

    def __init__(self, root: Path, settings: Settings, folder: Path, *, rebuild: bool = False):
        self.root, self.settings, self.folder = Path(root).expanduser(), settings, folder
        self.new_docs: list[_NewDoc] = []
        self.kept: list[str] = []  # sources carried over unchanged from the previous generation
        self.previous: Index | None = None
        self._lockfile = None
        self._rebuild = rebuild

    def __enter__(self) -> IndexWriter:
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
            if not self._rebuild and _current(self.root) is not None:
                try:
                    self.previous = open_store(self.root, self.settings)
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

    def _clean_stale(self) -> None:
        """Remove generations a killed build left behind (safe: we hold the lock)."""
        live = _current(self.root)
        for p in self.root.iterdir():
            if p.is_dir() and p.name.startswith(("g-", "tmp-")) and p != live:
                shutil.rmtree(p, ignore_errors=True)

    def previous_documents(self) -> dict[str, tuple[str, int, int]]:
        """source -> (content hash, size, mtime_ns) in the live generation."""
        if self.previous is None:
            return {}
        with self.previous._lock:
            rows = self.previous._db.execute("SELECT source, hash, size, mtime_ns FROM documents").fetchall()
        return {s: (h, size, m) for s, h, size, m in rows}

    def keep(self, source: str) -> None:
        self.kept.append(source)

    def add(self, doc: Document, digest: str, size: int, mtime_ns: int, chunks: list[Chunk]) -> None:
        self.new_docs.append(_NewDoc(doc.source, doc, digest, size, mtime_ns, chunks))

    def reusable_vectors(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Vectors of the previous generation keyed by the text they embed, so unchanged text is never re-embedded."""
        chunk_vecs: dict[str, np.ndarray] = {}
        sent_vecs: dict[str, np.ndarray] = {}
        if self.previous is None or not self.new_docs:
            return chunk_vecs, sent_vecs
        sources = [d.source for d in self.new_docs]
        p = self.previous
        with p._lock:
            q = f"SELECT row, section, text, sentences, sent_row, start FROM chunks WHERE source IN ({','.join('?' * len(sources))})"
            rows = p._db.execute(q, sources).fetchall()
        for row, section, text, sents, sent_row, start in rows:
            chunk_vecs[f"{section}\n{text}"] = np.asarray(p.chunk_vectors[row], dtype=np.float32)
            for i, (s, e) in enumerate(json.loads(sents)):
                sent_vecs[text[s - start : e - start]] = np.asarray(p.sentence_vectors[sent_row + i], dtype=np.float32)
        return chunk_vecs, sent_vecs

    def commit(
        self,
        chunk_vectors: dict[str, np.ndarray],
        sentence_vectors: dict[str, np.ndarray],
        *,
        dim: int,
        model_source: str,
        report: BuildReport,
    ) -> Index:
        """Write the new generation (kept + new documents) and make it live atomically."""
        import time

        from qa.text import terms

        t0 = time.perf_counter()
        gen_name = f"g-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        tmp = self.root / f"tmp-{gen_name}"
        tmp.mkdir()
        try:
            db = sqlite3.connect(tmp / "store.sqlite")
            db.executescript(_SCHEMA)
            kept = set(self.kept)
            new_by_source = {d.source: d for d in self.new_docs}
            order = sorted(kept | set(new_by_source))
            stats = self._previous_stats()
            n_chunks = sum(stats[s][0] for s in kept) + sum(len(d.chunks) for d in self.new_docs)
            n_sents = sum(stats[s][1] for s in kept) + sum(len(c.sentences) for d in self.new_docs for c in d.chunks)
            cvec = np.lib.format.open_memmap(tmp / "chunk_vecs.npy", mode="w+", dtype=np.float16, shape=(n_chunks, dim))
            svec = np.lib.format.open_memmap(tmp / "sent_vecs.npy", mode="w+", dtype=np.float16, shape=(n_sents, dim))
            row = srow = 0
            tokens: list[list[str]] = []
            for source in order:
                if source in new_by_source:
                    d = new_by_source[source]
                    db.execute(
                        "INSERT INTO documents VALUES (?,?,?,?,?,?,?,?)",
                        (
                            source,
                            d.doc.title,
                            d.doc.format,
                            d.doc.text,
                            d.digest,
                            d.size,
                            d.mtime_ns,
                            json.dumps(d.doc.pages),
                        ),
                    )
                    for c in d.chunks:
                        cvec[row] = chunk_vectors[c.indexed_text]
                        for k, s in enumerate(c.sentence_texts()):
                            svec[srow + k] = sentence_vectors[s]
                        db.execute(
                            "INSERT INTO chunks VALUES (?,?,?,?,?,?,?,?,?,?)",
                            (
                                row,
                                c.id,
                                c.source,
                                c.title,
                                c.section,
                                c.start,
                                c.end,
                                c.text,
                                json.dumps(c.sentences),
                                srow,
                            ),
                        )
                        tokens.append(terms(c.indexed_text))
                        row += 1
                        srow += len(c.sentences)
                else:
                    row, srow = self._copy_kept(db, source, cvec, svec, row, srow, tokens)
            db.commit()
            db.close()
            cvec.flush()
            svec.flush()
            report.timings["store_s"] = time.perf_counter() - t0

            t1 = time.perf_counter()
            import bm25s

            if not tokens or not any(tokens):
                tokens = tokens or [[""]]
            retriever = bm25s.BM25()
            retriever.index(tokens, show_progress=False)
            retriever.save(str(tmp / "bm25"))
            report.timings["bm25_s"] = time.perf_counter() - t1

            t2 = time.perf_counter()
            import faiss

            params = ann.choose(self.settings.index_type, n_chunks)
            vecs = np.load(tmp / "chunk_vecs.npy", mmap_mode="r")

            def batches() -> Iterator[np.ndarray]:
                for i in range(0, n_chunks, 50_000):
                    yield np.asarray(vecs[i : i + 50_000], dtype=np.float32)

            index = ann.build(params, dim, n_chunks, batches)
            faiss.write_index(index, str(tmp / "dense.faiss"))
            report.timings["faiss_s"] = time.perf_counter() - t2

            manifest = self._manifest(params, dim, model_source, len(order), n_chunks, n_sents)
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
            _fsync_tree(tmp)
            final = self.root / gen_name
            os.rename(tmp, final)
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
        return open_store(self.root, self.settings)

    def _previous_stats(self) -> dict[str, tuple[int, int]]:
        """source -> (chunks, sentences) in the live generation, in one query."""
        if self.previous is None:
            return {}
        with self.previous._lock:
            rows = self.previous._db.execute(
                "SELECT source, count(*), coalesce(sum(json_array_length(sentences)), 0) FROM chunks GROUP BY source"
            ).fetchall()
        return {src: (int(n), int(m)) for src, n, m in rows}

    def _copy_kept(self, db, source, cvec, svec, row, srow, tokens):  # noqa: ANN001, ANN202
        from qa.text import terms

        p = self.previous
        assert p is not None
        with p._lock:
            doc = p._db.execute("SELECT * FROM documents WHERE source=?", (source,)).fetchone()
            chunks = p._db.execute(
                'SELECT row, id, source, title, section, start, "end", text, sentences, sent_row FROM chunks '
                "WHERE source=? ORDER BY row",
                (source,),
            ).fetchall()
        db.execute("INSERT INTO documents VALUES (?,?,?,?,?,?,?,?)", doc)
        for old_row, cid, src, title, section, start, end, text, sents, old_srow in chunks:
            n_s = len(json.loads(sents))
            cvec[row] = p.chunk_vectors[old_row]
            svec[srow : srow + n_s] = p.sentence_vectors[old_srow : old_srow + n_s]
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
    ) -> dict:
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
