"""Question -> Query: validated, trimmed, resolved against the conversation, with its expected answer type."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from qa.errors import InputError
from qa.text import QUESTION_WORDS, STOPWORDS, terms


@dataclass(frozen=True, slots=True)
class Query:
    """What retrieval and answering need to know about a question."""

    text: str  # cleaned and resolved: what is embedded and searched
    original: str
    terms: tuple[str, ...]  # stemmed content words
    kind: str  # expected answer: "person", "role", "organization", "time", "number", "version", "place", "reason", "other"
    notes: tuple[str, ...] = ()
    main: str | None = None  # the asking sentence up to its first relative clause, when it has one


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


_PRONOUN = re.compile(r"\b(it|its|they|them|their|this|that|these|those|he|him|his|she|her)\b", re.IGNORECASE)
_FOLLOW_START = re.compile(r"^(and|also|so|but|what about|how about|and what about)\b[\s,]*", re.IGNORECASE)
_PROPER = re.compile(
    r"\b(?:[A-Z][\w.\-/]*[a-zA-Z0-9]|[a-z]+[A-Z][\w\-]*)(?:\s+(?:[A-Z0-9][\w.\-/]*|[a-z]+[A-Z][\w\-]*|of|and|for|the))*"
)  # "Kata Containers", "CRI-O", and mixed case like "gVisor" or "eBPF"


def topic_of(question: str) -> str:
    """The main subject of a question: its longest proper-noun phrase, else its content words."""
    first = question.split()[0] if question.split() else ""
    phrases = []
    for m in _PROPER.finditer(question):
        words = m.group(0).split()
        if words and words[0] == first and first.lower() in QUESTION_WORDS | STOPWORDS:
            words = words[1:]
        while words and words[-1].lower() in {"of", "and", "for", "the"}:
            words = words[:-1]
        if words:
            phrases.append(" ".join(words))
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
    starts_like_followup = bool(_FOLLOW_START.match(question))
    has_pronoun = bool(_PRONOUN.search(question))
    if not (starts_like_followup or has_pronoun or len(content) <= 1):
        return question
    topic = topic_of(previous)
    if not topic or topic.lower() in question.lower():
        return question
    q = _FOLLOW_START.sub("", question).strip() or question
    if has_pronoun:

        def sub(m: re.Match[str]) -> str:
            w = m.group(1).lower()
            return f"{topic}'s" if w in {"its", "their", "his", "her"} else topic

        q = _PRONOUN.sub(sub, q, count=1)
    else:
        q = f"{q.rstrip('?')} {topic}?" if len(content) <= 2 else q
    return q[0].upper() + q[1:]


_KINDS = (
    (
        "number",
        r"\bhow (many|much)\b|\bwhat (number|percentage|share|proportion|fraction|amount)\b|\bhow (large|big|long|old)\b"
        r"|\bwhat (is|was|are|were) the (\w+ )?(number|count|amount|size|percentage|share|proportion|fraction)\b",
    ),
    ("time", r"\bwhen\b|\b(what|which) (exact )?(years?|dates?|months?|days?)\b"),
    ("version", r"\b(what|which) (\w+ )?(version|release)s?\b"),
    (  # a job title: "What is Saad Malik's role at Spectro Cloud?", "What job title does she hold?"
        "role",
        r"\b(what|which) (is |was |are |were )?(the |(?:[\w.-]+ ){0,3}[\w.-]+(?:'s|’s) )?"
        r"(job title|occupation|(role|title|position) at|(?<=s )(role|title|position)\b)",
    ),
    ("person", r"\bwho\b|\bwhose\b|\bwhom\b|\bwhich (person|speaker)\b"),
    ("organization", r"\bwhich (company|organi[sz]ation|foundation|vendor|firm)\b"),
    ("place", r"\bwhere\b|\bwhich (city|country|venue|place)\b|\bin what (city|country)\b"),
    ("reason", r"\bwhy\b|\bwhat (is|was) the reason\b|\bfor what reason\b"),
    ("other", r"\bwhat\b|\bwhich\b|\bhow\b"),
)


# "When decompressing, which suffixes ...": an opening clause that sets the scene; the question phrase follows it
_SCENE = re.compile(
    r"^(?:when|where|while|if|once|after|before|in|on|for|during)\s+"
    r"(?!(?:is|was|are|were|do|does|did|will|would|can|could|has|have|had|should)\b)[^,?]*,\s*"
    r"(?=.*\b(?:who|whom|whose|what|which|when|where|why|how)\b)",
    re.IGNORECASE,
)


def _asking_sentence(question: str) -> str:
    """The sentence that asks: "What is the aim of lifetimes?" of "Rust checks how long references live. What is
    the aim of lifetimes?"."""
    asked = [p for p in re.split(r"(?<=[.!?])\s+", question.strip()) if p.endswith("?")]
    return asked[0] if asked else question


def answer_kind(question: str) -> str:
    """The type of answer a question asks for, from its first question phrase ("Who spoke when ..." is a who),
    after an opening clause ("When decompressing, which suffixes ..." asks a which, not a when), in the
    sentence that asks (in "Rust checks how long references live. What is that check called?", the second).

    Phrases that start at the same word go to the more specific kind: "what year" is a time, not a plain "what".
    """
    q = _SCENE.sub("", _asking_sentence(question).lower(), count=1)
    found = [
        (m.start(), rank, kind) for rank, (kind, pattern) in enumerate(_KINDS) for m in [re.search(pattern, q)] if m
    ]
    return min(found)[2] if found else "other"


# where a relative clause starts: "the runtime | that ...", "the conference | at which ...", "the speaker | who ..."
_RELATIVE = re.compile(r"\b(?:(?:at|in|on|for|by|from|with|to) which|that|which|who|whom|whose|where)\b", re.I)
_QUESTION_WORD = re.compile(r"\b(?:who|whom|whose|what|which|when|where|why|how)\b", re.I)


def main_clause(question: str) -> str | None:
    """The asking sentence up to its first relative clause: "Who introduced the runtime" of "Who introduced the
    runtime that the ICCLab author called a life-saver?". The clause names the thing (found by the first answer
    sentence); the main clause says what is asked about it. None when the question has no relative clause."""
    q = _asking_sentence(question)
    wh = _QUESTION_WORD.search(q)
    m = _RELATIVE.search(q, wh.end()) if wh else None
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
