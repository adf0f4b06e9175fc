"""Quality gates: qa eval on every known-answer set in evals/gates.json with the real model; CI fails below them."""

import json
import re
from pathlib import Path

import pytest

from qa import Settings
from qa.evaluate import main as run_eval

ROOT = Path(__file__).parent.parent
GATES = json.loads((ROOT / "evals" / "gates.json").read_text())

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", [name for name in GATES if not name.startswith("_")])
def test_quality_stays_above_the_gates(name, tmp_path):
    gate = GATES[name]
    docs = (ROOT / gate["docs"]).resolve()
    if not docs.is_dir():
        pytest.skip(f"{docs} is not here")
    summary = run_eval(ROOT / "evals" / f"{name}.jsonl", settings=Settings(docs=docs), json_out=tmp_path / "eval.json")
    overall = dict(summary["overall"])
    overall["offtopic_abstention"] = summary["by_kind"]["unanswerable_offtopic"]["abstention_recall"]
    overall["nearmiss_abstention"] = summary["by_kind"].get("unanswerable", {}).get("abstention_recall")
    failures = [f"{k} {overall[k]} < {v}" for k, v in gate["min"].items() if overall[k] < v]
    failures += [f"{k} {overall[k]} > {v}" for k, v in gate["max"].items() if overall[k] > v]
    assert not failures, f"{name}: " + "; ".join(failures)
    # the JSON record carries every question with its citations and passages
    records = json.loads((tmp_path / "eval.json").read_text())["records"]
    assert len(records) == overall["n"] and all("citations" in r and "passages" in r for r in records)


def test_html_report_lists_failures_first_and_plots_the_threshold(tmp_path, kb_dir):
    questions = tmp_path / "set.jsonl"
    rows = [
        {"id": "q1", "question": "Who designed Driftwood?", "answers": ["Tomas Vik"], "kind": "lookup"},
        {
            "id": "q2",
            "question": "Who designed Driftwood?",
            "answers": ["a gold string no answer contains"],
            "kind": "lookup",
        },
        {
            "id": "q3",
            "question": "What is the best recipe for chocolate cake?",
            "answers": [],
            "kind": "unanswerable_offtopic",
        },
    ]
    questions.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "report.html"
    summary = run_eval(questions, settings=Settings(docs=kb_dir), html_out=out, sweep=True)
    assert summary["overall"]["answer_accuracy"] == 0.5 and summary["overall"]["abstention_recall"] == 1.0
    html = out.read_text()
    fails = [m.start() for m in re.finditer(r"FAIL <b>", html)]
    oks = [m.start() for m in re.finditer(r"ok <b>", html)]
    assert len(fails) == 1 and len(oks) == 2 and max(fails) < min(oks)  # failures come first
    assert "<svg" in html and "threshold" in html
