"""Change detection, shared by every store's writer: which files to read, which to carry over unchanged.

A writer sets `_old` (source -> FileState of the live generation) when it opens the previous generation, and
records what reading the planned files found through `unchanged`, `keep` and `noted_added`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from qa.types import BuildReport, FileState

if TYPE_CHECKING:
    from qa.load import SourceFile


class ChangeDetection:
    """The Writer protocol's plan / unchanged / keep, over the live generation's file states."""

    report: BuildReport

    def __init__(self) -> None:
        self._old: dict[str, FileState] = {}
        self._kept: list[str] = []  # sources carried over unchanged from the previous generation

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
