"""Hostile and clumsy input (issue 18): each test is one cause a probe of qa found, driven through the real thing:
the `qa` command as a subprocess, the web chat in headless Chromium, and OpenAI-compatible servers that break the
rules on purpose (tests/llmserver.py: trickling, non-text content, a 50 MB stream) on 127.0.0.1.

To add a case: find the surface (LLM, question, terminal, settings, web), write what a person or a script would do,
and assert what they should see: an answer, or one line that names the fix.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import free_port, make_kb
from llmserver import LLMServer
from test_web import ask, documents_indexed, last_answer

from qa import answer
from qa.errors import InputError
from qa.settings import Settings

ROOT = Path(__file__).parent.parent
QUESTION = "Who designed the Driftwood database?"


def qa(*args: str, home: Path, stdin: bytes | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """The real `qa` command; arguments may carry invalid UTF-8 as surrogate escapes (os.fsencode turns them back)."""
    env = {**os.environ, "QA_HOME": str(home), "HF_HUB_OFFLINE": "1", "COLUMNS": "120", "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-m", "qa.cli", *args], env=env, capture_output=True, input=stdin, timeout=timeout
    )
    out.stdout, out.stderr = out.stdout.decode("utf-8", "replace"), out.stderr.decode("utf-8", "replace")
    return out


def one_line_error(out: subprocess.CompletedProcess) -> str:
    assert out.returncode != 0 and "Traceback" not in out.stderr, out.stderr[-2000:]
    lines = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and out.stderr.strip() == lines[0], out.stderr
    return lines[0]


@pytest.fixture(autouse=True)
def _fresh_model_list():
    """Each test's server is new; the model list qa caches per process must not come from the last one."""
    from qa import llm

    llm._models_cache.clear()
    yield


# --- the LLM path: real misbehaving servers --------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["trickle", "trickle-models"])
def test_a_server_trickling_one_byte_at_a_time_is_cut_off_at_the_timeout(kb_index, mode):
    """Issue 18.2: QA_LLM_TIMEOUT is a deadline for the whole call, model list included, not a per-read timeout."""
    with LLMServer(mode) as server:
        settings = Settings(generator=f"openai:{server.url}", llm_timeout=2)
        t0 = time.monotonic()
        a = answer(QUESTION, index=kb_index, settings=settings)
        took = time.monotonic() - t0
    assert took < 2 + 1.5, f"took {took:.1f} s with a 2 s timeout"
    assert "Tomas Vik" in a.text and a.generator == "extractive"  # the extractive answer, as README promises
    [note] = [n for n in a.notes if n.startswith("generator failed")]
    assert "within 2 s" in note and "QA_LLM_TIMEOUT" in note


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["list-content", "number-content"])
def test_non_text_content_from_the_server_falls_back_to_the_extractive_answer_in_the_cli(kb_index, qa_home, mode):
    """Issue 18.5: a list or a number as delta.content was a TypeError traceback."""
    with LLMServer(mode) as server:
        out = qa("ask", QUESTION, "--index", str(kb_index.root), "--generator", f"openai:{server.url}", home=qa_home)
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr[-2000:]
    assert "Tomas Vik" in out.stdout and "driftwood.txt" in out.stdout
    kind = "list" if mode == "list-content" else "int"
    assert re.search(rf"note: generator failed \(.*sent {kind} content, not text", " ".join(out.stdout.split()))


@pytest.mark.slow
def test_a_50_mb_stream_that_ignores_max_tokens_is_cut_off_early(kb_index):
    """Issue 18.6: the whole stream was read (RSS +830 MB); now reading stops a little past what max_tokens allows."""
    with LLMServer("flood") as server:
        settings = Settings(generator=f"openai:{server.url}", llm_timeout=30)
        a = answer(QUESTION, index=kb_index, settings=settings)
        time.sleep(0.5)  # let the server notice the closed connection
        sent = server.sent
    assert sent < 10_000_000, f"the server got {sent:,} bytes out before qa stopped reading"  # kernel buffers, not qa
    assert "Tomas Vik" in a.text and a.generator == "extractive"
    [note] = [n for n in a.notes if n.startswith("generator failed")]
    assert "ignores max_tokens" in note


