"""Query -> Passages: dense (FAISS) and keyword (BM25) candidates, fused by reciprocal rank, reranked per sentence.

No cross-encoder ships offline, so the default reranker scores each candidate at sentence grain with what we
have: the question's cosine to the chunk and to its best sentence (precomputed vectors), the chunk's BM25
score, and the idf-weighted share of the question's words its best sentence contains. A CrossEncoder, when
configured, replaces that score.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from qa.embed import Embedder, OnnxQueryEncoder
from qa.errors import ModelError
from qa.query import Query
from qa.settings import Settings
from qa.store import Index
from qa.types import Chunk, Passage

# Weights of the default reranker (see module docstring); chosen on evals/docs.jsonl, checked on evals/seeds.jsonl.
W_CHUNK, W_SENTENCE, W_KEYWORD, W_OVERLAP = 0.5, 0.5, 0.3, 0.3


@dataclass(frozen=True)
class SentenceEvidence:
    """Per-sentence signals of one candidate chunk, reused by the answerer."""

    cosine: np.ndarray  # question vs each sentence
    overlap: np.ndarray  # idf-weighted share of question terms in each sentence
    terms: tuple[frozenset[str], ...]  # each sentence's terms
    vectors: np.ndarray  # each sentence's embedding


@dataclass(frozen=True)
class Retrieval:
    """Everything retrieval learned about a question; the answerer and the eval suite read it."""

    query: Query
    passages: tuple[Passage, ...]  # reranked, best first
    evidence: dict[str, SentenceEvidence]  # chunk id -> sentence signals
    idf: dict[str, float]
    stages: dict[str, tuple[str, ...]]  # chunk ids per stage, best first (top 10)
    timings: dict[str, float] = field(default_factory=dict)  # ms
    vector: np.ndarray | None = None  # the encoded question


def idf_overlap(q_terms: tuple[str, ...], idf: dict[str, float], s_terms: frozenset[str]) -> float:
    total = sum(idf[t] for t in q_terms)
    return sum(idf[t] for t in q_terms if t in s_terms) / total if total else 0.0


def retrieve(
    query: Query,
    index: Index,
    embedder: Embedder | OnnxQueryEncoder,
    settings: Settings,
    *,
    vector: np.ndarray | None = None,
) -> Retrieval:
    """Candidates from both searches, fused, then reranked; timings per stage in ms.

    `vector` stands in for the encoded question when the caller already has one (the answerer's second search).
    """
    from qa.text import terms as analyse

    t = time.perf_counter
    timings: dict[str, float] = {}
    t0 = t()
    qvec = embedder.encode_query(query.text, threads=settings.query_threads) if vector is None else vector
    t1 = t()
    d_rows, d_scores = index.dense_search(qvec, settings.dense_k)
    t2 = t()
    k_rows, k_scores = index.keyword_search(query.terms, settings.keyword_k)
    t3 = t()
    timings.update(embed=(t1 - t0) * 1e3, dense=(t2 - t1) * 1e3, keyword=(t3 - t2) * 1e3)

    # reciprocal rank fusion
    fused: dict[int, float] = {}
    for rows in (d_rows, k_rows):
        for rank, r in enumerate(rows):
            fused[int(r)] = fused.get(int(r), 0.0) + 1.0 / (settings.rrf_k + rank + 1)
    fused_rows = sorted(fused, key=lambda r: -fused[r])
    t4 = t()
    timings["fusion"] = (t4 - t3) * 1e3

    dense_rank = {int(r): i + 1 for i, r in enumerate(d_rows)}
    dense_score = {int(r): float(s) for r, s in zip(d_rows, d_scores, strict=True)}
    kw_rank = {int(r): i + 1 for i, r in enumerate(k_rows)}
    kw_score = {int(r): float(s) for r, s in zip(k_rows, k_scores, strict=True)}

    # the reranker sees the fused best plus each search's own best: on a small corpus a chunk that only one search
    # finds (BM25 rank 3, dense rank 56 of 69) falls below every chunk both find, however well it answers
    each = (int(r) for r in (*d_rows[: settings.rerank_each], *k_rows[: settings.rerank_each]))
    cand = list(dict.fromkeys((*fused_rows[: settings.rerank_k], *each)))
    chunks = index.chunks(cand)
    by_row = dict(zip(cand, chunks, strict=True))
    idf = index.idf(query.terms)
    sent_rows = index.sentence_rows(cand)
    kw_max = max(kw_score.values(), default=0.0) or 1.0

    evidence: dict[str, SentenceEvidence] = {}
    scored: list[tuple[float, int]] = []
    for r in cand:
        c = by_row[r]
        first, n = sent_rows[r]
        svecs = np.asarray(index.sentence_vectors[first : first + n], dtype=np.float32)
        cos = svecs @ qvec if n else np.zeros(0, dtype=np.float32)
        s_terms = tuple(frozenset(analyse(s)) for s in c.sentence_texts())
        head = frozenset(analyse(c.section))
        ov = np.array([idf_overlap(query.terms, idf, st | head) for st in s_terms], dtype=np.float32)
        evidence[c.id] = SentenceEvidence(cos, ov, s_terms, svecs)
        chunk_cos = dense_score.get(r)
        if chunk_cos is None:
            chunk_cos = float(np.asarray(index.chunk_vectors[r], dtype=np.float32) @ qvec)
            dense_score[r] = chunk_cos
        score = (
            W_CHUNK * chunk_cos
            + W_SENTENCE * (float(cos.max()) if n else chunk_cos)
            + W_KEYWORD * kw_score.get(r, 0.0) / kw_max
            + W_OVERLAP * (float(ov.max()) if n else 0.0)
        )
        scored.append((score, r))

    if settings.reranker:
        scored = _cross_encode(settings.reranker, query.text, [(s, r, by_row[r]) for s, r in scored])
    scored.sort(key=lambda x: -x[0])
    t5 = t()
    timings["rerank"] = (t5 - t4) * 1e3

    passages = []
    for rank, (score, r) in enumerate(scored, 1):
        stage = "both" if r in dense_rank and r in kw_rank else "dense" if r in dense_rank else "keyword"
        ranks = {"fused": fused_rows.index(r) + 1, "reranked": rank}
        if r in dense_rank:
            ranks["dense"] = dense_rank[r]
        if r in kw_rank:
            ranks["keyword"] = kw_rank[r]
        passages.append(
            Passage(by_row[r], float(score), stage, dense=dense_score.get(r), keyword=kw_score.get(r), ranks=ranks)
        )

    # chunk ids of each stage's top 10: most were fetched for reranking; the rest come in one query
    tops = {"dense": [int(r) for r in d_rows[:10]], "keyword": [int(r) for r in k_rows[:10]], "fused": fused_rows[:10]}
    missing = sorted({r for rows in tops.values() for r in rows} - by_row.keys())
    id_of = {r: c.id for r, c in by_row.items()} | {
        r: c.id for r, c in zip(missing, index.chunks(missing), strict=True)
    }
    stages = {
        **{stage: tuple(id_of[r] for r in rows) for stage, rows in tops.items()},
        "reranked": tuple(p.chunk.id for p in passages[:10]),
    }
    return Retrieval(query, tuple(passages), evidence, idf, stages, timings, qvec)


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


def _cross_encode(name: str, question: str, cands: list[tuple[float, int, Chunk]]) -> list[tuple[float, int]]:
    """Rescore candidates with a cross-encoder; the sentence-level score breaks ties."""
    model = _load_cross_encoder(name)
    raw = model.predict([(question, c.indexed_text) for _, _, c in cands], show_progress_bar=False)
    return [(float(s) + 1e-3 * old, r) for (old, r, _), s in zip(cands, np.asarray(raw).ravel(), strict=True)]
