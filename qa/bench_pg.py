"""`qa bench --store postgresql://... --scale N`: the postgresql store over N synthetic chunks, beside the local
store's figures from qa/bench_scale.py: build time, size, dense p50/p95 and recall@10 against exact search (with an
hnsw.ef_search sweep), keyword p50/p95 and recall@50 against exhaustive BM25, and hybrid (dense 50 + keyword 50,
what retrieval costs a question before reranking). Each chunk's text is three real sentences of the corpus."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qa.bench_scale import percentile
from qa.settings import IndexSettings

K = 10
EF_SWEEP = (40, 100, 200, 400, 700, 1000)  # hnsw.ef_search values measured (pgvector allows up to 1000)


def bench_pg(
    url: str,
    settings: IndexSettings,
    n: int,
    vecs: np.ndarray,
    sentences: Sequence[str],
    sentence_terms: Sequence[list[str]],
    picks: np.ndarray,
    queries: np.ndarray,
    query_terms: Sequence[list[str]],
    exact: Sequence[set[int]],
) -> dict[str, Any]:
    """Build a throwaway collection of n chunks (chunk i = sentences picks[i]) in `url`, search it, drop it."""
    import bm25s

    from qa.stores.postgres import PostgresStore
    from qa.types import Chunk, Document

    store = PostgresStore(f"{url.split('#')[0]}#qa-bench-scale-{n}", settings)
    store.drop()
    doc = Document("synthetic.txt", "Synthetic", "", "txt")

    class Rows:
        """The chunks, made again on each pass instead of held (1M of them would take ~3 GB)."""

        def __len__(self) -> int:
            return n

        def __iter__(self) -> Iterator[tuple]:
            for i in range(n):
                a, b, c = picks[i]
                text = f"{sentences[a]} {sentences[b]} {sentences[c]}"
                chunk = Chunk(f"s{i}", "synthetic.txt", "Synthetic", "", 0, len(text), text, ())
                words = sentence_terms[a] + sentence_terms[b] + sentence_terms[c]
                yield chunk, words, np.asarray(vecs[i], np.float32), []

    t0 = time.perf_counter()
    with store.writer(Path("synthetic")) as w:
        w.write([(doc, "", 0, 0)], Rows(), dim=vecs.shape[1], model_source="synthetic")
        report = w.report
    build = time.perf_counter() - t0
    try:
        return _search(store, n, build, report.timings, queries, query_terms, exact, picks, sentence_terms, bm25s)
    finally:
        store.drop()


def _search(store, n, build, timings, queries, query_terms, exact, picks, sentence_terms, bm25s) -> dict[str, Any]:  # noqa: ANN001
    reader = store.open()
    t1 = time.perf_counter()
    reader.db.run(lambda c: c.execute(f"VACUUM ANALYZE qa.chunks_{reader.cid}, qa.postings_{reader.cid}"))
    vacuum = time.perf_counter() - t1
    size = reader.db.run(lambda c: c.execute(
        f"SELECT sum(pg_total_relation_size(('qa.' || t || '_{reader.cid}')::regclass)) FROM unnest(array['documents', "
        "'chunks', 'sentences', 'postings']) t").fetchone()[0])  # fmt: skip
    first = int(reader.db.run(
        lambda c: c.execute(f"SELECT min(id) FROM qa.chunks WHERE collection = {reader.cid}").fetchone()[0]
    ))  # fmt: skip
    default_ef = reader.ef_search
    sweep = {}
    for ef in sorted({*EF_SWEEP, default_ef}) if reader.hnsw else (default_ef,):
        reader.ef_search = ef
        lat, hits = [], 0
        for q, ex in zip(queries, exact, strict=True):
            t2 = time.perf_counter()
            found, _ = reader.dense_search(q, K)
            lat.append((time.perf_counter() - t2) * 1e3)
            hits += len({int(r) - first for r in found} & ex)
        sweep[ef] = (_ms(lat, 50), _ms(lat, 95), round(hits / (K * len(queries)), 4))
    reader.ef_search = default_ef
    reference = bm25s.BM25()  # exhaustive BM25 over the same texts: what the keyword side should find
    reference.index(
        [sentence_terms[a] + sentence_terms[b] + sentence_terms[c] for a, b, c in picks], show_progress=False
    )
    kw, hyb, kw_hits = [], [], 0.0
    for q, t in zip(queries, query_terms, strict=True):
        t2 = time.perf_counter()
        reader.dense_search(q, 50)
        t3 = time.perf_counter()
        found, _ = reader.keyword_search(t, 50)
        t4 = time.perf_counter()
        kw.append((t4 - t3) * 1e3)
        hyb.append((t4 - t2) * 1e3)
        ids = reference.get_tokens_ids(t)
        if ids:  # share of the top 50 that exhaustive BM25 also puts in its top 50, ties included
            s = reference.get_scores_from_ids(ids)
            kth = np.sort(s)[::-1][min(49, len(s) - 1)]
            kw_hits += sum(s[int(x) - first] >= kth - 1e-4 for x in found) / max(1, min(50, int((s > 0).sum())))
        else:
            kw_hits += 1
    d50, d95, recall = sweep[default_ef]
    return {
        "n": n,
        "store": f"postgresql ({'hnsw' if reader.hnsw else 'exact'} + BM25 in SQL)",
        "build_s": round(build, 1), "vacuum_analyze_s": round(vacuum, 1),
        "build_stages_s": {k: round(v, 1) for k, v in timings.items()},
        "size_mb": round(float(size) / 1e6, 1),
        "dense_p50": d50, "dense_p95": d95, "recall@10": recall,
        "ef_search_sweep": {str(k): {"p50": v[0], "p95": v[1], "recall@10": v[2]} for k, v in sweep.items()},
        "keyword_p50": _ms(kw, 50), "keyword_p95": _ms(kw, 95),
        "keyword_recall@50_vs_bm25": round(kw_hits / len(queries), 4),
        "hybrid_p50": _ms(hyb, 50), "hybrid_p95": _ms(hyb, 95),
    }  # fmt: skip


def _ms(values: Sequence[float], p: float) -> float:
    return round(percentile(values, p), 2)
