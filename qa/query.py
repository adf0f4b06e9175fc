"""Question -> Query: validated, trimmed, resolved against the conversation, with its expected answer type."""

from __future__ import annotations

import re
from collections.abc import Sequence

from qa.errors import InputError
from qa.rules import FOLLOW_START, KINDS, QUESTION_WORD, RELATIVE, SCENE
from qa.text import NAME, PRONOUNS, QUESTION_WORDS, STOPWORDS, sentences, terms
from qa.types import Query


def clean(question: str, *, max_chars: int) -> tuple[str, tuple[str, ...]]:
    """Strip, refuse empty input, truncate very long input (with a note)."""
    if not isinstance(question, str):
        raise InputError(f"the question must be text, not {type(question).__name__}")
    text = " ".join(question.split())
    if not text:
        raise InputError('the question is empty; ask something, e.g. qa ask "Who introduced gVisor?"')
    notes: tuple[str, ...] = ()
    if len(text) > max_chars:
        notes = (f"question truncated from {len(text):,} to {max_chars:,} characters (QA_MAX_QUESTION_CHARS)",)
        text = text[:max_chars].rsplit(" ", 1)[0] or text[:max_chars]
    return text, notes


_PRONOUN = re.compile(rf"\b({'|'.join(sorted(PRONOUNS))})\b", re.IGNORECASE)


def topic_of(question: str) -> str:
    """The main subject of a question: its longest proper-noun phrase, else its content words."""
    first = question.split()[0] if question.split() else ""
    phrases = []
    for m in NAME.finditer(question):
        words = m.group(0).split()
        if words and words[0] == first and first.lower() in QUESTION_WORDS | STOPWORDS:
            words = words[1:]
        if words:
            phrases.append(" ".join(words).rstrip(".,;:"))
    if phrases:
        return max(phrases, key=len)
    content = [w for w in re.findall(r"[\w\-]+", question) if w.lower() not in STOPWORDS | QUESTION_WORDS]
    return " ".join(content[-3:])


def resolve_followup(question: str, history: Sequence[str]) -> str:
    """Rewrite a follow-up ("and who introduced it?") into a standalone question using the previous one."""
    if not history:
        return question
    previous = history[-1]
    content = [t for t in terms(question)]
    starts_like_followup = bool(FOLLOW_START.match(question))
    has_pronoun = bool(_PRONOUN.search(question))
    if not (starts_like_followup or has_pronoun or len(content) <= 1):
        return question
    topic = topic_of(previous)
    if not topic or topic.lower() in question.lower():
        return question
    q = FOLLOW_START.sub("", question).strip() or question
    if has_pronoun:

        def sub(m: re.Match[str]) -> str:
            w = m.group(1).lower()
            return f"{topic}'s" if w in {"its", "their", "his", "her"} else topic

        q = _PRONOUN.sub(sub, q, count=1)
    else:
        q = f"{q.rstrip('?')} {topic}?" if len(content) <= 2 else q
    return q[0].upper() + q[1:]


def _asking_sentence(question: str) -> str:
    """The sentence that asks: "What is the aim of lifetimes?" of "Rust checks how long references live. What is
    the aim of lifetimes?"."""
    asked = [p for p in sentences(question.strip()) if p.endswith("?")]
    return asked[0] if asked else question


def answer_kind(question: str) -> str:
    """The type of answer a question asks for, from its first question phrase ("Who spoke when ..." is a who),
    after an opening clause ("When decompressing, which suffixes ..." asks a which, not a when), in the
    sentence that asks (in "Rust checks how long references live. What is that check called?", the second).

    Phrases that start at the same word go to the more specific kind: "what year" is a time, not a plain "what".
    """
    q = SCENE.sub("", _asking_sentence(question).lower(), count=1)
    found = [
        (m.start(), rank, kind) for rank, (kind, pattern) in enumerate(KINDS) for m in [re.search(pattern, q)] if m
    ]
    return min(found)[2] if found else "other"


def main_clause(question: str) -> str | None:
    """The asking sentence up to its first relative clause: "Who introduced the runtime" of "Who introduced the
    runtime that the ICCLab author called a life-saver?". The clause names the thing (found by the first answer
    sentence); the main clause says what is asked about it. None when the question has no relative clause."""
    q = _asking_sentence(question)
    wh = QUESTION_WORD.search(q)
    m = RELATIVE.search(q, wh.end()) if wh else None
    return q[: m.start()].strip(" ,") if m else None


def parse(question: str, *, history: Sequence[str] = (), max_chars: int = 2000) -> Query:
    """The one entry point: clean, resolve, analyse."""
    text, notes = clean(question, max_chars=max_chars)
    resolved = resolve_followup(text, history)
    if resolved != text:
        notes = (*notes, f"read as: {resolved}")
    return Query(
        text=resolved,
        original=question,
        terms=tuple(dict.fromkeys(terms(resolved))),
        kind=answer_kind(resolved),
        notes=notes,
        main=main_clause(resolved),
    )
