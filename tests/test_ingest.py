"""Ingest at scale with the real model: one pass per chunk, a build that resumes after being killed or running out
of disk, files that change under it, a damaged vector cache, and reading in worker processes."""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import make_kb

from qa import Settings, answer, build_index, open_index
from qa.embed import _unbreak_spans, load_embedder
from qa.errors import DiskFullError
from qa.ingest import parsed, token_counter
from qa.load import scan

pytestmark = pytest.mark.slow

LIGHTHOUSE_Q = "Who wrote the first version of Lighthouse?"


def _extra_files(kb: Path, n: int, sentences: int = 30) -> None:
    for i in range(n):
        body = " ".join(
            f"Buoy {i}-{j} records the tide at harbour {j} every {i + j} minutes." for j in range(sentences)
        )
        (kb / f"extra-{i:03d}.md").write_text(f"# Extra {i}\n\n{body}\n")


def _cached(index_dir: Path) -> int:
    try:
        db = sqlite3.connect(f"file:{index_dir / 'vectors.sqlite'}?mode=ro", uri=True, timeout=0.1)
        try:
            return int(db.execute("SELECT count(*) FROM vectors").fetchone()[0])
        finally:
            db.close()
    except sqlite3.Error:
        return 0


def test_one_pass_gives_each_sentence_a_vector_near_its_own_embedding():
    """Late chunking: a sentence's vector is pooled from its chunk's tokens; in a one-sentence chunk it is
    nearly the model's own vector of that sentence, and the chunk's vector is exactly the model's."""
    emb = load_embedder("all-MiniLM-L6-v2")
    text = "Driftwood compresses readings with delta encoding and keeps one file per day of data."
    chunk = "Driftwood > Storage\n" + text
    vecs, spans, alone = emb.encode_with_spans([chunk], [[(20, 20 + len(text))]])
    separate = emb.encode([chunk, text])
    assert alone == 0 and spans[0].shape == (1, 384)
    assert float(vecs[0] @ separate[0]) > 0.999
    assert float(spans[0][0] @ separate[1]) > 0.9
    assert np.linalg.norm(spans[0][0]) == pytest.approx(1.0, abs=1e-5)


def test_sentence_spans_follow_words_joined_across_lines():
    text = "Intro\nThe GNU\u2010\n   makefile is read. Second sen\u00adtence here."
    spans = [(6, 35), (36, 58)]
    joined, moved = _unbreak_spans(text, spans)
    assert [joined[s:e] for s, e in moved] == ["The GNUmakefile is read.", "Second sentence here."]


@pytest.mark.parametrize("passes", ["chunks", "sentences"])
def test_half_the_model_work_still_answers(tmp_path, passes):
    """QA_EMBED_PASSES=chunks pools sentence vectors from the chunk's pass; =sentences merges chunk vectors from
    the sentences' passes. Either way each word piece goes through the model about once."""
    kb = make_kb(tmp_path / "kb")
    settings = Settings(embed_passes=passes)
    idx = build_index(kb, index_dir=tmp_path / "index", settings=settings)
    r = idx.build_report
    both = build_index(kb, index_dir=tmp_path / "both").build_report
    if passes == "chunks":
        assert r.sentences_pooled >= both.sentences_embedded and r.sentences_embedded == 0
    else:
        assert r.sentences_embedded == both.sentences_embedded and r.sentences_pooled == 0
    assert idx.manifest["shape"]["vectors"] != open_index(tmp_path / "both").manifest["shape"]["vectors"]
    assert "Tomas Vik" in answer("Who designed the Driftwood database?", index=idx, settings=settings).text


def test_a_killed_build_resumes_and_embeds_only_the_rest(tmp_path):
    kb = make_kb(tmp_path / "kb")
    index_dir = tmp_path / "index"
    build_index(kb, index_dir=index_dir)
    before = answer(LIGHTHOUSE_Q, index=open_index(index_dir))
    _extra_files(kb, 40)
    # small embedding batches, so the cache fills in steps that a kill can fall between
    code = "import qa.pipeline as p; p.EMBED_EVERY = 8; from qa.cli import app; app()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "index", str(kb), "--index", str(index_dir), "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None and _cached(index_dir) < 16:
        time.sleep(0.05)
    assert proc.poll() is None, "the build finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kept = _cached(index_dir)
    assert kept >= 16
    after_kill = open_index(index_dir)  # the old index still answers, unchanged
    assert after_kill.n_documents == 4 and answer(LIGHTHOUSE_Q, index=after_kill).text == before.text

    idx = build_index(kb, index_dir=index_dir)
    r = idx.build_report
    new_chunks = sum(1 for c in idx.chunks(range(idx.n_chunks)) if c.source.startswith("extra-"))
    assert idx.n_documents == 44 and r.chunks_from_cache > 0
    assert r.chunks_embedded + r.chunks_from_cache == new_chunks  # every chunk once, over the two runs
    assert _cached(index_dir) == 0  # a completed build empties the cache
    assert "Ada Park" in answer(LIGHTHOUSE_Q, index=idx).text


