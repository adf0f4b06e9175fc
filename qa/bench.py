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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qa.bench_scale import bench_keyword, bench_scale, exact_neighbours, percentile, synthetic_vectors
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


def bench_indexing(folder: Path, settings: Settings, work: Path, *, rounds: int = 2) -> dict[str, Any]:
    """Build time and throughput for each way of embedding (QA_EMBED_PASSES): both (every chunk, then every
    sentence again: the way before), chunks (one pass per chunk, sentences pooled from it) and sentences (one pass
    per sentence and piece between them, chunk vectors merged), next to the raw model's speed on the same text.

    The ways alternate (both, chunks, sentences, both ...), each build into a fresh folder right after a raw-model
    run of its own texts, so a machine that speeds up or slows down tilts no side. Word pieces are counted with the
    model's tokenizer; the model is loaded once, outside every timing. `after` is the way `settings` chooses.
    """
    from qa.chunk import chunk_document
    from qa.embed import load_embedder
    from qa.load import load_folder
    from qa.pipeline import build_index, pieces

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
    parts = list(dict.fromkeys(p for c in chunks for p in pieces(c)[1]))
    model_texts = {"both": [texts, sents], "chunks": [texts], "sentences": [parts]}
    wp = {k: sum(sum(emb.count_tokens(b)) for b in v) for k, v in model_texts.items()}
    opts = {"threads": settings.index_threads, "batch_size": settings.embed_batch_size}
    ways = {k: settings.model_copy(update={"embed_passes": k}) for k in model_texts}
    raw: dict[str, list[float]] = {k: [] for k in ways}
    built: dict[str, list[float]] = {k: [] for k in ways}
    reports = {}
    for r in range(rounds):
        for way, st in ways.items():
            t = time.perf_counter()
            for batch in model_texts[way]:
                emb.encode(batch, **opts)
            raw[way].append(time.perf_counter() - t)
            t0 = time.perf_counter()
            index = build_index(copy, index_dir=work / f"index-{way}-{r}", settings=st)
            built[way].append(time.perf_counter() - t0)
            reports[way] = index.build_report
    after = settings.embed_passes
    out: dict[str, Any] = {
        "documents": reports[after].documents,
        "chunks": reports[after].chunks,
        "sentences": len(sents),
        "mb": round(mb, 3),
        "word_pieces_through_model": wp,
        "rounds": rounds,
        "after": after,
    }
    for way in ways:
        b, rw = statistics.median(built[way]), statistics.median(raw[way])
        out[way] = {
            "index_s": round(b, 2),
            "index_s_each": [round(x, 2) for x in built[way]],
            "s_per_mb": round(b / mb, 2),
            "word_pieces_per_s_pipeline": round(wp[way] / b, 1),
            "word_pieces_per_s_raw_model": round(wp[way] / rw, 1),
            "pipeline_vs_raw": round(rw / b, 3),
            "vs_both": round(b / statistics.median(built["both"]), 3),
            "stages_s": {k: round(v, 3) for k, v in reports[way].timings.items()},
        }
    out["before"] = out["both"]

    index_dir = work / "index"
    shutil.copytree(work / f"index-{after}-{rounds - 1}", index_dir)
    t2 = time.perf_counter()
    again = build_index(copy, index_dir=index_dir, settings=settings).build_report
    unchanged_s = time.perf_counter() - t2
    victim = sorted(p for p in copy.rglob("*") if p.suffix in (".md", ".txt"))[0]
    victim.write_text(victim.read_text() + "\n\nOne more sentence, added to measure an incremental update.\n")
    t3 = time.perf_counter()
    one = build_index(copy, index_dir=index_dir, settings=settings).build_report
    one_s = time.perf_counter() - t3
    out.update(
        {
            "reindex_unchanged_s": round(unchanged_s, 3),
            "reindex_unchanged_embedded": again.chunks_embedded + again.sentences_embedded,
            "reindex_one_file_s": round(one_s, 3),
            "reindex_one_file_embedded": {"chunks": one.chunks_embedded, "sentences": one.sentences_embedded},
            "reindex_one_file_stages_s": {k: round(v, 3) for k, v in one.timings.items()},
            "peak_rss_mb": round(peak_rss_mb(), 1),
        }
    )
    return out


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
            k: {"p50": round(statistics.median(v), 2), "p95": round(percentile(v, 95), 2)} for k, v in per_stage.items()
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
        result["indexing"] = bench_indexing(folder, settings, work, rounds=1 if quick else 2)
        if result["store"] == "postgresql":  # the builds above compare ways of embedding, in local folders
            from qa.pipeline import build_index

            console.print("[bold]indexing[/] into the postgresql store ...")
            t0 = time.perf_counter()
            build_index(work / "docs", index_dir=index_location(settings, work), settings=settings, rebuild=True)
            result["indexing"]["store_build_s"] = round(time.perf_counter() - t0, 2)
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
            if result["store"] == "postgresql":
                result["scale"]["postgresql"] = bench_pg_scale(settings, scale, base, sentences, qs, queries, console)

    _print(console, result)
    if json_out:
        Path(json_out).write_text(json.dumps(result, indent=2))
        console.print(f"wrote {json_out}")
    return result


