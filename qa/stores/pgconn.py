"""PostgreSQL plumbing for the postgresql store: the URL, connections and their pool, every server error turned
into one line naming the fix, pgvector's binary format, and the schema qa owns (created on first use, versioned).

What qa creates in a database (all inside the schema `qa`, plus the `vector` extension when the role may):
    schema_version  one row: the schema's version; a newer one than this qa knows is an error, never touched
    collections     one row per indexed folder: name, the live generation
    generations     one row per committed build: manifest (model, dim, settings shape, ann), counts, BM25 length
                    sum, the calibration measured on it
    documents, chunks, sentences, postings    partitioned by collection (one partition each, so a collection's HNSW
                    index holds only its own vectors and dropping a collection drops tables, not rows)
    terms, term_df  the BM25 vocabulary and each generation's document frequencies
Rows are never rewritten by a build: each row has `born` (the generation that added it) and `died` (the one that
removed it), and a reader pinned to generation G sees born <= G < died. A build adds rows and flips
collections.live in one transaction, so a question sees the old collection or the new one, never a mix.
"""

from __future__ import annotations

import logging
import re
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, TypeVar

import numpy as np

from qa.errors import StoreError

log = logging.getLogger("qa")

SCHEMA_VERSION = 1
PGVECTOR_MIN = (0, 5, 0)  # HNSW arrived in pgvector 0.5.0
CONNECT_TIMEOUT_S = 5  # a server that is down answers "refused" at once; a wrong host should not hang a question
POOL_MAX = 8  # connections per process: gradio runs a few questions at once, each one query at a time
LOCK_CLASS = 0x7161  # "qa": the first key of every advisory lock qa takes, so it never collides with an app's own

T = TypeVar("T")


# --- the URL ---------------------------------------------------------------------------------


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1@", url)


@lru_cache(maxsize=16)
def parse_url(url: str) -> dict[str, Any]:
    """Check a postgresql:// URL and return libpq connection parameters (with qa's timeout and name)."""
    import psycopg

    shown = redact(url)
    if not re.match(r"^postgres(ql)?://", url):
        raise StoreError(
            f"QA_STORE {shown!r} is not a PostgreSQL URL; use postgresql://USER:PASSWORD@HOST:5432/DATABASE "
            "(or leave QA_STORE unset for the local store)"
        )
    try:
        params = psycopg.conninfo.conninfo_to_dict(url)
        port = params.get("port")
        if port is not None and not (str(port).isdigit() and 0 < int(port) < 65536):
            raise ValueError(f"port {port!r} is not a port (1-65535)")
    except (psycopg.ProgrammingError, ValueError) as e:
        why = str(e).strip().splitlines()[0].replace(url, shown)
        raise StoreError(
            f"QA_STORE {shown!r} is not a valid PostgreSQL URL ({why}); "
            "use postgresql://USER:PASSWORD@HOST:5432/DATABASE"
        ) from e
    params.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
    params.setdefault("application_name", "qa")
    return params


def where(params: dict[str, Any]) -> str:
    """'user@host:port/db' for messages."""
    return f"{params.get('user', '')}@{params.get('host', 'localhost')}:{params.get('port', 5432)}/{params.get('dbname', '')}".lstrip(
        "@"
    )


# --- errors ----------------------------------------------------------------------------------


def explain(e: BaseException, params: dict[str, Any]) -> StoreError:
    """One line naming the problem and the fix, for any error a connection or statement can raise."""
    import psycopg
    from psycopg import errors as pgerr

    at, db, user = where(params), params.get("dbname", ""), params.get("user", "")
    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    low = msg.lower()
    if isinstance(e, pgerr.InsufficientPrivilege) and "extension" in low:
        return StoreError(
            f"role {user!r} may not create the vector extension in database {db!r} at {at}; "
            f"ask a superuser to run there: CREATE EXTENSION vector;"
        )
    if isinstance(e, pgerr.InsufficientPrivilege) and ("schema" in low or "for database" in low):
        return StoreError(
            f"role {user!r} may not create the schema qa in database {db!r} at {at}; ask the database owner to run: "
            f'GRANT CREATE ON DATABASE "{db}" TO "{user}";'
        )
    if isinstance(e, pgerr.InsufficientPrivilege):
        return StoreError(f"role {user!r} lacks a right qa needs in database {db!r} at {at} ({msg}); "
                          "grant it, or use the role that created the qa schema")  # fmt: skip
    if isinstance(e, (pgerr.FeatureNotSupported, pgerr.UndefinedFile)) and "vector" in low:
        return StoreError(
            f"the PostgreSQL server at {at} has no pgvector; install pgvector 0.5 or newer on the server "
            f"(https://github.com/pgvector/pgvector), then run in database {db!r}: CREATE EXTENSION vector;"
        )
    if "password authentication failed" in low or "no password supplied" in low:
        return StoreError(
            f"PostgreSQL at {at} rejected the login of {user!r} ({msg}); check the user and password in QA_STORE"
        )
    if "does not exist" in low and "database" in low:
        return StoreError(f"database {db!r} does not exist at {at}; create it with: createdb {db} (or fix QA_STORE)")
    if "role" in low and "does not exist" in low:
        return StoreError(f"PostgreSQL at {at} has no role {user!r}; create it (CREATE ROLE ... LOGIN) or fix QA_STORE")
    if (
        isinstance(e, (psycopg.OperationalError, psycopg.InterfaceError, OSError, TimeoutError))
        or "pool" in type(e).__name__.lower()
    ):
        return StoreError(
            f"cannot reach PostgreSQL at {at} ({msg}); start the server or fix the host and port in QA_STORE"
        )
    return StoreError(f"PostgreSQL at {at} failed ({type(e).__name__}: {msg})")


