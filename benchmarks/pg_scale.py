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


def truth(vecs: np.ndarray, queries: np.ndarray) -> list[set[int]]:
    out = []
    best_s = np.full((len(queries), K), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(queries), K), dtype=np.int64)
    for off in range(0, len(vecs), 100_000):
        s = queries @ np.asarray(vecs[off : off + 100_000], np.float32).T
        idx = np.argpartition(-s, min(K, s.shape[1] - 1), axis=1)[:, :K]
        cs, ci = np.concatenate([best_s, np.take_along_axis(s, idx, 1)], 1), np.concatenate([best_i, idx + off], 1)
        o = np.argsort(-cs, axis=1)[:, :K]
        best_s, best_i = np.take_along_axis(cs, o, 1), np.take_along_axis(ci, o, 1)
    out = [set(r.tolist()) for r in best_i]
    return out


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
    }, bm  # fmt: skip


def bench_pg(url, n, vecs, sents, sent_terms, picks, queries, qterms, exact, bm):  # noqa: ANN001, ANN201
    from qa.settings import Settings
    from qa.stores.postgres import PostgresStore
    from qa.types import Chunk, Document

    store = PostgresStore(f"{url}#scale{n}", Settings().index)
    store.drop()
    doc = Document("synthetic.txt", "Synthetic", "", "txt")

    class Rows:
        """The chunks, made again on each pass instead of held (1M of them would take ~3 GB)."""

        def __len__(self) -> int:
            return n

        def __iter__(self):  # noqa: ANN204
            for i in range(n):
                a, b, c = picks[i]
                text = f"{sents[a]} {sents[b]} {sents[c]}"
                ch = Chunk(f"s{i}", "synthetic.txt", "Synthetic", "", 0, len(text), text, ())
                yield ch, sent_terms[a] + sent_terms[b] + sent_terms[c], np.asarray(vecs[i], np.float32), []

    t0 = time.perf_counter()
    with store.writer(Path("synthetic")) as w:
        w.write([(doc, "", 0, 0)], Rows(), dim=vecs.shape[1], model_source="synthetic")
        report = w.report
    build = time.perf_counter() - t0
    reader = store.open()
    t1 = time.perf_counter()
    reader.db.run(lambda c: c.execute(f"VACUUM ANALYZE qa.chunks_{reader.cid}, qa.postings_{reader.cid}"))
    vacuum = time.perf_counter() - t1
    size = reader.db.run(lambda c: c.execute(
        f"SELECT sum(pg_total_relation_size(('qa.' || t || '_{reader.cid}')::regclass)) FROM unnest(array['documents', "
        "'chunks', 'sentences', 'postings']) t").fetchone()[0])  # fmt: skip
    first = int(
        reader.db.run(
            lambda c: c.execute(f"SELECT min(id) FROM qa.chunks WHERE collection = {reader.cid}").fetchone()[0]
        )
    )
    sweep = {}
    for ef in (40, 100, 200) if reader.hnsw else (0,):
        reader.ef_search = ef or reader.ef_search
        lat, hits = [], 0
        for q, ex in zip(queries, exact, strict=True):
            t2 = time.perf_counter()
            rows_, _ = reader.dense_search(q, K)
            lat.append((time.perf_counter() - t2) * 1e3)
            hits += len({int(r) - first for r in rows_} & ex)
        sweep[ef] = (pct(lat, 50), pct(lat, 95), round(hits / (K * len(queries)), 4))
    reader.ef_search = 200  # the store's default (HNSW_EF_SEARCH)
    kw, hyb, kw_hits = [], [], 0
    for q, t in zip(queries, qterms, strict=True):
        t2 = time.perf_counter()
        reader.dense_search(q, 50)
        t3 = time.perf_counter()
        r, _ = reader.keyword_search(t, 50)
        t4 = time.perf_counter()
        kw.append((t4 - t3) * 1e3)
        hyb.append((t4 - t2) * 1e3)
        ids = bm.get_tokens_ids(t)
        if ids:  # share of the top 50 that exhaustive BM25 (bm25s, same terms) also puts in its top 50, ties included
            s = bm.get_scores_from_ids(ids)
            kth = np.sort(s)[::-1][min(49, len(s) - 1)]
            kw_hits += sum(s[int(x) - first] >= kth - 1e-4 for x in r) / max(1, min(50, int((s > 0).sum())))
        else:
            kw_hits += 1
    d50, d95, rec = sweep[200 if reader.hnsw else 0]
    out = {
        "store": f"postgresql ({'hnsw' if reader.hnsw else 'exact'} + BM25 in SQL)",
        "build_s": round(build, 1), "vacuum_analyze_s": round(vacuum, 1),
        "build_stages_s": {k: round(v, 1) for k, v in report.timings.items()},
        "size_mb": round(float(size) / 1e6, 1),
        "dense_p50": d50, "dense_p95": d95, "recall@10": rec,
        "ef_search_sweep": {str(k): {"p50": v[0], "p95": v[1], "recall@10": v[2]} for k, v in sweep.items()},
        "keyword_p50": pct(kw, 50), "keyword_p95": pct(kw, 95),
        "keyword_recall@50_vs_bm25": round(kw_hits / len(queries), 4),
        "hybrid_p50": pct(hyb, 50), "hybrid_p95": pct(hyb, 95),
    }  # fmt: skip
    store.drop()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=int, action="append", required=True)
    ap.add_argument("--url")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--queries", type=int, default=100)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "tests"))
    from qa.bench_scale import synthetic_vectors
    from qa.settings import Settings

    settings = Settings()
    server = None
    if args.url is None:
        from pg import PgServer

        server = PgServer.start(settings={"shared_buffers": "2GB", "max_parallel_maintenance_workers": "2",
                                          "maintenance_work_mem": "2GB", "max_wal_size": "8GB"})  # fmt: skip
        args.url = server.create_database("scale")
    sents, sent_terms, base, qvecs, qterms = corpus(settings)
    qvecs, qterms = qvecs[: args.queries], qterms[: args.queries]
    results = []
    try:
        for n in args.scale:
            vecs = np.concatenate(list(synthetic_vectors(base, n))).astype(np.float16)  # the local store's precision
            picks = np.random.default_rng(1).integers(0, len(sents), (n, 3))
            texts_terms = [sent_terms[a] + sent_terms[b] + sent_terms[c] for a, b, c in picks]
            exact = truth(vecs, qvecs)
            local, bm = bench_local(vecs, texts_terms, qvecs, qterms, exact)
            print(json.dumps({"n": n, **local}), flush=True)
            pg = bench_pg(args.url, n, vecs, sents, sent_terms, picks, qvecs, qterms, exact, bm)
            print(json.dumps({"n": n, **pg}), flush=True)
            results += [{"n": n, **local}, {"n": n, **pg}]
            del vecs, bm
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
