"""The postgresql store: the same index as the local one, kept in PostgreSQL + pgvector (QA_STORE=postgresql://...).

Dense search is pgvector: exact (`<#>`, like FAISS's flat index) below HNSW_FROM chunks, an HNSW cosine index per
collection above it. Keyword search is BM25 computed in SQL over qa's own stemmed terms (postings with tf and chunk
length, per-generation document frequencies), the same formula as bm25s, so both stores rank alike; PostgreSQL's
ts_rank was measured weaker on the eval sets (benchmarks/pg_keyword.py). Schema and connections: qa/stores/pgconn.py.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qa.errors import IndexMissingError, IndexOutdatedError, StoreError
from qa.settings import IndexSettings
from qa.stores import check_manifest
from qa.stores.pgconn import Database, Vec, database, lock_key
from qa.types import BuildReport, Chunk, Document, FileState

log = logging.getLogger("qa")

FORMAT_VERSION = 1
HNSW_FROM = 20_000  # exact search of 20k x 384 floats takes ~25 ms in PostgreSQL on a busy core; past that, HNSW
# pgvector's default m; ef_construction 128, not its 64: at 1M synthetic chunks the graph took 476 s against 453 s
# and recall@10 rose from 0.837 to 0.901 at ef_search 200, from 0.958 to 0.986 at 1000 (benchmarks/pg_scale.py)
HNSW_M, HNSW_EF_CONSTRUCTION = 16, 128
HNSW_EF_SEARCH = 200  # candidates per query (pgvector's default 40): recall@10 0.977 at 100k chunks (100: 0.94)
# pgvector's upper limit; at 1M synthetic chunks it gives recall@10 0.986 at p50 9.4 ms (700: 0.983, 200: 0.901)
HNSW_EF_SEARCH_MAX = 1000
K1, B = 1.5, 0.75  # BM25 (Lucene variant), bm25s's defaults
KEYWORD_PER_TERM = 1000  # postings read per query term, best first, in the first round (PgReader.keyword_search)
# the most a round reads per term: past it the top k may miss a chunk. 100k synthetic chunks (three of docs/'s
# 725 sentences each, so every term is common): recall@50 0.96; exactness there would need 16,000 per term
KEYWORD_MAX_PER_TERM = 4000


def f16(v: np.ndarray) -> np.ndarray:
    """Vectors rounded to float16 precision, as the local store keeps them, so both stores score alike."""
    return np.asarray(v, dtype=np.float16).astype(np.float32)


def jsonb(obj: Any) -> Any:
    """A value psycopg sends as jsonb."""
    from psycopg.types.json import Jsonb

    return Jsonb(obj)


def rebuild_hint(folder: str | None) -> str:
    return f"qa index {folder or 'DOCS'} --rebuild"


# --- reading --------------------------------------------------------------------------------


def ef_search_for(n_chunks: int) -> int:
    """HNSW candidates per query for a collection of n chunks: 200 up to 100k, then growing as a power of n to 1000
    at 1M. A bigger graph needs more candidates for the same recall (benchmarks/pg_scale.py: recall@10 0.977 at
    100k with 200, 0.986 at 1M with 1000, both at p50 under 10 ms)."""
    if n_chunks <= 100_000:
        return HNSW_EF_SEARCH
    growth = math.log10(HNSW_EF_SEARCH_MAX / HNSW_EF_SEARCH)  # 200 -> 1000 over one decade of n
    return min(HNSW_EF_SEARCH_MAX, round(HNSW_EF_SEARCH * (n_chunks / 100_000) ** growth))


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
            # HNSW returns at most ef_search rows, before the generation filter
            ef = min(HNSW_EF_SEARCH_MAX, max(self.ef_search, 2 * k))

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
                                        (jsonb(dict(record)), self.generation)))  # fmt: skip
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

    def writer(self, folder: Path, *, rebuild: bool = False):  # noqa: ANN201 (a PgWriter)
        from qa.stores.postgres_writer import PgWriter

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


__all__ = ["PgReader", "PostgresStore", "StoreError"]