# --- pgvector's binary format ----------------------------------------------------------------


class Vec:
    """A float32 vector sent as pgvector's `vector` (a wrapper, so numpy arrays of ids stay plain arrays)."""

    __slots__ = ("a",)

    def __init__(self, a: np.ndarray):
        self.a = a


def _register_vector(conn: Any) -> None:
    """Teach one connection pgvector's binary format: uint16 dim, uint16 unused, big-endian float4s."""
    from psycopg.adapt import Dumper, Loader
    from psycopg.pq import Format
    from psycopg.types import TypeInfo

    info = TypeInfo.fetch(conn, "vector")
    if info is None:
        raise StoreError("the vector type vanished from the database; run: CREATE EXTENSION vector;")
    info.register(conn)

    class VecDumper(Dumper):
        format = Format.BINARY
        oid = info.oid

        def dump(self, obj: Any) -> bytes:
            a = np.asarray(obj.a if isinstance(obj, Vec) else obj, dtype=">f4")
            return struct.pack(">HH", a.shape[0], 0) + a.tobytes()

    class VecLoader(Loader):
        format = Format.BINARY

        def load(self, data: Any) -> np.ndarray:
            dim = struct.unpack_from(">H", data)[0]
            return np.frombuffer(bytes(data), dtype=">f4", count=dim, offset=4).astype(np.float32)

    class VecTextLoader(Loader):
        format = Format.TEXT

        def load(self, data: Any) -> np.ndarray:
            return np.array(bytes(data).decode()[1:-1].split(","), dtype=np.float32)

    conn.adapters.register_dumper(Vec, VecDumper)
    conn.adapters.register_dumper(None, VecDumper)  # COPY ... (FORMAT BINARY) finds it by oid
    conn.adapters.register_loader(info.oid, VecLoader)
    conn.adapters.register_loader(info.oid, VecTextLoader)


# --- the schema ------------------------------------------------------------------------------

