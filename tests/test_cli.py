"""The `qa` command as a user runs it: a real subprocess, one-line errors, JSON output, help that tells the truth."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


def qa(*args: str, home: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "QA_HOME": str(home), "HF_HUB_OFFLINE": "1", "COLUMNS": "120"}
    return subprocess.run(
        [sys.executable, "-m", "qa.cli", *args], env=env, capture_output=True, text=True, input=stdin, timeout=600
    )


def test_every_command_has_help_and_appears_in_the_readme(qa_home):
    readme = (ROOT / "README.md").read_text()
    out = qa("--help", home=qa_home)
    assert out.returncode == 0
    commands = re.findall(r"^│ (\w+)\s", out.stdout, re.MULTILINE)
    assert set(commands) >= {"index", "ask", "serve", "eval", "bench"}
    for cmd in commands:
        assert qa(cmd, "--help", home=qa_home).returncode == 0
        assert f"qa {cmd}" in readme, f"README does not mention qa {cmd}"


def test_every_setting_is_documented_in_the_readme():
    from qa.settings import field_docs

    readme = (ROOT / "README.md").read_text()
    missing = [env for env, _, _ in field_docs() if f"`{env}`" not in readme]
    assert not missing, f"README's settings table lacks {missing}"


@pytest.mark.slow
def test_index_then_ask_prints_a_cited_answer_and_json(qa_home, kb_dir):
    out = qa("index", str(kb_dir), home=qa_home)
    assert out.returncode == 0, out.stderr
    assert "indexed 4 documents" in out.stdout
    again = qa("index", str(kb_dir), home=qa_home)
    assert "up to date" in again.stdout and "nothing embedded" in again.stdout

    index_dir = re.search(r"-> (\S+)", out.stdout).group(1)
    ask = qa("ask", "Who designed Driftwood?", "--index", index_dir, home=qa_home)
    assert ask.returncode == 0 and "Tomas Vik" in ask.stdout and "driftwood.txt" in ask.stdout

    js = json.loads(qa("ask", "Who designed Driftwood?", "--index", index_dir, "--json", home=qa_home).stdout)
    assert js["abstained"] is False and js["citations"][0]["source"] == "driftwood.txt"
    assert {"text", "citations", "passages", "timings"} <= set(js)


@pytest.mark.slow
def test_expected_failures_are_one_line_errors(qa_home, tmp_path):
    missing = qa("ask", "Who?", "--index", str(tmp_path / "nowhere"), home=qa_home)
    assert missing.returncode == 1 and missing.stderr.strip().count("\n") == 0
    assert missing.stderr.startswith("error: no index") and "qa index" in missing.stderr
    empty = qa("index", str(tmp_path / "does-not-exist"), home=qa_home)
    assert empty.returncode == 1 and "folder not found" in empty.stderr and "Traceback" not in empty.stderr


@pytest.mark.slow
def test_empty_question_is_refused(qa_home, kb_dir):
    qa("index", str(kb_dir), home=qa_home)
    out = qa("ask", "   ", "--docs", str(kb_dir), home=qa_home)
    assert out.returncode == 1 and "question is empty" in out.stderr


@pytest.mark.slow
def test_bench_smoke_prints_figures(qa_home, kb_dir, tmp_path):
    out = qa(
        "bench", "--docs", str(kb_dir), "--quick", "--scale", "2000", "--json", str(tmp_path / "b.json"), home=qa_home
    )
    assert out.returncode == 0, out.stderr[-2000:]
    figures = json.loads((tmp_path / "b.json").read_text())
    assert figures["indexing"]["reindex_unchanged_embedded"] == 0
    assert {"embed", "total"} <= set(figures["query"]["stages_ms"])
    assert {r["index"] for r in figures["scale"]["rows"]} == {"flat", "ivf", "hnsw"}
