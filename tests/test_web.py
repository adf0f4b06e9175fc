"""The web chat, driven like a person would: the real app, the real index, headless Chromium (see WEBTEST.md).

One app serves the whole module over a copy of the test corpus plus a document full of hostile markup;
each test opens its own page (a fresh Gradio session). The last tests need no browser: upload safety rules.
"""

import json
import os
import re
from pathlib import Path

import pytest
from conftest import free_port, make_kb

SCRIPT = "<script>window.__pwned=1</script>"
IMG = '<img src=x onerror="window.__pwned=2">'
# a document whose name, heading and text all carry markup (a file name may hold < > and quotes on Linux)
HOSTILE_NAME = 'beacon <img src=y onerror="window.__pwned=4">.md'
HOSTILE = f"""# Harbour beacon <img src=z onerror="window.__pwned=5">

The harbour beacon {SCRIPT} was repainted red by Mira Holt in 2022.
Its lamp {IMG} is visible from twelve nautical miles away.
Template text {{{{value}}}} and ${{window.__pwned=3}} must stay text too.
"""
UPLOADED = """# Saltmarsh buoy

The Saltmarsh buoy was designed by Ingrid Nes to measure wave height offshore.
It reports every five minutes over a satellite link.
"""


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    """`qa serve` over a copy of the test corpus (plus the hostile beacon document), on a free local port."""
    from qa.settings import Settings
    from qa.web import serve

    tmp = tmp_path_factory.mktemp("web")
    docs = make_kb(tmp / "docs")
    (docs / HOSTILE_NAME).write_text(HOSTILE)
    settings = Settings(docs=docs, home=tmp / "home", port=free_port())
    app = serve(settings, block=False)
    yield app.local_url.rstrip("/"), settings
    app.close()


@pytest.fixture
def page(web, browser):
    """A fresh session on the app; fails the test if the page reaches anything but the app itself."""
    url, _ = web
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    outside: list[str] = []
    pg.on("request", lambda r: None if r.url.startswith((url, "data:", "blob:")) else outside.append(r.url))
    pg.goto(url)
    pg.wait_for_selector("#qa-question textarea")
    yield pg
    context.close()
    assert outside == [], f"the page tried to reach {outside[:3]}"


def ask(page, question: str) -> None:
    """Type a question, press Enter, wait until its answer is complete (its sources are shown)."""
    n = page.locator("#qa-chat [data-testid='bot']").count() + 1
    page.fill("#qa-question textarea", question)
    page.press("#qa-question textarea", "Enter")
    page.wait_for_function(  # the sources panel is filled with the final Answer, after the last streamed word
        "n => (document.querySelector('#qa-sources .qa-panel-title')?.textContent || '').startsWith(`Q${n}:`)",
        arg=n,
        timeout=30_000,
    )


def documents_indexed(page) -> int:
    return int(re.search(r"(\d+) documents", page.locator("#qa-status").text_content()).group(1))


def last_answer(page):
    return page.locator("#qa-chat [data-testid='bot']").last


# --- in the browser --------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.slow
def test_first_visit_shows_the_index_status_and_example_questions_to_click(page):
    status = page.locator("#qa-status").text_content()
    assert documents_indexed(page) >= 5  # the test corpus and the beacon (more once a test has uploaded one)
    assert "chunks" in status and "all-MiniLM-L6-v2" in status and "built" in status
    example = page.get_by_text("What is Driftwood?")
    example.click()
    page.wait_for_selector("#qa-sources .qa-card")
    assert "Driftwood" in last_answer(page).text_content()


@pytest.mark.browser
@pytest.mark.slow
def test_an_answer_streams_in_with_a_marker_linked_to_its_cited_source(page):
    ask(page, "Who wrote the first version of Lighthouse?")
    bot = last_answer(page)
    assert "Ada Park" in bot.text_content()
    marker = bot.locator("a.qa-cite").first
    assert marker.text_content() == "[1]"
    assert "Ada Park wrote the first version" in marker.get_attribute("title")  # hover shows the quote
    card = page.locator("#qa-t1-c1")
    assert "lighthouse.md" in card.text_content()
    assert "Lighthouse › Origins" in card.text_content()
    assert card.locator("mark").text_content().startswith("Ada Park wrote the first version of Lighthouse")


@pytest.mark.browser
@pytest.mark.slow
def test_clicking_a_citation_highlights_the_quote_and_opens_the_document_there(page):
    ask(page, "How often does a gauge send a reading?")
    last_answer(page).locator("a.qa-cite").first.click()
    card = page.locator("#qa-t1-c1")
    assert "qa-active" in card.get_attribute("class")
    assert "90 seconds" in card.locator("mark").text_content()
    card.get_by_text("view document").click()
    mark = page.locator("#qa-document #qa-doc-mark")
    mark.wait_for()
    assert "90 seconds" in mark.text_content()
    assert "## Origins" in page.locator("#qa-document .qa-doc-body").text_content()  # the whole document
    page.wait_for_function("() => { const r = document.querySelector('#qa-doc-mark').getBoundingClientRect(); "
                           "return r.top >= 0 && r.bottom <= window.innerHeight; }")  # fmt: skip


