"""Search at scale, the postgresql store beside the local one: N synthetic chunks, each a vector drawn around the
real vectors of docs/ (qa.bench_scale.synthetic_vectors) and a text of three random real sentences of docs/.

Per N, for each store: build time, size, dense search p50/p95 and recall@10 against exact search, keyword search
p50/p95 (and, for PostgreSQL, recall@50 against exhaustive BM25), and hybrid search (dense 50 + keyword 50, what
one question costs retrieval before reranking) p50/p95. Questions: the eval questions, encoded by the real model.

    python benchmarks/pg_scale.py --scale 10000 --scale 100000 [--url postgresql://...] [--json out.json]

Without --url it starts a throwaway PostgreSQL from the pgserver wheel (as the tests do) with shared_buffers=2GB.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
K = 10


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))], 2)


def corpus(settings):  # noqa: ANN001, ANN201
    """Real sentences and vectors of docs/, and the eval questions with their vectors and terms."""
    from qa.chunk import chunk_document
    from qa.embed import load_embedder
    from qa.load import load_folder
    from qa.text import terms

    emb = load_embedder(settings.model)
    chunks = [c for d in load_folder(ROOT / "docs") for c in chunk_document(d, max_tokens=settings.max_chunk_tokens, count_tokens=emb.count_tokens)]  # fmt: skip
    sents = list(dict.fromkeys(s for c in chunks for s in c.sentence_texts() if len(s.split()) > 3))
    base = emb.encode([c.indexed_text for c in chunks] + sents, threads=settings.index_threads)
    qs = [json.loads(x)["question"] for f in ("docs.jsonl", "seeds.jsonl") for x in (ROOT / "evals" / f).read_text().splitlines() if x.strip()]  # fmt: skip
    qvecs = emb.encode(qs, threads=settings.index_threads)
    return (
        sents,
        [terms(s) for s in sents],
        np.asarray(base, np.float32),
        qvecs,
        [list(dict.fromkeys(terms(q))) for q in qs],
    )


def bench_local(vecs, texts_terms, queries, qterms, exact):  # noqa: ANN001, ANN201
    import bm25s
    import faiss

    from qa.stores import ann

    n, dim = vecs.shape
    faiss.omp_set_num_threads(2)
    t0 = time.perf_counter()
    params = ann.choose("auto", n)

    def batches():  # noqa: ANN202
        for i in range(0, n, 50_000):
            yield np.asarray(vecs[i : i + 50_000], np.float32)

    index = ann.build(params, dim, n, batches)
    ann.configure(index, params)
    bm = bm25s.BM25()
    bm.index(texts_terms, show_progress=False)
    build = time.perf_counter() - t0
    faiss.omp_set_num_threads(1)
    size = (
        n * dim * 2
        + faiss.serialize_index(index).nbytes
        + sum(bm.scores[k].nbytes for k in ("data", "indices", "indptr"))
    )
    dense, kw, hyb, hits = [], [], [], 0
    for q, t, ex in zip(queries, qterms, exact, strict=True):
        t1 = time.perf_counter()
        rows, _ = ann.search(index, q, K)
        dense.append((time.perf_counter() - t1) * 1e3)
        hits += len(set(rows.tolist()) & ex)
        t2 = time.perf_counter()
        ann.search(index, q, 50)
        t3 = time.perf_counter()
        ids = bm.get_tokens_ids(t)
        if ids:
            s = bm.get_scores_from_ids(ids)
            top = np.argpartition(-s, 49)[:50]
            top[np.argsort(-s[top])]
        t4 = time.perf_counter()
        kw.append((t4 - t3) * 1e3)
        hyb.append((t4 - t2) * 1e3)
    return {
        "store": f"local (faiss {params.kind} + bm25s)",
        "build_s": round(build, 1),
        "size_mb": round(float(size) / 1e6, 1),
        "dense_p50": pct(dense, 50), "dense_p95": pct(dense, 95), "recall@10": round(hits / (K * len(queries)), 4),
        "keyword_p50": pct(kw, 50), "keyword_p95": pct(kw, 95),
        "hybrid_p50": pct(hyb, 50), "hybrid_p95": pct(hyb, 95),
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=int, action="append", required=True)
    ap.add_argument("--url")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--queries", type=int, default=100)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "tests"))
    from qa.bench_pg import bench_pg
    from qa.bench_scale import exact_neighbours, synthetic_vectors
    from qa.settings import Settings

    settings = Settings()
    server = None
    if args.url is None:
        from pg import PgServer

        server = PgServer.start(settings={"shared_buffers": "2GB", "max_parallel_maintenance_workers": "2",
                                          "maintenance_work_mem": "6GB", "max_wal_size": "8GB"})  # fmt: skip
        args.url = server.create_database("scale")
    sents, sent_terms, base, qvecs, qterms = corpus(settings)
    qvecs, qterms = qvecs[: args.queries], qterms[: args.queries]
    results = []
    try:
        for n in args.scale:
            vecs = np.concatenate(list(synthetic_vectors(base, n))).astype(np.float16)  # the local store's precision
            picks = np.random.default_rng(1).integers(0, len(sents), (n, 3))
            texts_terms = [sent_terms[a] + sent_terms[b] + sent_terms[c] for a, b, c in picks]
            exact = exact_neighbours(vecs, qvecs, K)
            local = bench_local(vecs, texts_terms, qvecs, qterms, exact)
            print(json.dumps({"n": n, **local}), flush=True)
            del texts_terms
            pg = bench_pg(args.url, settings.index, n, vecs, sents, sent_terms, picks, qvecs, qterms, exact)
            print(json.dumps(pg), flush=True)
            results += [{"n": n, **local}, pg]
            del vecs
    finally:
        if server is not None:
            server.close()
    cols = ("n", "store", "build_s", "size_mb", "dense_p50", "dense_p95", "recall@10", "keyword_p50", "keyword_p95",
            "hybrid_p50", "hybrid_p95")  # fmt: skip
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for r in results:
        print("| " + " | ".join(f"{r[c]:,}" if c == "n" else str(r[c]) for c in cols) + " |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
