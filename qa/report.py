"""What `qa eval` writes besides its figures: the tutorial baselines measured in the same run, each question's
record (the --json file), and the self-contained HTML report."""

from __future__ import annotations

import html
import json
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa.settings import Settings
from qa.text import contains_answer

if TYPE_CHECKING:
    from qa.evaluate import Question, Record


def same_source(cited: str, expected: str) -> bool:
    """A cited file counts as the expected one when the paths agree, or one is the other below a folder."""
    return cited == expected or cited.endswith("/" + expected) or expected.endswith("/" + cited)


def ratio(num: int, den: int) -> float | None:
    """num / den to 4 places; None when there is nothing to measure."""
    return round(num / den, 4) if den else None


# --- baseline --------------------------------------------------------------------------------


def run_baseline(questions: Sequence[Question], folder: Path, settings: Settings) -> list[dict[str, Any]]:
    """The tutorial pipelines, for comparison in the same run: 1000-character windows searched by MiniLM
    (exact FAISS) or by plain BM25, the top window taken as the answer."""
    import bm25s
    import faiss
    import numpy as np

    from qa.embed import encode_query, load_embedder
    from qa.load import load_folder

    windows = []
    for doc in load_folder(folder, max_file_mb=settings.max_file_mb):
        windows += [(doc.source, doc.text[i : i + 1000]) for i in range(0, len(doc.text), 1000)]
    emb = load_embedder(settings.model)
    vecs = emb.encode([w for _, w in windows], threads=settings.index_threads, batch_size=settings.embed_batch_size)
    dense = faiss.IndexFlatIP(vecs.shape[1])
    dense.add(vecs)
    bm25 = bm25s.BM25()
    bm25.index(bm25s.tokenize([w for _, w in windows], stopwords="en", show_progress=False), show_progress=False)

    def top_dense(q: str) -> int:
        _, rows = dense.search(
            encode_query(emb, q, threads=settings.query_threads).reshape(1, -1).astype(np.float32), 1
        )
        return int(rows[0][0])

    def top_bm25(q: str) -> int:
        scores = bm25.get_scores(bm25s.tokenize(q, stopwords="en", return_ids=False, show_progress=False)[0] or [""])
        return int(np.argmax(scores))

    ans = [q for q in questions if q.answerable]
    words = statistics.fmean(len(w.split()) for _, w in windows) if windows else 0
    rows = []
    for name, top in (
        ("baseline: MiniLM, 1000-char windows, top-1", top_dense),
        ("baseline: BM25, 1000-char windows, top-1", top_bm25),
    ):
        hits = cites = 0
        lat = []
        for q in ans:
            t1 = time.perf_counter()
            source, text = windows[top(q.question)]
            lat.append((time.perf_counter() - t1) * 1e3)
            hit = any(contains_answer(text, g) for g in q.answers)
            hits += hit
            cites += hit and (not q.sources or any(same_source(source, s) for s in q.sources))
        rows.append(
            {
                "name": name,
                "answer_accuracy": ratio(hits, len(ans)),
                "citation_accuracy": ratio(cites, len(ans)),
                "mean_answer_words": round(words, 1),
                "abstention_recall": 0.0,
                "false_abstention": 0.0,
                "reranked_recall@1": ratio(hits, len(ans)),
                "latency_ms_p50": round(statistics.median(lat), 1) if lat else None,
            }
        )
    return rows


# --- reports ---------------------------------------------------------------------------------


def record_dict(r: Record, threshold: float) -> dict[str, Any]:
    return {
        "id": r.q.id,
        "kind": r.q.kind,
        "question": r.q.question,
        "gold": list(r.q.answers),
        "source": list(r.q.sources),
        "answer": r.text if not r.abstained_at(threshold) else "(abstained)",
        "candidate_answer": r.text,
        "abstained": r.abstained_at(threshold),
        "correct": r.correct_at(threshold) if r.q.answerable else r.abstained_at(threshold),
        "cited": r.cited_at(threshold),
        "confidence": r.confidence,
        "citations": r.citations,
        "passages": r.passages,
        "stage_ranks": r.stage_ranks,
        "latency_ms": round(r.latency_ms, 2),
        "verified_share": r.verified_share,
        **r.extra,
    }