@pytest.mark.browser
@pytest.mark.slow
def test_a_follow_up_question_is_read_against_the_previous_one(page):
    ask(page, "Who designed the Driftwood database?")
    assert "Tomas Vik" in last_answer(page).text_content()
    ask(page, "And how does it compress readings?")
    bot = last_answer(page)
    assert "delta encoding" in bot.text_content()
    assert "read as: How does Driftwood compress readings?" in bot.locator(".qa-note").text_content()
    folded = page.locator("#qa-sources details summary", has_text="Q1: Who designed")  # earlier evidence, folded
    assert folded.count() == 1


@pytest.mark.browser
@pytest.mark.slow
def test_an_unanswerable_question_abstains_visibly_and_shows_the_closest_passages(page):
    ask(page, "What is the best recipe for chocolate cake?")
    bot = last_answer(page)
    assert bot.locator(".qa-abstain").count() == 1
    assert "The documents don't say" in bot.text_content()
    assert bot.locator("a.qa-cite").count() == 0  # nothing cited, nothing guessed
    assert "don't say" in page.locator("#qa-sources .qa-abstain-banner").text_content()
    assert page.locator("#qa-sources .qa-card").count() >= 1


@pytest.mark.browser
@pytest.mark.slow
def test_an_empty_question_gets_one_readable_message(page):
    page.press("#qa-question textarea", "Enter")
    page.get_by_text("The question is empty").first.wait_for()
    assert page.locator("#qa-chat [data-testid='bot']").count() == 0
    assert "Traceback" not in page.content()


@pytest.mark.browser
@pytest.mark.slow
def test_per_session_settings_show_scores_and_change_the_number_of_passages(page):
    page.get_by_text("Settings (this session)").click()
    page.get_by_label("Show retrieval scores").check()
    ask(page, "Who designed the Driftwood database?")
    assert "confidence" in last_answer(page).locator(".qa-meta").text_content()
    assert page.locator("#qa-sources .qa-score").count() >= 1


@pytest.mark.browser
@pytest.mark.slow
def test_feedback_on_an_answer_is_saved_for_the_eval_set(page, web):
    _, settings = web
    ask(page, "When did Lighthouse 1.0 ship?")
    page.locator("#qa-wrong").click()
    page.get_by_text("marked as wrong").first.wait_for()
    record = json.loads(settings.feedback_path().read_text().splitlines()[-1])
    assert record["rating"] == "wrong"
    assert record["question"] == "When did Lighthouse 1.0 ship?"
    assert "January 2021" in record["answer"] and record["abstained"] is False
    assert record["citations"][0]["source"] == "release-notes.html"
    assert {"source", "section", "start", "end", "quote"} == set(record["citations"][0])
    assert record["time"].endswith("+00:00")
    page.locator("#qa-chat button[aria-label='Like']").last.click()  # each message's thumbs work the same way
    page.get_by_text("feedback saved").first.wait_for()
    assert json.loads(settings.feedback_path().read_text().splitlines()[-1])["rating"] == "helpful"


@pytest.mark.browser
@pytest.mark.slow
def test_hostile_markup_in_documents_and_questions_is_shown_as_text_never_run(page):
    ask(page, "Who repainted the harbour beacon?")
    assert SCRIPT in last_answer(page).text_content()  # the quote, markup and all, as text
    card = page.locator("#qa-t1-c1")
    assert card.locator("mark").text_content().startswith(f"The harbour beacon {SCRIPT}")
    assert IMG in card.text_content()  # the next sentence, outside the marked span
    assert HOSTILE_NAME in card.text_content() and 'onerror="window.__pwned=5"' in card.text_content()
    card.get_by_text("view document").click()
    page.locator("#qa-doc-mark").wait_for()
    document = page.locator("#qa-document").text_content()
    assert HOSTILE_NAME in document and IMG in document
    assert "{{value}}" in document and "${window.__pwned=3}" in document  # no template evaluation either
    question = f"Where is the lamp {IMG} visible from? {SCRIPT}"
    ask(page, question)
    assert question in page.locator("#qa-chat [data-testid='user']").last.text_content()
    assert question in page.locator("#qa-sources .qa-panel-title").first.text_content()
    page.get_by_text("documents in the index").click()  # the file list shows the name as text too
    page.wait_for_timeout(300)  # give any injected handler the chance to fire
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("#qa-status img, #qa-sources img, #qa-document img, #qa-chat .message-content img").count() == 0


@pytest.mark.browser
@pytest.mark.slow
def test_an_uploaded_document_is_indexed_and_answers_questions(page, web, tmp_path):
    _, settings = web
    new = tmp_path / "saltmarsh buoy.md"
    new.write_text(UPLOADED)
    before = documents_indexed(page)
    page.get_by_text("Documents", exact=True).click()
    page.locator("#qa-upload input[type=file]").set_input_files(str(new))
    page.get_by_text("Added saltmarsh buoy.md").wait_for(timeout=60_000)
    assert documents_indexed(page) == before + 1
    assert (Path(settings.docs) / "saltmarsh buoy.md").read_text() == UPLOADED
    ask(page, "Who designed the Saltmarsh buoy?")
    assert "Ingrid Nes" in last_answer(page).text_content()
    assert "saltmarsh buoy.md" in page.locator("#qa-t1-c1").text_content()


