"""The postgresql store: the same index as the local one, kept in PostgreSQL + pgvector (QA_STORE=postgresql://...).

Dense search is pgvector: exact (`<#>`, like FAISS's flat index) below HNSW_FROM chunks, an HNSW cosine index per
collection above it. Keyword search is BM25 computed in SQL over qa's own stemmed terms (postings with tf and chunk
length, per-generation document frequencies), the same formula as bm25s, so both stores rank alike; PostgreSQL's
ts_rank was measured weaker on the eval sets (benchmarks/pg_keyword.py). Schema and connections: qa/stores/pgconn.py.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import psycopg

from qa.errors import IndexMissingError, IndexOutdatedError, InputError, StoreError
from qa.settings import IndexSettings
from qa.stores import check_manifest
from qa.stores.pgconn import Database, Vec, create_partitions, database, explain, lock_key
from qa.types import BuildReport, Chunk, Document, FileState

if TYPE_CHECKING:
    from qa.load import SourceFile

log = logging.getLogger("qa")

FORMAT_VERSION = 1
HNSW_FROM = 20_000  # exact search of 20k x 384 floats takes ~25 ms in PostgreSQL on a busy core; past that, HNSW
HNSW_M, HNSW_EF_CONSTRUCTION = 16, 64  # pgvector's defaults
HNSW_EF_SEARCH = 200  # candidates per query (pgvector's default 40): recall@10 0.977 at 100k chunks (100: 0.94)
K1, B = 1.5, 0.75  # BM25 (Lucene variant), bm25s's defaults
KEYWORD_PER_TERM = 1000  # postings read per query term, best first, in the first round (PgReader.keyword_search)
# the most a round reads per term: past it the top k may miss a chunk. 100k synthetic chunks (three of docs/'s
# 725 sentences each, so every term is common): recall@50 0.96; exactness there would need 16,000 per term
KEYWORD_MAX_PER_TERM = 4000


def f16(v: np.ndarray) -> np.ndarray:
    """Vectors rounded to float16 precision, as the local store keeps them, so both stores score alike."""
    return np.asarray(v, dtype=np.float16).astype(np.float32)


def rebuild_hint(folder: str | None) -> str:
    return f"qa index {folder or 'DOCS'} --rebuild"


# --- reading --------------------------------------------------------------------------------


class PgReader:
    """One generation of a collection: read-only, thread-safe (each call takes a pooled connection). Rows are
    chunk ids, stable across generations; every query is pinned to this generation, so a build committing
    meanwhile changes nothing this reader returns."""

    def __init__(self, db: Database, name: str, cid: int, gen: int, manifest: dict, counts: tuple[int, int, int],
                 calibration: dict[str, Any] | None = None):  # fmt: skip
        self.db, self.collection, self.cid, self.generation, self.manifest = db, name, cid, gen, manifest
        self.calibration = calibration
        self.n_documents, self.n_chunks, n_terms = counts
        self.avgdl = n_terms / self.n_chunks if self.n_chunks else 1.0
        self.folder: str | None = manifest.get("folder")
        self.dim = int(manifest["dim"])
        self.build_report: BuildReport | None = None
        ann = manifest.get("ann", {})
        self.hnsw = ann.get("kind") == "hnsw"
        self.ef_search = int(ann.get("ef_search") or HNSW_EF_SEARCH)
        self.where = f"{db.shown} collection {name!r}"
        self.per_term = KEYWORD_PER_TERM

    @property
    def model(self) -> str:
        return str(self.manifest["model"])

    @property
    def built_at(self) -> str:
        return str(self.manifest.get("built_at", ""))

    def _live(self, alias: str = "") -> str:
        """This generation's rows: added at or before it, not removed by it or earlier."""
        g = self.generation
        return f"{alias}born <= {g} AND ({alias}died IS NULL OR {alias}died > {g})"

    def _rows(self, sql: str, params: Sequence[Any] = (), *, binary: bool = False) -> list[tuple]:
        return self.db.run(lambda conn: conn.cursor(binary=binary).execute(sql, params).fetchall())

    def dense_search(self, vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, cosine) of the k nearest chunks, best first."""
        q = Vec(np.asarray(vector, dtype=np.float32).ravel())
        k = int(max(0, min(k, self.n_chunks)))
        if k == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        if self.hnsw:
            d = f"embedding::vector({self.dim})"
            sql = (f"SELECT id, 1 - d FROM (SELECT id, {d} <=> %s AS d FROM qa.chunks WHERE collection = {self.cid} "
                   f"AND {self._live()} ORDER BY d LIMIT {k}) x")  # fmt: skip
            ef = max(self.ef_search, 2 * k)  # HNSW returns at most ef_search rows, before the generation filter

            def go(conn: Any) -> list[tuple]:
                conn.execute(f"SET hnsw.ef_search = {ef}")
                return conn.execute(sql, (q,)).fetchall()

            rows = self.db.run(go)
        else:  # exact, by inner product like FAISS's flat index (the vectors are unit length)
            rows = self._rows(
                f"SELECT id, -d FROM (SELECT id, embedding <#> %s AS d FROM qa.chunks WHERE collection = {self.cid} "
                f"AND {self._live()} ORDER BY d, id LIMIT {k}) x",
                (q,),
            )
        return _pairs(rows)

    def keyword_search(self, terms: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """BM25 (bm25s's Lucene variant) over qa.text.terms of each chunk: rows scoring > 0, best first.

        A threshold algorithm, so no query reads every posting of a common term: each term's M best postings (by
        BM25's tf part: an index-only scan) give partial scores; the 4k best chunks by those are scored on every
        term (primary-key lookups). No chunk left out can beat the k-th score when the bound returned with them
        (the (4k+1)-th partial score plus, for each term cut at M, idf x the tf part of its M-th posting) is
        below it; otherwise M and 4k grow fourfold, up to KEYWORD_MAX_PER_TERM. Exact on every eval corpus in
        one round (no term there is in more than M chunks)."""
        if not terms or not self.n_chunks:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        stats = self._term_stats(terms)
        if not stats:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        qtf = Counter(terms)
        ids = [tid for _, tid, _ in stats]
        idf = [qtf[t] * _idf(self.n_chunks, df) for t, _, df in stats]
        c, live, k = self.cid, self._live("p."), int(k)
        tf = f"p.tf / (p.tf + {K1}::float8 * ({1 - B}::float8 + {B}::float8 * p.n_terms / {self.avgdl!r}::float8))"
        per_term, n_cand = self.per_term, 4 * k
        while True:
            # LATERAL (+ OFFSET 0, so the planner keeps it) makes both phases index lookups: a join would read
            # every posting of every term
            sql = f"""
                WITH w AS (SELECT * FROM unnest(%s::int[], %s::float8[]) AS w(term, idf)),
                     hits AS (SELECT w.term, x.chunk, w.idf * x.tfc AS s, x.tfc FROM w, LATERAL (
                                SELECT p.chunk, {tf} AS tfc FROM qa.postings p
                                WHERE p.collection = {c} AND p.term = w.term AND {live}
                                ORDER BY p.impact DESC LIMIT {per_term}) x),
                     cut AS (SELECT term, min(tfc) AS m FROM hits GROUP BY term HAVING count(*) = {per_term}),
                     agg AS (SELECT chunk, sum(s) AS ps FROM hits GROUP BY chunk ORDER BY ps DESC, chunk LIMIT {n_cand + 1}),
                     cand AS (SELECT chunk FROM agg ORDER BY ps DESC, chunk LIMIT {n_cand}),
                     exact AS (SELECT cand.chunk, sum(w.idf * p.tfc) AS s
                               FROM cand, LATERAL (SELECT p.term, {tf} AS tfc FROM qa.postings p WHERE p.collection = {c}
                                                   AND p.chunk = cand.chunk AND p.term = ANY(%s::int[]) AND {live} OFFSET 0) p
                                    JOIN w ON w.term = p.term
                               GROUP BY cand.chunk ORDER BY s DESC, cand.chunk LIMIT {k})
                SELECT chunk, s::float4, 0 FROM exact
                UNION ALL
                SELECT NULL, (SELECT coalesce(sum(w.idf * cut.m), 0) FROM cut JOIN w USING (term))
                             + coalesce((SELECT ps FROM agg ORDER BY ps DESC, chunk OFFSET {n_cand} LIMIT 1), 0), 1"""
            rows = self._rows(sql, (ids, idf, ids))
            top = sorted(((r[0], r[1]) for r in rows if r[2] == 0), key=lambda r: (-r[1], r[0]))
            bound = next(r[1] for r in rows if r[2] == 1)
            kth = top[k - 1][1] if len(top) >= k else 0.0
            if bound <= kth * (1 + 1e-6) or per_term >= KEYWORD_MAX_PER_TERM:
                break
            per_term, n_cand = per_term * 4, n_cand * 4
        return _pairs([r for r in top if r[1] > 0])

    def chunks(self, rows: Sequence[int]) -> list[Chunk]:
        """Chunks by row, in the order asked."""
        ids = [int(r) for r in rows]
        if not ids:
            return []
        found = {
            r[0]: r
            for r in self._rows(
                'SELECT id, chunk_id, source, title, section, start, "end", text, sentences FROM qa.chunks '
                f"WHERE collection = {self.cid} AND id = ANY(%s)",
                (ids,),
            )
        }
        return [_chunk(found[r]) for r in ids if r in found]

    def chunk_vectors(self, rows: Sequence[int]) -> np.ndarray:
        ids = [int(r) for r in rows]
        got = dict(
            self._rows(
                f"SELECT id, embedding FROM qa.chunks WHERE collection = {self.cid} AND id = ANY(%s)",
                (ids,),
                binary=True,
            )
        )
        return np.stack([got[r] for r in ids]) if ids else np.zeros((0, self.dim), dtype=np.float32)

    def sentence_vectors(self, rows: Sequence[int]) -> list[np.ndarray]:
        """Per row, its sentences' vectors (len(chunk.sentences), dim)."""
        ids = [int(r) for r in rows]
        per: dict[int, list[np.ndarray]] = {r: [] for r in ids}
        for chunk, _, v in self._rows(
            f"SELECT chunk, n, embedding FROM qa.sentences WHERE collection = {self.cid} AND chunk = ANY(%s) "
            "ORDER BY chunk, n",
            (ids,),
            binary=True,
        ):
            per[chunk].append(v)
        return [np.stack(per[r]) if per[r] else np.zeros((0, self.dim), dtype=np.float32) for r in ids]

    def idf(self, terms: Iterable[str]) -> dict[str, float]:
        """Inverse document frequency of each term; a term the collection never uses gets the highest."""
        terms = list(terms)
        df = {t: d for t, _, d in self._term_stats(terms)}
        return {t: _idf(self.n_chunks, df.get(t, 0)) for t in terms}

    def _term_stats(self, terms: Iterable[str]) -> list[tuple[str, int, int]]:
        """(term, id, df in this generation) of the terms the collection uses."""
        return self._rows(
            f"SELECT t.term, t.id, d.df FROM qa.terms t JOIN qa.term_df d ON d.generation = {self.generation} "
            f"AND d.term = t.id WHERE t.collection = {self.cid} AND t.term = ANY(%s)",
            (list(dict.fromkeys(terms)),),
        )

    def chunk_by_id(self, chunk_id: str) -> Chunk | None:
        rows = self._rows(
            'SELECT id, chunk_id, source, title, section, start, "end", text, sentences FROM qa.chunks '
            f"WHERE collection = {self.cid} AND chunk_id = %s AND {self._live()} LIMIT 1",
            (chunk_id,),
        )
        return _chunk(rows[0]) if rows else None

    def document(self, source: str) -> Document | None:
        rows = self._rows(
            f"SELECT source, title, text, format, pages FROM qa.documents WHERE collection = {self.cid} "
            f"AND source = %s AND {self._live()}",
            (source,),
        )
        return Document(rows[0][0], rows[0][1], rows[0][2], rows[0][3], tuple(rows[0][4])) if rows else None

    def documents(self) -> list[tuple[str, str, int]]:
        """(source, title, characters) of every document."""
        return [
            (s, t, int(n))
            for s, t, n in self._rows(
                f"SELECT source, title, length(text) FROM qa.documents WHERE collection = {self.cid} "
                f'AND {self._live()} ORDER BY source COLLATE "C"'
            )
        ]

    def file_states(self) -> dict[str, FileState]:
        return {
            s: FileState(h, int(size), int(m))
            for s, h, size, m in self._rows(
                f"SELECT source, hash, size, mtime_ns FROM qa.documents WHERE collection = {self.cid} AND {self._live()}"
            )
        }

    def rows(self) -> list[int]:
        """Every row of this generation, in the local store's order (by source, then position), so what samples
        them (calibration) sees the same sequence in both stores."""
        return [int(r[0]) for r in self._rows(
            f'SELECT id FROM qa.chunks WHERE collection = {self.cid} AND {self._live()} ORDER BY source COLLATE "C", id')]  # fmt: skip

    def save_calibration(self, record: Mapping[str, Any]) -> None:
        """Keep a calibration with this generation (it describes this generation only)."""
        self.db.run(lambda c: c.execute("UPDATE qa.generations SET calibration = %s WHERE id = %s",
                                        (_json(dict(record)), self.generation)))  # fmt: skip
        self.calibration = dict(record)

    def close(self) -> None:
        """Nothing to release: connections belong to the process's pool."""


def _idf(n: int, df: int) -> float:
    return float(np.log(1 + (n - df + 0.5) / (df + 0.5)))


def _pairs(rows: list[tuple]) -> tuple[np.ndarray, np.ndarray]:
    return (
        np.array([r[0] for r in rows], dtype=np.int64),
        np.array([r[1] for r in rows], dtype=np.float32),
    )


def _chunk(r: tuple) -> Chunk:
    s = r[8]
    return Chunk(r[1], r[2], r[3], r[4], r[5], r[6], r[7], tuple(zip(s[::2], s[1::2], strict=True)))


# --- the store --------------------------------------------------------------------------------


def split_location(location: str) -> tuple[str, str]:
    """'postgresql://...#collection' -> (URL, collection); a URL without one names the collection 'default'."""
    url, _, collection = str(location).partition("#")
    return url, collection or "default"


class PostgresStore:
    """One collection in a PostgreSQL database, located by 'postgresql://USER:PASS@HOST:PORT/DB#COLLECTION'."""

    def __init__(self, location: str, settings: IndexSettings):
        self.location, self.settings = str(location), settings
        url, self.collection = split_location(location)
        self.db = database(url)
        self.shown = f"{self.db.shown}#{self.collection}"  # the location without its password, for messages

    def generation(self) -> str | None:
        """The live generation's id (None before the first build): one cheap query, for caching readers."""
        if not self.db.prepare(create=False):
            return None
        rows = self.db.run(
            lambda c: c.execute("SELECT live FROM qa.collections WHERE name = %s", (self.collection,)).fetchall()
        )
        return str(rows[0][0]) if rows and rows[0][0] is not None else None

    def open(self) -> PgReader:
        """The live generation, checked against the settings' model and chunking."""
        return self._open(self.settings)

    def _open(self, settings: IndexSettings | None) -> PgReader:
        hint = f"build one with: qa index DOCS_FOLDER --store {self.db.shown} --collection {self.collection}"
        if not self.db.prepare(create=False):
            raise IndexMissingError(f"no qa schema in {self.db.shown}; {hint}")
        rows = self.db.run(
            lambda c: c.execute(
                "SELECT c.id, c.live, g.manifest, g.n_documents, g.n_chunks, g.n_terms, g.calibration FROM qa.collections c "
                "LEFT JOIN qa.generations g ON g.id = c.live WHERE c.name = %s",
                (self.collection,),
            ).fetchall()
        )
        if not rows or rows[0][1] is None:
            raise IndexMissingError(f"no collection {self.collection!r} in {self.db.shown}; {hint}")
        cid, gen, manifest, n_docs, n_chunks, n_terms, calibration = rows[0]
        folder = manifest.get("folder")
        if manifest.get("format") != FORMAT_VERSION:
            raise IndexOutdatedError(
                f"index at {self.shown} has format {manifest.get('format')}, this qa reads {FORMAT_VERSION}; "
                f"rebuild it with: {rebuild_hint(folder)}"
            )
        if settings is not None:
            check_manifest(manifest, settings, self.shown, rebuild_hint(folder))
        return PgReader(self.db, self.collection, cid, gen, manifest, (n_docs, n_chunks, n_terms), calibration)

    def writer(self, folder: Path, *, rebuild: bool = False) -> PgWriter:
        return PgWriter(self, folder, rebuild=rebuild)

    def drop(self) -> None:
        """Remove the collection and its tables (waits for a build of it to finish)."""
        if not self.db.prepare(create=False):
            return
        with self.db.transaction() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", lock_key(self.collection))
            row = conn.execute("SELECT id FROM qa.collections WHERE name = %s", (self.collection,)).fetchone()
            if row is None:
                return
            for table in ("postings", "sentences", "chunks", "documents"):
                conn.execute(f"DROP TABLE IF EXISTS qa.{table}_{row[0]}")
            conn.execute("DELETE FROM qa.collections WHERE id = %s", (row[0],))


# --- writing --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class _Added:
    doc: Document
    state: FileState
    chunks: tuple[Chunk, ...]


class PgWriter:
    """Writes the next generation of one collection while holding its advisory lock: new and changed documents
    are added, removed and changed ones marked dead, then `collections.live` flips, all in one transaction.
    A killed build rolls back on the server; the live generation keeps answering."""

    def __init__(self, store: PostgresStore, folder: Path, *, rebuild: bool = False):
        self.store, self.db, self.collection, self.folder = store, store.db, store.collection, folder
        self.settings = store.settings
        self.rebuild = rebuild
        self.report = BuildReport(index_dir=store.shown)
        self.previous: PgReader | None = None
        self._old: dict[str, FileState] = {}
        self._added: dict[str, _Added] = {}
        self._kept: list[str] = []
        self._reuse: tuple[dict[str, np.ndarray], dict[str, np.ndarray]] | None = None
        self._t0 = time.perf_counter()
        self.conn: Any = None
        self.cid = 0

    # --- the lock and the previous generation -------------------------------------------------

    def __enter__(self) -> PgWriter:
        self.db.prepare(create=True)
        self.conn = self.db.connect()
        try:
            self.db._configure(self.conn)
            with self.conn.transaction():
                self.conn.execute("INSERT INTO qa.collections (name) VALUES (%s) ON CONFLICT (name) DO NOTHING",
                                  (self.collection,))  # fmt: skip
                self.cid = self.conn.execute(
                    "SELECT id FROM qa.collections WHERE name = %s", (self.collection,)
                ).fetchone()[0]
            key = lock_key(self.collection)
            if not self.conn.execute("SELECT pg_try_advisory_lock(%s, %s)", key).fetchone()[0]:
                holder = self.conn.execute(
                    "SELECT a.pid, coalesce(host(a.client_addr), 'local socket'), a.backend_start FROM pg_locks l "
                    "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.classid = %s "
                    "AND l.objid = %s AND l.granted",
                    (key[0], key[1] & 0xFFFFFFFF),
                ).fetchone()
                who = f" (server pid {holder[0]}, from {holder[1]}, since {holder[2]:%H:%M:%S})" if holder else ""
                raise InputError(
                    f"another qa index is already writing collection {self.collection!r} in {self.db.shown}{who}; "
                    "wait for it to finish"
                )
            with self.conn.transaction():
                create_partitions(self.conn, self.cid)
            if not self.rebuild:
                try:
                    self.previous = self.store.open()
                    self._old = self.previous.file_states()
                except IndexMissingError:
                    pass
                except IndexOutdatedError as e:
                    log.warning("previous index unusable (%s); building from scratch", str(e).split(";")[0])
        except BaseException as e:
            self.__exit__()  # __exit__ is not called when __enter__ fails: release the lock here
            if isinstance(e, psycopg.Error):
                raise explain(e, self.db.params) from e
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.conn is not None:
            self.conn.close()  # ends the session, and its advisory lock with it
            self.conn = None

    # --- change detection (as the local writer) -----------------------------------------------

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
        """Vectors of the previous generation's chunks and sentences of changed documents, by text."""
        if self._reuse is not None:
            return self._reuse
        chunk_vecs: dict[str, np.ndarray] = {}
        sent_vecs: dict[str, np.ndarray] = {}
        p = self.previous
        if p is not None and self._added:
            rows = p._rows(
                f"SELECT id, section, text, start, sentences, embedding FROM qa.chunks WHERE collection = {p.cid} "
                f"AND source = ANY(%s) AND {p._live()}",
                (list(self._added),),
                binary=True,
            )
            for (_, section, text, start, spans, vec), sv in zip(
                rows, p.sentence_vectors([r[0] for r in rows]), strict=True
            ):
                chunk_vecs[f"{section}\n{text}"] = vec
                for (s, e), v in zip(zip(spans[::2], spans[1::2], strict=True), sv, strict=True):
                    sent_vecs[text[s - start : e - start]] = v
        self._reuse = (chunk_vecs, sent_vecs)
        return self._reuse

    # --- commit -------------------------------------------------------------------------------

    def commit(self, vectors: Mapping[str, np.ndarray], *, dim: int | None, model_source: str) -> PgReader:
        """Write the new generation (only what was added; kept rows stay) and make it live, in one transaction."""
        from qa.text import terms

        r = self.report
        r.unchanged = len(self._kept)
        if not self._kept and not self._added:
            raise InputError(f"no readable text in {self.folder}: every file was skipped (see the warnings above)")
        if self.previous is not None and not self._added and not r.deleted:
            r.up_to_date = True
            index, self.previous = self.previous, None
            return self._finish(index)
        known_c, known_s = self._reusable_vectors()
        if dim is None:
            dim = int(self.previous.manifest["dim"]) if self.previous is not None else 0
        t0 = time.perf_counter()
        rows = []
        for a in self._added.values():
            for c in a.chunks:
                cv = vectors.get(c.indexed_text)
                rows.append((
                    c, terms(c.indexed_text), f16(cv if cv is not None else known_c[c.indexed_text]),
                    [f16(vectors[s] if s in vectors else known_s[s]) for s in c.sentence_texts()],
                ))  # fmt: skip
        r.timings["analyse_s"] = time.perf_counter() - t0
        docs = [(a.doc, a.state.digest, a.state.size, a.state.mtime_ns) for a in self._added.values()]
        try:
            self.write(docs, rows, dim=dim, model_source=model_source)
        except psycopg.Error as e:
            raise explain(e, self.db.params) from e
        return self._finish(self.store.open())

    def _finish(self, index: PgReader) -> PgReader:
        self.report.documents, self.report.chunks = index.n_documents, index.n_chunks
        self.report.seconds = time.perf_counter() - self._t0
        index.build_report = self.report
        return index

    def write(self, docs: list[tuple[Document, str, int, int]], rows: Sequence[tuple], *, dim: int,
              model_source: str) -> int:  # fmt: skip
        """The generation itself: `rows` are (chunk, its terms, its vector, its sentences' vectors); every live
        document not kept dies. Also the bulk path of benchmarks/pg_scale.py. Returns the new generation."""
        conn, c = self.conn, self.cid
        timings = self.report.timings
        t0 = time.perf_counter()
        with conn.transaction():
            live = conn.execute("SELECT live FROM qa.collections WHERE id = %s FOR UPDATE", (c,)).fetchone()[0]
            g = conn.execute(
                "INSERT INTO qa.generations (collection, manifest, n_documents, n_chunks, n_sentences, n_terms) "
                "VALUES (%s, '{}', 0, 0, 0, 0) RETURNING id",
                (c,),
            ).fetchone()[0]
            base = (0, 0, 0, 0)
            conn.execute("CREATE TEMP TABLE df_delta (term int, d int) ON COMMIT DROP")
            if live is not None:
                lv = f"born <= {live} AND (died IS NULL OR died > {live})"
                base = conn.execute(
                    "SELECT n_documents, n_chunks, n_sentences, n_terms FROM qa.generations WHERE id = %s", (live,)
                ).fetchone()
                kept = list(self._kept)
                gone_docs = conn.execute(
                    f"UPDATE qa.documents SET died = {g} WHERE collection = {c} AND {lv} AND NOT (source = ANY(%s))",
                    (kept,),
                ).rowcount
                gone = conn.execute(
                    f"WITH r AS (UPDATE qa.chunks SET died = {g} WHERE collection = {c} AND {lv} "
                    "AND NOT (source = ANY(%s)) RETURNING n_terms, cardinality(sentences) / 2 AS n_s) "
                    "SELECT count(*), coalesce(sum(n_s), 0), coalesce(sum(n_terms), 0) FROM r",
                    (kept,),
                ).fetchone()
                conn.execute(
                    f"WITH d AS (UPDATE qa.postings p SET died = {g} FROM qa.chunks x WHERE x.collection = {c} "
                    f"AND x.died = {g} AND p.collection = {c} AND p.chunk = x.id AND p.died IS NULL RETURNING p.term) "
                    "INSERT INTO df_delta SELECT term, -count(*) FROM d GROUP BY term"
                )
                base = (base[0] - gone_docs, base[1] - gone[0], base[2] - gone[1], base[3] - gone[2])
            timings["retire_s"] = time.perf_counter() - t0

            t1 = time.perf_counter()
            n_new, n_sent, n_terms = self._insert(conn, g, docs, rows, base)
            timings["insert_s"] = time.perf_counter() - t1
            conn.execute(
                "INSERT INTO qa.term_df (generation, term, df) SELECT %s, term, sum(d) FROM "
                "(SELECT term, df AS d FROM qa.term_df WHERE generation = %s UNION ALL SELECT term, d FROM df_delta) x "
                "GROUP BY term HAVING sum(d) > 0",
                (g, live),
            )
            counts = (base[0] + len(docs), base[1] + n_new, base[2] + n_sent, base[3] + n_terms)
            t2 = time.perf_counter()
            ann = self._ann(conn, counts[1], dim)
            timings["hnsw_s"] = time.perf_counter() - t2
            manifest = self._manifest(ann, dim, model_source, counts)
            conn.execute(
                "UPDATE qa.generations SET manifest = %s, n_documents = %s, n_chunks = %s, n_sentences = %s, "
                "n_terms = %s WHERE id = %s",
                (_json(manifest), *counts, g),
            )
            conn.execute("UPDATE qa.collections SET live = %s WHERE id = %s", (g, c))
        timings["commit_s"] = time.perf_counter() - t0
        if live is not None:
            self._purge(live)
        conn.execute(f"ANALYZE qa.chunks_{c}, qa.postings_{c}")  # fresh statistics for the planner's first questions
        return int(g)

    def _insert(self, conn: Any, g: int, docs: list[tuple[Document, str, int, int]], rows: Sequence[tuple],
                base: tuple) -> tuple[int, int, int]:  # fmt: skip
        """COPY the new documents, chunks, sentences and postings; the new terms' df goes to df_delta."""
        c = self.cid
        avgdl = (base[3] + sum(len(r[1]) for r in rows)) / max(1, base[1] + len(rows)) or 1.0
        with conn.cursor().copy(
            "COPY qa.documents (collection, source, born, title, format, text, pages, hash, size, mtime_ns) "
            "FROM STDIN (FORMAT BINARY)"
        ) as cp:
            cp.set_types(["int4", "text", "int4", "text", "text", "text", "int4[]", "text", "int8", "int8"])
            for doc, digest, size, mtime_ns in docs:
                cp.write_row(
                    (c, doc.source, g, doc.title, doc.format, doc.text, list(doc.pages), digest, size, mtime_ns)
                )
        if not rows:
            return 0, 0, 0
        ids = [r[0] for r in conn.execute("SELECT nextval('qa.chunk_rows') FROM generate_series(1, %s)", (len(rows),))]
        vocab = sorted({t for r in rows for t in r[1]})
        conn.execute(
            "INSERT INTO qa.terms (collection, term) SELECT %s, t FROM unnest(%s::text[]) t ON CONFLICT DO NOTHING",
            (c, vocab),
        )
        term_id = dict(
            conn.execute("SELECT term, id FROM qa.terms WHERE collection = %s AND term = ANY(%s)", (c, vocab))
        )
        df: Counter[int] = Counter()
        n_sent = n_terms = 0
        with conn.cursor().copy(
            'COPY qa.chunks (collection, id, born, chunk_id, source, title, section, start, "end", text, '
            "sentences, n_terms, embedding) FROM STDIN (FORMAT BINARY)"
        ) as cc:
            cc.set_types(
                [
                    "int4",
                    "int8",
                    "int4",
                    "text",
                    "text",
                    "text",
                    "text",
                    "int4",
                    "int4",
                    "text",
                    "int4[]",
                    "int4",
                    "vector",
                ]
            )
            for cid, (ch, tl, vec, _) in zip(ids, rows, strict=True):
                spans = [x for se in ch.sentences for x in se]
                cc.write_row(
                    (
                        c,
                        cid,
                        g,
                        ch.id,
                        ch.source,
                        ch.title,
                        ch.section,
                        ch.start,
                        ch.end,
                        ch.text,
                        spans,
                        len(tl),
                        Vec(vec),
                    )
                )
                n_terms += len(tl)
        with conn.cursor().copy("COPY qa.sentences (collection, chunk, n, embedding) FROM STDIN (FORMAT BINARY)") as cs:
            cs.set_types(["int4", "int8", "int4", "vector"])
            for cid, (_, _, _, svecs) in zip(ids, rows, strict=True):
                for i, v in enumerate(svecs):
                    cs.write_row((c, cid, i, Vec(v)))
                n_sent += len(svecs)
        with conn.cursor().copy(
            "COPY qa.postings (collection, term, chunk, tf, n_terms, impact, born) FROM STDIN (FORMAT BINARY)"
        ) as cp:
            cp.set_types(["int4", "int4", "int8", "int4", "int4", "float4", "int4"])
            for cid, (_, tl, _, _) in zip(ids, rows, strict=True):
                norm = K1 * (1 - B + B * len(tl) / avgdl)
                for t, tf in Counter(tl).items():
                    tid = term_id[t]
                    cp.write_row((c, tid, cid, tf, len(tl), tf / (tf + norm), g))
                    df[tid] += 1
        with conn.cursor().copy("COPY df_delta (term, d) FROM STDIN (FORMAT BINARY)") as cd:
            cd.set_types(["int4", "int4"])
            for tid, n in df.items():
                cd.write_row((tid, n))
        return len(rows), n_sent, n_terms

    def _ann(self, conn: Any, n_chunks: int, dim: int) -> dict[str, Any]:
        """Exact search for a small collection; past HNSW_FROM chunks (or QA_INDEX_TYPE=hnsw) an HNSW cosine
        index on this collection's partition, built once after its first big load and kept up by later inserts."""
        kind = self.settings.index_type
        if kind == "ivf":
            log.warning("QA_INDEX_TYPE=ivf is a FAISS index; the postgresql store uses hnsw")
        use = kind in ("hnsw", "ivf") or (kind == "auto" and n_chunks >= HNSW_FROM)
        if not use:
            return {"kind": "exact"}
        name = f"chunks_{self.cid}_hnsw"
        have = conn.execute(
            "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname = %s AND c.relnamespace = 'qa'::regnamespace",
            (name,),
        ).fetchone()
        if have and f"vector({dim})" not in have[0]:
            conn.execute(f"DROP INDEX qa.{name}")  # another model's dimension: its vectors are all dead now
            have = None
        if not have:
            # in memory the build is far faster than spilling to disk: the vectors plus m links each, capped at 2 GB
            mb = min(2048, max(64, int(n_chunks * (dim * 4 + HNSW_M * 16 + 64) * 1.3 / 2**20)))
            conn.execute(f"SET LOCAL maintenance_work_mem = '{mb}MB'")
            conn.execute(
                f"CREATE INDEX {name} ON qa.chunks_{self.cid} USING hnsw ((embedding::vector({dim})) vector_cosine_ops) "
                f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION})"
            )
        return {"kind": "hnsw", "m": HNSW_M, "ef_construction": HNSW_EF_CONSTRUCTION, "ef_search": HNSW_EF_SEARCH}

    def _purge(self, previous: int) -> None:
        """Delete rows no generation from `previous` on can see (dead at or before it), and older generations.
        A reader still pinned to an older generation than `previous` would miss them: the web tier reopens per
        question, so only a question that spans two builds can."""
        c, conn = self.cid, self.conn
        with conn.transaction():
            conn.execute(
                f"DELETE FROM qa.sentences s USING qa.chunks x WHERE x.collection = {c} AND x.died <= {previous} "
                f"AND s.collection = {c} AND s.chunk = x.id"
            )
            conn.execute(
                f"DELETE FROM qa.postings p USING qa.chunks x WHERE x.collection = {c} AND x.died <= {previous} "
                f"AND p.collection = {c} AND p.chunk = x.id"
            )
            for table in ("chunks", "documents"):
                conn.execute(f"DELETE FROM qa.{table} WHERE collection = {c} AND died <= {previous}")
            conn.execute(f"DELETE FROM qa.generations WHERE collection = {c} AND id < {previous}")

    def _manifest(self, ann: dict, dim: int, model_source: str, counts: tuple[int, int, int, int]) -> dict:
        from importlib.metadata import PackageNotFoundError, version

        def v(pkg: str) -> str:
            try:
                return version(pkg)
            except PackageNotFoundError:
                return ""

        return {
            "format": FORMAT_VERSION,
            "store": "postgresql",
            "built_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "folder": str(self.folder),
            "model": self.settings.model,
            "model_source": model_source,
            "dim": dim,
            "shape": self.settings.shape(),
            "ann": ann,
            "documents": counts[0],
            "chunks": counts[1],
            "sentences": counts[2],
            "versions": {p: v(p) for p in ("qa", "sentence-transformers", "torch", "psycopg")},
        }


def _json(obj: Any) -> Any:
    from psycopg.types.json import Jsonb

    return Jsonb(obj)


__all__ = ["PgReader", "PgWriter", "PostgresStore", "StoreError"]