SCHEMA = """
CREATE SCHEMA IF NOT EXISTS qa;
CREATE TABLE qa.schema_version (version int NOT NULL, qa_version text NOT NULL,
                                installed_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE qa.collections (
    id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL UNIQUE,
    live int,                                    -- the generation answering questions; NULL before the first build
    created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE qa.generations (
    id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    collection int NOT NULL REFERENCES qa.collections(id) ON DELETE CASCADE,
    manifest jsonb NOT NULL,                     -- format, model, dim, shape (settings hash inputs), ann, counts
    calibration jsonb,                           -- what answer confidence means on this generation (qa/calibrate.py)
    n_documents int NOT NULL, n_chunks int NOT NULL, n_sentences int NOT NULL,
    n_terms bigint NOT NULL,                     -- sum of chunk lengths in terms: BM25's average length
    committed_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE qa.documents (
    collection int NOT NULL, source text NOT NULL, born int NOT NULL, died int,
    title text NOT NULL, format text NOT NULL, text text NOT NULL, pages int[] NOT NULL,
    hash text NOT NULL, size bigint NOT NULL, mtime_ns bigint NOT NULL,
    PRIMARY KEY (collection, source, born)) PARTITION BY LIST (collection);
CREATE SEQUENCE qa.chunk_rows;
CREATE TABLE qa.chunks (
    collection int NOT NULL, id bigint NOT NULL, born int NOT NULL, died int,
    chunk_id text NOT NULL, source text NOT NULL, title text NOT NULL, section text NOT NULL,
    start int NOT NULL, "end" int NOT NULL, text text NOT NULL,
    sentences int[] NOT NULL,                    -- absolute (start, end) of each sentence, flattened
    n_terms int NOT NULL,                        -- length in qa.text.terms, for BM25
    embedding vector NOT NULL,                   -- section + text, rounded to float16 like the local store
    PRIMARY KEY (collection, id)) PARTITION BY LIST (collection);
CREATE INDEX ON qa.chunks (collection, chunk_id);
CREATE INDEX ON qa.chunks (collection, source);
CREATE INDEX ON qa.chunks (collection, died) WHERE died IS NOT NULL;
CREATE TABLE qa.sentences (
    collection int NOT NULL, chunk bigint NOT NULL, n int NOT NULL, embedding vector NOT NULL,
    PRIMARY KEY (collection, chunk, n)) PARTITION BY LIST (collection);
CREATE TABLE qa.terms (
    collection int NOT NULL REFERENCES qa.collections(id) ON DELETE CASCADE, term text NOT NULL,
    id int GENERATED ALWAYS AS IDENTITY, PRIMARY KEY (collection, term));
CREATE TABLE qa.postings (
    collection int NOT NULL, term int NOT NULL, chunk bigint NOT NULL, tf int NOT NULL, n_terms int NOT NULL,
    impact real NOT NULL,                        -- BM25's tf part at build time: the order a term's postings are read in
    born int NOT NULL, died int,
    PRIMARY KEY (collection, chunk, term)) PARTITION BY LIST (collection);
-- an index-only scan gives every number BM25 needs, a term's best postings first
CREATE INDEX ON qa.postings (collection, term, impact DESC) INCLUDE (chunk, tf, n_terms, born, died);
CREATE TABLE qa.term_df (
    generation int NOT NULL REFERENCES qa.generations(id) ON DELETE CASCADE, term int NOT NULL, df int NOT NULL,
    PRIMARY KEY (generation, term));
"""
PARTITIONED = ("documents", "chunks", "sentences", "postings")


def ensure_schema(conn: Any, params: dict[str, Any], *, create: bool) -> bool:
    """Check (and when `create`, make) the vector extension and qa's schema; False when absent and not created."""
    from psycopg import errors as pgerr

    ext = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
    if ext is None and not create:
        return False
    if ext is None:
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        except (pgerr.InsufficientPrivilege, pgerr.FeatureNotSupported, pgerr.UndefinedFile) as e:
            raise explain(e, params) from e
        ext = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
    have = tuple(int(x) for x in re.findall(r"\d+", ext[0])[:3])
    if have < PGVECTOR_MIN:
        raise StoreError(
            f"pgvector {ext[0]} in database {params.get('dbname')!r} has no HNSW; upgrade it to 0.5 or newer: "
            "ALTER EXTENSION vector UPDATE;"
        )
    found = conn.execute("SELECT to_regclass('qa.schema_version') IS NOT NULL").fetchone()[0]
    if not found:
        if not create:
            return False
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s, 0)", (LOCK_CLASS,))  # two first runs: one creates it
            if not conn.execute("SELECT to_regclass('qa.schema_version') IS NOT NULL").fetchone()[0]:
                try:
                    conn.execute(SCHEMA)
                except pgerr.InsufficientPrivilege as e:
                    raise explain(e, params) from e
                conn.execute("INSERT INTO qa.schema_version (version, qa_version) VALUES (%s, %s)",
                             (SCHEMA_VERSION, _qa_version()))  # fmt: skip
                log.info("created schema qa (version %d) in %s", SCHEMA_VERSION, where(params))
    version = conn.execute("SELECT max(version) FROM qa.schema_version").fetchone()[0]
    if version is None or version > SCHEMA_VERSION:
        raise StoreError(
            f"the qa schema in database {params.get('dbname')!r} at {where(params)} is version {version}, written by "
            f"a newer qa (this one knows version {SCHEMA_VERSION}); upgrade qa: pip install -U 'qa[pg]'"
        )
    return True


