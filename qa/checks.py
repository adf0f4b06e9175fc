"""Checks at the API edge: what a caller passes in (a question, its history) is made usable text or refused in
one line, before any step of the pipeline sees it. The CLI, the web app and `answer()` all go through here."""

from __future__ import annotations

import re
from collections.abc import Sequence

from qa.errors import InputError

# C0 and C1 control characters other than tab and newline: a NUL or an escape sequence is never part of a question
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def text(value: str, what: str = "the question") -> str:
    """A str usable by every step: lone surrogates (invalid UTF-8 from argv, "\\ud800" from JSON) become U+FFFD,
    control characters become spaces. Anything but a str is one InputError naming the type."""
    if not isinstance(value, str):
        raise InputError(f"{what} must be text, not {type(value).__name__}")
    # UTF-16 with surrogatepass joins a valid surrogate pair into its character and replaces a lone one
    value = value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return _CONTROL.sub(" ", value)


def history(value: Sequence[str] | None) -> tuple[str, ...]:
    """Earlier questions of a conversation, each checked like a question; None means none."""
    if value is None:
        return ()
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise InputError(
            f"history must be a list of earlier questions (strings), not {type(value).__name__}; "
            'e.g. history=["Who designed Driftwood?"]'
        )
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise InputError(
                f"history[{i}] is {type(item).__name__}, not a string; history holds earlier questions as text"
            )
        out.append(text(item, f"history[{i}]"))
    return tuple(out)


def question(value: str, past: Sequence[str] | None = ()) -> tuple[str, tuple[str, ...]]:
    """The question and its history, checked (see text() and history())."""
    return text(value), history(past)
