"""Indexing with the real model and real FAISS: incremental updates, atomic swaps, damaged indexes."""

import json
import logging
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import make_kb

from qa import Settings, answer, build_index, open_index
from qa.errors import IndexCorruptError, IndexMismatchError, IndexMissingError, IndexOutdatedError, InputError

pytestmark = pytest.mark.slow


def test_reindexing_embeds_only_what_changed(tmp_path):
    kb = make_kb(tmp_path / "kb")
    idx = build_index(kb, index_dir=tmp_path / "index")
    first = idx.build_report
    assert first.chunks_embedded == idx.n_chunks > 0 and len(first.added) == 4

    again = build_index(kb, index_dir=tmp_path / "index").build_report
    assert again.up_to_date and again.chunks_embedded == 0 and again.sentences_embedded == 0

    # edit one sentence of one file: only that file's changed chunk is embedded again
    md = kb / "driftwood.txt"
    md.write_text(md.read_text().replace("400,000 readings", "650,000 readings"))
    third = build_index(kb, index_dir=tmp_path / "index")
    r = third.build_report
    assert r.changed == ["driftwood.txt"] and r.added == [] and r.deleted == []
    driftwood_chunks = [row for row in range(third.n_chunks) if third.chunks([row])[0].source == "driftwood.txt"]
    assert 1 <= r.chunks_embedded <= len(driftwood_chunks)
    assert r.sentences_embedded == 1  # the one edited sentence
    assert "650,000" in answer("How many readings per second does Driftwood ingest?", index=third).text

    # delete a file: its chunks leave the index
    (kb / "release-notes.html").unlink()
    fourth = build_index(kb, index_dir=tmp_path / "index")
    assert fourth.build_report.deleted == ["release-notes.html"] and fourth.build_report.chunks_embedded == 0
    assert all(c.source != "release-notes.html" for c in fourth.chunks(range(fourth.n_chunks)))


def test_touching_files_without_changing_them_embeds_nothing(tmp_path):
    kb = make_kb(tmp_path / "kb")
    build_index(kb, index_dir=tmp_path / "index")
    for f in kb.iterdir():
        os.utime(f, None)
    r = build_index(kb, index_dir=tmp_path / "index").build_report
    assert r.chunks_embedded == 0 and r.changed == []


