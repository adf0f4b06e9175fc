"""The web chat (`qa serve`): a Gradio shell over the Python API; everything here is presentation.

Answers stream into a chat whose [n] markers lead to source cards (file, section path, the passage with the
quoted span marked); a card opens the whole document scrolled to the span. Document text and questions are
untrusted: every piece of them is html.escape()d and only this module's own tags are added (gr.HTML does not
sanitize). Gradio is imported inside the functions, after Settings has set the offline environment defaults.
"""

import datetime as dt
import html
import json
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from qa.errors import IndexMissingError, InputError, QAError
from qa.pipeline import answer, build_index, open_index, stream_answer
from qa.present import answer_dict
from qa.settings import Settings
from qa.store import Index
from qa.types import Answer, Chunk, Citation, Passage

log = logging.getLogger("qa")

UPLOAD_TYPES = (".md", ".txt", ".html", ".htm", ".pdf")
# (question, the document it is about): shown on first visit when that document is indexed (the bundled docs/)
EXAMPLES = [
    ("Which foundation governs Kata Containers?", "kata-containers.md"),
    ("Who introduced gVisor at KubeCon EU 2018?", "gvisor.md"),
    ("What is CRI-O?", "cri-o-and-oci.md"),
    ("What does a service mesh do?", "service-meshes.md"),
    ("What are the CNCF maturity levels?", "cncf-maturity-levels.md"),
    ("What is Istio?", "istio.md"),
]
DOC_VIEW_CHARS = 200_000  # a longer document is shown as this much text around the cited span
MAX_TURNS_SHOWN = 20  # the sources panel keeps the evidence of this many recent answers
# Streamed text is sent at most this often: an LLM's words still flow, while an extractive answer (ready at
# once) arrives in one piece. Sent word by word, it took 285 ms from Enter to the full answer instead of about
# 100 (median of 20 questions over docs/, benchmarks/web_latency.py).
STREAM_EVERY_S = 0.05

CSS = """
.qa-note{font-size:.85em;opacity:.7;font-style:italic;margin-bottom:.35em}
.qa-meta{font-size:.8em;opacity:.65;margin-top:.4em}
a.qa-cite{text-decoration:none;font-weight:600;font-size:.85em;padding:0 .2em;border-radius:4px;
  background:rgba(59,130,246,.15);cursor:pointer}
.qa-abstain{border-left:4px solid #d97706;background:rgba(217,119,6,.10);padding:.5em .8em;border-radius:6px}
.qa-abstain-title{font-weight:600;color:#b45309}
.qa-panel-title{font-weight:600;margin:.2em 0 .5em}
.qa-card{border:1px solid var(--border-color-primary);border-radius:8px;padding:.55em .8em;margin:0 0 .6em;
  scroll-margin:1em}
.qa-card.qa-active{outline:2px solid #3b82f6;background:rgba(59,130,246,.06)}
.qa-card-head{font-size:.85em;margin-bottom:.3em}
.qa-src{font-weight:600;font-family:var(--font-mono)}
.qa-sec,.qa-score{opacity:.7}
.qa-passage,.qa-doc-body{white-space:pre-wrap;font-size:.88em;line-height:1.45}
.qa-passage{max-height:13em;overflow:auto}
.qa-card mark,.qa-doc-body mark{background:#fde68a;color:#111;padding:0 .1em;border-radius:3px}
.qa-open,.qa-close{font-size:.8em;margin-top:.35em;padding:.1em .6em;border:1px solid var(--border-color-primary);
  border-radius:6px;background:var(--button-secondary-background-fill);cursor:pointer}
.qa-abstain-banner{border-left:4px solid #d97706;background:rgba(217,119,6,.10);padding:.4em .7em;border-radius:6px;
  margin-bottom:.6em}
.qa-empty{opacity:.65;font-size:.9em}
.qa-status{font-size:.85em;opacity:.8}
.qa-doc-head{display:flex;justify-content:space-between;align-items:baseline;gap:1em;font-size:.85em;margin-bottom:.4em}
"""

