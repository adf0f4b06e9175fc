"""The web chat (`qa serve`): a Gradio shell over the Python API; everything here is presentation.

Answers stream into a chat whose [n] markers lead to source cards (file, section path, the passage with the
quoted span marked); a card opens the whole document scrolled to the span. Document text and questions are
untrusted: every piece of them is html.escape()d and only this module's own tags are added (gr.HTML does not
sanitize). Gradio is imported inside the functions, after Settings has set the offline environment defaults.
"""

import errno
import logging
import math
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from qa import checks
from qa.errors import InputError, QAError
from qa.pipeline import answer, stream_answer, threshold_for
from qa.present import answer_dict
from qa.settings import Settings, apply_environment
from qa.stores import Reader as Index
from qa.stores import redacted
from qa.types import Answer
from qa.web.library import Library
from qa.web.login import MESSAGE as LOGIN_MESSAGE
from qa.web.login import Login
from qa.web.render import (
    CSS,
    DOC_JS,
    JS,
    SOURCES_JS,
    STREAM_EVERY_S,
    chat_message,
    document_html,
    esc,
    examples_for,
    sources_html,
    status_html,
)
from qa.web.uploads import UPLOAD_TYPES, discard_upload, save_upload

log = logging.getLogger("qa")

WATCH_STATUS_S = 2.0  # qa serve --watch: how often each open page asks for the index's counts (a no-op when unchanged)


# --- the app ------------------------------------------------------------------------------------


