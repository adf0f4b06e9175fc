"""Writing a collection of the postgresql store: the next generation under the collection's advisory lock, made
live in one transaction (qa/stores/postgres.py reads it)."""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from qa.errors import IndexMissingError, IndexOutdatedError, InputError
from qa.stores.diff import ChangeDetection
from qa.stores.pgconn import Vec, create_partitions, explain, lock_key
from qa.stores.postgres import (
    FORMAT_VERSION,
    HNSW_EF_CONSTRUCTION,
    HNSW_FROM,
    HNSW_M,
    K1,
    B,
    PgReader,
    PostgresStore,
    ef_search_for,
    f16,
    jsonb,
)
from qa.types import BuildReport, Chunk, Document, FileState

log = logging.getLogger("qa")


@dataclasses.dataclass(frozen=True, slots=True)
class _Added:
    doc: Document
    state: FileState
    chunks: tuple[Chunk, ...]


class PgWriter(ChangeDetection):
    """Writes the next generation of one collection while holding its advisory lock: new and changed documents
    are added, removed and changed ones marked dead, then `collections.live` flips, all in one transaction.
    A killed build rolls back on the server; the live generation keeps answering."""

    def __init__(self, store: PostgresStore, folder: Path, *, rebuild: bool = False):
        super().__init__()
        self.store, self.db, self.collection, self.folder = store, store.db, store.collection, folder
        self.settings = store.settings
        self.rebuild = rebuild
        self.report = BuildReport(index_dir=store.shown)
        self.previous: PgReader | None = None
        self._added: dict[str, _Added] = {}
        self._reuse: tuple[dict[str, np.ndarray], dict[str, np.ndarray]] | None = None
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

    # --- change detection: ChangeDetection (qa/stores/diff.py) --------------------------------

    def add(self, doc: Document, state: FileState, chunks: Sequence[Chunk]) -> None:
        self._added[doc.source] = _Added(doc, state, tuple(chunks))
        self.noted_added(doc.source)

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

        if (index := self.unchanged_generation()) is not None:
            return index
        r = self.report
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
            manifest = {
                **self._manifest(FORMAT_VERSION, ann, dim, model_source, counts, ("psycopg",)),
                "store": "postgresql",
            }
            conn.execute(
                "UPDATE qa.generations SET manifest = %s, n_documents = %s, n_chunks = %s, n_sentences = %s, "
                "n_terms = %s WHERE id = %s",
                (jsonb(manifest), *counts, g),
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
        built = {k: int(v) for k, v in re.findall(r"\b(m|ef_construction)\s*=\s*'?(\d+)", have[0])} if have else {}
        return {  # an index an earlier qa built keeps its own graph parameters; the manifest says which
            "kind": "hnsw",
            "m": built.get("m", HNSW_M),
            "ef_construction": built.get("ef_construction", HNSW_EF_CONSTRUCTION),
            "ef_search": ef_search_for(n_chunks),
        }

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