# Citation markers in the chat are links to the source cards; this scrolls to (and outlines) the card.
JS = """
() => {
  document.addEventListener('click', (e) => {
    const a = e.target.closest ? e.target.closest('a.qa-cite') : null;
    if (!a) return;
    e.preventDefault(); e.stopPropagation();
    const card = document.getElementById(a.getAttribute('href').slice(1));
    if (!card) return;
    for (let d = card.closest('details'); d; d = d.parentElement.closest('details')) d.open = true;
    document.querySelectorAll('.qa-card.qa-active').forEach((c) => c.classList.remove('qa-active'));
    card.classList.add('qa-active');
    card.scrollIntoView({block: 'nearest'});
  }, true);
}
"""
SOURCES_JS = """
element.addEventListener('click', (e) => {
  const b = e.target.closest('.qa-open');
  if (!b) return;
  trigger('click', {source: b.dataset.source, start: Number(b.dataset.start), end: Number(b.dataset.end)});
});
"""
DOC_JS = """
element.addEventListener('click', (e) => { if (e.target.closest('.qa-close')) trigger('click', {close: true}); });
watch('value', () => { const m = element.querySelector('#qa-doc-mark'); if (m) m.scrollIntoView({block: 'center'}); });
"""


# --- presentation: Answer -> HTML (every untrusted piece escaped) ------------------------------------


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


_MARKER = re.compile(r"\[(\d+)\]")


def answer_html(text: str, turn: int, citations: tuple[Citation, ...] = ()) -> str:
    """Answer text with each [n] turned into a link to its source card (hover: the quote)."""
    quotes = {c.n: " ".join(c.quote.split()) for c in citations}
    parts = _MARKER.split(" ".join(text.split()))
    out = []
    for i, part in enumerate(parts):
        if i % 2 == 0:
            out.append(esc(part))
        else:
            n = int(part)
            title = quotes.get(n, "")
            title = title if len(title) <= 300 else title[:300] + "..."
            out.append(f'<a class="qa-cite" href="#qa-t{turn}-c{n}" title="{esc(title)}">[{n}]</a>')
    return "".join(out)


def chat_message(a: Answer | None, text: str, turn: int, *, show_scores: bool = False) -> str:
    """One assistant message: notes, the (growing or final) answer, abstention styled apart."""
    notes = "".join(f'<div class="qa-note">{esc(n)}</div>' for n in (a.notes if a else ()))
    if a is not None and a.abstained:
        body = (  # the closest passages are in the sources panel, never a guess here
            '<div class="qa-abstain"><div class="qa-abstain-title">The documents don\'t say.</div>'
            "None of the passages found answers this question; the closest ones are in the sources panel.</div>"
        )
    else:
        body = f'<div class="qa-answer">{answer_html(text, turn, a.citations if a else ())}</div>'
    meta = ""
    if a is not None and show_scores:
        meta = (
            f'<div class="qa-meta">confidence {a.confidence:.2f} · {a.timings.get("total", 0):.0f} ms · '
            f"{esc(a.generator)}</div>"
        )
    return notes + body + meta


def passage_html(chunk: Chunk, span: tuple[int, int] | None = None) -> str:
    """The chunk text, escaped, with the cited span (absolute offsets) inside <mark>."""
    t = chunk.text
    if span is None:
        return esc(t)
    s = min(max(span[0] - chunk.start, 0), len(t))
    e = min(max(span[1] - chunk.start, s), len(t))
    return f"{esc(t[:s])}<mark>{esc(t[s:e])}</mark>{esc(t[e:])}"


def card_html(card_id: str, label: str, chunk: Chunk, span: tuple[int, int] | None, score: str) -> str:
    start, end = span or (chunk.start, chunk.end)
    section = chunk.section.replace(" > ", " › ")
    return (
        f'<div class="qa-card" id="{card_id}"><div class="qa-card-head">{esc(label)} '
        f'<span class="qa-src">{esc(chunk.source)}</span> · <span class="qa-sec">{esc(section)}</span>{score}</div>'
        f'<div class="qa-passage">{passage_html(chunk, span)}</div>'
        f'<button class="qa-open" data-source="{esc(chunk.source)}" data-start="{start}" data-end="{end}">'
        "view document</button></div>"
    )


def _score(p: Passage | None, show: bool, value: float | None = None) -> str:
    if not show or p is None:
        return ""
    dense = "" if p.dense is None else f" dense {p.dense:.2f}"
    kw = "" if p.keyword is None else f" bm25 {p.keyword:.1f}"
    v = p.score if value is None else value
    return f' <span class="qa-score">· score {v:.2f} ({esc(p.stage)}{dense}{kw})</span>'


def _chunk_of(c: Citation, a: Answer) -> tuple[Chunk | None, Passage | None]:
    for p in a.passages:
        if p.chunk.id == c.chunk_id or (p.chunk.source == c.source and p.chunk.start <= c.start < p.chunk.end):
            return p.chunk, p
    return None, None


