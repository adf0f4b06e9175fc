"""Keyword search in PostgreSQL against today's stemmed BM25 (bm25s over qa.text.terms), on the eval sets.

For each answerable question, the gold passages are the chunks of a gold source that contain a gold answer; we
report recall@k (a gold passage in the top k) and MRR@50 of each keyword ranker, over the same chunks:
  bm25s            the local store's keyword search
  pg-bm25          the postgresql store's keyword search (BM25 in SQL over qa's terms)
  ts_rank ...      PostgreSQL's built-in full-text search: to_tsvector('english', section + text), the question's
                   content words OR-ed in to_tsquery('english'), ranked by ts_rank / ts_rank_cd (normalisation 1:
                   divided by 1 + log(length)); and ts_rank over qa's own stemmed terms ('simple' config), which
                   separates the ranking function from the analyser.

Run:  python benchmarks/pg_keyword.py [--url postgresql://...]   (no --url: starts a throwaway server from
pgserver, as the tests do). Prints a table and writes benchmarks/results/pg_keyword.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SETS = {"docs": (ROOT / "evals" / "docs.jsonl", ROOT / "docs"),
        "seeds": (ROOT / "evals" / "seeds.jsonl", ROOT.parent / "shared" / "seeds")}  # fmt: skip
KS = (1, 5, 10, 50)


def chunks_of(folder: Path, settings):  # noqa: ANN001, ANN201
    from qa.chunk import chunk_document
    from qa.embed import load_embedder
    from qa.load import load_folder

    count = load_embedder(settings.model).count_tokens
    docs = list(load_folder(folder, max_file_mb=settings.max_file_mb))
    return docs, {d.source: chunk_document(d, max_tokens=settings.max_chunk_tokens, count_tokens=count) for d in docs}


def gold_rows(q: dict, chunks: list) -> set[int]:  # noqa: ANN001
    from qa.text import contains_answer

    sources = q["source"] if isinstance(q["source"], list) else [q["source"]]
    return {
        i for i, c in enumerate(chunks) if c.source in sources and any(contains_answer(c.text, a) for a in q["answers"])
    }


def score(ranked: list[list[int]], gold: list[set[int]]) -> dict[str, float]:
    out = {f"recall@{k}": float(np.mean([bool(set(r[:k]) & g) for r, g in zip(ranked, gold, strict=True)])) for k in KS}
    rr = [next((1 / (i + 1) for i, x in enumerate(r[:50]) if x in g), 0.0) for r, g in zip(ranked, gold, strict=True)]
    out["mrr@50"] = float(np.mean(rr))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", help="a PostgreSQL database to use (default: a throwaway pgserver one)")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "tests"))
    import bm25s

    from qa.settings import Settings
    from qa.stores.postgres import PostgresStore
    from qa.text import STOPWORDS, terms, words

    settings = Settings()
    server = None
    if args.url is None:
        from pg import PgServer

        server = PgServer.start()
        args.url = server.create_database("keyword")
    results: dict = {}
    try:
        for name, (qfile, folder) in SETS.items():
            docs, by_source = chunks_of(folder, settings)
            chunks = [c for d in sorted(docs, key=lambda d: d.source) for c in by_source[d.source]]
            questions = [json.loads(x) for x in qfile.read_text().splitlines() if x.strip()]
            questions = [q for q in questions if q.get("answers")]
            golds = [gold_rows(q, chunks) for q in questions]
            keep = [i for i, g in enumerate(golds) if g]
            questions, golds = [questions[i] for i in keep], [golds[i] for i in keep]
            ranked: dict[str, list[list[int]]] = {}

            # the local store's keyword search
            tokens = [terms(c.indexed_text) for c in chunks]
            bm = bm25s.BM25()
            bm.index(tokens, show_progress=False)
            ranked["bm25s (local store)"] = []
            for q in questions:
                ids = bm.get_tokens_ids(list(dict.fromkeys(terms(q["question"]))))
                s = bm.get_scores_from_ids(ids) if ids else np.zeros(len(chunks))
                top = np.argsort(-s, kind="stable")[:50]
                ranked["bm25s (local store)"].append([int(i) for i in top if s[i] > 0])

            # the postgresql store's keyword search: the same chunks, written with zero vectors (not searched here)
            store = PostgresStore(f"{args.url}#{name}", settings.index)
            with store.writer(folder, rebuild=True) as w:
                zero = np.zeros(384, dtype=np.float32)
                rows = [(c, t, zero, [zero] * len(c.sentences)) for c, t in zip(chunks, tokens, strict=True)]
                w.write([(d, "", 0, 0) for d in docs], rows, dim=384, model_source="")
            reader = store.open()
            order = f"SELECT id FROM qa.chunks WHERE collection = {reader.cid} ORDER BY id"
            ids = [int(r[0]) for r in reader.db.run(lambda conn, sql=order: conn.execute(sql).fetchall())]
            row_of = {cid: i for i, cid in enumerate(ids)}  # written in chunk order
            ranked["pg BM25 (postgresql store)"] = []
            lat = []
            for q in questions:
                t0 = time.perf_counter()
                r, _ = reader.keyword_search(list(dict.fromkeys(terms(q["question"]))), 50)
                lat.append((time.perf_counter() - t0) * 1e3)
                ranked["pg BM25 (postgresql store)"].append([row_of[int(x)] for x in r])

            # PostgreSQL's own full-text ranking, over tsvectors computed once into a scratch table
            def fill(conn, ids=ids, tokens=tokens, c=reader.cid):  # noqa: ANN001, ANN202
                conn.execute("DROP TABLE IF EXISTS public.qa_kw_bench")
                conn.execute(
                    "CREATE TABLE public.qa_kw_bench AS SELECT id, to_tsvector('english', section || ' ' || text) AS en, "
                    f"NULL::tsvector AS qa FROM qa.chunks WHERE collection = {c}"
                )
                with conn.cursor() as cur:
                    cur.executemany("UPDATE public.qa_kw_bench SET qa = to_tsvector('simple', %s) WHERE id = %s",
                                    [(" ".join(t), i) for i, t in zip(ids, tokens, strict=True)])  # fmt: skip

            reader.db.run(fill)
            variants = {
                "ts_rank english": ("english", "en", "ts_rank(v, q)"),
                "ts_rank english, norm 1": ("english", "en", "ts_rank(v, q, 1)"),
                "ts_rank_cd english, norm 1": ("english", "en", "ts_rank_cd(v, q, 1)"),
                "ts_rank over qa terms, norm 1": ("simple", "qa", "ts_rank(v, q, 1)"),
            }
            for label, (config, column, rank) in variants.items():
                ranked[label] = []
                for q in questions:
                    if column == "qa":
                        qwords = list(dict.fromkeys(terms(q["question"])))
                    else:
                        qwords = [w for w in dict.fromkeys(words(q["question"])) if w not in STOPWORDS]
                    sql = (f"SELECT id FROM (SELECT id, {column} AS v FROM public.qa_kw_bench) x, "
                           f"to_tsquery('{config}', %s) q WHERE v @@ q ORDER BY {rank} DESC, id LIMIT 50")  # fmt: skip
                    got = (
                        reader.db.run(lambda conn, sql=sql, w=qwords: conn.execute(sql, (" | ".join(w),)).fetchall())
                        if qwords
                        else []
                    )
                    ranked[label].append([row_of[int(r[0])] for r in got])
            reader.db.run(lambda conn: conn.execute("DROP TABLE public.qa_kw_bench"))

            same = sum(
                a == b for a, b in zip(ranked["bm25s (local store)"], ranked["pg BM25 (postgresql store)"], strict=True)
            )
            results[name] = {
                "questions": len(questions),
                "chunks": len(chunks),
                "pg_bm25_identical_top50": same,
                "pg_bm25_ms_p50": round(float(np.median(lat)), 2),
                "rankers": {label: score(r, golds) for label, r in ranked.items()},
            }
    finally:
        if server is not None:
            server.close()

    for name, res in results.items():
        print(f"\n{name}: {res['questions']} answerable questions with a gold passage, {res['chunks']} chunks; "
              f"pg BM25 top 50 identical to bm25s on {res['pg_bm25_identical_top50']}/{res['questions']}")  # fmt: skip
        print(f"| ranker | {' | '.join(f'R@{k}' for k in KS)} | MRR@50 |\n|---|{'---|' * (len(KS) + 1)}")
        for label, m in res["rankers"].items():
            cells = " | ".join(f"{m['recall@' + str(k)]:.3f}" for k in KS)
            print(f"| {label} | {cells} | {m['mrr@50']:.3f} |")
    out = ROOT / "benchmarks" / "results" / "pg_keyword.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