def bench_pg_scale(
    settings: Settings,
    scale: Sequence[int],
    base: np.ndarray,
    sentences: Sequence[str],
    questions: Sequence[str],
    queries: np.ndarray,
    console: Any,
) -> list[dict[str, Any]]:
    """The same synthetic vectors as the local rows (synthetic_vectors' seed), in a throwaway collection of QA_STORE."""
    from qa.bench_pg import bench_pg
    from qa.text import terms

    assert settings.store is not None
    sentence_terms = [terms(s) for s in sentences]
    query_terms = [list(dict.fromkeys(terms(q))) for q in questions]
    rows = []
    for n in scale:
        console.print(f"[bold]scale[/] {n:,} chunks in PostgreSQL (build, HNSW, search) ...")
        vecs = np.concatenate(list(synthetic_vectors(base, n))).astype(np.float16)
        picks = np.random.default_rng(1).integers(0, len(sentences), (n, 3))
        exact = exact_neighbours(vecs, queries)
        url = settings.store.get_secret_value()
        rows.append(
            bench_pg(url, settings.index, n, vecs, sentences, sentence_terms, picks, queries, query_terms, exact)
        )
        console.print(f"  postgresql @ {n:,}: {rows[-1]}", style="dim")
        del vecs
    return rows


def _print(console: Any, r: dict[str, Any]) -> None:
    from rich.table import Table

    ix = r["indexing"]
    ways = ("both", "chunks", "sentences")
    t = Table(
        title=f"indexing {r['docs']} ({ix['documents']} documents, {ix['chunks']} chunks, {ix['mb']} MB); "
        f"median of {ix['rounds']} alternating builds; QA_EMBED_PASSES={ix['after']} is in force"
    )
    t.add_column("figure")
    for w in ways:
        t.add_column(w + (" (before)" if w == "both" else ""), justify="right")
    t.add_row("word pieces through the model", *(f"{ix['word_pieces_through_model'][w]:,}" for w in ways))
    for k in (
        "index_s",
        "vs_both",
        "s_per_mb",
        "word_pieces_per_s_pipeline",
        "word_pieces_per_s_raw_model",
        "pipeline_vs_raw",
    ):
        t.add_row(k, *(str(ix[w][k]) for w in ways))
    console.print(t)
    for k in (
        "reindex_unchanged_s",
        "reindex_unchanged_embedded",
        "reindex_one_file_s",
        "reindex_one_file_embedded",
        "peak_rss_mb",
    ):
        console.print(f"{k}: {ix[k]}")
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
        pg = r["scale"].get("postgresql", [])
        if pg:
            t = Table(title="the postgresql store at scale: the same vectors, texts of three real sentences (ms)")
            cols = ("n", "store", "build_s", "size_mb", "dense_p50", "dense_p95", "recall@10", "keyword_p50",
                    "keyword_recall@50_vs_bm25", "hybrid_p50", "hybrid_p95")  # fmt: skip
            for c in cols:
                t.add_column(c, justify="right")
            for row in pg:
                t.add_row(*(f"{row[c]:,}" if c == "n" else str(row[c]) for c in cols))
            console.print(t)
