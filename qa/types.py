"""The nouns that flow through the pipeline: Document -> Chunk -> Passage -> Answer.

Frozen dataclasses only; this module imports nothing from qa so every other module can use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Document:
    """One loaded file: the text that every offset in a citation points into."""

    source: str  # path relative to the indexed folder, shown in citations
    title: str
    text: str  # md/txt: the decoded file; html: extracted main text; pdf: page texts joined
    format: str  # "md", "txt", "html" or "pdf"
    pages: tuple[int, ...] = ()  # pdf: char offset where each page starts


@dataclass(frozen=True, slots=True)
class Chunk:
    """A retrievable piece of a document; `text == document.text[start:end]`."""

    id: str  # stable hash of source + offset + text, so re-indexing can diff
    source: str
    title: str
    section: str  # heading path, e.g. "Kata Containers > Memory"
    start: int
    end: int
    text: str
    sentences: tuple[tuple[int, int], ...] = ()  # absolute (start, end) of each sentence

    @property
    def indexed_text(self) -> str:
        """What is embedded and keyword-indexed: the section path gives the chunk its context."""
        return f"{self.section}\n{self.text}"

    def sentence_texts(self) -> list[str]:
        return [self.text[s - self.start : e - self.start] for s, e in self.sentences]


@dataclass(frozen=True, slots=True)
class Passage:
    """A chunk retrieved for a question, with the score of each stage that saw it."""

    chunk: Chunk
    score: float  # the final (reranked) score; higher is better
    stage: str  # where it came from: "dense", "keyword" or "both"
    dense: float | None = None  # cosine of question and chunk
    keyword: float | None = None  # BM25 score
    ranks: Mapping[str, int] = field(default_factory=dict)  # 1-based rank per stage


@dataclass(frozen=True, slots=True)
class Citation:
    """A quote that is exactly `document.text[start:end]` of `source`."""

    n: int  # the [n] marker in the answer text
    source: str
    section: str
    start: int
    end: int
    quote: str
    score: float
    chunk_id: str = ""


@dataclass(frozen=True, slots=True)
class AnswerSentence:
    """One sentence of the answer and whether it is backed by the passages it cites."""

    text: str
    citations: tuple[int, ...]  # citation numbers
    verified: bool
    support: float = 1.0  # share of the sentence's content words and numbers found in its citations


@dataclass(frozen=True, slots=True)
class Answer:
    """The result of a question; field names are public API that other tools script against."""

    question: str
    text: str
    abstained: bool
    citations: tuple[Citation, ...]
    passages: tuple[Passage, ...]
    timings: Mapping[str, float]  # milliseconds per stage, plus "total"
    confidence: float = 0.0  # the score compared with the abstention threshold
    resolved_question: str = ""  # the question after follow-up resolution and clean-up
    generator: str = "extractive"
    raw: str = ""  # the generator's raw output (extractive: the chosen sentences)
    sentences: tuple[AnswerSentence, ...] = ()
    notes: tuple[str, ...] = ()  # e.g. "question truncated", "generator failed, extractive fallback"
    stages: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # chunk ids per stage, best first
