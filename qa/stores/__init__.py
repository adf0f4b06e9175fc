"""The Store seam: where an index lives. A store opens Readers (one built generation, read-only) and Writers (build
the next generation from the last plus what changed, then make it live at once).

Stores are chosen by location through STORES, a name -> factory registry: a folder path is the embedded "local"
store (FAISS + SQLite + BM25 files, qa/stores/local.py); postgresql://... is PostgreSQL + pgvector
(qa/stores/postgres.py). Every store passes the same conformance tests
(tests/test_stores.py). Rows are a generation's own integer handles for chunks: they mean nothing across
generations or stores.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from qa.errors import IndexMismatchError, IndexOutdatedError, StoreError
from qa.settings import IndexSettings
from qa.types import BuildReport, Chunk, Document, FileState

if TYPE_CHECKING:
    from qa.load import SourceFile


class Reader(Protocol):
    """One opened generation of an index: read-only, safe to share between threads."""

    model: str  # the embedding model it was built with
    folder: str | None  # the documents folder it was built from
    manifest: Mapping[str, Any]
    built_at: str  # ISO time of the build
    n_documents: int
    n_chunks: int
    build_report: BuildReport | None
    calibration: Mapping[str, Any] | None  # what confidence means on this corpus (qa/calibrate.py), once measured

    def dense_search(self, vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, cosines) of the k chunks nearest to a unit vector, best first."""
        ...

    def keyword_search(self, terms: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, BM25 scores) of the k best chunks for stemmed terms (qa.text.terms), best first, scores > 0."""
        ...

    def chunks(self, rows: Sequence[int]) -> list[Chunk]:
        """Chunks by row, in the order asked."""
        ...

    def chunk_vectors(self, rows: Sequence[int]) -> np.ndarray:
        """float32 (len(rows), dim): the embedded `chunk.indexed_text` of each row."""
        ...

    def sentence_vectors(self, rows: Sequence[int]) -> list[np.ndarray]:
        """Per row, float32 (len(chunk.sentences), dim): each quotable sentence's vector."""
        ...

    def idf(self, terms: Iterable[str]) -> dict[str, float]:
        """log(1 + (N - df + 0.5) / (df + 0.5)) over chunks; a term the corpus never uses gets the highest."""
        ...

    def chunk_by_id(self, chunk_id: str) -> Chunk | None: ...

    def document(self, source: str) -> Document | None: ...

    def documents(self) -> list[tuple[str, str, int]]:
        """(source, title, characters) of every document, by source."""
        ...

    def file_states(self) -> dict[str, FileState]:
        """source -> what the file was when indexed, so a writer can tell what changed."""
        ...

    def save_calibration(self, record: Mapping[str, Any]) -> None:
        """Keep a calibration with this generation (it describes this generation only)."""

    def rows(self) -> Sequence[int]:
        """Every row of this generation (local: range(n_chunks); a database: its chunk ids)."""
        ...

    def close(self) -> None: ...


class Writer(Protocol):
    """Builds the next generation; a context manager that holds the store's write lock. Change detection is its
    job: `plan` says which files must be read; `unchanged`, `keep` and `add` record what reading them found;
    `commit` embeds nothing itself, writes, and makes the result live at once."""

    report: BuildReport

    def plan(self, files: Sequence[SourceFile]) -> list[SourceFile]:
        """The files to read: new ones, and those whose size or time changed; the others are kept as they are."""
        ...

    def unchanged(self, source: str, digest: str) -> bool:
        """True (and the file kept) when the live generation holds exactly this content: a touched file."""
        ...

    def keep(self, source: str) -> bool:
        """Carry the indexed version of a file that could not be read this time; False when there is none."""
        ...

    def add(self, doc: Document, state: FileState, chunks: Sequence[Chunk]) -> None:
        """A new or changed file, chunked."""
        ...

    def missing_texts(self) -> tuple[list[str], list[str]]:
        """(chunk texts, sentence texts) of the chunks added since the last call that the store holds no vector
        for, each once. The pipeline calls it after every `add`, so it embeds file by file while files are read;
        the added documents themselves need not stay in memory (the local writer stages them on disk)."""
        ...

    def commit(self, vectors: Mapping[str, np.ndarray], *, dim: int | None, model_source: str) -> Reader:
        """Write the generation (kept + added documents, new vectors by text) and make it live at once; with
        nothing changed, the live generation is returned as it is (report.up_to_date). `vectors` may live on disk
        (the pipeline passes its vector cache): look texts up with `.get`, never list or copy it whole; `dim` is None
        when no vector was computed in this process."""
        ...

    def __enter__(self) -> Writer: ...

    def __exit__(self, *exc: object) -> None: ...


class Store(Protocol):
    """Where one index lives."""

    location: str

    def open(self) -> Reader:
        """The live generation, checked against the settings it must match."""
        ...

    def writer(self, folder: Path, *, rebuild: bool = False) -> Writer: ...

    def generation(self) -> str | None:
        """An id of the live generation (None: nothing built yet); it changes with every commit."""
        ...


def _local(location: str, settings: IndexSettings) -> Store:
    from qa.stores.local import LocalStore

    return LocalStore(Path(location), settings)


def _postgres(location: str, settings: IndexSettings) -> Store:
    try:
        from qa.stores.postgres import PostgresStore
    except ImportError as e:
        raise StoreError(f"the postgresql store needs psycopg ({e.name} is missing): pip install 'qa[pg]'") from e
    return PostgresStore(location, settings)


STORES: dict[str, Callable[[str, IndexSettings], Store]] = {
    "local": _local,
    "postgresql": _postgres,  # postgresql://USER:PASSWORD@HOST:5432/DATABASE#COLLECTION (qa/stores/postgres.py)
    "postgres": _postgres,
}


def store_for(location: str | Path, settings: IndexSettings) -> Store:
    """The store at a location: `scheme://...` names a registered store, anything else is a local folder."""
    text = str(location)
    scheme = text.split("://", 1)[0] if "://" in text else "local"
    if scheme not in STORES:
        raise IndexMismatchError(
            f"no store for {scheme}:// locations; use a folder path or one of: {', '.join(STORES)}"
        )
    return STORES[scheme](text, settings)


def redacted(location: str | Path) -> str:
    """A location fit for messages: a URL loses its password."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1@", str(location))


def check_manifest(manifest: Mapping[str, Any], settings: IndexSettings, where: str, fix: str) -> None:
    """Raise unless an index was built the way these settings would build it (model, chunking, chunker version).

    A change of qa's own chunker is IndexOutdatedError (rebuilding is the fix, and callers may do it); any other
    difference is IndexMismatchError naming each setting.
    """
    theirs, ours = manifest.get("shape", {}), settings.shape()
    if theirs == ours:
        return
    differ = [k for k in ours if theirs.get(k) != ours.get(k)]
    if differ and all(k == "chunker" or k not in theirs for k in differ):  # qa changed, not the user's settings
        raise IndexOutdatedError(
            f"index at {where} was chunked by an older qa (chunker {theirs.get('chunker')}, this qa "
            f"{ours['chunker']}); rebuild it with: {fix}"
        )
    diff = ", ".join(f"{k}: index {theirs.get(k)!r} vs settings {ours.get(k)!r}" for k in differ)
    raise IndexMismatchError(
        f"index at {where} was built with other settings ({diff}); rebuild it with: {fix} "
        "(or use the settings it was built with)"
    )