@pytest.mark.slow
def test_a_healthy_server_still_answers_through_the_guarded_stream(kb_index):
    with LLMServer("good", answer="Driftwood was designed by Tomas Vik [1].") as server:
        settings = Settings(generator=f"openai:{server.url}", llm_timeout=10)
        a = answer(QUESTION, index=kb_index, settings=settings)
    assert not any(n.startswith("generator failed") for n in a.notes), a.notes
    assert a.generator.startswith("openai:") and "Tomas Vik" in a.text and a.citations


# --- questions and history at the API edge --------------------------------------------------------


@pytest.mark.slow
def test_invalid_utf8_and_lone_surrogates_in_a_question_are_cleaned_everywhere(kb_index, qa_home):
    """Issue 18.9: a 53-line traceback from the CLI (argument or stdin), a raw TypeError from the Python API."""
    a = answer(f"{QUESTION}\ud800", index=kb_index)
    assert "Tomas Vik" in a.text and "\ufffd" in a.question
    index = str(kb_index.root)
    argv = qa("ask", f"{QUESTION}\udcff", "--index", index, home=qa_home)  # byte 0xff in argv
    assert argv.returncode == 0 and "Tomas Vik" in argv.stdout, argv.stderr[-2000:]
    stdin = qa("ask", "-", "--index", index, stdin=QUESTION.encode() + b"\xed\xa0\x80\xff", home=qa_home)
    assert stdin.returncode == 0 and "Tomas Vik" in stdin.stdout, stdin.stderr[-2000:]


@pytest.mark.parametrize(
    ("history", "message"),
    [
        ([None], "history[0] is NoneType, not a string"),
        (["Who designed Driftwood?", 3], "history[1] is int, not a string"),
        ("Who designed Driftwood?", "history must be a list of earlier questions"),
        (42, "history must be a list of earlier questions"),
    ],
)
def test_history_that_is_not_a_list_of_strings_is_one_clear_error(history, message):
    """Issue 18.18: answer(history=[None]) was an AttributeError deep in query parsing."""
    with pytest.raises(InputError, match=re.escape(message)) as e:
        answer("And how does it compress readings?", history=history)
    assert "\n" not in str(e.value)


def test_a_question_that_is_not_text_is_one_clear_error():
    with pytest.raises(InputError, match="the question must be text, not bytes"):
        answer(b"Who designed Driftwood?")  # type: ignore[arg-type]


# --- the terminal ---------------------------------------------------------------------------------

