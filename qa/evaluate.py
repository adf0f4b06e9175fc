"""The eval suite: score a known-answer question set against a folder, per stage and per kind.

Answer metrics are kept apart from retrieval metrics. Every question is answered once with abstention off,
so the same run yields the figures at any threshold (`--sweep`) without answering again.
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qa.errors import IndexMismatchError, InputError
from qa.report import ratio, record_dict, run_baseline, same_source, write_html
from qa.settings import Settings
from qa.text import contains_answer

STAGES = ("dense", "keyword", "fused", "reranked")


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    question: str
    answers: tuple[str, ...]  # empty: the system must abstain
    kind: str
    sources: tuple[str, ...] = ()  # files that state the answer; any of them is a correct citation

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


@dataclass
class Record:
    """One question's outcome; `abstained_at(t)` replays the abstention decision at any threshold."""

    q: Question
    text: str  # the answer the system gives when it does not abstain
    confidence: float
    forced_abstain: bool  # abstained whatever the threshold (no evidence, or the generator declined)
    citations: list[dict[str, Any]]
    passages: list[dict[str, Any]]
    stage_ranks: dict[str, int | None]  # 1-based rank of the first passage holding a gold string, per stage
    latency_ms: float
    verified_share: float | None = None  # generator answers: share of sentences verified
    extra: dict[str, Any] = field(default_factory=dict)

    def abstained_at(self, threshold: float) -> bool:
        return self.forced_abstain or self.confidence < threshold

    def correct_at(self, threshold: float) -> bool:
        return not self.abstained_at(threshold) and any(contains_answer(self.text, g) for g in self.q.answers)

    def cited_at(self, threshold: float) -> bool:
        if self.abstained_at(threshold):
            return False
        for c in self.citations:
            if any(contains_answer(c["quote"], g) for g in self.q.answers) and (
                not self.q.sources or any(same_source(c["source"], s) for s in self.q.sources)
            ):
                return True
        return False


