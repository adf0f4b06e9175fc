"""Change detection, shared by every store's writer: which files to read, which to carry over unchanged.

A writer sets `_old` (source -> FileState of the live generation) when it opens the previous generation, and
records what reading the planned files found through `unchanged`, `keep` and `noted_added`. At commit,
`unchanged_generation`, `_manifest` and `_finish` are the parts every writer's commit shares.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa.errors import InputError
from qa.settings import IndexSettings
from qa.types import BuildReport, FileState

if TYPE_CHECKING:
    from qa.load import SourceFile


class ChangeDetection:
    """The Writer protocol's plan / unchanged / keep, over the live generation's file states."""

    report: BuildReport
    folder: Path
    settings: IndexSettings
    previous: Any  # the live generation's reader, None when building from scratch
    _added: Mapping[str, Any]  # sources read and staged for the new generation

    def __init__(self) -> None:
        self._old: dict[str, FileState] = {}
        self._kept: list[str] = []  # sources carried over unchanged from the previous generation
        self._t0 = time.perf_counter()

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

    def noted_added(self, source: str) -> None:
        """Count an added file in the report: changed if the live generation had it, else added."""
        (self.report.changed if source in self._old else self.report.added).append(source)

    def unchanged_generation(self) -> Any:
        """At commit: the live generation, handed over finished, when reading the folder changed nothing in it;
        None when a new generation must be written; InputError when no file was readable."""
        r = self.report
        r.unchanged = len(self._kept)
        if not self._kept and not self._added:
            raise InputError(f"no readable text in {self.folder}: every file was skipped (see the warnings above)")
        if self.previous is None or self._added or r.deleted:
            return None
        r.up_to_date = True
        index, self.previous = self.previous, None  # handed over instead of reopened
        return self._finish(index)

    def _finish(self, index: Any) -> Any:
        """The opened generation, with this build's report on it."""
        self.report.documents, self.report.chunks = index.n_documents, index.n_chunks
        self.report.seconds = time.perf_counter() - self._t0
        index.build_report = self.report
        return index

    def _manifest(
        self, fmt: int, ann: dict[str, Any], dim: int, model_source: str, counts: Sequence[int], packages: Sequence[str]
    ) -> dict[str, Any]:
        """What a generation records about how it was built: checked on open (check_manifest), shown by qa."""
        from importlib.metadata import PackageNotFoundError, version

        def v(pkg: str) -> str:
            try:
                return version(pkg)
            except PackageNotFoundError:
                return ""

        return {
            "format": fmt,
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
            "versions": {p: v(p) for p in ("qa", "sentence-transformers", "torch", *packages)},
        }
