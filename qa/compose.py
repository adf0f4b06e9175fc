"""Reading -> Answer: the chosen spans quoted with [n] markers, each citation checked against the document
text, or an abstention that shows the closest passages.

Everything arrives in the arguments (the Retrieval, the reader's Reading, the cited documents): this step asks
nothing of the store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from qa.text import clean_inline_markdown
from qa.types import Answer, AnswerSentence, Chunk, Citation, Document, Reading, Retrieval, Span

ABSTAIN_TEXT = "The documents don't say: none of the closest passages answers this question."


def cite(
    documents: Mapping[str, Document | None], n: int, chunk: Chunk, start: int, end: int, score: float
) -> Citation | None:
    """A citation whose quote is checked against the stored document text; None if it does not match."""
    quote = chunk.text[start - chunk.start : end - chunk.start]
    doc = documents.get(chunk.source)
    if doc is None or doc.text[start:end] != quote:
        return None
    return Citation(n, chunk.source, chunk.section, start, end, quote, round(score, 4), chunk.id)


def merge_adjacent(spans: Sequence[Span]) -> list[Span]:
    """Spans of one chunk read in document order, and as one quote when nothing lies between them."""
    order = list(dict.fromkeys(c.passage.chunk.id for c in spans))
    out: list[Span] = []
    for c in sorted(spans, key=lambda c: (order.index(c.passage.chunk.id), c.start)):
        prev = out[-1] if out else None
        chunk = c.passage.chunk
        if (
            prev is None
            or prev.passage.chunk.id != chunk.id
            or chunk.text[prev.end - chunk.start : c.start - chunk.start].strip()
        ):
            out.append(c)
            continue
        out[-1] = Span(
            prev.passage,
            prev.start,
            c.end,
            max(prev.score, c.score),
            max(prev.cosine, c.cosine),
            max(prev.overlap, c.overlap),
            prev.words + c.words,
        )
    return out


def compose(
    retrieval: Retrieval,
    reading: Reading,
    documents: Mapping[str, Document | None],
    *,
    threshold: float,
    top_k: int,
) -> Answer:
    """Quoted sentences with [n] markers, or an abstention with the closest passages."""
    common = dict(
        question=retrieval.query.original,
        passages=retrieval.passages[:top_k],
        timings={},
        confidence=round(reading.confidence, 4),
        resolved_question=retrieval.query.text,
        notes=retrieval.query.notes,
        stages=retrieval.stages,
    )
    if not reading.spans or reading.confidence < threshold:
        return Answer(text=ABSTAIN_TEXT, abstained=True, citations=(), **common)  # type: ignore[arg-type]
    citations, parts, sentences = [], [], []
    for c in merge_adjacent(reading.spans):
        cit = cite(documents, len(citations) + 1, c.passage.chunk, c.start, c.end, c.score)
        if cit is None:
            continue
        citations.append(cit)
        display = clean_inline_markdown(cit.quote)
        if not any(c.start == s for s, _ in c.passage.chunk.sentences):
            display = "…" + display  # trimmed to its relevant clauses
        if not any(c.end == e for _, e in c.passage.chunk.sentences):
            display += "…"
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
