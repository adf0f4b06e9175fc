"""The nouns that flow through the pipeline: Document -> Chunk -> Query -> Retrieval -> Reading -> Answer.

Frozen dataclasses (BuildReport excepted: a build fills it in); this module imports nothing from qa, so every
other module can use it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


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


@dataclass(frozen=True, slots=True)
class Query:
    """What retrieval and answering need to know about a question."""

    text: str  # cleaned and resolved: what is embedded and searched
    original: str
    terms: tuple[str, ...]  # stemmed content words
    kind: str  # expected answer: "person", "role", "organization", "time", "number", "version", "place", "reason", "other"
    notes: tuple[str, ...] = ()
    main: str | None = None  # the asking sentence up to its first relative clause, when it has one


@dataclass(frozen=True)
class SentenceEvidence:
    """Per-sentence signals of one candidate chunk, computed once by retrieval and reused by the reader."""

    cosine: np.ndarray  # question vs each sentence
    overlap: np.ndarray  # idf-weighted share of question terms in each sentence (its heading path included)
    terms: tuple[frozenset[str], ...]  # each sentence's terms
    vectors: np.ndarray  # each sentence's embedding


@dataclass(frozen=True)
class Retrieval:
    """Everything retrieval learned about a question; readers, generators and the eval suite read it."""

    query: Query
    passages: tuple[Passage, ...]  # reranked, best first
    evidence: Mapping[str, SentenceEvidence]  # chunk id -> sentence signals
    idf: Mapping[str, float]  # of the question's terms and of every term of the candidate passages
    stages: Mapping[str, tuple[str, ...]]  # chunk ids per stage, best first (top 10)
    timings: Mapping[str, float] = field(default_factory=dict)  # ms
    vector: np.ndarray | None = None  # the encoded question
    unseen: frozenset[str] = frozenset()  # the question's terms that no chunk of the corpus uses


@dataclass(frozen=True, slots=True)
class Span:
    """A stretch of a passage a reader may quote: one sentence, or the clauses of one that fit a word budget."""

    passage: Passage
    start: int  # absolute offsets in the document
    end: int
    score: float
    cosine: float
    overlap: float
    words: int

    @property
    def text(self) -> str:
        chunk = self.passage.chunk
        return chunk.text[self.start - chunk.start : self.end - chunk.start]


@dataclass(frozen=True, slots=True)
class FollowUp:
    """A search a reader asks the pipeline to run: facts that span two passages need a second look."""

    query: Query
    vector: np.ndarray | None = None  # stands in for encoding query.text (None: encode it)
    keep: Callable[[Span], bool] | None = None  # which of its spans the reader may add (None: any)


@dataclass(frozen=True, slots=True)
class Reading:
    """What a reader made of a Retrieval: the spans to quote, in answer order, and how sure it is."""

    spans: tuple[Span, ...]
    confidence: float  # on the reader's own scale; compared with its calibrated threshold
    follow_ups: tuple[FollowUp, ...] = ()  # searches that may add a span (run by the pipeline)


@dataclass(frozen=True, slots=True)
class FileState:
    """What tells a file changed without reading it, plus the hash that tells it did not after all."""

    digest: str
    size: int
    mtime_ns: int


@dataclass
class BuildReport:
    """What a build did: the figures `qa index` prints and tests assert on."""

    index_dir: str = ""
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: int = 0
    documents: int = 0
    chunks: int = 0
    chunks_embedded: int = 0  # chunks through the model in this build
    sentences_embedded: int = 0  # sentences through the model on their own (QA_SENTENCE_VECTORS=separate)
    sentences_pooled: int = 0  # sentence vectors taken from their chunk's pass
    chunks_from_cache: int = 0  # chunks whose vectors an interrupted build (or an earlier file) had computed
    seconds: float = 0.0
    up_to_date: bool = False
    timings: dict[str, float] = field(default_factory=dict)