def load_questions(path: Path) -> list[Question]:
    """Parse a JSONL set; a bad line is an error naming the line."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"question set not found: {path}")
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            answers = d.get("answers", [])
            if not isinstance(answers, list) or not isinstance(d["question"], str):
                raise ValueError("answers must be a list and question a string")
            source = d.get("source") or ()
            sources = (source,) if isinstance(source, str) else tuple(map(str, source))
            out.append(
                Question(
                    str(d.get("id", f"{path.stem}-{n}")),
                    d["question"],
                    tuple(map(str, answers)),
                    str(d.get("kind", "")),
                    sources,
                )
            )
        except (ValueError, KeyError, TypeError) as e:
            raise InputError(f"{path}:{n}: not a question record ({e}); see evals/README.md for the format") from e
    if not out:
        raise InputError(f"{path} holds no questions")
    return out


# --- running ---------------------------------------------------------------------------------


def run(
    questions: Sequence[Question],
    index: Any,
    settings: Settings,
    *,
    progress: Callable[[], None] | None = None,
) -> list[Record]:
    """Answer every question once with abstention off and record what each stage found."""
    from qa.pipeline import answer
    from qa.present import passage_dict

    open_settings = settings.model_copy(update={"abstain_threshold": float("-inf")})
    records = []
    chunk_text: dict[str, str] = {}
    for q in questions:
        t0 = time.perf_counter()
        a = answer(q.question, index=index, settings=open_settings)
        latency = (time.perf_counter() - t0) * 1e3
        ranks: dict[str, int | None] = {}
        for stage in STAGES:
            ranks[stage] = None
            for i, cid in enumerate(a.stages.get(stage, ())[:10], 1):
                if cid not in chunk_text:
                    c = index.chunk_by_id(cid)
                    chunk_text[cid] = c.text if c else ""
                if q.answerable and any(contains_answer(chunk_text[cid], g) for g in q.answers):
                    ranks[stage] = i
                    break
        verified = [s.verified for s in a.sentences] if a.generator != "extractive" else []
        records.append(
            Record(
                q=q,
                text=a.text,
                confidence=a.confidence,
                forced_abstain=a.abstained,
                citations=[
                    {
                        "n": c.n,
                        "source": c.source,
                        "section": c.section,
                        "start": c.start,
                        "end": c.end,
                        "quote": c.quote,
                    }
                    for c in a.citations
                ],
                passages=[passage_dict(p, text_chars=300) for p in a.passages[:5]],
                stage_ranks=ranks,
                latency_ms=latency,
                verified_share=(sum(verified) / len(verified)) if verified else None,
                extra={"notes": list(a.notes), "generator": a.generator, "timings": dict(a.timings), "raw": a.raw},
            )
        )
        if progress:
            progress()
    return records


# --- metrics ---------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    """A table cell: a dash where a figure has nothing to measure (no answerable questions, say)."""
    return "—" if value is None else str(value)


def metrics(records: Sequence[Record], threshold: float) -> dict[str, Any]:
    """Answer, citation, retrieval and abstention figures for a set of records at one threshold."""
    ans = [r for r in records if r.q.answerable]
    una = [r for r in records if not r.q.answerable]
    answered = [r for r in records if not r.abstained_at(threshold)]
    abst = [r for r in records if r.abstained_at(threshold)]
    lat = sorted(r.latency_ms for r in records)
    out: dict[str, Any] = {
        "n": len(records),
        "answerable": len(ans),
        "unanswerable": len(una),
        "answer_accuracy": ratio(sum(r.correct_at(threshold) for r in ans), len(ans)),
        "citation_accuracy": ratio(sum(r.cited_at(threshold) for r in ans), len(ans)),
        "mean_answer_words": round(statistics.fmean(len(r.text.split()) for r in answered), 1) if answered else None,
        "abstention_precision": ratio(sum(not r.q.answerable for r in abst), len(abst)),
        "abstention_recall": ratio(sum(r.abstained_at(threshold) for r in una), len(una)),
        "false_abstention": ratio(sum(r.abstained_at(threshold) for r in ans), len(ans)),
        "latency_ms_p50": round(statistics.median(lat), 1) if lat else None,
        "latency_ms_p95": round(lat[min(len(lat) - 1, int(0.95 * len(lat)))], 1) if lat else None,
    }
    verified = [r.verified_share for r in records if r.verified_share is not None]
    if verified:
        out["verified_sentence_share"] = round(statistics.fmean(verified), 4)
    for stage in STAGES:
        ranks = [r.stage_ranks.get(stage) for r in ans]
        for k in (1, 5, 10):
            out[f"{stage}_recall@{k}"] = ratio(sum(1 for x in ranks if x is not None and x <= k), len(ans))
        out[f"{stage}_mrr@10"] = round(sum(1 / x for x in ranks if x) / len(ans), 4) if ans else None
    return out


def by_kind(records: Sequence[Record], threshold: float) -> dict[str, dict[str, Any]]:
    kinds = sorted({r.q.kind for r in records})
    return {k: metrics([r for r in records if r.q.kind == k], threshold) for k in kinds}


def sweep_rows(records: Sequence[Record], thresholds: Sequence[float]) -> list[dict[str, Any]]:
    """The accuracy/abstention trade-off at each threshold, to choose the default on data."""
    rows = []
    for t in thresholds:
        m = metrics(records, t)
        off = [r for r in records if r.q.kind == "unanswerable_offtopic"]
        near = [r for r in records if not r.q.answerable and r.q.kind != "unanswerable_offtopic"]
        rows.append(
            {
                "threshold": round(t, 3),
                "answer_accuracy": m["answer_accuracy"],
                "false_abstention": m["false_abstention"],
                "abstention_recall": m["abstention_recall"],
                "abstention_precision": m["abstention_precision"],
                "offtopic_abstention": ratio(sum(r.abstained_at(t) for r in off), len(off)),
                "nearmiss_abstention": ratio(sum(r.abstained_at(t) for r in near), len(near)),
            }
        )
    return rows


def ablation_rows(
    questions: Sequence[Question], index: Any, settings: Settings, records: Sequence[Record], threshold: float
) -> list[dict[str, Any]]:
    """The set answered again with each rule family switched off: what each family is worth on this set."""
    from qa.rules import FAMILIES

    def row(name: str, recs: Sequence[Record]) -> dict[str, Any]:
        m = metrics(recs, threshold)
        off = [r for r in recs if r.q.kind == "unanswerable_offtopic"]
        near = [r for r in recs if not r.q.answerable and r.q.kind != "unanswerable_offtopic"]
        return {
            "switched_off": name,
            "answer_accuracy": m["answer_accuracy"],
            "false_abstention": m["false_abstention"],
            "offtopic_abstention": ratio(sum(r.abstained_at(threshold) for r in off), len(off)),
            "nearmiss_abstention": ratio(sum(r.abstained_at(threshold) for r in near), len(near)),
            "mean_answer_words": m["mean_answer_words"],
        }

    rows = [row("(none)", records)]
    for family in FAMILIES:
        rows.append(row(family, run(questions, index, settings.model_copy(update={"rules_off": family}))))
    return rows


# --- the command -----------------------------------------------------------------------------


def main(
    questions_path: Path,
    *,
    settings: Settings,
    index_dir: Path | None = None,
    json_out: Path | None = None,
    html_out: Path | None = None,
    sweep: bool = False,
    ablate: bool = False,
    baseline: bool = False,
    limit: int | None = None,
    every: int = 1,
) -> dict[str, Any]:
    """`qa eval`: index (reusing a valid index), answer every question, print and write the figures."""
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from qa.pipeline import build_index, threshold_for

    console = Console(stderr=False)
    questions = load_questions(questions_path)[::every][:limit]
    folder = Path(settings.docs)
    t0 = time.perf_counter()
    try:
        index = build_index(folder, index_dir=index_dir, settings=settings)
    except IndexMismatchError as e:  # eval reuses a valid index and rebuilds one that is not
        logging.getLogger("qa").warning("%s; rebuilding it for this eval", str(e).split(";")[0])
        index = build_index(folder, index_dir=index_dir, settings=settings, rebuild=True)
    build_s = time.perf_counter() - t0
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task(f"answering {len(questions)} questions", total=len(questions))
        records = run(questions, index, settings, progress=lambda: bar.advance(task))
    threshold = threshold_for(settings, index)
    overall = metrics(records, threshold)
    overall["index_build_s"] = round(build_s, 2)
    summary: dict[str, Any] = {
        "set": str(questions_path),
        "docs": str(folder),
        "threshold": threshold,
        "calibration": dict(index.calibration) if index.calibration else None,
        "generator": settings.generator,
        "every": every,
        "overall": overall,
        "by_kind": by_kind(records, threshold),
    }
    if baseline:
        summary["baseline"] = run_baseline(questions, folder, settings)
    thresholds = sorted({round(x * 0.025, 3) for x in range(4, 33)} | {round(threshold, 3)})  # the one in force too
    if sweep:
        summary["sweep"] = sweep_rows(records, thresholds)
    if ablate:
        summary["ablation"] = ablation_rows(questions, index, settings, records, threshold)

    how = (
        "set"
        if settings.abstain_threshold is not None
        else "calibrated on this corpus"
        if index.calibration
        else "reader default"
    )
    table = Table(title=f"qa eval {questions_path.name} over {folder} (threshold {threshold}, {how})")
    cols = [
        "n",
        "answer_accuracy",
        "citation_accuracy",
        "mean_answer_words",
        "abstention_recall",
        "false_abstention",
        "reranked_recall@1",
        "reranked_recall@5",
        "latency_ms_p50",
    ]
    table.add_column("kind")
    for c in cols:
        table.add_column(c.replace("_", " "), justify="right")
    for name, m in [("all", overall), *summary["by_kind"].items()]:
        table.add_row(name, *(_cell(m.get(c)) for c in cols))
    for b in summary.get("baseline", []):
        table.add_row(b["name"], "", *(_cell(b.get(c)) for c in cols[1:]))
    console.print(table)
    if overall["answerable"]:
        stage_table = Table(title="retrieval by stage (answerable questions)")
        stage_table.add_column("stage")
        for c in ("recall@1", "recall@5", "recall@10", "mrr@10"):
            stage_table.add_column(c, justify="right")
        for s in STAGES:
            stage_table.add_row(
                s, *(_cell(overall[f"{s}_{c}"]) for c in ("recall@1", "recall@5", "recall@10", "mrr@10"))
            )
        console.print(stage_table)
    console.print(
        f"abstention precision {overall['abstention_precision']}, recall {overall['abstention_recall']}; "
        f"latency p50 {overall['latency_ms_p50']} ms, p95 {overall['latency_ms_p95']} ms; index {build_s:.1f} s"
    )
    if sweep:
        st = Table(title="threshold sweep")
        for c in summary["sweep"][0]:
            st.add_column(c.replace("_", " "), justify="right")
        for row in summary["sweep"]:
            st.add_row(
                *(_cell(v) for v in row.values()), style="bold" if row["threshold"] == round(threshold, 3) else None
            )
        console.print(st)
    if ablate:
        at = Table(title="ablation: each rule family switched off in turn (qa/rules.py)")
        for c in summary["ablation"][0]:
            at.add_column(c.replace("_", " "), justify="right")
        for row in summary["ablation"]:
            at.add_row(*(_cell(v) for v in row.values()))
        console.print(at)
    if json_out:
        payload = {**summary, "records": [record_dict(r, threshold) for r in records]}
        Path(json_out).write_text(json.dumps(payload, indent=2, ensure_ascii=False), encoding="utf-8")
        console.print(f"wrote {json_out}")
    if html_out:
        write_html(Path(html_out), f"qa eval: {questions_path.name}", summary, records, threshold)
        console.print(f"wrote {html_out}")
    summary["records"] = records
    return summary
