"""The web app's state and side effects: the index it answers from (built, updated, and reopened when another
process swaps in a new generation) and the feedback file."""

import datetime as dt
import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qa.errors import IndexMissingError, InputError
from qa.pipeline import build_index, open_index
from qa.settings import Settings
from qa.stores import Reader as Index
from qa.stores import store_for
from qa.types import Answer

log = logging.getLogger("qa")


# --- side effects: feedback, the index the app answers from -------------------------------------------


def save_feedback(path: Path, a: Answer, rating: str) -> dict[str, Any]:
    """Append one rated answer to the feedback JSONL, ready to become an eval question."""
    record = {
        "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "rating": rating,
        "question": a.question,
        "resolved_question": a.resolved_question,
        "answer": a.text,
        "abstained": a.abstained,
        "confidence": a.confidence,
        "generator": a.generator,
        "citations": [{k: getattr(c, k) for k in ("source", "section", "start", "end", "quote")} for c in a.citations],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, ensure_ascii=False) + "\n")
    return record


class Library:
    """The index the app answers from; uploads and rebuilds swap in the new one (old answers keep theirs)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.index: Index | None = None
        self.problem = ""
        self._building = threading.Lock()
        self._feedback = threading.Lock()
        self._generation: str | None = None  # of self.index, when known
        docs = Path(settings.docs).expanduser()
        try:
            if docs.is_dir():
                self.update()
        except InputError as e:  # e.g. an empty folder: serve anyway, documents can be uploaded
            self.problem = str(e)
        if self.index is None:  # no folder, or it could not be indexed now: serve the last index if there is one
            try:
                self.index = open_index(settings=settings)
            except IndexMissingError as e:
                if not docs.is_dir():
                    raise IndexMissingError(f"no folder {docs} and {e}") from None
                self.problem = self.problem or f"no documents in {docs}"

    def current(self) -> Index:
        if self.index is None:
            raise IndexMissingError(f"no index yet ({self.problem}); add documents under Documents, then ask")
        # another process (a second `qa serve` replica on one database, a `qa index` job) may have made a newer
        # generation live: answer from it (a cheap check: a file read, or one indexed query)
        store = store_for(self.settings.location_for(self.settings.docs), self.settings.index)
        generation = store.generation()
        if generation is not None and generation != self._generation:
            self.index, self._generation = store.open(), generation
        return self.index

    def busy(self) -> bool:
        """Whether an index update is running now."""
        return self._building.locked()

    def update(
        self, *, rebuild: bool = False, progress: Callable[[str, int, int], None] | None = None, wait: bool = False
    ) -> Index:
        """Index settings.docs incrementally (or from scratch) and make the result live. With wait=True a call
        made during another update runs after it (uploads: their files must be indexed, not left for later)."""
        if not self._building.acquire(blocking=wait):
            raise InputError("the index is already being updated; try again when it finishes")
        try:
            self.index = build_index(self.settings.docs, settings=self.settings, rebuild=rebuild, progress=progress)
            self._generation = store_for(
                self.settings.location_for(self.settings.docs), self.settings.index
            ).generation()
            self.problem = ""
            return self.index
        finally:
            self._building.release()

    def feedback(self, a: Answer, rating: str) -> dict[str, Any]:
        with self._feedback:
            return save_feedback(self.settings.feedback_path(), a, rating)