def build_app(settings: Settings, library: Library | None = None, *, live_status_s: float | None = None):  # noqa: ANN201
    """The chat UI and the `/ask` API over settings.docs (indexed or updated first unless a Library is given).

    With live_status_s the status line polls the library that often and shows new counts without a reload
    (qa serve --watch)."""
    apply_environment(settings)  # before gradio is imported: no analytics, no version check
    import gradio as gr

    lib = library or Library(settings)
    first = lib.index
    shown = round(threshold_for(settings, first), 2)  # the slider starts at the threshold calibrated for the corpus
    gens = ["extractive"] + ([settings.generator] if settings.generator != "extractive" else [])

    def fail(e: Exception, *, page: bool = True) -> gr.Error:
        """One message for the page (toasts render HTML, so it is escaped: a file name is shown, never run) or,
        with page=False, plain text for an API client."""
        if isinstance(e, QAError):
            msg = str(e)
        else:
            log.exception("web request failed")
            msg = f"unexpected error ({type(e).__name__}); details are in the server log"
        return gr.Error(esc(msg) if page else msg, print_exception=False)

    def warn(msg: str) -> None:
        gr.Warning(esc(msg))

    def number(value: object, default: float, lo: float, hi: float) -> float:
        try:
            x = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return default
        return min(max(x, lo), hi) if math.isfinite(x) else default

    def per_session(top_k: float, threshold: float, generator: str) -> Settings:
        # model_copy does not validate: a slider value sent by hand (nan, "x") falls back to the server's setting
        gen = generator if generator in gens else "extractive"
        k = int(number(top_k, settings.top_k, 1, 50))
        t = number(threshold, shown, 0, 1)
        chosen = None if round(t, 2) == shown else t  # untouched: the index's own
        return settings.model_copy(update={"top_k": k, "abstain_threshold": chosen, "generator": gen})

    def respond(
        question: str, chat: list, turns: list[Answer], top_k: float, threshold: float, show: bool, generator: str
    ) -> Iterator[tuple]:
        chat, turns = list(chat or []), list(turns or [])
        try:  # invalid UTF-8 or a lone surrogate from the page becomes U+FFFD, not an unexpected error
            question = checks.text("" if question is None else question)
        except InputError as e:
            warn(str(e))
            yield chat, "", turns, gr.skip(), gr.skip()
            return
        if not question.strip():
            warn("The question is empty: type a question, then press Enter.")
            yield chat, question, turns, gr.skip(), gr.skip()
            return
        n = len(turns) + 1
        asked = f'<div class="qa-q">{esc(" ".join(question.split()))}</div>'
        chat += [{"role": "user", "content": asked}, {"role": "assistant", "content": ""}]
        yield chat, "", turns, gr.skip(), gr.skip()
        text, final = "", None
        try:
            session = per_session(top_k, threshold, generator)
            history = [t.question for t in turns]
            stream = stream_answer(question, index=lib.current(), settings=session, history=history)
            last = 0.0
            for item in stream:
                if isinstance(item, Answer):
                    final = item
                else:
                    text += item
                    if time.monotonic() - last >= STREAM_EVERY_S:
                        last = time.monotonic()
                        chat[-1] = {"role": "assistant", "content": chat_message(None, text, n)}
                        yield chat, "", turns, gr.skip(), gr.skip()
        except Exception as e:  # noqa: BLE001 (every failure becomes one message in the UI)
            gr.Warning(fail(e).message)
            yield chat[:-2], question, turns, gr.skip(), gr.skip()
            return
        assert final is not None
        turns.append(final)
        chat[-1] = {"role": "assistant", "content": chat_message(final, final.text, n, show_scores=show)}
        yield chat, "", turns, sources_html(turns, show_scores=show), ""

    def open_document(evt: gr.EventData) -> str:
        try:
            return document_html(lib.current(), str(evt.source), int(evt.start), int(evt.end))
        except (AttributeError, TypeError, ValueError):
            raise gr.Error("could not open that document", print_exception=False) from None
        except Exception as e:  # noqa: BLE001
            raise fail(e) from None

    def pick_example(evt: gr.SelectData) -> str:
        return str(evt.value.get("text", "")) if isinstance(evt.value, dict) else str(evt.value)

    def close_document() -> str:
        return ""

    def rate(turns: list[Answer], rating: str) -> None:
        if not turns:
            warn("Ask a question first; feedback rates the latest answer.")
            return
        lib.feedback(turns[-1], rating)
        gr.Info(esc(f"Thanks: marked as {rating}, saved to {lib.settings.feedback_path().name}."))

    def like(turns: list[Answer], data: gr.LikeData) -> None:
        i = data.index if isinstance(data.index, int) else data.index[0]
        if 0 <= i // 2 < len(turns) and data.liked in (True, False):
            lib.feedback(turns[i // 2], "helpful" if data.liked else "wrong")
            gr.Info("Thanks: feedback saved.")

    def reindex(rebuild: bool, progress: gr.Progress, *, wait: bool = False) -> tuple[str, str]:
        def tick(stage: str, advance: int, total: int) -> None:
            done[stage] = done.get(stage, 0) + advance
            label = {"read": "reading files", "embed": "embedding"}.get(stage, stage)
            progress((min(done[stage], total), max(total, 1)), desc=label)

        done: dict[str, int] = {}
        idx = lib.update(rebuild=rebuild, progress=tick, wait=wait)
        r = idx.build_report
        what = "rebuilt" if rebuild else "updated"
        if r is not None and not rebuild:
            changes = f"{len(r.added)} added, {len(r.changed)} changed, {len(r.deleted)} removed"
            what = "already up to date" if r.up_to_date else f"updated: {changes}"
        return status_html(idx), esc(f"Index {what}: {idx.n_documents} documents, {idx.n_chunks} chunks.")

    def add_documents(files: list[str] | None, progress: gr.Progress = gr.Progress()) -> Iterator[tuple]:  # noqa: B008
        saved, refused = [], []
        folder = Path(settings.docs).expanduser()
        for f in files or []:
            name = Path(f).name  # Gradio keeps the uploaded file's own name as the last part of its temporary path
            try:
                path = save_upload(f, name, folder, max_mb=settings.upload_max_mb)
                saved.append(path.name if path.name == name else f"{name} as {path.name} (that name was taken)")
            except (QAError, OSError) as e:
                refused.append(str(e) if isinstance(e, QAError) else f"refused {name}: {e.strerror or e}")
            finally:
                discard_upload(f)  # saved or refused, Gradio's temporary copy goes
        for r in refused:
            warn(r)
        if not saved:
            yield gr.skip(), esc(f"No document added: {'; '.join(refused)}" if refused else "No document added."), None
            return
        added = esc(f"Added {', '.join(saved)}.")
        if lib.busy():  # a rebuild is running: say so, wait for it, then index the new files (saved means indexed)
            yield (
                gr.skip(),
                f"{added} The index is being updated right now; they are indexed as soon as that ends.",
                None,
            )
        try:
            status, msg = reindex(False, progress, wait=True)
        except Exception as e:  # noqa: BLE001
            note = esc(f"{e}" if isinstance(e, QAError) else f"unexpected error ({type(e).__name__})")
            yield gr.skip(), f"{added} They are saved but not indexed yet ({note}); press Rebuild index.", None
            return
        yield status, f"{added} {msg}", None

    def rebuild(progress: gr.Progress = gr.Progress()) -> tuple[str, str]:  # noqa: B008
        try:
            return reindex(True, progress)
        except Exception as e:  # noqa: BLE001
            raise fail(e) from None

    def ask(question: str, history: list[str] | None = None) -> dict[str, Any]:
        """Answer a question from the documents: the answer text, citations (source, section, offsets, quote),
        passages and timings, as `qa ask --json` prints them. `history` holds earlier questions for follow-ups."""
        try:
            return answer_dict(
                answer(question, index=lib.current(), settings=settings, history=checks.history(history))
            )
        except Exception as e:  # noqa: BLE001
            raise fail(e, page=False) from None

    with gr.Blocks(title="qa: ask your documents", analytics_enabled=False) as app:
        turns = gr.State([])
        with gr.Row(equal_height=True):
            gr.Markdown("### qa · ask your documents")
            # a function: each page load shows the index as it is now (uploads, rebuilds, --watch), not at start
            status = gr.HTML(lambda: status_html(lib.index, lib.problem), elem_id="qa-status")
        with gr.Row():
            with gr.Column(scale=3):
                chat = gr.Chatbot(
                    elem_id="qa-chat",
                    height=520,
                    show_label=False,
                    latex_delimiters=[],
                    render_markdown=False,  # our escaped HTML, shown as is: __init__ and *args stay what they are
                    buttons=["copy", "copy_all"],
                    examples=[{"text": q} for q in examples_for(first)] or None,
                    placeholder="Ask a question about the documents. Answers quote them, with [n] links to sources.",
                )
                with gr.Row():
                    box = gr.Textbox(
                        placeholder="Ask a question and press Enter", show_label=False, scale=8, elem_id="qa-question"
                    )
                    send = gr.Button("Ask", variant="primary", scale=1, elem_id="qa-ask")
                with gr.Row():
                    good = gr.Button("✓ Helpful", size="sm", elem_id="qa-helpful")
                    bad = gr.Button("✗ Wrong", size="sm", elem_id="qa-wrong")
                    clear = gr.Button("Clear chat", size="sm", elem_id="qa-clear")
                with gr.Accordion("Settings (this session)", open=False):
                    top_k = gr.Slider(1, 20, value=settings.top_k, step=1, label="Passages retrieved (top_k)")
                    threshold = gr.Slider(0, 1, value=shown, step=0.01, label="Abstain below confidence")
                    show = gr.Checkbox(False, label="Show retrieval scores")
                    generator = gr.Dropdown(
                        gens, value=settings.generator, label="Answer generator", visible=len(gens) > 1
                    )
                with gr.Accordion("Documents", open=False):
                    upload = gr.File(
                        label=f"Add documents ({', '.join(UPLOAD_TYPES)}; up to {settings.upload_max_mb:g} MB each)",
                        file_count="multiple",
                        file_types=list(UPLOAD_TYPES),
                        elem_id="qa-upload",
                    )
                    rebuild_btn = gr.Button("Rebuild index", size="sm", elem_id="qa-rebuild")
                    index_msg = gr.HTML(elem_id="qa-index-msg")
            with gr.Column(scale=2):
                sources = gr.HTML(
                    sources_html([]), js_on_load=SOURCES_JS, elem_id="qa-sources", max_height=620, padding=True
                )
                document = gr.HTML("", js_on_load=DOC_JS, elem_id="qa-document", max_height=520, padding=True)

        inputs = [box, chat, turns, top_k, threshold, show, generator]
        outputs = [chat, box, turns, sources, document]
        for trigger in (box.submit, send.click):
            trigger(respond, inputs, outputs, api_visibility="private", concurrency_limit=4, show_progress="minimal")
        chat.example_select(pick_example, None, box, api_visibility="private").then(
            respond, inputs, outputs, api_visibility="private", concurrency_limit=4
        )
        show.change(lambda t, s: sources_html(t, show_scores=s), [turns, show], sources, api_visibility="private")
        sources.click(open_document, None, document, api_visibility="private")
        document.click(close_document, None, document, api_visibility="private")
        good.click(lambda t: rate(t, "helpful"), turns, None, api_visibility="private")
        bad.click(lambda t: rate(t, "wrong"), turns, None, api_visibility="private")
        chat.like(like, turns, None, api_visibility="private")
        empty = sources_html([])
        clear.click(lambda: ([], [], empty, ""), None, [chat, turns, sources, document], api_visibility="private")
        chat.clear(lambda: ([], empty, ""), None, [turns, sources, document], api_visibility="private")
        upload.upload(add_documents, upload, [status, index_msg, upload], api_visibility="private")
        rebuild_btn.click(rebuild, None, [status, index_msg], api_visibility="private")
        if live_status_s:
            shown = gr.State(status_key(first, lib.problem))

            def refresh(key: tuple) -> tuple:
                now = status_key(lib.index, lib.problem)
                return (gr.skip(), gr.skip()) if now == key else (status_html(lib.index, lib.problem), now)

            gr.Timer(live_status_s).tick(refresh, shown, [status, shown], api_visibility="private", queue=False)
        gr.api(ask, api_name="ask", concurrency_limit=4)
    return app


def launch_options(settings: Settings) -> dict[str, Any]:
    """launch() arguments: our CSS and JS, a theme with local fonts only, uploads capped, nothing phoning home."""
    import gradio as gr

    theme = gr.themes.Soft(font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
    return {
        "css": CSS,
        "js": JS,
        "theme": theme,
        "max_file_size": int(settings.upload_max_mb * 1_000_000),
        "footer_links": ["api"],
        "ssr_mode": False,
        "mcp_server": False,
        "share": False,
    }


def status_key(index: Index | None, problem: str = "") -> tuple:
    """What the status line shows, in short: it is redrawn only when this changes."""
    if index is None:
        return (None, problem)
    return (index.built_at, index.n_documents, index.n_chunks, problem)


def check_port(host: str, port: int) -> None:
    """Fail in one line, before indexing, when qa serve cannot listen on host:port (in use, or not this machine's
    address); Gradio's own failure is a 46-line traceback after the index is built."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise InputError(
            f"cannot listen on {host}:{port} ({e.strerror}); pass an address of this machine with --host"
        ) from None
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: a closing socket is no conflict
        try:
            s.bind(addr)
        except OSError as e:
            raise InputError(_listen_message(host, port, e)) from None


def _listen_message(host: str, port: int, e: OSError) -> str:
    if e.errno == errno.EADDRINUSE or "empty port" in str(e):  # Gradio's words for it: "Cannot find empty port"
        return f"port {port} on {host} is in use by another program; pick a free one with --port {port + 1} (QA_PORT)"
    return f"cannot listen on {host}:{port} ({e.strerror or e}); check --host and --port"


def serve(  # noqa: ANN201
    settings: Settings,
    auth: tuple[str, str] | None = None,
    *,
    block: bool = True,
    watch: bool = False,
    library: Library | None = None,
):
    """Index settings.docs (only what changed), then serve the chat and the JSON API (/api) on
    settings.host:settings.port; with watch, re-index when the folder changes (qa.watch).

    With block=False it returns the running app at once (tests); app.local_url is its address, app.watcher
    the Watcher (or None). A library may be passed in to serve an existing one (tests hold its updates).
    A port in use is one InputError before anything is indexed; repeated failed logins, on the page or the
    API, are locked out (qa/web/login.py).
    """
    from qa.web.api import api_routes

    check_port(settings.host, settings.port)
    login = Login(*auth) if auth else None
    lib = library or Library(settings)
    if lib.index is not None:
        idx = lib.index
        where = redacted(lib.settings.location_for(lib.settings.docs))
        log.info("serving %d documents, %d chunks (index %s)", idx.n_documents, idx.n_chunks, where)
    else:
        log.warning("%s; add documents from the web page", lib.problem)
    app = build_app(settings, lib, live_status_s=WATCH_STATUS_S if watch else None)
    app.queue(default_concurrency_limit=1)
    app.watcher = None
    if watch:
        from qa.watch import Watcher

        ignore = [settings.index_dir_for(Path(settings.docs)), settings.feedback_path()]
        app.watcher = Watcher(settings.docs, lib.update, ignore=ignore).start()
    try:
        app.launch(
            server_name=settings.host,
            server_port=settings.port,
            auth=login,
            auth_message=LOGIN_MESSAGE if login else None,
            prevent_thread_lock=not block,
            quiet=not block,
            app_kwargs={"routes": api_routes(lib.current, settings, auth=login)},
            **launch_options(settings),
        )
    except OSError as e:  # taken between the check and the launch
        if app.watcher is not None:
            app.watcher.stop()
        raise InputError(_listen_message(settings.host, settings.port, e)) from None
    return app


__all__ = ["build_app", "check_port", "launch_options", "serve", "status_key"]