ESCAPES = (
    "\x1b[2J\x1b[H"  # clear the screen
    "\x1b]0;pwned\x07"  # set the window title
    "\x1b[31m"  # red
    "\x1b]8;;https://evil.example\x1b\\Documentation\x1b]8;;\x1b\\"  # an OSC 8 link shown as "Documentation"
    "\x9b31m\u202e"  # an 8-bit CSI and a right-to-left override
)
RAW = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@pytest.mark.slow
def test_escape_sequences_in_documents_never_reach_the_terminal(qa_home, tmp_path):
    """Issue 18.8: the CLI printed documents' escape sequences (clear screen, window title, colours, OSC 8 links)."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "beacon.md").write_text(
        f"# Harbour beacon\n\nThe harbour beacon {ESCAPES} was repainted red by Mira Holt in 2022.\n"
        "Its lamp is visible from twelve nautical miles away.\n"
    )
    (docs / "notes\x1b]0;title\x07.exe").write_text("not a document")  # its name lands in a warning
    built = qa("index", str(docs), home=qa_home)
    assert built.returncode == 0, built.stderr[-2000:]
    assert not RAW.search(built.stdout + built.stderr) and "notes␛]0;title␇.exe" in built.stderr
    for extra in [(), ("--passages", "--scores")]:
        out = qa("ask", "Who repainted the harbour beacon?", "--docs", str(docs), *extra, home=qa_home)
        assert out.returncode == 0 and "Mira Holt" in out.stdout, out.stderr[-2000:]
        assert not RAW.search(out.stdout + out.stderr), repr(RAW.findall(out.stdout + out.stderr))
        assert "␛[2J" in out.stdout and "␛]8;;https://evil.example" in out.stdout  # shown, so the reader can see it
    js = qa("ask", "Who repainted the harbour beacon?", "--docs", str(docs), "--json", home=qa_home)
    assert not RAW.search(js.stdout)
    quote = __import__("json").loads(js.stdout)["citations"][0]["quote"]
    assert ESCAPES in quote  # scripts still get the exact text, as JSON escapes


# --- settings and arguments -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["ask", "Who?", "--threshold", "nan"], {}, "--threshold nan: input should be a finite number"),
        (["ask", "Who?", "--threshold", "inf"], {}, "--threshold inf: input should be a finite number"),
        (["ask", "Who?", "--threshold", "1.5"], {}, "--threshold 1.5: input should be less than or equal to 1"),
        (["ask", "Who?"], {"QA_LLM_TIMEOUT": "nan"}, "QA_LLM_TIMEOUT 'nan': input should be a finite number"),
        (["index", ""], {}, "the folder to index is empty; name a folder"),
        (["ask", "Who?", "--docs", ""], {}, "--docs is empty; name a folder"),
        (["serve", "--auth", ":"], {}, "--auth needs a user and a password, as --auth user:pass"),
        (["serve", "--auth", "ada:"], {}, "--auth needs a user and a password"),
    ],
)
def test_invalid_settings_and_arguments_are_one_line_errors(qa_home, monkeypatch, args, env, expected):
    """Issue 18.17 and "Also": --threshold nan turned refusals off; `qa index ""` indexed the current folder;
    --auth ':' locked everyone out."""
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    line = one_line_error(qa(*args, home=qa_home, timeout=60))
    assert expected in line


def test_numeric_settings_refuse_nan_and_infinity_in_python_too():
    from pydantic import ValidationError

    for bad in [{"abstain_threshold": float("nan")}, {"llm_timeout": float("inf")}, {"upload_max_mb": float("nan")}]:
        with pytest.raises(ValidationError, match="finite number"):
            Settings(**bad)


@pytest.mark.slow
def test_serving_on_a_port_in_use_is_one_line_naming_the_port(qa_home, kb_dir):
    """Issue 18.15: a 46-line traceback, after indexing; now one line, before it."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        t0 = time.monotonic()
        out = qa("serve", "--docs", str(kb_dir), "--port", str(port), home=qa_home, timeout=120)
    line = one_line_error(out)
    assert f"port {port} on 127.0.0.1 is in use" in line and f"--port {port + 1}" in line
    assert time.monotonic() - t0 < 30  # it fails before building the index


# --- damaged index files ---------------------------------------------------------------------------


def _flip(path: Path, start: int, count: int, seed: int) -> None:
    import random

    data, rnd = bytearray(path.read_bytes()), random.Random(seed)
    for _ in range(count):
        data[rnd.randrange(start, len(data))] ^= 0x5A
    path.write_bytes(bytes(data))


DAMAGE = {  # what the probe did to a built index, by file
    "empty chunk vectors": lambda gen: (gen / "chunk_vecs.npy").write_bytes(b""),
    "garbage in CURRENT": lambda gen: (gen.parent / "CURRENT").write_bytes(bytes(range(128, 168))),
    "flipped bytes in the SQLite store": lambda gen: _flip(gen / "store.sqlite", 4096, 200, 1),
    "flipped bytes in the sentence vectors": lambda gen: _flip(gen / "sent_vecs.npy", 128, 400, 2),
    "a truncated FAISS index": lambda gen: (gen / "dense.faiss").write_bytes((gen / "dense.faiss").read_bytes()[:99]),
    "a missing BM25 file": lambda gen: next((gen / "bm25").glob("*.npy")).unlink(),
}


