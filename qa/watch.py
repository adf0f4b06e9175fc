"""A folder that stays indexed: watch it (watchfiles, i.e. inotify on Linux) and re-index after changes settle.

One thread runs the loop: watchfiles groups a burst of events until the folder has been quiet for QUIET_MS (or
MAX_WAIT_MS have passed), then the loop calls `rebuild()` once. Events that arrive during a rebuild are kept by
watchfiles and answered by one more rebuild afterwards, so 1,000 files copied in lead to one or two rebuilds,
not 1,000. `rebuild` is an incremental `build_index`, which writes a new generation beside the live one: the
index being answered from is never touched, so answering goes on during a rebuild.

Editors' temporary files never trigger a rebuild (the IGNORED table). A watched folder that is deleted gets one
warning line; the last index keeps being served and the loop waits for the folder to come back.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("qa")

# A burst is grouped until nothing changed for QUIET_MS; 500 ms covers an editor's save (temp file, rename, chmod:
# < 20 ms here) and a `cp -r` of 1,000 small files (0.3 s), and keeps a single save live in about 1 s.
QUIET_MS = 500
# ...but a folder that never goes quiet (a slow download, a sync client) is still re-indexed every 10 s.
MAX_WAIT_MS = 10_000
# how often a deleted folder is looked for again
MISSING_POLL_S = 1.0

# File names whose changes never start a rebuild: one row per rule, with why.
IGNORED: tuple[tuple[str, str], ...] = (
    (r"^\.", "hidden: vim .x.swp/.swx, emacs .#x locks, LibreOffice .~lock.x#, gedit .goutputstream-*; qa skips them"),
    (r"~$", "backup copies (notes.md~) written by vim, emacs and gedit on save"),
    (r"^~\$", "Office owner files (~$report.docx) that exist while a document is open"),
    (r"^#.*#$", "emacs auto-save files (#notes.md#)"),
    (r"^4913$", "vim's probe file: it creates and deletes 4913 to test that the folder is writable"),
    (
        r"\.(swp|swx|swo|tmp|temp|bak|part|partial|crdownload|download|kate-swp)$",
        "swap, temp and half-downloaded files",
    ),
)
_IGNORED = tuple(re.compile(p) for p, _ in IGNORED)
# folders qa never reads (qa.load skips them too), so changes inside them cannot change the index
IGNORED_DIRS = frozenset({"__pycache__", "node_modules", "venv"})


def is_ignored(path: str | Path, root: Path, ignore: Sequence[Path] = ()) -> bool:
    """True when a change at `path` cannot matter to the index of `root` (temp files, hidden or skipped folders)."""
    p = Path(path)
    if any(p == i or i in p.parents for i in ignore):
        return True
    try:
        parts = p.relative_to(root).parts
    except ValueError:
        return False
    if not parts:  # the folder itself (created, deleted)
        return False
    if any(d.startswith(".") or d in IGNORED_DIRS for d in parts[:-1]):
        return True
    return any(r.search(parts[-1]) for r in _IGNORED)


@dataclass
class WatchStats:
    """What the watcher did: tests and `qa index --watch` read it."""

    batches: int = 0  # groups of changes watchfiles handed over (after filtering)
    rebuilds: int = 0  # rebuild() calls that finished
    changed_builds: int = 0  # ...of which changed the index (not "up to date")
    failures: int = 0
    last_seconds: float = 0.0  # how long the last rebuild took
    missing: bool = False  # the folder is gone; the last index is still served
    history: list[dict[str, Any]] = field(default_factory=list)  # one row per rebuild (last 100)


class Watcher:
    """Re-indexes `folder` after its files change, one debounced rebuild per burst of changes.

    `rebuild()` is called with no arguments from the watcher's thread; it returns the new Index (its
    build_report is logged) and may raise QAError (logged as one line; the next change tries again).
    """

    def __init__(
        self,
        folder: str | Path,
        rebuild: Callable[[], Any],
        *,
        ignore: Sequence[str | Path] = (),
        quiet_ms: int = QUIET_MS,
        max_wait_ms: int = MAX_WAIT_MS,
        on_rebuilt: Callable[[Any], None] | None = None,
    ):
        try:
            import watchfiles  # noqa: F401
        except ImportError:
            from qa.errors import QAError

            raise QAError("watching a folder needs watchfiles: pip install 'qa[watch]'") from None
        self.folder = Path(folder).expanduser().resolve()
        self.rebuild = rebuild
        self.ignore = tuple(Path(i).expanduser().resolve() for i in ignore)
        self.quiet_ms, self.max_wait_ms = quiet_ms, max_wait_ms
        self.on_rebuilt = on_rebuilt
        self.stats = WatchStats()
        self.busy = False  # a rebuild is running
        self._stop = threading.Event()
        self.ready = threading.Event()  # set once watching, and the index caught up with the folder
        self._thread: threading.Thread | None = None
        self._retry = False  # one more try owed after a failure (e.g. the web page's own rebuild was running)
        self._last_error = ""

    # --- life cycle ---------------------------------------------------------------------------

    def start(self) -> Watcher:
        """Watch in a daemon thread (qa serve, qa mcp); returns at once."""
        self._thread = threading.Thread(target=self.run, name="qa-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def run(self) -> None:
        """Watch until stop() (or Ctrl-C when run in the main thread)."""
        from watchfiles import watch

        try:
            from watchfiles._rust_notify import WatchfilesRustInternalError
        except ImportError:  # pragma: no cover (a watchfiles without it)
            WatchfilesRustInternalError = RuntimeError  # noqa: N806

        log.info("watching %s for changes", self.folder)
        while not self._stop.is_set():
            if not self._wait_for_folder():
                return
            catch_up = True  # changes made before this watch began (start-up, a folder that came back) were missed
            try:
                for changes in watch(
                    self.folder,
                    watch_filter=lambda _change, path: not is_ignored(path, self.folder, self.ignore),
                    debounce=self.max_wait_ms,
                    step=self.quiet_ms,
                    stop_event=self._stop,
                    rust_timeout=1000,
                    yield_on_timeout=True,  # an empty set each second: look for a deleted folder, owed retries
                    raise_interrupt=threading.current_thread() is threading.main_thread(),
                ):
                    if not self.folder.is_dir():
                        break  # deleted: _wait_for_folder says so once and waits for it
                    if changes:
                        self.stats.batches += 1
                        self._rebuild(changes)
                    elif catch_up or self._retry:
                        self._rebuild(set(), retry=not catch_up)  # an unchanged folder costs a scan: ms
                    catch_up = False
                    self.ready.set()
            except (FileNotFoundError, WatchfilesRustInternalError, OSError) as e:
                if self.folder.is_dir():  # a real watcher failure, not a deleted folder: say so, then start over
                    log.warning("watching %s failed (%s); watching it again", self.folder, str(e).splitlines()[0])
                    self._stop.wait(MISSING_POLL_S)

    def _wait_for_folder(self) -> bool:
        """False when stopped; waits (saying so once) while the folder is missing (run() then catches up)."""
        if self.folder.is_dir():
            return True
        self.stats.missing = True
        log.warning("watched folder %s is gone; still answering from the last index until it is back", self.folder)
        while not self.folder.is_dir():
            if self._stop.wait(MISSING_POLL_S):
                return False
        self.stats.missing = False
        log.info("watched folder %s is back; re-indexing it", self.folder)
        return True

    # --- one rebuild --------------------------------------------------------------------------

    def _rebuild(self, changes: set, *, retry: bool = False) -> None:
        from qa.errors import QAError

        t0 = time.perf_counter()
        self.busy, self._retry = True, False
        try:
            index = self.rebuild()
        except QAError as e:
            # another build was running, or the folder was emptied: one line (not repeated), one more try a
            # second later, then wait for the next change
            self.stats.failures += 1
            self._retry = not retry
            if str(e) != self._last_error:
                log.warning("re-indexing %s failed: %s; still answering from the last index", self.folder, e)
            self._last_error = str(e)
            return
        finally:
            self.busy = False
        seconds = time.perf_counter() - t0
        self.stats.rebuilds += 1
        self.stats.last_seconds = seconds
        self._last_error = ""
        report = getattr(index, "build_report", None)
        row: dict[str, Any] = {"changes": len(changes), "seconds": round(seconds, 3)}
        if report is not None:
            row.update(
                added=len(report.added),
                changed=len(report.changed),
                deleted=len(report.deleted),
                documents=report.documents,
                chunks=report.chunks,
                up_to_date=report.up_to_date,
            )
            if not report.up_to_date:
                self.stats.changed_builds += 1
                log.info(
                    "re-indexed %s: %d added, %d changed, %d deleted -> %d documents, %d chunks (%.1f s)",
                    self.folder.name,
                    len(report.added),
                    len(report.changed),
                    len(report.deleted),
                    report.documents,
                    report.chunks,
                    seconds,
                )
        self.stats.history = [*self.stats.history[-99:], row]
        if self.on_rebuilt is not None:
            self.on_rebuilt(index)


__all__ = ["IGNORED", "Watcher", "WatchStats", "is_ignored"]