def turn_html(a: Answer, turn: int, *, show_scores: bool = False) -> str:
    """The evidence of one answer: a card per citation, then the other passages; or, on abstention, the closest."""
    out = [f'<div class="qa-panel-title">Q{turn}: {esc(a.question)}</div>']
    if a.abstained:
        out.append(
            '<div class="qa-abstain-banner">The documents don\'t say. '
            "The closest passages are below; none of them answers the question.</div>"
        )
        for i, p in enumerate(a.passages, 1):
            out.append(card_html(f"qa-t{turn}-p{i}", f"{i}.", p.chunk, None, _score(p, show_scores)))
        return "".join(out)
    cited = set()
    for c in a.citations:
        chunk, p = _chunk_of(c, a)
        if chunk is None:  # a quote outside the returned passages: show the quote itself
            chunk = Chunk(c.chunk_id, c.source, "", c.section, c.start, c.end, c.quote)
        cited.add(chunk.id)
        score = _score(p, show_scores, c.score)
        out.append(card_html(f"qa-t{turn}-c{c.n}", f"[{c.n}]", chunk, (c.start, c.end), score))
    rest = [p for p in a.passages if p.chunk.id not in cited]
    if rest:
        cards = "".join(
            card_html(f"qa-t{turn}-p{i}", f"{i}.", p.chunk, None, _score(p, show_scores)) for i, p in enumerate(rest, 1)
        )
        out.append(f"<details><summary>other retrieved passages ({len(rest)})</summary>{cards}</details>")
    return "".join(out)


def sources_html(turns: list[Answer], *, show_scores: bool = False) -> str:
    """The sources panel: the latest answer's evidence open, earlier ones folded."""
    if not turns:
        return '<div class="qa-empty">Sources appear here: each cited passage, with the quoted words marked.</div>'
    shown = list(enumerate(turns, 1))[-MAX_TURNS_SHOWN:]
    latest_n, latest = shown[-1]
    out = [turn_html(latest, latest_n, show_scores=show_scores)]
    for n, a in reversed(shown[:-1]):
        body = turn_html(a, n, show_scores=show_scores)
        out.append(f"<details><summary>Q{n}: {esc(a.question)}</summary>{body}</details>")
    return "".join(out)


def document_html(index: Index, source: str, start: int, end: int) -> str:
    """The whole document (or a long window of it) with the span marked; the panel scrolls to the mark."""
    doc = index.document(source)
    if doc is None:
        raise InputError(f"{source} is not in the index any more; ask again to refresh the sources")
    t = doc.text
    s = min(max(int(start), 0), len(t))
    e = min(max(int(end), s), len(t))
    lo, hi = max(0, s - DOC_VIEW_CHARS // 2), min(len(t), e + DOC_VIEW_CHARS // 2)
    before = ("[...]\n" if lo else "") + t[lo:s]
    after = t[e:hi] + ("\n[...]" if hi < len(t) else "")
    return (
        f'<div class="qa-doc"><div class="qa-doc-head"><span><span class="qa-src">{esc(doc.source)}</span> · '
        f"{esc(doc.title)} · chars {s}-{e} of {len(t):,}</span>"
        '<button class="qa-close">close</button></div>'
        f'<div class="qa-doc-body">{esc(before)}<mark id="qa-doc-mark">{esc(t[s:e])}</mark>{esc(after)}</div></div>'
    )


def status_html(index: Index | None, problem: str = "") -> str:
    if index is None:
        return f'<div class="qa-status">no index yet: {esc(problem or "add documents below")}</div>'
    try:
        built = dt.datetime.fromisoformat(index.built_at).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        built = index.built_at
    docs = "".join(
        f"<li>{esc(s)} <span class='qa-sec'>({esc(t)}, {n:,} chars)</span></li>" for s, t, n in index.documents()[:500]
    )
    return (
        f'<div class="qa-status"><b>{index.n_documents}</b> documents · <b>{index.n_chunks}</b> chunks · '
        f"model {esc(index.model)} · built {esc(built)}"
        f"<details><summary>documents in the index</summary><ul>{docs}</ul></details></div>"
    )


def examples_for(index: Index | None) -> list[str]:
    """Example questions about what is indexed: the bundled ones when their documents are there, else from titles."""
    if index is None:
        return []
    sources = {s: title for s, title, _ in index.documents()}
    found = [q for q, src in EXAMPLES if src in sources]
    return found if len(found) >= 2 else [f"What is {t}?" for t in list(sources.values())[:4] if t]


# --- side effects: uploads, feedback, the index the app answers from -------------------------------


def save_upload(src: str | Path, name: str, folder: Path, *, max_mb: float) -> Path:
    """Copy an uploaded file into the documents folder under a safe name; refuses anything that could escape it."""
    raw = str(name)
    if not raw or "\x00" in raw or "/" in raw or "\\" in raw or raw.startswith(".") or ".." in raw:
        raise InputError(f"refused the file name {raw!r}: use a plain name like notes.md")
    stem, ext = os.path.splitext(raw)
    if ext.lower() not in UPLOAD_TYPES:
        raise InputError(f"refused {raw}: only {', '.join(UPLOAD_TYPES)} files can be added")
    safe = re.sub(r"[^A-Za-z0-9._ -]+", "_", stem).strip(" ._") or "document"
    size = os.stat(src).st_size
    if size > max_mb * 1_000_000:
        raise InputError(f"refused {raw}: {size / 1e6:.1f} MB is over the {max_mb:g} MB limit (QA_UPLOAD_MAX_MB)")
    folder.mkdir(parents=True, exist_ok=True)
    root = folder.resolve()
    target = root / f"{safe}{ext.lower()}"
    if target.is_symlink() or target.resolve().parent != root or (target.exists() and not target.is_file()):
        raise InputError(f"refused {raw}: {target.name} in the documents folder is not a plain file")
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as out, open(src, "rb") as f:
        shutil.copyfileobj(f, out)
    return target


def save_feedback(path: Path, a: Answer, rating: str) -> dict[str, Any]:
    """Append one rated answer to the feedback JSONL, ready to become an eval question."""
    record = {
        "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "rating": rating,
        "question": a.question,
        "resolved_question": a.resolved_question,
        "answer": a.text,
        "abstained": a.abstained,
        "confidence": a.confidence,
        "generator": a.generator,
        "citations": [{k: getattr(c, k) for k in ("source", "section", "start", "end", "quote")} for c in a.citations],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, ensure_ascii=False) + "\n")
    return record