def create_partitions(conn: Any, collection: int) -> None:
    """One partition per table for a new collection. CREATE + ATTACH takes only a SHARE UPDATE EXCLUSIVE lock on
    the parent, so questions on other collections keep running; the CHECK spares ATTACH its validation scan."""
    for table in PARTITIONED:
        part = f"qa.{table}_{collection}"
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {part} (LIKE qa.{table} INCLUDING DEFAULTS, CHECK (collection = {collection}))"
        )
        attached = conn.execute("SELECT 1 FROM pg_inherits WHERE inhrelid = %s::regclass", (part,)).fetchone()
        if not attached:
            conn.execute(f"ALTER TABLE qa.{table} ATTACH PARTITION {part} FOR VALUES IN ({collection})")
        if table in ("chunks", "sentences"):
            # a vector stays in its row (an out-of-line one costs ~5 extra page reads: exact search 7x slower)
            conn.execute(f"ALTER TABLE {part} ALTER COLUMN embedding SET STORAGE MAIN")


def _qa_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("qa")
    except PackageNotFoundError:
        return "dev"


def lock_key(collection: str) -> tuple[int, int]:
    """The advisory lock of one collection: (LOCK_CLASS, crc32 of its name as a signed int4)."""
    return LOCK_CLASS, zlib.crc32(collection.encode()) - (1 << 31)


# --- connections -----------------------------------------------------------------------------


class Database:
    """A pool of connections to one database, with the schema checked once; every call is retried once on a
    dropped connection, then fails as one StoreError line."""

    def __init__(self, url: str):
        self.url = url
        self.params = parse_url(url)
        self.shown = redact(url)
        self._pool: Any = None
        self._pool_lock = threading.Lock()
        self.ready = False  # the extension and the schema exist

    def connect(self, *, autocommit: bool = True) -> Any:
        """A connection of its own (the writer holds one for its lock), with pgvector registered when present."""
        import psycopg

        try:
            conn = psycopg.connect(**self.params, autocommit=autocommit)
        except psycopg.Error as e:
            raise explain(e, self.params) from e
        return conn

    def prepare(self, *, create: bool) -> bool:
        """Check the extension and schema (creating them when `create`); True when qa's schema is there."""
        if self.ready:
            return True
        import psycopg

        conn = self.connect()
        try:
            self.ready = ensure_schema(conn, self.params, create=create)
        except psycopg.Error as e:
            raise explain(e, self.params) from e
        finally:
            conn.close()
        return self.ready

    def _configure(self, conn: Any) -> None:
        _register_vector(conn)
        schema = conn.execute(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'vector'"
        ).fetchone()[0]
        conn.execute("SELECT set_config('search_path', %s, false)", (f'qa, "{schema}"',))

    def pool(self) -> Any:
        with self._pool_lock:
            return self._pool or self._new_pool()

    def _new_pool(self) -> Any:
        if self._pool is None:
            from psycopg_pool import ConnectionPool

            self._pool = ConnectionPool(
                kwargs={**self.params, "autocommit": True},
                min_size=1,
                max_size=POOL_MAX,
                configure=self._configure,
                open=False,
                name="qa",
                timeout=CONNECT_TIMEOUT_S * 2,  # waiting for a connection longer than this means the server is gone
            )
            self._pool.open(wait=False)
        return self._pool

    def run(self, fn: Callable[[Any], T]) -> T:
        """fn(connection) on a pooled connection; a dropped connection is retried once on a fresh one."""
        import psycopg
        from psycopg import errors as pgerr
        from psycopg_pool import PoolTimeout

        for attempt in (1, 2):
            try:
                with self.pool().connection() as conn:
                    return fn(conn)
            except (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout) as e:
                if isinstance(e, pgerr.QueryCanceled) or attempt == 2:
                    if not isinstance(e, pgerr.QueryCanceled):
                        self.close()  # a fresh pool next time: this one may have given up reconnecting
                    raise self._unreachable(e) from e
                log.info("PostgreSQL connection dropped (%s); retrying once", str(e).strip().splitlines()[:1])
                self.pool().check()  # throw away every broken idle connection, not just this one
            except psycopg.Error as e:
                raise explain(e, self.params) from e
        raise AssertionError("unreachable")

    def _unreachable(self, e: BaseException) -> StoreError:
        """The precise reason (refused, wrong password...) comes from a direct connection attempt; the pool only
        says it timed out."""
        import psycopg

        try:
            psycopg.connect(**self.params).close()
        except psycopg.Error as direct:
            return explain(direct, self.params)
        return explain(e, self.params)

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A pooled connection inside one transaction (no retry: a write is never replayed blindly)."""
        import psycopg

        try:
            with self.pool().connection() as conn, conn.transaction():
                yield conn
        except psycopg.Error as e:
            raise explain(e, self.params) from e

    def close(self) -> None:
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close(timeout=1)


@lru_cache(maxsize=8)
def database(url: str) -> Database:
    """One Database (and pool) per URL per process."""
    return Database(url)