@pytest.mark.slow
def test_damaged_index_files_are_one_line_and_plain_qa_index_repairs_them(qa_home, tmp_path, kb_dir):
    """Issue 18.3: an empty .npy printed "Aborted."; garbage in CURRENT a 53-line traceback even with --rebuild;
    flipped bytes in the store failed every question while `qa index` said "up to date"; flipped bytes in the
    sentence vectors gave a silent wrong answer with confidence 47.67."""
    good = tmp_path / "good"
    assert qa("index", str(kb_dir), "--index", str(good), home=qa_home).returncode == 0
    for name, damage in DAMAGE.items():
        index = tmp_path / "index"
        shutil.rmtree(index, ignore_errors=True)
        shutil.copytree(good, index)
        damage(index / (index / "CURRENT").read_text().strip())
        line = one_line_error(qa("ask", QUESTION, "--index", str(index), home=qa_home, timeout=120))
        assert "is damaged" in line and "qa index" in line, (name, line)
        if name == "garbage in CURRENT":  # this one used to survive even --rebuild
            assert qa("index", str(kb_dir), "--index", str(index), "--rebuild", home=qa_home).returncode == 0
            continue
        repaired = qa("index", str(kb_dir), "--index", str(index), home=qa_home)
        assert repaired.returncode == 0 and "is damaged" in repaired.stderr and "up to date" not in repaired.stdout
        out = qa("ask", QUESTION, "--index", str(index), home=qa_home)
        assert out.returncode == 0 and "Tomas Vik" in out.stdout, (name, out.stdout, out.stderr[-1500:])
        assert len([p for p in index.iterdir() if p.is_dir()]) == 1  # the damaged generation is gone


# --- the web chat ---------------------------------------------------------------------------------

PLUGINS = """# Plugin loader

The plugin loader calls __init__(self, *args, **kwargs) on every plugin class it imports.
Plugin manuals are found with the glob pattern **/*.md below the plugins folder.
"""
STALE_NAME = '<a href="https:evil.example" id="qa-evil">old harbour notes.md'  # a name Linux allows
STALE = "# Old harbour notes\n\nThe old harbour crane was dismantled by Sigrid Lund in 1987.\n"
RUN = uuid.uuid4().hex[:6]  # in upload names, so Gradio's temporary folder (shared by every app here) is searchable
CHINESE = {f"说明{RUN}.md": "Saltmarsh buoy A was built by Ingrid Nes.", f"笔记{RUN}.md": "Buoy B was built by Ola Berg.",
           f"手册{RUN}.md": "Buoy C was built by Kari Dahl."}  # fmt: skip
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 8  # an executable, renamed .md


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """`qa serve` over the test corpus plus documents with Markdown-like code and a name full of markup."""
    from qa.web import Library, serve

    tmp = tmp_path_factory.mktemp("hostile_web")
    docs = make_kb(tmp / "docs")
    (docs / "plugins.md").write_text(PLUGINS)
    (docs / STALE_NAME).write_text(STALE)
    settings = Settings(docs=docs, home=tmp / "home", port=free_port())
    lib = Library(settings)
    app = serve(settings, block=False, library=lib)
    yield SimpleNamespace(url=app.local_url.rstrip("/"), settings=settings, lib=lib, docs=docs)
    app.close()