class Library:
    """The index the app answers from; uploads and rebuilds swap in the new one (old answers keep theirs)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.index: Index | None = None
        self.problem = ""
        self._building = threading.Lock()
        self._feedback = threading.Lock()
        docs = Path(settings.docs).expanduser()
        try:
            if docs.is_dir():
                self.update()
        except InputError as e:  # e.g. an empty folder: serve anyway, documents can be uploaded
            self.problem = str(e)
        if self.index is None:  # no folder, or it could not be indexed now: serve the last index if there is one
            try:
                self.index = open_index(settings=settings)
            except IndexMissingError as e:
                if not docs.is_dir():
                    raise IndexMissingError(f"no folder {docs} and {e}") from None
                self.problem = self.problem or f"no documents in {docs}"

    def current(self) -> Index:
        if self.index is None:
            raise IndexMissingError(f"no index yet ({self.problem}); add documents under Documents, then ask")
        return self.index

    def update(self, *, rebuild: bool = False, progress: Callable[[str, int, int], None] | None = None) -> Index:
        """Index settings.docs incrementally (or from scratch) and make the result live."""
        if not self._building.acquire(blocking=False):
            raise InputError("the index is already being updated; try again when it finishes")
        try:
            self.index = build_index(self.settings.docs, settings=self.settings, rebuild=rebuild, progress=progress)
            self.problem = ""
            return self.index
        finally:
            self._building.release()

    def feedback(self, a: Answer, rating: str) -> dict[str, Any]:
        with self._feedback:
            return save_feedback(self.settings.feedback_path(), a, rating)


# --- the app ------------------------------------------------------------------------------------


def build_app(settings: Settings, library: Library | None = None):  # noqa: ANN201 (a gr.Blocks; gradio loads lazily)
    """The chat UI and the `/ask` API over settings.docs (indexed or updated first unless a Library is given)."""
    import gradio as gr

    lib = library or Library(settings)
    first = lib.index
    gens = ["extractive"] + ([settings.generator] if settings.generator != "extractive" else [])

    def fail(e: Exception) -> gr.Error:
        if isinstance(e, QAError):
            return gr.Error(str(e), print_exception=False)
        log.exception("web request failed")
        return gr.Error(f"unexpected error ({type(e).__name__}); details are in the server log", print_exception=False)

    def per_session(top_k: float, threshold: float, generator: str) -> Settings:
        gen = generator if generator in gens else "extractive"
        return settings.model_copy(
            update={"top_k": max(1, min(50, int(top_k))), "abstain_threshold": float(threshold), "generator": gen}
        )

    def respond(
        question: str, chat: list, turns: list[Answer], top_k: float, threshold: float, show: bool, generator: str
    ) -> Iterator[tuple]:
        chat, turns = list(chat or []), list(turns or [])
        if not (question or "").strip():
            gr.Warning("The question is empty: type a question, then press Enter.")
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
            err = fail(e)
            gr.Warning(err.message)
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
            gr.Warning("Ask a question first; feedback rates the latest answer.")
            return
        lib.feedback(turns[-1], rating)
        gr.Info(f"Thanks: marked as {rating}, saved to {lib.settings.feedback_path().name}.")

    def like(turns: list[Answer], data: gr.LikeData) -> None:
        i = data.index if isinstance(data.index, int) else data.index[0]
        if 0 <= i // 2 < len(turns) and data.liked in (True, False):
            lib.feedback(turns[i // 2], "helpful" if data.liked else "wrong")
            gr.Info("Thanks: feedback saved.")

    def reindex(rebuild: bool, progress: gr.Progress) -> tuple[str, str]:
        def tick(stage: str, advance: int, total: int) -> None:
            done[stage] = done.get(stage, 0) + advance
            label = {"read": "reading files", "embed": "embedding"}.get(stage, stage)
            progress((min(done[stage], total), max(total, 1)), desc=label)

        done: dict[str, int] = {}
        idx = lib.update(rebuild=rebuild, progress=tick)
        r = idx.build_report
        what = "rebuilt" if rebuild else "updated"
        if r is not None and not rebuild:
            changes = f"{len(r.added)} added, {len(r.changed)} changed, {len(r.deleted)} removed"
            what = "already up to date" if r.up_to_date else f"updated: {changes}"
        return status_html(idx), f"Index {what}: {idx.n_documents} documents, {idx.n_chunks} chunks."

    def add_documents(files: list[str] | None, progress: gr.Progress = gr.Progress()) -> tuple:  # noqa: B008
        saved, refused = [], []
        folder = Path(settings.docs).expanduser()
        for f in files or []:
            try:  # Gradio keeps the uploaded file's own name as the last part of its temporary path
                saved.append(save_upload(f, Path(f).name, folder, max_mb=settings.upload_max_mb).name)
            except (QAError, OSError) as e:
                refused.append(str(e))
        for r in refused:
            gr.Warning(r)
        if not saved:
            return gr.skip(), "No document added.", None
        try:
            status, msg = reindex(False, progress)
        except Exception as e:  # noqa: BLE001
            raise fail(e) from None
        return status, f"Added {', '.join(saved)}. {msg}", None

    def rebuild(progress: gr.Progress = gr.Progress()) -> tuple[str, str]:  # noqa: B008
        try:
            return reindex(True, progress)
        except Exception as e:  # noqa: BLE001
            raise fail(e) from None

    def ask(question: str, history: list[str] | None = None) -> dict[str, Any]:
        """Answer a question from the documents: the answer text, citations (source, section, offsets, quote),
        passages and timings, as `qa ask --json` prints them. `history` holds earlier questions for follow-ups."""
        try:
            return answer_dict(answer(question, index=lib.current(), settings=settings, history=history or []))
        except Exception as e:  # noqa: BLE001
            raise fail(e) from None

    with gr.Blocks(title="qa: ask your documents", analytics_enabled=False) as app:
        turns = gr.State([])
        with gr.Row(equal_height=True):
            gr.Markdown("### qa · ask your documents")
            status = gr.HTML(status_html(first, lib.problem), elem_id="qa-status")
        with gr.Row():
            with gr.Column(scale=3):
                chat = gr.Chatbot(
                    elem_id="qa-chat",
                    height=520,
                    show_label=False,
                    latex_delimiters=[],
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
                    threshold = gr.Slider(
                        0, 1, value=settings.abstain_threshold, step=0.01, label="Abstain below confidence"
                    )
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
                    index_msg = gr.Markdown(elem_id="qa-index-msg")
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


def serve(settings: Settings, auth: tuple[str, str] | None = None, *, block: bool = True):  # noqa: ANN201
    """Index settings.docs (only what changed), then serve the chat on settings.host:settings.port.

    With block=False it returns the running app at once (tests); app.local_url is its address.
    """
    lib = Library(settings)
    if lib.index is not None:
        idx = lib.index
        log.info("serving %d documents, %d chunks (index %s)", idx.n_documents, idx.n_chunks, idx.root)
    else:
        log.warning("%s; add documents from the web page", lib.problem)
    app = build_app(settings, lib)
    app.queue(default_concurrency_limit=1)
    app.launch(
        server_name=settings.host,
        server_port=settings.port,
        auth=auth,
        prevent_thread_lock=not block,
        quiet=not block,
        **launch_options(settings),
    )
    return app


__all__ = ["Library", "build_app", "launch_options", "save_upload", "serve"]
