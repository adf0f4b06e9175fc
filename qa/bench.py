"""`qa bench`: indexing throughput against the model's raw speed, query latency per stage, cold start, and
approximate search at scale. Figures are printed (and written as JSON), never asserted.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qa.settings import Settings

DEFAULT_QUESTIONS = [
    "Which foundation governs Kata Containers?",
    "Who introduced gVisor?",
    "How many people attended KubeCon in Austin?",
    "What does CRI-O use to set up container networking?",
    "What is a service mesh?",
    "Which projects reached 1.0 at KubeCon North America 2017?",
    "Why do many organisations lag behind the latest Kubernetes release?",
    "What are the CNCF maturity levels?",
    "Who founded Weaveworks?",
    "What is the capital of France?",
]


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _pct(values: Sequence[float], p: float) -> float:
    xs = sorted(values)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else float("nan")


def _questions(settings: Settings, n: int) -> list[str]:
    """Questions from evals/ when present (any set), else a built-in list; repeated to n."""
    qs: list[str] = []
    for p in sorted(Path("evals").glob("*.jsonl")):
        for line in p.read_text().splitlines():
            if line.strip():
                qs.append(json.loads(line)["question"])
    qs = qs or DEFAULT_QUESTIONS
    rng = np.random.default_rng(0)
    return [qs[i] for i in rng.permutation(len(qs))][:n] if len(qs) >= n else (qs * (n // len(qs) + 1))[:n]


def index_location(settings: Settings, work: Path) -> str:
    """Where the bench builds its index: a folder in its temp dir, or the collection 'qa-bench' of QA_STORE."""
    if settings.store is not None and settings.store.get_secret_value():
        return f"{settings.store.get_secret_value()}#qa-bench"
    return str(work / "index")


# --- indexing --------------------------------------------------------------------------------


def bench_indexing(folder: Path, settings: Settings, work: Path) -> dict[str, Any]:
    """Whole-pipeline throughput next to raw encode throughput of the same texts, plus re-index costs.

    The raw encode runs before and after the build and the two are averaged, so a machine that speeds up or
    slows down during the run does not tilt the ratio.
    """
    from qa.chunk import chunk_document
    from qa.embed import load_embedder
    from qa.load import load_folder
    from qa.pipeline import build_index

    copy = work / "docs"
    shutil.copytree(folder, copy)
    mb = sum(f.stat().st_size for f in copy.rglob("*") if f.is_file()) / 1e6
    emb = load_embedder(settings.model)  # loaded once, outside the timings: both sides share it
    import bm25s  # noqa: F401  (library imports are a process cost, not a pipeline cost)
    import faiss  # noqa: F401

    chunks = [
        c
        for doc in load_folder(copy, max_file_mb=settings.max_file_mb)
        for c in chunk_document(doc, max_tokens=settings.max_chunk_tokens, count_tokens=emb.count_tokens)
    ]
    texts = list(dict.fromkeys(c.indexed_text for c in chunks))
    sents = list(dict.fromkeys(s for c in chunks for s in c.sentence_texts()))

    def raw() -> float:
        t = time.perf_counter()
        emb.encode(texts, threads=settings.index_threads, batch_size=settings.embed_batch_size)
        emb.encode(sents, threads=settings.index_threads, batch_size=settings.embed_batch_size)
        return time.perf_counter() - t

    raw_before = raw()
    t0 = time.perf_counter()
    index = build_index(copy, index_dir=index_location(settings, work), settings=settings, rebuild=True)
    full_s = time.perf_counter() - t0
    raw_s = (raw_before + raw()) / 2
    r = index.build_report
    assert r is not None

    t2 = time.perf_counter()
    again = build_index(copy, index_dir=index_location(settings, work), settings=settings).build_report
    unchanged_s = time.perf_counter() - t2
    victim = sorted(p for p in copy.rglob("*") if p.suffix in (".md", ".txt"))[0]
    victim.write_text(victim.read_text() + "\n\nOne more sentence, added to measure an incremental update.\n")
    t3 = time.perf_counter()
    one = build_index(copy, index_dir=index_location(settings, work), settings=settings).build_report
    one_s = time.perf_counter() - t3
    n_texts = len(texts) + len(sents)
    return {
        "documents": r.documents,
        "chunks": r.chunks,
        "sentences": len(sents),
        "mb": round(mb, 3),
        "index_s": round(full_s, 2),
        "embed_s": round(r.timings.get("embed_s", 0.0), 2),
        "chunks_per_s": round(r.chunks / full_s, 1),
        "mb_per_s": round(mb / full_s, 4),
        "texts_per_s_pipeline": round(n_texts / full_s, 1),
        "texts_per_s_raw_model": round(n_texts / raw_s, 1),
        "pipeline_vs_raw": round(raw_s / full_s, 3),
        "stages_s": {k: round(v, 3) for k, v in r.timings.items()},
        "reindex_unchanged_s": round(unchanged_s, 3),
        "reindex_unchanged_embedded": again.chunks_embedded + again.sentences_embedded,
        "reindex_one_file_s": round(one_s, 3),
        "reindex_one_file_embedded": {"chunks": one.chunks_embedded, "sentences": one.sentences_embedded},
        "reindex_one_file_stages_s": {k: round(v, 3) for k, v in one.timings.items()},
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


# --- queries ---------------------------------------------------------------------------------


def bench_queries(index_dir: str | Path, settings: Settings, n: int) -> dict[str, Any]:
    """Warm latency per stage over a fixed question list."""
    from qa.pipeline import answer, open_index

    index = open_index(index_dir, settings=settings)
    qs = _questions(settings, n)
    for q in qs[:3]:
        answer(q, index=index, settings=settings)  # warm caches and the model
    per_stage: dict[str, list[float]] = {}
    for q in qs:
        t = answer(q, index=index, settings=settings).timings
        for k, v in t.items():
            per_stage.setdefault(k, []).append(v)
    return {
        "questions": len(qs),
        "stages_ms": {
            k: {"p50": round(statistics.median(v), 2), "p95": round(_pct(v, 95), 2)} for k, v in per_stage.items()
        },
        "process_peak_rss_mb": round(peak_rss_mb(), 1),  # this process, indexing included: not what serving holds
    }


def bench_cold_start(index_dir: str | Path, runs: int = 3) -> dict[str, Any]:
    """Process start to printed answer for `qa ask`, and `qa --help`."""
    exe = [sys.executable, "-m", "qa.cli"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}

    def timed(args: list[str]) -> float:
        t0 = time.perf_counter()
        subprocess.run(exe + args, env=env, check=True, capture_output=True)
        return time.perf_counter() - t0

    url, _, collection = str(index_dir).partition("#")
    where = ["--store", url, "--collection", collection] if "://" in url else ["--index", str(index_dir)]
    asks = [timed(["ask", "Who introduced gVisor?", *where]) for _ in range(runs)]
    helps = [timed(["--help"]) for _ in range(runs)]
    return {"qa_ask_s_p50": round(statistics.median(asks), 2), "qa_help_s_p50": round(statistics.median(helps), 3)}


# --- scale -----------------------------------------------------------------------------------


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

    # exact answers first: brute force over the stream, 10 best per query
    k = 10
    best_s = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(queries), k), dtype=np.int64)
    off = 0
    for block in batches():
        s = queries @ block.T
        idx = np.argpartition(-s, min(k, s.shape[1] - 1), axis=1)[:, :k]
        cand_s = np.concatenate([best_s, np.take_along_axis(s, idx, 1)], 1)
        cand_i = np.concatenate([best_i, idx + off], 1)
        order = np.argsort(-cand_s, axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(cand_s, order, 1), np.take_along_axis(cand_i, order, 1)
        off += len(block)
    truth = best_i

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
            hits += len(set(rows_found.tolist()) & set(truth[qi].tolist()))
        row = {
            "n": n,
            "index": kind,
            "params": {key: v for key, v in _params(params).items() if v},
            "build_s": round(build_s, 1),
            "index_mb": round(size_mb, 1),
            "rss_growth_mb": round(_rss_now_mb() - rss0, 1),
            "search_ms_p50": round(statistics.median(lat), 3),
            "search_ms_p95": round(_pct(lat, 95), 3),
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
        "search_ms_p95": round(_pct(lat, 95), 3),
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


# --- the command -----------------------------------------------------------------------------


def main(
    settings: Settings,
    *,
    scale: Sequence[int] = (),
    json_out: Path | None = None,
    n_queries: int = 50,
    quick: bool = False,
) -> dict[str, Any]:
    from rich.console import Console

    console = Console()
    folder = Path(settings.docs)
    if quick:
        n_queries = min(n_queries, 10)
    result: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "docs": str(folder),
        "store": "postgresql" if "://" in index_location(settings, Path()) else "local",
    }
    with tempfile.TemporaryDirectory(prefix="qa-bench-") as tmp:
        work = Path(tmp)
        console.print(f"[bold]indexing[/] {folder} ...")
        result["indexing"] = bench_indexing(folder, settings, work)
        console.print("[bold]queries[/] ...")
        result["query"] = bench_queries(index_location(settings, work), settings, n_queries)
        console.print("[bold]cold start[/] ...")
        result["cold_start"] = bench_cold_start(index_location(settings, work), runs=1 if quick else 3)
        if scale:
            from qa.embed import load_embedder
            from qa.pipeline import open_index

            index = open_index(index_location(settings, work), settings=settings)
            rows = index.rows()
            base = np.concatenate([index.chunk_vectors(rows), *index.sentence_vectors(rows)])
            emb = load_embedder(index.model)
            qs = _questions(settings, 200 if not quick else 20)
            queries = emb.encode(qs, threads=settings.index_threads)
            result["scale"] = {
                "how": "synthetic: real chunk and sentence vectors of this corpus, mixed in pairs plus Gaussian noise",
                "rows": [],
            }
            for n in scale:
                kinds = ["flat", "ivf", "hnsw"] if n <= 1_000_000 else ["ivf"]
                console.print(f"[bold]scale[/] {n:,} vectors: {', '.join(kinds)} ...")
                result["scale"]["rows"] += bench_scale(
                    base, queries, n, kinds, work, lambda m: console.print(m, style="dim")
                )
            sentences = [s for c in index.chunks(index.rows()) for s in c.sentence_texts()]
            result["scale"]["keyword"] = [bench_keyword(sentences, qs, n) for n in scale]
            for row in result["scale"]["keyword"]:
                console.print(f"  bm25 @ {row['n']:,}: {row}", style="dim")

    _print(console, result)
    if json_out:
        Path(json_out).write_text(json.dumps(result, indent=2))
        console.print(f"wrote {json_out}")
    return result


def _print(console: Any, r: dict[str, Any]) -> None:
    from rich.table import Table

    ix = r["indexing"]
    t = Table(title=f"indexing {r['docs']} ({ix['documents']} documents, {ix['chunks']} chunks, {ix['mb']} MB)")
    for c in ("figure", "value"):
        t.add_column(c)
    for k in (
        "index_s",
        "chunks_per_s",
        "mb_per_s",
        "texts_per_s_pipeline",
        "texts_per_s_raw_model",
        "pipeline_vs_raw",
        "reindex_unchanged_s",
        "reindex_unchanged_embedded",
        "reindex_one_file_s",
        "reindex_one_file_embedded",
        "peak_rss_mb",
    ):
        t.add_row(k, str(ix[k]))
    console.print(t)
    q = r["query"]
    t = Table(title=f"warm query latency over {q['questions']} questions (ms)")
    for c in ("stage", "p50", "p95"):
        t.add_column(c, justify="right")
    for k, v in q["stages_ms"].items():
        t.add_row(k, str(v["p50"]), str(v["p95"]))
    console.print(t)
    cs = r["cold_start"]
    console.print(
        f"cold start: qa ask {cs['qa_ask_s_p50']} s, qa --help {cs['qa_help_s_p50']} s; peak RSS of this run {q['process_peak_rss_mb']} MB (indexing included)"
    )
    if "scale" in r:
        t = Table(title="approximate search at scale (" + r["scale"]["how"] + ")")
        cols = ("n", "index", "build_s", "index_mb", "search_ms_p50", "search_ms_p95", "recall@10")
        for c in cols:
            t.add_column(c, justify="right")
        for row in r["scale"]["rows"]:
            t.add_row(*(f"{row[c]:,}" if c == "n" else str(row[c]) for c in cols))
        for row in r["scale"].get("keyword", []):
            t.add_row(
                f"{row['n']:,}",
                "bm25",
                str(row["build_s"]),
                "",
                str(row["search_ms_p50"]),
                str(row["search_ms_p95"]),
                "",
            )
        console.print(t)
