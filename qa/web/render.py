"""Answer -> HTML for the web chat. Document text and questions are untrusted: every piece of them is
html.escape()d and only this module's own tags are added (gr.HTML does not sanitize)."""

import datetime as dt
import html
import re

from qa.errors import InputError
from qa.stores import Reader as Index
from qa.types import Answer, Chunk, Citation, Passage

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