@pytest.fixture
def page(site, browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    outside: list[str] = []
    pg.on("request", lambda r: None if r.url.startswith((site.url, "data:", "blob:")) else outside.append(r.url))
    pg.goto(site.url)
    pg.wait_for_selector("#qa-question textarea")
    yield pg
    context.close()
    assert outside == [], f"the page tried to reach {outside[:3]}"


def upload(page, *paths: Path) -> None:
    if not page.locator("#qa-upload").is_visible():
        page.get_by_text("Documents", exact=True).click()
    page.locator("#qa-upload input[type=file]").set_input_files([str(p) for p in paths])


def index_message(page, starts: str, timeout: float = 60_000) -> str:
    msg = page.locator("#qa-index-msg")
    page.wait_for_function(
        "s => (document.querySelector('#qa-index-msg')?.textContent || '').includes(s)", arg=starts, timeout=timeout
    )
    return msg.text_content()


def gradio_temp_copies(name: str) -> list[Path]:
    import gradio.utils

    return list(Path(gradio.utils.get_upload_folder()).rglob(name))


@pytest.mark.browser
@pytest.mark.slow
def test_the_chat_shows_quotes_exactly_as_the_document_writes_them(page):
    """Issue 18.7: the answer was rendered as Markdown: __init__, *args, **kwargs and **/*.md lost their marks."""
    ask(page, "What does the plugin loader call on every plugin class?")
    assert "__init__(self, *args, **kwargs)" in last_answer(page).text_content()
    ask(page, "Which glob pattern finds the plugin manuals?")
    assert "**/*.md" in last_answer(page).text_content()
    ask(page, "What does __init__(self, *args, **kwargs) do?")  # the question bubble too
    assert "__init__(self, *args, **kwargs)" in page.locator("#qa-chat [data-testid='user']").last.text_content()


@pytest.mark.browser
@pytest.mark.slow
def test_uploads_never_overwrite_and_keep_non_ascii_names_readable(page, site, tmp_path):
    """Issue 18.1: three uploads named in Chinese were all saved as document.md, each replacing the last, and an
    upload named like an existing document replaced it."""
    before = documents_indexed(page)
    original = (site.docs / "lighthouse.md").read_text()
    paths = []
    for name, text in CHINESE.items():
        (tmp_path / name).write_text(f"# {name[:-3]}\n\n{text}\n")
        paths.append(tmp_path / name)
    (tmp_path / "lighthouse.md").write_text("# Lighthouse\n\nA different text about another Lighthouse.\n")
    upload(page, *paths, tmp_path / "lighthouse.md")
    msg = index_message(page, "Added")
    assert "lighthouse.md as lighthouse (2).md (that name was taken)" in msg
    for name, text in CHINESE.items():
        assert name in msg and text in (site.docs / name).read_text()
    assert (site.docs / "lighthouse.md").read_text() == original
    assert "another Lighthouse" in (site.docs / "lighthouse (2).md").read_text()
    assert documents_indexed(page) == before + 4
    assert [p for name in CHINESE for p in gradio_temp_copies(name)] == []  # "Also": no copy left behind
    ask(page, "Who built buoy B?")
    assert "Ola Berg" in last_answer(page).text_content()
    assert f"笔记{RUN}.md" in page.locator("#qa-t1-c1").text_content()
    upload(page, tmp_path / "lighthouse.md")  # the same file again is not a third copy
    page.get_by_text("is already in the documents folder as lighthouse (2).md").first.wait_for()
    assert not (site.docs / "lighthouse (3).md").exists()


@pytest.mark.browser
@pytest.mark.slow
def test_a_refused_upload_is_reported_to_the_uploader_and_not_kept(page, site, tmp_path):
    """Issue 18.11: an .exe renamed .md was reported "Added", never indexed, and stayed in the folder."""
    tool = tmp_path / f"tool{RUN}.md"
    tool.write_bytes(ELF)
    upload(page, tool)
    page.get_by_text(f"refused {tool.name}: binary content, not text; nothing was saved").first.wait_for()
    assert "No document added" in index_message(page, "No document added")
    assert not (site.docs / tool.name).exists()
    assert gradio_temp_copies(tool.name) == []


@pytest.mark.browser
@pytest.mark.slow
def test_markup_in_a_file_name_is_shown_as_text_in_messages(page, site):
    """Issue 18.10: a file name put a live link into an error toast. Here a document whose name holds a link is
    removed from the folder after it was cited; opening it from its card gives an error naming it."""
    ask(page, "Who dismantled the old harbour crane?")
    card = page.locator("#qa-t1-c1")
    assert "Sigrid Lund" in card.text_content() and STALE_NAME in card.text_content()
    (site.docs / STALE_NAME).unlink()
    site.lib.update()
    card.get_by_text("view document").click()
    toast = page.locator("[data-testid='toast-body']", has_text="is not in the index any more")
    toast.first.wait_for()
    assert STALE_NAME in toast.first.text_content()  # the name, as text
    assert page.locator("#qa-evil, [data-testid='toast-body'] a").count() == 0  # no link was made of it


@pytest.mark.browser
@pytest.mark.slow
def test_an_upload_during_a_rebuild_is_indexed_when_the_rebuild_ends(page, site, tmp_path):
    """Issue 18.12: an upload during a rebuild was saved, told "try again", and indexed only by a later update."""
    started, release = threading.Event(), threading.Event()

    def paused(stage: str, advance: int, total: int) -> None:  # a real rebuild, held at its first step
        started.set()
        release.wait(60)

    rebuild = threading.Thread(target=site.lib.update, kwargs={"rebuild": True, "progress": paused})
    rebuild.start()
    try:
        assert started.wait(60)
        new = tmp_path / "tern colony.md"
        new.write_text("# Tern colony\n\nThe tern colony on Lamb Skerry was counted by Oddny Rise in 2021.\n")
        upload(page, new)
        said = index_message(page, "they are indexed as soon as that ends", timeout=30_000)
        assert said.strip().startswith("Added tern colony.md. The index is being updated right now")
        assert (site.docs / "tern colony.md").exists()  # saved at once; indexed after the rebuild
    finally:
        release.set()
        rebuild.join(120)
    msg = index_message(page, "1 added")
    assert msg.strip().startswith("Added tern colony.md. Index updated")
    ask(page, "Who counted the tern colony?")
    assert "Oddny Rise" in last_answer(page).text_content()


@pytest.mark.browser
@pytest.mark.slow
def test_a_question_with_lone_surrogates_is_answered_in_the_chat(page):
    """Issue 18.9 on the web: the page sent "\\ud800" in JSON and the chat said "unexpected error"."""
    page.evaluate(
        """q => { const t = document.querySelector('#qa-question textarea');
                  t.value = q + String.fromCharCode(0xd800); t.dispatchEvent(new Event('input', {bubbles: true})); }""",
        QUESTION,
    )
    n = page.locator("#qa-chat [data-testid='bot']").count() + 1
    page.press("#qa-question textarea", "Enter")
    page.wait_for_function(
        "n => (document.querySelector('#qa-sources .qa-panel-title')?.textContent || '').startsWith(`Q${n}:`)", arg=n
    )
    assert "Tomas Vik" in last_answer(page).text_content()
    assert page.get_by_text("unexpected error").count() == 0


def call_ask(url: str, *data: object) -> tuple[str, object]:
    """POST /ask through Gradio's REST API as any HTTP client would (gradio_client cannot even send a lone
    surrogate): ("complete", the answer) or ("error", the message)."""
    import json

    import httpx

    body = json.dumps({"data": list(data)})  # ensure_ascii: "\\ud800" goes as the escape a browser sends
    r = httpx.post(f"{url}/gradio_api/call/ask", content=body, headers={"Content-Type": "application/json"})
    event_id = r.json()["event_id"]
    with httpx.stream("GET", f"{url}/gradio_api/call/ask/{event_id}", timeout=60) as events:
        kind = ""
        for line in events.iter_lines():
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:") and kind in ("complete", "error"):
                payload = json.loads(line[5:])
                return kind, payload[0] if kind == "complete" else payload
    raise AssertionError("no result from /ask")


@pytest.mark.slow
def test_the_ask_endpoint_checks_history_and_cleans_questions(site):
    """Issue 18.18 and 18.9 through the API: /ask with history [None] was an AttributeError ("unexpected error"),
    and a question holding a lone surrogate was one too."""
    kind, msg = call_ask(site.url, "And how does it compress readings?", [None])
    assert kind == "error" and "history[0] is NoneType, not a string" in str(msg), msg
    kind, msg = call_ask(site.url, "And how does it compress readings?", "Who designed Driftwood?")
    assert kind == "error" and "history must be a list" in str(msg), msg
    kind, a = call_ask(site.url, f"{QUESTION}\ud800", [])
    assert kind == "complete" and "Tomas Vik" in a["text"], a  # type: ignore[index]


@pytest.mark.slow
def test_trickling_llm_calls_cannot_starve_the_ask_endpoint(site):
    """Issue 18.2 on the web: four trickling LLM calls held every /ask slot and healthy questions got no answer.
    Now each ends at QA_LLM_TIMEOUT with the extractive answer, so six questions at once all get answered."""
    from gradio_client import Client

    from qa.web import serve

    with LLMServer("trickle") as llm:
        settings = site.settings.model_copy(
            update={"port": free_port(), "generator": f"openai:{llm.url}", "llm_timeout": 2.0}
        )
        app = serve(settings, block=False)
        try:
            url = app.local_url.rstrip("/")

            def one(_: int) -> dict:
                return Client(url, analytics_enabled=False, verbose=False).predict(QUESTION, [], api_name="/ask")

            t0 = time.monotonic()
            with concurrent.futures.ThreadPoolExecutor(6) as pool:
                answers = list(pool.map(one, range(6), timeout=60))
            took = time.monotonic() - t0
        finally:
            app.close()
    assert all("Tomas Vik" in a["text"] for a in answers)
    assert all(any("within 2 s" in n for n in a["notes"]) for a in answers)
    assert took < 25, f"six questions took {took:.1f} s"  # two rounds of four slots, 2 s each, plus overhead


@pytest.mark.slow
def test_repeated_failed_logins_are_locked_out(site):
    """Issue 18.16: 100 wrong passwords in under a second; now the 6th failure in a row locks logins (1 s,
    doubling), so guessing is slow, and the right password works again once the lock ends."""
    import httpx

    from qa.web import serve

    settings = site.settings.model_copy(update={"port": free_port()})
    app = serve(settings, auth=("ada", "s3cret harbour"), block=False)
    try:
        url = app.local_url.rstrip("/")

        def login(password: str) -> int:
            return httpx.post(f"{url}/login", data={"username": "ada", "password": password}, timeout=10).status_code

        assert [login(f"guess{i}") for i in range(6)] == [400] * 6
        assert login("s3cret harbour") == 400  # locked: not even checked
        t0 = time.monotonic()
        assert [login(f"guess{i}") for i in range(100)] == [400] * 100
        gate = app.auth  # the Login gradio calls
        assert gate.failures <= 6 + (time.monotonic() - t0) + 1, "most of the 100 were refused unchecked"
        time.sleep(max(0.0, gate.locked_until - time.monotonic()) + 0.05)
        assert login("s3cret harbour") == 200
        assert [login(f"again{i}") for i in range(5)] == [400] * 5  # a success starts the count again
        assert login("s3cret harbour") == 200
    finally:
        app.close()
    from qa.web.login import Login

    clock = [0.0]
    gate = Login("ada", "pw", clock=lambda: clock[0])
    for _ in range(6):
        gate("ada", "wrong")
    assert gate.locked_until == 1.0 and not gate("ada", "pw")
    clock[0] = 1.01
    assert gate("ada", "pw") and gate.failures == 0


def test_upload_names_keep_every_script_and_drop_markup():
    from qa.web.uploads import safe_stem

    assert safe_stem("说明") == "说明" and safe_stem("Ångström notes") == "Ångström notes"
    assert safe_stem("हिन्दी") == "हिन्दी"  # combining marks stay
    assert safe_stem("a\u202egpj.exe") == "a_gpj.exe"  # a right-to-left override is not a letter
    assert safe_stem("<img src=x onerror=1>") == "img src_x onerror_1"
    assert len(safe_stem("长" * 300).encode()) <= 200
    assert safe_stem("...") == "document"


def test_an_upload_is_never_written_over_another_document(tmp_path):
    from qa.web import save_upload

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "notes.md").write_text("# Notes\n\nThe first notes.\n")
    src = tmp_path / "incoming"
    src.write_text("# Notes\n\nOther notes.\n")
    assert save_upload(src, "notes.md", folder, max_mb=1).name == "notes (2).md"
    assert (folder / "notes.md").read_text() == "# Notes\n\nThe first notes.\n"
    with pytest.raises(InputError, match=r"already in the documents folder as notes \(2\)\.md"):
        save_upload(src, "notes.md", folder, max_mb=1)
    shutil.copy(src, tmp_path / "empty.md")
    (tmp_path / "empty.md").write_text("   \n")
    with pytest.raises(InputError, match="refused empty.md: (empty file|no text found); nothing was saved"):
        save_upload(tmp_path / "empty.md", "empty.md", folder, max_mb=1)
    assert sorted(p.name for p in folder.iterdir()) == ["notes (2).md", "notes.md"]