def test_killing_an_indexing_run_leaves_the_old_index_usable(tmp_path):
    kb = make_kb(tmp_path / "kb")
    index_dir = tmp_path / "index"
    build_index(kb, index_dir=index_dir)
    before = answer("Who wrote the first version of Lighthouse?", index=open_index(index_dir))
    assert "Ada Park" in before.text

    # enough new text that indexing takes a while, then kill -9 at two different moments
    for i in range(40):
        body = " ".join(f"Filler sentence {j} about harbours and tides in file {i}." for j in range(40))
        (kb / f"extra-{i}.md").write_text(f"# Extra {i}\n\n{body}\n")
    for moment in ("embedding", "writing"):
        proc = subprocess.Popen(
            [sys.executable, "-m", "qa.cli", "index", str(kb), "--index", str(index_dir), "--quiet"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            if moment == "writing" and any(p.name.startswith("tmp-") for p in index_dir.iterdir()):
                break
            if moment == "embedding" and time.time() > deadline - 120 + 6:
                break
            time.sleep(0.005)
        assert proc.poll() is None, "indexing finished before it could be killed; give it more work"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        idx = open_index(index_dir)
        assert idx.n_documents == 4
        after = answer("Who wrote the first version of Lighthouse?", index=idx)
        assert after.text == before.text and after.citations == before.citations

    # the next run finishes the job and clears what the killed ones left behind
    idx = build_index(kb, index_dir=index_dir)
    assert idx.n_documents == 44
    assert sorted(p.name for p in index_dir.iterdir() if p.is_dir()) == [idx.dir.name]


def test_a_damaged_index_is_a_clear_error(tmp_path, kb_dir):
    index_dir = tmp_path / "index"
    build_index(kb_dir, index_dir=index_dir)
    gen = index_dir / (index_dir / "CURRENT").read_text().strip()
    faiss_file = gen / "dense.faiss"
    faiss_file.write_bytes(faiss_file.read_bytes()[:100])  # truncated
    with pytest.raises(IndexCorruptError, match="--rebuild"):
        open_index(index_dir)
    (gen / "manifest.json").write_text("{not json")
    with pytest.raises(IndexCorruptError, match="rebuild"):
        open_index(index_dir)
    # qa index repairs it without being asked to rebuild
    assert build_index(kb_dir, index_dir=index_dir).n_documents == 4


def test_an_index_built_with_other_settings_names_the_fix(tmp_path, kb_dir):
    index_dir = tmp_path / "index"
    build_index(kb_dir, index_dir=index_dir)
    other = Settings(max_chunk_tokens=120)
    with pytest.raises(IndexMismatchError, match=r"max_chunk_tokens.*qa index .* --rebuild"):
        open_index(index_dir, settings=other)
    with pytest.raises(IndexMismatchError):
        build_index(kb_dir, index_dir=index_dir, settings=other)
    rebuilt = build_index(kb_dir, index_dir=index_dir, settings=other, rebuild=True)
    assert rebuilt.manifest["shape"]["max_chunk_tokens"] == 120


def _age(index_dir):
    """Make the live index look chunked by an older qa."""
    gen = index_dir / (index_dir / "CURRENT").read_text().strip()
    manifest = json.loads((gen / "manifest.json").read_text())
    manifest["shape"]["chunker"] -= 1
    (gen / "manifest.json").write_text(json.dumps(manifest))


def test_an_index_chunked_by_an_older_qa_is_rebuilt_when_used(tmp_path, kb_dir, caplog):
    """After an upgrade changes the chunker, `qa index`, `qa serve` and `qa ask` rebuild instead of failing."""
    index_dir = tmp_path / "index"
    build_index(kb_dir, index_dir=index_dir)
    _age(index_dir)
    with pytest.raises(IndexOutdatedError, match=r"older qa .*--rebuild"):
        open_index(index_dir)
    with caplog.at_level(logging.WARNING, logger="qa"):
        assert build_index(kb_dir, index_dir=index_dir).n_documents == 4  # no --rebuild needed
    assert any("older qa" in r.getMessage() for r in caplog.records)
    assert open_index(index_dir).manifest["shape"] == Settings().shape()
    _age(index_dir)  # the same through the default index that `qa ask` and `answer()` open
    a = answer("Who designed Driftwood?", settings=Settings(docs=kb_dir, index_dir=index_dir))
    assert "Tomas Vik" in a.text and open_index(index_dir).manifest["shape"] == Settings().shape()


def test_missing_empty_and_unwritable_places_are_clear_errors(tmp_path, kb_dir):
    with pytest.raises(IndexMissingError, match="qa index"):
        open_index(tmp_path / "none")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no documents"):
        build_index(tmp_path / "empty")
    (tmp_path / "binaries").mkdir()
    (tmp_path / "binaries" / "a.txt").write_bytes(b"\x00\x01\x02" * 100)
    with pytest.raises(InputError, match="every file was skipped"):
        build_index(tmp_path / "binaries")
    if os.geteuid() == 0:  # root writes anywhere, so use a place no one can create folders in
        blocked = tmp_path / "a-file"
        blocked.write_text("")
        target = blocked / "index"
    else:
        blocked = tmp_path / "ro"
        blocked.mkdir(mode=0o500)
        target = blocked / "index"
    with pytest.raises(InputError, match="cannot write the index .* QA_HOME"):
        build_index(kb_dir, index_dir=target)


def test_manifest_records_model_settings_and_versions(kb_index):
    m = json.loads((kb_index.dir / "manifest.json").read_text())
    assert m["model"] == "all-MiniLM-L6-v2" and m["dim"] == 384
    assert m["shape"] == Settings().shape()
    assert m["versions"]["faiss-cpu"] and m["chunks"] == kb_index.n_chunks
