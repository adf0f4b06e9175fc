"""`qa bench --scale N`: dense (FAISS flat, IVF-SQ8, HNSW-SQ8) and keyword (BM25) search over N synthetic
chunks made from a real corpus's vectors and sentences: build time, latency, recall against exact search, size."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

# --- scale -----------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile, nearest rank; nan for no values."""
    xs = sorted(values)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else float("nan")


def synthetic_vectors(base: np.ndarray, n: int, *, seed: int = 0, batch: int = 100_000):
    """Batches of n unit vectors drawn around real ones: a random real vector mixed with a second real
    vector (weight 0-0.5) plus Gaussian noise, so neighbourhoods look like a real corpus, not a uniform cloud."""
    rng = np.random.default_rng(seed)
    dim = base.shape[1]
    noise = 0.6 / np.sqrt(dim)
    for i in range(0, n, batch):
        m = min(batch, n - i)
        a = base[rng.integers(0, len(base), m)]
        b = base[rng.integers(0, len(base), m)]
        w = rng.uniform(0, 0.5, (m, 1)).astype(np.float32)
        v = (1 - w) * a + w * b + rng.normal(0, noise, (m, dim)).astype(np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        yield v.astype(np.float32)


def exact_neighbours(vecs: np.ndarray, queries: np.ndarray, k: int = 10) -> list[set[int]]:
    """The true k nearest rows (inner product) of each query: brute force, 50,000 rows at a time."""
    best_s = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(queries), k), dtype=np.int64)
    for off in range(0, len(vecs), 50_000):
        s = queries @ np.asarray(vecs[off : off + 50_000], dtype=np.float32).T
        idx = np.argpartition(-s, min(k, s.shape[1] - 1), axis=1)[:, :k]
        cand_s = np.concatenate([best_s, np.take_along_axis(s, idx, 1)], 1)
        cand_i = np.concatenate([best_i, idx + off], 1)
        order = np.argsort(-cand_s, axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(cand_s, order, 1), np.take_along_axis(cand_i, order, 1)
    return [set(r.tolist()) for r in best_i]


def bench_scale(
    base: np.ndarray, queries: np.ndarray, n: int, kinds: Sequence[str], work: Path, log: Callable[[str], None]
) -> list[dict[str, Any]]:
    """Build each index type over n synthetic vectors (streamed through a float16 file) and search it."""
    import faiss

    from qa.stores import ann

    faiss.omp_set_num_threads(1)  # one query at a time on one core: the latency a user sees
    dim = base.shape[1]
    path = work / f"vecs-{n}.npy"
    store = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(n, dim))
    pos = 0
    for block in synthetic_vectors(base, n):
        store[pos : pos + len(block)] = block
        pos += len(block)
    store.flush()
    del store
    vecs = np.load(path, mmap_mode="r")

    def batches():
        for i in range(0, n, 50_000):
            yield np.asarray(vecs[i : i + 50_000], dtype=np.float32)

    k = 10
    truth = exact_neighbours(vecs, queries, k)

    rows = []
    for kind in kinds:
        faiss.omp_set_num_threads(os.cpu_count() or 1)  # build with every core
        params = ann.choose(kind, n)
        rss0 = _rss_now_mb()
        t0 = time.perf_counter()
        index = ann.build(params, dim, n, batches)
        build_s = time.perf_counter() - t0
        ann.configure(index, params)
        size_mb = _index_bytes(index) / 1e6
        faiss.omp_set_num_threads(1)
        lat, hits = [], 0
        for qi, q in enumerate(queries):
            t1 = time.perf_counter()
            rows_found, _ = ann.search(index, q, k)
            lat.append((time.perf_counter() - t1) * 1e3)
            hits += len(set(rows_found.tolist()) & truth[qi])
        row = {
            "n": n,
            "index": kind,
            "params": {key: v for key, v in _params(params).items() if v},
            "build_s": round(build_s, 1),
            "index_mb": round(size_mb, 1),
            "rss_growth_mb": round(_rss_now_mb() - rss0, 1),
            "search_ms_p50": round(statistics.median(lat), 3),
            "search_ms_p95": round(percentile(lat, 95), 3),
            "recall@10": round(hits / (k * len(queries)), 4),
        }
        log(f"  {kind} @ {n:,}: {row}")
        rows.append(row)
        del index
    os.unlink(path)
    return rows


def bench_keyword(sentences: Sequence[str], questions: Sequence[str], n: int) -> dict[str, Any]:
    """BM25 over n synthetic chunks, each three real sentences of the corpus drawn at random: build and search."""
    import bm25s

    from qa.text import terms

    rng = np.random.default_rng(1)
    analysed = [terms(s) for s in sentences]  # analyse each real sentence once; chunks reuse them
    picks = rng.integers(0, len(analysed), (n, 3))
    rss0 = _rss_now_mb()
    t0 = time.perf_counter()
    retriever = bm25s.BM25()
    retriever.index([analysed[a] + analysed[b] + analysed[c] for a, b, c in picks], show_progress=False)
    build_s = time.perf_counter() - t0
    lat = []
    for q in questions:
        ids = retriever.get_tokens_ids(terms(q))
        t1 = time.perf_counter()
        if ids:
            scores = retriever.get_scores_from_ids(ids)
            np.argpartition(-scores, 50)[:50]
        lat.append((time.perf_counter() - t1) * 1e3)
    return {
        "n": n,
        "build_s": round(build_s, 1),
        "rss_growth_mb": round(_rss_now_mb() - rss0, 1),
        "search_ms_p50": round(statistics.median(lat), 3),
        "search_ms_p95": round(percentile(lat, 95), 3),
    }


def _params(p: Any) -> dict[str, Any]:
    import dataclasses

    return dataclasses.asdict(p)


def _rss_now_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    except OSError:
        return float("nan")


def _index_bytes(index: Any) -> int:
    import faiss

    return int(faiss.serialize_index(index).nbytes)
