"""A folder that stays indexed: the real watcher (watchfiles/inotify) re-indexing a real folder with the real model.

Each test copies the test corpus, builds its index, starts a Watcher whose rebuild is the incremental
build_index, then changes files the way people and editors do and waits for the index to follow.
"""

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import CHROMIUM, CHROMIUM_ARGS, free_port, make_kb

from qa.watch import Watcher, is_ignored

pytest.importorskip("watchfiles")


class Lines(logging.Handler):
    """The qa logger's lines, as a person reading stderr sees them."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())


@pytest.fixture
def lines():
    log = logging.getLogger("qa")
    handler, level = Lines(), log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    yield handler.lines
    log.removeHandler(handler)
    log.setLevel(level)


class Live:
    """A watched folder: its watcher, and the index it keeps live."""

    def __init__(self, folder: Path, index_dir: Path):
        from qa import build_index

        self.folder, self.index_dir = folder, index_dir
        self.index = build_index(folder, index_dir=index_dir)
        self.watcher = Watcher(folder, self.rebuild, ignore=[index_dir]).start()
        assert self.watcher.ready.wait(30)  # inotify watches are in place, the index has caught up

    def rebuild(self):
        from qa import build_index

        self.index = build_index(self.folder, index_dir=self.index_dir)
        return self.index

    def sources(self) -> set[str]:
        return {s for s, _, _ in self.index.documents()}

    def wait(self, check, timeout: float = 120.0) -> float:
        """Seconds until check() holds (fails the test after timeout)."""
        t0 = time.monotonic()
        while not check():
            assert time.monotonic() - t0 < timeout, f"index did not follow within {timeout:.0f} s: {self.sources()}"
            time.sleep(0.05)
        return time.monotonic() - t0

    def settle(self, seconds: float = 2.5) -> None:
        """Wait until the watcher has been idle for `seconds` (nothing pending, nothing running)."""
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < seconds:
            if self.watcher.busy:
                quiet_since = time.monotonic()
            time.sleep(0.05)


@pytest.fixture
def live(tmp_path):
    w = Live(make_kb(tmp_path / "kb"), tmp_path / "index")
    yield w
    w.watcher.stop()


def test_editor_temp_files_and_hidden_folders_are_ignored(tmp_path):
    root = tmp_path / "docs"
    for name in [".notes.md.swp", ".notes.md.swx", "notes.md~", ".#notes.md", "#notes.md#", "4913", "~$report.docx",
                 ".~lock.report.docx#", "report.docx.tmp", "big.pdf.crdownload", "big.pdf.part"]:  # fmt: skip
        assert is_ignored(root / name, root), name
    assert is_ignored(root / ".git" / "index", root)
    assert is_ignored(root / "node_modules" / "x.md", root)
    assert is_ignored(tmp_path / "index" / "CURRENT", root, [tmp_path / "index"])
    for name in ["notes.md", "sub/report.pdf", "4913.md", "a~b.md", "manual.html"]:
        assert not is_ignored(root / name, root), name
    assert not is_ignored(root, root)  # the folder itself: deleted or created


@pytest.mark.slow
def test_added_changed_renamed_and_deleted_files_are_reindexed(live):
    from qa import answer

    (live.folder / "kestrel.md").write_text("# Kestrel\n\nThe Kestrel drone was designed by Ada Brannigan in 2019.\n")
    latency = live.wait(lambda: "kestrel.md" in live.sources())
    a = answer("Who designed the Kestrel drone?", index=live.index)
    assert not a.abstained and a.citations[0].source == "kestrel.md" and "Ada Brannigan" in a.text

    (live.folder / "kestrel.md").write_text("# Kestrel\n\nThe Kestrel drone was designed by Lin Okafor in 2021.\n")
    live.wait(lambda: "Lin Okafor" in answer("Who designed the Kestrel drone?", index=live.index).text)

    (live.folder / "kestrel.md").rename(live.folder / "falcon.md")
    live.wait(lambda: "falcon.md" in live.sources() and "kestrel.md" not in live.sources())

    (live.folder / "falcon.md").unlink()
    live.wait(lambda: "falcon.md" not in live.sources())
    assert live.sources() == {"driftwood.txt", "gauges.pdf", "release-notes.html", "lighthouse.md"}
    assert latency < 15, f"a new file took {latency:.1f} s to be answerable"
    print(f"\nwatch latency, file written -> answerable: {latency:.2f} s")


@pytest.mark.slow
def test_an_editor_save_is_one_rebuild_and_temp_files_none(live):
    before = live.watcher.stats.rebuilds
    # what vim does on :w (backupcopy=auto): probe 4913, swap file, backup by rename, write, drop the backup
    (live.folder / "4913").write_text("")
    (live.folder / "4913").unlink()
    (live.folder / ".lighthouse.md.swp").write_bytes(b"\0" * 4096)
    (live.folder / "lighthouse.md").rename(live.folder / "lighthouse.md~")
    text = (live.folder / "lighthouse.md~").read_text()
    (live.folder / "lighthouse.md").write_text(text + "\nThe lamp was converted to LED in 2020.\n")
    (live.folder / "lighthouse.md~").unlink()
    live.wait(lambda: live.watcher.stats.rebuilds > before)
    live.settle()
    assert live.watcher.stats.rebuilds == before + 1, live.watcher.stats.history

    # temp files alone start nothing
    for name in ["4913", ".notes.md.swp", "notes.md~", "#notes.md#", "~$report.docx", "x.pdf.crdownload"]:
        (live.folder / name).write_text("half-written")
    time.sleep(2.5)
    assert live.watcher.stats.rebuilds == before + 1 and live.watcher.stats.batches == 1


@pytest.mark.slow
def test_a_burst_of_1000_files_is_one_or_two_rebuilds(live):
    s = live.watcher.stats
    before = s.rebuilds
    burst = live.folder / "burst"
    burst.mkdir()
    t0 = time.monotonic()
    for i in range(1000):
        (burst / f"note-{i:04d}.txt").write_text(f"Crate {i} of the burst is stored on shelf {i % 37}.\n")
    written = time.monotonic() - t0
    live.wait(lambda: len(live.sources()) == 1004, timeout=600)
    done = time.monotonic() - t0
    live.settle()
    n = s.rebuilds - before
    print(f"\n1,000 files written in {written:.2f} s: {n} rebuild(s), all live after {done:.1f} s {s.history[-n:]}")
    assert 1 <= s.changed_builds <= 2 and n <= 2, s.history

    before = s.rebuilds
    shutil.rmtree(burst)  # 1,000 deletions: the same
    live.wait(lambda: len(live.sources()) == 4)
    live.settle()
    assert s.rebuilds - before <= 2, s.history


@pytest.mark.slow
def test_answering_goes_on_during_a_rebuild(live):
    from qa import answer

    # a large new document keeps the embedder busy for several seconds on this machine's two cores
    words = " ".join(f"Sensor {i} on pier {i % 50} logs the tide every {i % 13 + 1} minutes." for i in range(1000))
    (live.folder / "sensors.md").write_text(f"# Sensors\n\n{words}\n")
    live.wait(lambda: live.watcher.busy, timeout=30)
    old = live.index
    answered, slowest = 0, 0.0
    while live.watcher.busy:
        t0 = time.monotonic()
        a = answer("Who designed Driftwood?", index=old)
        slowest = max(slowest, time.monotonic() - t0)
        assert "Tomas Vik" in a.text
        answered += 1
        time.sleep(0.2)  # a person asking now and then, not a loop that starves the rebuild of the GIL
    live.wait(lambda: "sensors.md" in live.sources())
    seconds = live.watcher.stats.last_seconds
    print(f"\n{answered} answers during a {seconds:.1f} s rebuild, slowest {slowest:.2f} s")
    assert answered >= 1 and slowest < 30


@pytest.mark.slow
def test_a_deleted_watched_folder_is_one_warning_and_answers_go_on(live, lines):
    from qa import answer

    shutil.rmtree(live.folder)
    live.wait(lambda: live.watcher.stats.missing, timeout=30)
    time.sleep(2.5)
    warnings = [line for line in lines if "is gone" in line]
    assert len(warnings) == 1 and str(live.folder) in warnings[0], lines
    assert "Tomas Vik" in answer("Who designed Driftwood?", index=live.index).text  # the last index still answers
    assert live.watcher._thread.is_alive()

    make_kb(live.folder)  # it comes back (a restore, a remount): re-indexed, watched again
    (live.folder / "osprey.md").write_text("# Osprey\n\nThe Osprey buoy was anchored by Ivo Sand.\n")
    live.wait(lambda: "osprey.md" in live.sources(), timeout=60)
    (live.folder / "osprey.md").unlink()
    live.wait(lambda: "osprey.md" not in live.sources(), timeout=60)


def test_a_watcher_stops_when_asked(tmp_path):
    (tmp_path / "docs").mkdir()
    calls = []
    w = Watcher(tmp_path / "docs", lambda: calls.append(1)).start()
    assert w.ready.wait(10) and calls == [1]  # one catch-up with what changed before it began
    t0 = time.monotonic()
    w.stop()
    assert not w._thread.is_alive() and time.monotonic() - t0 < 3
    assert calls == [1]


# --- the commands: qa serve --watch, qa index --watch --------------------------------------------


def qa_process(args: list[str], home: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "QA_HOME": str(home), "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    with open(log, "w") as err:  # Ctrl-C restored: a suite started in the background (`&`) ignores SIGINT
        return subprocess.Popen([sys.executable, "-m", "qa.cli", *args], env=env, stdout=err, stderr=err, text=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip


def wait_for(check, timeout: float, what: str) -> float:
    t0 = time.monotonic()
    while not check():
        assert time.monotonic() - t0 < timeout, f"{what} did not happen within {timeout:.0f} s"
        time.sleep(0.1)
    return time.monotonic() - t0


@pytest.mark.browser
@pytest.mark.slow
def test_the_web_page_shows_new_counts_without_a_reload(tmp_path):
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    from qa.settings import Settings
    from qa.web import serve

    docs = make_kb(tmp_path / "docs")
    app = serve(Settings(docs=docs, home=tmp_path / "home", port=free_port()), block=False, watch=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(app.local_url)
            page.wait_for_selector("#qa-status")
            assert "4 documents" in page.locator("#qa-status").text_content()
            page.evaluate("window.__same_page = 1")
            (docs / "osprey.md").write_text("# Osprey\n\nThe Osprey buoy was anchored off Varden by Ivo Sand.\n")
            t0 = time.monotonic()
            page.wait_for_function(
                "() => document.querySelector('#qa-status').textContent.includes('5 documents')", timeout=30_000
            )
            shown = time.monotonic() - t0
            assert page.evaluate("window.__same_page") == 1  # no reload
            assert "osprey.md" in page.locator("#qa-status").inner_html()
            (docs / "osprey.md").unlink()
            page.wait_for_function(
                "() => document.querySelector('#qa-status').textContent.includes('4 documents')", timeout=30_000
            )
            browser.close()
        print(f"\nstatus line: new file shown {shown:.1f} s after it was written")
    finally:
        app.watcher.stop()
        app.close()


@pytest.mark.slow
def test_qa_serve_watch_survives_its_folder_being_deleted(tmp_path):
    httpx = pytest.importorskip("httpx")
    docs, port, log = make_kb(tmp_path / "docs"), free_port(), tmp_path / "serve.log"
    proc = qa_process(["serve", "--docs", str(docs), "--port", str(port), "--watch"], tmp_path / "home", log)
    url = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            assert proc.poll() is None, log.read_text()
            try:
                return httpx.get(f"{url}/api/documents", timeout=5).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(up, 180, "qa serve starting")
        shutil.rmtree(docs)
        wait_for(lambda: "is gone" in log.read_text(), 30, "the warning")
        time.sleep(3)
        gone = [line for line in log.read_text().splitlines() if "is gone" in line]
        assert len(gone) == 1 and gone[0].startswith("warning: watched folder"), log.read_text()[-2000:]
        assert "Traceback" not in log.read_text()
        r = httpx.post(f"{url}/api/ask", json={"question": "Who designed Driftwood?"}, timeout=60)
        assert r.status_code == 200 and "Tomas Vik" in r.json()["text"]
        assert httpx.get(url, timeout=10).status_code == 200  # the chat page too
    finally:
        proc.terminate()
        proc.wait(30)


@pytest.mark.slow
def test_qa_index_watch_reindexes_until_ctrl_c(tmp_path):
    docs, log = make_kb(tmp_path / "docs"), tmp_path / "index.log"
    proc = qa_process(["index", str(docs), "--watch"], tmp_path / "home", log)
    try:
        wait_for(lambda: "watching" in log.read_text(), 180, "the first index")
        time.sleep(0.5)
        (docs / "osprey.md").write_text("# Osprey\n\nThe Osprey buoy was anchored off Varden by Ivo Sand.\n")
        wait_for(lambda: "re-indexed" in log.read_text(), 60, "re-indexing")
        assert "1 added, 0 changed, 0 deleted -> 5 documents" in log.read_text()
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(30)
    assert code == 0 and "stopped watching" in log.read_text() and "Traceback" not in log.read_text()
