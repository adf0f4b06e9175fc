"""The Reranker seam: fused candidates -> scores. A one-method protocol plus a name -> factory registry (RERANKERS).

No cross-encoder ships offline, so the default ("heuristic") scores each candidate at sentence grain with what
retrieval already has: the question's cosine to the chunk and to its best sentence (stored vectors), the chunk's
BM25 score, and the idf-weighted share of the question's words its best sentence holds (weights: qa/rules.py,
family 2). "cross-encoder:NAME" (a sentence-transformers CrossEncoder, by name or folder) replaces that score
and keeps it as a tie-break.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Protocol

import numpy as np

from qa.errors import ModelError
from qa.rules import W_CHUNK, W_KEYWORD, W_OVERLAP, W_SENTENCE
from qa.types import Chunk, Query, SentenceEvidence


@dataclass(frozen=True, slots=True)
class Candidate:
    """A fused candidate with every signal retrieval measured for it."""

    chunk: Chunk
    chunk_cosine: float  # question vs the chunk's indexed text
    keyword: float  # BM25 score (0 when keyword search did not find it)
    keyword_best: float  # the best BM25 score among the candidates, for scale
    evidence: SentenceEvidence


class Reranker(Protocol):
    """Scores candidates for a question; higher is better."""

    name: str

    def scores(self, query: Query, candidates: Sequence[Candidate]) -> list[float]: ...


class HeuristicReranker:
    """Chunk cosine, best sentence cosine, BM25 and question-word share, weighted (qa/rules.py, family 2)."""

    name = "heuristic"

    def scores(self, query: Query, candidates: Sequence[Candidate]) -> list[float]:
        out = []
        for c in candidates:
            cos, ov = c.evidence.cosine, c.evidence.overlap
            n = len(cos)
            out.append(
                W_CHUNK * c.chunk_cosine
                + W_SENTENCE * (float(cos.max()) if n else c.chunk_cosine)
                + W_KEYWORD * c.keyword / c.keyword_best
                + W_OVERLAP * (float(ov.max()) if n else 0.0)
            )
        return out


class CrossEncoderReranker:
    """A sentence-transformers CrossEncoder reads question and passage together; the heuristic breaks ties."""

    def __init__(self, model: str):
        self.name = f"cross-encoder:{model}"
        self.model = model

    def scores(self, query: Query, candidates: Sequence[Candidate]) -> list[float]:
        if not candidates:
            return []
        tie = HeuristicReranker().scores(query, candidates)
        raw = _load_cross_encoder(self.model).predict(
            [(query.text, c.chunk.indexed_text) for c in candidates], show_progress_bar=False
        )
        return [float(s) + 1e-3 * t for s, t in zip(np.asarray(raw).ravel(), tie, strict=True)]


@cache
def _load_cross_encoder(name: str):  # noqa: ANN202
    from sentence_transformers import CrossEncoder

    from qa.embed import resolve_model

    try:
        return CrossEncoder(resolve_model(name), device="cpu")
    except Exception as e:
        raise ModelError(
            f"cannot load reranker {name!r} ({type(e).__name__}); pass a local CrossEncoder folder or unset QA_RERANKER"
        ) from e


RERANKERS: dict[str, Callable[[str], Reranker]] = {
    "heuristic": lambda _: HeuristicReranker(),
    "cross-encoder": CrossEncoderReranker,
}


def reranker_for(spec: str | None) -> Reranker:
    """The reranker a QA_RERANKER value names: empty or "heuristic"; "cross-encoder:NAME"; or a bare CrossEncoder
    name or folder."""
    if not spec:
        return RERANKERS["heuristic"]("")
    kind, sep, arg = spec.partition(":")
    if sep and kind in RERANKERS:
        return RERANKERS[kind](arg)
    if spec in RERANKERS:
        return RERANKERS[spec]("")
    return RERANKERS["cross-encoder"](spec)