def test_a_corrupt_vector_cache_is_one_warning_and_a_fresh_cache(tmp_path, caplog):
    kb = make_kb(tmp_path / "kb")
    index_dir = tmp_path / "index"
    build_index(kb, index_dir=index_dir)
    (index_dir / "vectors.sqlite").write_bytes(b"not a database" * 1000)
    assert "Ada Park" in answer(LIGHTHOUSE_Q, index=open_index(index_dir)).text
    (kb / "notes.md").write_text("# Notes\n\nThe harbour office opens at seven.\n")
    with caplog.at_level(logging.WARNING, logger="qa"):
        idx = build_index(kb, index_dir=index_dir)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "vector cache" in warnings[0] and "damaged" in warnings[0]
    assert idx.build_report.added == ["notes.md"] and "Ada Park" in answer(LIGHTHOUSE_Q, index=idx).text


def test_a_file_rewritten_while_it_is_read_is_read_again(tmp_path, monkeypatch, caplog):
    import qa.ingest

    kb = make_kb(tmp_path / "kb")
    target = kb / "driftwood.txt"
    real_look = qa.ingest._look
    rewrites = {"n": 0, "limit": 1}

    def look_while_writing(path):  # the file is rewritten between qa's read and its second look at it
        if Path(path) == target and rewrites["n"] < rewrites["limit"]:
            rewrites["n"] += 1
            target.write_text(target.read_text().replace("Tomas Vik", f"Tomas Vik{rewrites['n']}x") + "More text.\n")
        return real_look(path)

    monkeypatch.setattr(qa.ingest, "_look", look_while_writing)
    settings = Settings(index_workers=0)
    idx = build_index(kb, index_dir=tmp_path / "index", settings=settings)
    doc = idx.document("driftwood.txt")
    assert doc.text == target.read_text() and "Tomas Vik1x" in doc.text  # the version that stood still
    assert idx.file_states()["driftwood.txt"].size == target.stat().st_size

    # a file that never stops changing is left as it was indexed, with one warning
    rewrites.update(n=0, limit=10**6)
    os.utime(target, ns=(time.time_ns(), time.time_ns()))
    with caplog.at_level(logging.WARNING, logger="qa"):
        again = build_index(kb, index_dir=tmp_path / "index", settings=settings)
    assert any("still changing" in r.getMessage() for r in caplog.records)
    assert "Tomas Vik1x" in again.document("driftwood.txt").text
    monkeypatch.setattr(qa.ingest, "_look", real_look)
    assert "driftwood.txt" in build_index(kb, index_dir=tmp_path / "index", settings=settings).build_report.changed


def test_files_that_appear_and_vanish_during_a_build(tmp_path, caplog):
    kb = make_kb(tmp_path / "kb")
    _extra_files(kb, 3, sentences=3)
    events = []

    def progress(stage, advance, total):
        if stage == "read" and advance and not events:  # after the first file: one goes, one arrives
            (kb / "extra-002.md").unlink()
            (kb / "late.md").write_text("# Late\n\nThe late file names the harbour master Ines Duarte.\n")
            events.append("changed")

    with caplog.at_level(logging.WARNING, logger="qa"):
        idx = build_index(kb, index_dir=tmp_path / "index", settings=Settings(index_workers=0), progress=progress)
    sources = {s for s, _, _ in idx.documents()}
    assert events and "extra-002.md" not in sources and "late.md" not in sources and "extra-001.md" in sources
    assert any("removed while indexing" in r.getMessage() for r in caplog.records)
    nxt = build_index(kb, index_dir=tmp_path / "index").build_report
    assert nxt.added == ["late.md"] and nxt.deleted == []


def test_reading_in_worker_processes_gives_the_same_chunks(tmp_path):
    kb = make_kb(tmp_path / "kb")
    files = scan(kb)
    here = list(parsed(files, model="all-MiniLM-L6-v2", max_tokens=200, workers=0))
    there = list(parsed(files, model="all-MiniLM-L6-v2", max_tokens=200, workers=1))
    assert [p.chunks for p in here] == [p.chunks for p in there] and all(p.chunks for p in here)
    texts = [c.text for p in here for c in p.chunks]
    assert token_counter("all-MiniLM-L6-v2")(texts) == load_embedder("all-MiniLM-L6-v2").count_tokens(texts)


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MB tmpfs, unmounted afterwards; skipped where mounting needs privileges this run lacks."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()[:100]}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_disk_that_fills_up_fails_cleanly_and_the_next_build_resumes(tmp_path, small_disk):
    kb = make_kb(tmp_path / "kb")
    index_dir = small_disk / "index"
    build_index(kb, index_dir=index_dir)
    before = answer(LIGHTHOUSE_Q, index=open_index(index_dir)).text
    _extra_files(kb, 60, sentences=40)
    (small_disk / "ballast").write_bytes(os.urandom(1_500_000))  # leaves room for some of the work, not all
    with pytest.raises(DiskFullError, match="no space left .* run qa index again"):
        build_index(kb, index_dir=index_dir)
    assert answer(LIGHTHOUSE_Q, index=open_index(index_dir)).text == before  # the previous index answers
    cached = _cached(index_dir)

    (small_disk / "ballast").unlink()
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    idx = build_index(kb, index_dir=index_dir)
    r = idx.build_report
    assert idx.n_documents == 64 and (r.chunks_from_cache > 0) == (cached > 0)
    assert sorted(p.name for p in index_dir.iterdir() if p.is_dir()) == [idx.dir.name]  # nothing left behind
