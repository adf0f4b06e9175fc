"""FAISS index types: exact flat search for small corpora, IVF-SQ8 or HNSW-SQ8 when a corpus outgrows it.

Built from vectors in batches, so memory holds the index itself and one batch, never a second copy of the corpus.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

AUTO_FLAT_LIMIT = 200_000  # exact search of 200k x 384 floats takes ~15 ms on 2 cores; past that, approximate
Batches = Callable[[], Iterator[np.ndarray]]  # yields float32 row blocks, in row order, each call from the start


@dataclass(frozen=True, slots=True)
class AnnParams:
    """How an index was built and how to search it; recorded in the manifest."""

    kind: str  # "flat", "ivf" or "hnsw"
    nlist: int = 0  # ivf: number of lists
    nprobe: int = 0  # ivf: lists visited per query
    m: int = 0  # hnsw: links per node
    ef_search: int = 0  # hnsw: candidate list size per query


def choose(kind: str, n: int) -> AnnParams:
    """Parameters for `kind` at corpus size n ("auto": flat below AUTO_FLAT_LIMIT, else IVF-SQ8)."""
    if kind == "auto":
        kind = "flat" if n < AUTO_FLAT_LIMIT else "ivf"
    if kind == "ivf":
        nlist = int(min(max(16, 4 * np.sqrt(max(n, 1))), 65536))
        nlist = max(1, min(nlist, n // 39 or 1))  # FAISS wants ~39 training points per list
        return AnnParams("ivf", nlist=nlist, nprobe=max(1, min(nlist, max(16, nlist // 32))))
    if kind == "hnsw":
        return AnnParams("hnsw", m=32, ef_search=160)
    return AnnParams("flat")


def build(params: AnnParams, dim: int, n: int, batches: Batches, *, sample: np.ndarray | None = None):  # noqa: ANN201
    """A FAISS index over n unit vectors (inner product = cosine), added batch by batch."""
    import faiss

    if params.kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif params.kind == "hnsw":
        index = faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_8bit, params.m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
    elif params.kind == "ivf":
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFScalarQuantizer(
            quantizer, dim, params.nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
        )
    else:
        raise ValueError(f"unknown index type {params.kind!r}; use flat, ivf or hnsw")
    if not index.is_trained:
        if sample is None:
            sample = _sample(batches, n, min(n, max(params.nlist * 64, 20_000)))
        index.train(np.ascontiguousarray(sample, dtype=np.float32))
    for block in batches():
        index.add(np.ascontiguousarray(block, dtype=np.float32))
    return index


def _sample(batches: Batches, n: int, size: int) -> np.ndarray:
    """An even sample of rows for training, read in one pass."""
    rng = np.random.default_rng(0)
    keep = np.sort(rng.choice(n, size=size, replace=False)) if size < n else np.arange(n)
    out, pos = [], 0
    for block in batches():
        sel = keep[(keep >= pos) & (keep < pos + len(block))] - pos
        out.append(block[sel])
        pos += len(block)
    return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)


def configure(index, params: AnnParams) -> None:  # noqa: ANN001
    """Apply search-time parameters after loading an index."""
    import faiss

    if params.kind == "ivf":
        faiss.extract_index_ivf(index).nprobe = params.nprobe
    elif params.kind == "hnsw":
        index.hnsw.efSearch = params.ef_search


def search(index, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    """(rows, scores) of the k nearest vectors, best first, without FAISS's -1 padding."""
    k = min(k, index.ntotal)
    if k <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    scores, rows = index.search(np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32), k)
    keep = rows[0] >= 0
    return rows[0][keep], scores[0][keep]
