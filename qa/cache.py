"""Vectors computed by a build, kept on disk as they are computed, so a build that is killed, crashes or runs out
of disk resumes where it stopped: the next run embeds only what is still missing.

One SQLite file in WAL mode beside the index; a row per vector, keyed by a hash of (model, kind, text), where kind
says what the vector is of ("chunk", "sentence", "sentence-pooled-4": a sentence pooled from its chunk's pass
with 4 tokens of context). Every batch is committed as soon as the model returns it; a SIGKILL loses at most the
batch in flight. A completed build empties it (the index holds its vectors; an unchanged text is reused from
there), so it never holds more than one build's worth. A damaged file is one warning line and a fresh cache.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qa.errors import DiskFullError

log = logging.getLogger("qa")

SCHEMA = "CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, vec BLOB NOT NULL) WITHOUT ROWID"


def _full(e: BaseException) -> bool:
    return (isinstance(e, OSError) and e.errno == errno.ENOSPC) or "disk is full" in str(e)


def disk_full(where: Path | str, e: BaseException) -> DiskFullError:
    return DiskFullError(
        f"no space left on the disk holding {where} ({e}); free some space and run qa index again: "
        "the vectors computed so far are kept and will not be computed again"
    )


class VectorCache:
    """Vectors by (kind, text) for one model, in one SQLite file."""

    def __init__(self, path: Path, model: str, dim: int | None = None):
        self.path, self.model, self.dim = Path(path), model, dim
        try:
            self._db = self._open()
        except sqlite3.DatabaseError as e:
            if _full(e):
                raise disk_full(self.path, e) from e
            log.warning("vector cache %s is damaged (%s); starting a new one", self.path, e)
            for p in (self.path, *(self.path.with_name(self.path.name + x) for x in ("-wal", "-shm"))):
                p.unlink(missing_ok=True)
            self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # a committed batch survives a killed process
            ok = db.execute("PRAGMA quick_check(1)").fetchone()[0]
            if ok != "ok":
                raise sqlite3.DatabaseError(ok)
            db.execute(SCHEMA)
            db.commit()
        except BaseException:
            db.close()
            raise
        return db

    def _key(self, kind: str, text: str) -> bytes:
        return hashlib.sha256(f"{self.model}\0{kind}\0{text}".encode()).digest()[:16]

    def __len__(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM vectors").fetchone()[0])

    def get(self, kind: str, text: str) -> np.ndarray | None:
        r = self._db.execute("SELECT vec FROM vectors WHERE key=?", (self._key(kind, text),)).fetchone()
        return np.frombuffer(r[0], dtype=np.float16) if r else None

    def missing(self, kind: str, texts: Sequence[str]) -> list[str]:
        """The texts with no vector of this kind yet, in order, each once."""
        out = []
        for t in dict.fromkeys(texts):
            if self._db.execute("SELECT 1 FROM vectors WHERE key=?", (self._key(kind, t),)).fetchone() is None:
                out.append(t)
        return out

    def put(self, kind: str, texts: Sequence[str], vectors: np.ndarray | Sequence[np.ndarray]) -> None:
        """Store a batch and commit it at once (float16: what the index stores anyway)."""
        self.put_groups([(kind, texts, vectors)])

    def put_groups(self, groups: Sequence[tuple[str, Sequence[str], Any]]) -> None:
        """Several (kind, texts, vectors) in one transaction: a chunk's vector and its sentences' land together."""
        rows = [
            (self._key(kind, t), np.asarray(v, dtype=np.float16).tobytes())
            for kind, texts, vectors in groups
            for t, v in zip(texts, vectors, strict=True)
        ]
        try:
            self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?,?)", rows)
            self._db.commit()
        except sqlite3.Error as e:
            self._db.rollback()
            if _full(e):
                raise disk_full(self.path, e) from e
            raise

    def view(self, *kinds: str) -> Mapping[str, np.ndarray]:
        """text -> vector, trying each kind in turn: what a Writer's commit reads its new vectors from."""
        return _View(self, kinds)

    def clear(self) -> None:
        """Forget everything (a build completed: its index holds the vectors now)."""
        try:
            self._db.execute("DELETE FROM vectors")
            self._db.commit()
            self._db.execute("VACUUM")
        except sqlite3.Error as e:  # a full disk may refuse VACUUM; the rows are gone all the same
            log.debug("vector cache: %s", e)

    def close(self) -> None:
        self._db.close()


class _View(Mapping[str, np.ndarray]):
    def __init__(self, cache: VectorCache, kinds: Sequence[str]):
        self.cache, self.kinds = cache, kinds

    def __getitem__(self, text: str) -> np.ndarray:
        for kind in self.kinds:
            v = self.cache.get(kind, text)
            if v is not None:
                return v
        raise KeyError(text[:60])

    def __contains__(self, text: object) -> bool:
        return isinstance(text, str) and any(self.cache.get(k, text) is not None for k in self.kinds)

    def __iter__(self) -> Iterator[str]:  # keys are hashes: texts cannot be listed
        raise TypeError("a vector cache view cannot list its texts; look them up")

    def __len__(self) -> int:
        return len(self.cache)
