"""Passages -> Answer: the extractive answerer, citations checked against the source, and abstention.

The answerer needs no LLM: it scores every sentence of the best passages by how well it answers the question
and quotes the best one (with its neighbour when that adds what the question asks for). A quote is always
`document.text[start:end]`, checked before it is returned.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qa.query import Query
from qa.retrieve import Retrieval
from qa.settings import Settings
from qa.store import Index
from qa.text import clean_inline_markdown, terms
from qa.types import Answer, AnswerSentence, Chunk, Citation, Passage

ANSWER_PASSAGES = 8  # sentences are chosen from this many top passages
# sentence score = cosine + W_OV * overlap + W_CUE * answer-type cue + W_PRIOR * passage prior
W_OV, W_CUE, W_PRIOR = 0.5, 0.15, 0.3
ABSTAIN_TEXT = "The documents don't say. The closest passages are shown below, but none of them answers the question."

_MONTHS = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*"
_CUES = {
    "time": re.compile(rf"\b(1[89]\d\d|20\d\d)\b|\b{_MONTHS}\b\.?\s+\d|\b\d{{1,2}}\s+{_MONTHS}\b", re.IGNORECASE),
    "number": re.compile(r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozen|hundred|thousand|million|billion)s?\b", re.IGNORECASE),
    "person": re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]+(?:\s+[A-Z][a-z'’-]+)+"),
    "place": re.compile(r"\b(?:in|at|from|to|near)\s+(?:the\s+)?[A-Z][\w'’-]+"),
}


@dataclass(frozen=True, slots=True)
class Candidate:
    """A sentence (or two adjacent ones) that could be quoted as the answer."""

    passage: Passage
    start: int  # absolute offsets in the document
    end: int
    score: float
    cosine: float
    overlap: float
    words: int


def cue(kind: str, sentence: str, question: str) -> float:
    """1 when the sentence holds the kind of thing the question asks for and the question does not already."""
    pattern = _CUES.get(kind)
    if pattern is None:
        return 0.0
    q = question.lower()
    for m in pattern.finditer(sentence):
        if m.group(0).lower() not in q:
            return 1.0
    return 0.0


def candidates(retrieval: Retrieval, *, max_passages: int = ANSWER_PASSAGES) -> list[Candidate]:
    """Every sentence of the top passages, scored."""
    query = retrieval.query
    passages = retrieval.passages[:max_passages]
    if not passages:
        return []
    top = max(p.score for p in passages) or 1.0
    q_terms = frozenset(query.terms)
    out = []
    for p in passages:
        ev = retrieval.evidence.get(p.chunk.id)
        if ev is None:
            continue
        prior = p.score / top
        for i, (s, e) in enumerate(p.chunk.sentences):
            text = p.chunk.text[s - p.chunk.start : e - p.chunk.start]
            novel = len(ev.terms[i] - q_terms)
            score = (
                float(ev.cosine[i])
                + W_OV * float(ev.overlap[i])
                + W_CUE * cue(query.kind, text, query.text)
                + W_PRIOR * prior
                - (0.3 if novel == 0 else 0.0)  # a sentence that only repeats the question answers nothing
            )
            out.append(Candidate(p, s, e, score, float(ev.cosine[i]), float(ev.overlap[i]), len(text.split())))
    out.sort(key=lambda c: -c.score)
    return out


def _neighbour(c: Candidate, cands: list[Candidate], query: Query, retrieval: Retrieval, max_words: int) -> Candidate:
    """Extend the best sentence with an adjacent one when that adds question words or the answer type."""
    chunk = c.passage.chunk
    spans = list(chunk.sentences)
    i = spans.index((c.start, c.end))
    best = c
    base_terms = frozenset(terms(chunk.text[c.start - chunk.start : c.end - chunk.start]))
    base_cue = cue(query.kind, chunk.text[c.start - chunk.start : c.end - chunk.start], query.text)
    for j in (i - 1, i + 1):
        if not 0 <= j < len(spans):
            continue
        s, e = spans[j]
        text = chunk.text[s - chunk.start : e - chunk.start]
        words = c.words + len(text.split())
        if words > max_words:
            continue
        gained = [t for t in query.terms if t in frozenset(terms(text)) and t not in base_terms]
        gain = sum(retrieval.idf.get(t, 0.0) for t in gained) / (sum(retrieval.idf.get(t, 0.0) for t in query.terms) or 1)
        gain += 0.2 * max(0.0, cue(query.kind, text, query.text) - base_cue)
        if gain >= 0.15:
            start, end = min(c.start, s), max(c.end, e)
            cand = Candidate(c.passage, start, end, c.score + gain, c.cosine, c.overlap + gain, words)
            if cand.score > best.score:
                best = cand
    return best


def confidence(retrieval: Retrieval, cands: list[Candidate]) -> float:
    """How sure we are that the passages answer the question: best sentence cosine and question coverage."""
    if not cands or not retrieval.passages:
        return 0.0
    best_cos = max(c.cosine for c in cands[:20])
    top = retrieval.passages[0].chunk
    covered = frozenset(terms(top.indexed_text))
    q = retrieval.query.terms
    total = sum(retrieval.idf.get(t, 0.0) for t in q)
    coverage = sum(retrieval.idf.get(t, 0.0) for t in q if t in covered) / total if total else 0.0
    return 0.5 * best_cos + 0.5 * coverage


def cite(index: Index, n: int, chunk: Chunk, start: int, end: int, score: float) -> Citation | None:
    """A citation whose quote is checked against the stored document text; None if it does not match."""
    quote = chunk.text[start - chunk.start : end - chunk.start]
    doc = index.document(chunk.source)
    if doc is None or doc.text[start:end] != quote:
        return None
    return Citation(n, chunk.source, chunk.section, start, end, quote, round(score, 4), chunk.id)


def extractive(retrieval: Retrieval, index: Index, settings: Settings) -> Answer:
    """The default answer: quoted sentences with [n] markers, or an abstention with the closest passages."""
    cands = candidates(retrieval)
    conf = confidence(retrieval, cands)
    passages = retrieval.passages[: settings.top_k]
    common = dict(
        question=retrieval.query.original,
        passages=passages,
        timings={},
        confidence=round(conf, 4),
        resolved_question=retrieval.query.text,
        notes=retrieval.query.notes,
        stages=retrieval.stages,
    )
    if not cands or conf < settings.abstain_threshold:
        return Answer(text=ABSTAIN_TEXT, abstained=True, citations=(), **common)  # type: ignore[arg-type]
    chosen = [_neighbour(cands[0], cands, retrieval.query, retrieval, settings.max_answer_words)]
    citations, parts, sentences = [], [], []
    for c in chosen:
        cit = cite(index, len(citations) + 1, c.passage.chunk, c.start, c.end, c.score)
        if cit is None:
            continue
        citations.append(cit)
        display = clean_inline_markdown(cit.quote)
        parts.append(f"{display} [{cit.n}]")
        sentences.append(AnswerSentence(display, (cit.n,), True))
    if not citations:
        return Answer(text=ABSTAIN_TEXT, abstained=True, citations=(), **common)  # type: ignore[arg-type]
    return Answer(
        text=" ".join(parts),
        abstained=False,
        citations=tuple(citations),
        raw="\n".join(c.quote for c in citations),
        sentences=tuple(sentences),
        **common,  # type: ignore[arg-type]
    )