def failed(r: Record, threshold: float) -> bool:
    return not r.correct_at(threshold) if r.q.answerable else not r.abstained_at(threshold)


def write_html(path: Path, title: str, summary: dict[str, Any], records: Sequence[Record], threshold: float) -> None:
    """A self-contained report: headline figures, the confidence plot, failures first, then the rest."""
    e = html.escape
    rows = sorted(records, key=lambda r: (not failed(r, threshold), r.q.kind, r.q.id))
    fig = _confidence_svg(records, threshold)
    metrics_rows = "".join(f"<tr><th>{e(k)}</th><td>{e(str(v))}</td></tr>" for k, v in summary["overall"].items())
    kinds = summary["by_kind"]
    cols = ["n", "answer_accuracy", "citation_accuracy", "abstention_recall", "false_abstention", "reranked_recall@1"]
    kind_rows = "".join(
        f"<tr><th>{e(k)}</th>" + "".join(f"<td>{e(str(m.get(c)))}</td>" for c in cols) + "</tr>"
        for k, m in kinds.items()
    )
    items = []
    for r in rows:
        bad = failed(r, threshold)
        cites = "".join(
            f"<li><code>{e(c['source'])}</code> {e(c['section'])} [{c['start']}:{c['end']}]<br><q>{e(c['quote'])}</q></li>"
            for c in r.citations
        )
        items.append(
            f"<details class='{'fail' if bad else 'ok'}' {'open' if bad else ''}><summary>{'FAIL' if bad else 'ok'} "
            f"<b>{e(r.q.id)}</b> ({e(r.q.kind)}) {e(r.q.question)}</summary>"
            f"<p>gold: {e(' | '.join(r.q.answers) or '(abstain)')}; confidence {r.confidence:.3f}; "
            f"{'abstained' if r.abstained_at(threshold) else 'answered'}; ranks {e(json.dumps(r.stage_ranks))}</p>"
            f"<p class='ans'>{e(r.text)}</p><ul>{cites}</ul></details>"
        )
    doc = f"""<!doctype html><html><head><meta charset="utf-8"><title>{e(title)}</title><style>
body{{font:14px/1.45 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left}}
details{{border-left:4px solid #3a3;margin:4px 0;padding:2px 8px}}details.fail{{border-color:#c33;background:#fff5f5}}
.ans{{background:#f6f6f6;padding:6px}}q{{color:#333}}</style></head><body>
<h1>{e(title)}</h1><p>threshold {threshold}; {len(records)} questions; failures first.</p>
<h2>Overall</h2><table>{metrics_rows}</table>
<h2>By kind</h2><table><tr><th>kind</th>{"".join(f"<th>{c}</th>" for c in cols)}</tr>{kind_rows}</table>
<h2>Confidence: answerable vs unanswerable</h2>{fig}
<h2>Questions</h2>{"".join(items)}</body></html>"""
    Path(path).write_text(doc, encoding="utf-8")


def _confidence_svg(records: Sequence[Record], threshold: float) -> str:
    """Histogram of the abstention score for answerable vs unanswerable questions, threshold drawn."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2))
    groups = [
        ("answerable", [r.confidence for r in records if r.q.answerable], "#3a7"),
        (
            "unanswerable (near-miss)",
            [r.confidence for r in records if not r.q.answerable and r.q.kind != "unanswerable_offtopic"],
            "#e90",
        ),
        ("unanswerable (off-topic)", [r.confidence for r in records if r.q.kind == "unanswerable_offtopic"], "#c33"),
    ]
    bins = [i / 40 for i in range(-4, 45)]
    for label, vals, color in groups:
        if vals:
            ax.hist(vals, bins=bins, alpha=0.55, label=f"{label} ({len(vals)})", color=color)
    ax.axvline(threshold, color="k", linestyle="--", label=f"threshold {threshold}")
    ax.set_xlabel("confidence")
    ax.set_ylabel("questions")
    ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    plt.close(fig)
    svg = buf.getvalue()
    return svg[svg.index("<svg") :]
