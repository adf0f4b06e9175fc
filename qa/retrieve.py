"""Query -> Retrieval: dense and keyword candidates, fused by reciprocal rank, measured per sentence, reranked.

Every signal the later steps need is gathered here once: each candidate's sentence cosines, word shares and
terms (SentenceEvidence), and the idf of every term in them, so the answer step needs nothing from the store.
"""

from __future__ import annotations

import time

import numpy as np

from qa.embed import Encoder, encode_query
from qa.rerank import Candidate, Reranker
from qa.settings import RetrievalSettings
from qa.stores import Reader
from qa.text import terms as analyse
from qa.types import Passage, Query, Retrieval, SentenceEvidence


def idf_overlap(q_terms: tuple[str, ...], idf: dict[str, float], s_terms: frozenset[str]) -> float:
    """The idf-weighted share of the question's terms that a sentence holds."""
    total = sum(idf[t] for t in q_terms)
    return sum(idf[t] for t in q_terms if t in s_terms) / total if total else 0.0


def retrieve(
    query: Query,
    index: Reader,
    encoder: Encoder,
    reranker: Reranker,
    settings: RetrievalSettings,
    *,
    vector: np.ndarray | None = None,
) -> Retrieval:
    """Candidates from both searches, fused, then reranked; timings per stage in ms.

    `vector` stands in for the encoded question when the caller already has one (a reader's follow-up search).
    """
    t = time.perf_counter
    timings: dict[str, float] = {}
    t0 = t()
    qvec = encode_query(encoder, query.text, threads=settings.query_threads) if vector is None else vector
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
    sentence_vectors = dict(zip(cand, index.sentence_vectors(cand), strict=True))
    unscored = [r for r in cand if r not in dense_score]
    for r, v in zip(unscored, index.chunk_vectors(unscored), strict=True):
        dense_score[r] = float(v @ qvec)
    sentence_terms = {r: tuple(frozenset(analyse(s)) for s in by_row[r].sentence_texts()) for r in cand}
    heads = {r: frozenset(analyse(by_row[r].section)) for r in cand}
    vocabulary = set(query.terms).union(*heads.values(), *(t for ts in sentence_terms.values() for t in ts))
    idf = index.idf(sorted(vocabulary))
    never = float(np.log(1 + (index.n_chunks + 0.5) / 0.5))  # the idf of a term no chunk uses
    unseen = frozenset(t for t in query.terms if idf[t] >= never - 1e-9)
    kw_max = max(kw_score.values(), default=0.0) or 1.0

    candidates: list[Candidate] = []
    for r in cand:
        svecs = sentence_vectors[r]
        cos = svecs @ qvec if len(svecs) else np.zeros(0, dtype=np.float32)
        ov = np.array([idf_overlap(query.terms, idf, st | heads[r]) for st in sentence_terms[r]], dtype=np.float32)
        evidence = SentenceEvidence(cos, ov, sentence_terms[r], svecs)
        candidates.append(Candidate(by_row[r], dense_score[r], kw_score.get(r, 0.0), kw_max, evidence))
    scores = reranker.scores(query, candidates)
    scored = sorted(zip(scores, cand, strict=True), key=lambda x: -x[0])
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
    evidence_by_id = {c.chunk.id: c.evidence for c in candidates}
    return Retrieval(query, tuple(passages), evidence_by_id, idf, stages, timings, qvec, unseen)