@pytest.mark.browser
@pytest.mark.slow
def test_rebuild_button_reindexes_everything(page, web):
    from qa.pipeline import open_index

    _, settings = web
    current = settings.index_dir_for(settings.docs) / "CURRENT"
    generation = current.read_text()
    page.get_by_text("Documents", exact=True).click()
    page.locator("#qa-rebuild").click()
    page.get_by_text("Index rebuilt").wait_for(timeout=60_000)
    rebuilt = open_index(settings=settings)
    assert current.read_text() != generation  # a new generation, built from scratch, is live
    assert f"Index rebuilt: {rebuilt.n_documents} documents" in page.get_by_text("Index rebuilt").text_content()
    assert documents_indexed(page) == rebuilt.n_documents


# --- through the API -------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.slow
def test_the_ask_endpoint_answers_gradio_client_with_citations(web):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    url, _ = web
    client = Client(url, analytics_enabled=False, verbose=False)
    a = client.predict("Who designed the Driftwood database?", api_name="/ask")
    assert "Tomas Vik" in a["text"] and a["abstained"] is False
    assert a["citations"][0]["source"] == "driftwood.txt"
    assert "Tomas Vik" in a["citations"][0]["quote"]
    history = ["Who designed the Driftwood database?"]
    follow = client.predict("And how does it compress readings?", history, api_name="/ask")
    assert "delta encoding" in follow["text"]
    with pytest.raises(AppError, match="question is empty"):
        client.predict("   ", api_name="/ask")


# --- upload rules (no browser) ---------------------------------------------------------------------


@pytest.fixture
def upload(tmp_path):
    src = tmp_path / "incoming"
    src.write_text("# Notes\n\nSome notes.\n")
    folder = tmp_path / "docs"
    folder.mkdir()
    return src, folder


@pytest.mark.parametrize(
    "name", ["../escape.md", "/etc/passwd.md", "..\\x.md", ".hidden.md", "a/../../b.md", "run.sh", "x.md.exe", ""]
)
def test_upload_refuses_names_that_could_escape_or_are_not_documents(upload, name):
    from qa.errors import InputError
    from qa.web import save_upload

    src, folder = upload
    with pytest.raises(InputError, match="refused"):
        save_upload(src, name, folder, max_mb=1)
    assert list(folder.iterdir()) == []


def test_upload_cleans_odd_names_and_stays_in_the_folder(upload):
    from qa.web import save_upload

    src, folder = upload
    saved = save_upload(src, "weird <name>;$(rm).MD", folder, max_mb=1)
    assert saved.parent == folder.resolve() and saved.name == "weird _name_rm.md"


def test_upload_refuses_oversized_files_and_symlinked_targets(upload, tmp_path):
    from qa.errors import InputError
    from qa.web import save_upload

    src, folder = upload
    with pytest.raises(InputError, match="over the"):
        save_upload(src, "big.md", folder, max_mb=0.00001)
    outside = tmp_path / "outside.md"
    outside.write_text("keep me")
    os.symlink(outside, folder / "link.md")
    with pytest.raises(InputError, match="not a plain file"):
        save_upload(src, "link.md", folder, max_mb=1)
    assert outside.read_text() == "keep me"


def test_source_cards_escape_document_text_and_mark_only_the_cited_span():
    from qa.types import Chunk
    from qa.web import passage_html

    chunk = Chunk("id", "a.md", "A", "A", 100, 140, f"x {SCRIPT} quoted part {IMG} end")
    start = 100 + chunk.text.index("quoted")
    out = passage_html(chunk, (start, start + len("quoted part")))
    assert "<script>" not in out and "<img" not in out
    assert "&lt;script&gt;" in out and "<mark>quoted part</mark>" in out


# --- starting without an index ---------------------------------------------------------------------


def test_an_empty_documents_folder_still_serves_and_says_how_to_add_documents(tmp_path):
    from qa.errors import IndexMissingError
    from qa.settings import Settings
    from qa.web import Library, status_html

    (tmp_path / "docs").mkdir()
    lib = Library(Settings(docs=tmp_path / "docs", home=tmp_path / "home"))
    assert lib.index is None and "no documents" in lib.problem
    assert "no index yet" in status_html(lib.index, lib.problem)
    with pytest.raises(IndexMissingError, match="add documents"):
        lib.current()


def test_a_missing_documents_folder_without_an_index_is_one_clear_error(tmp_path):
    from qa.errors import IndexMissingError
    from qa.settings import Settings
    from qa.web import Library

    with pytest.raises(IndexMissingError, match="no folder"):
        Library(Settings(docs=tmp_path / "nope", home=tmp_path / "home"))
