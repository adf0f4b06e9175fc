"""Answer -> what people and scripts read: a rich terminal rendering and a JSON-ready dict."""

from __future__ import annotations

import dataclasses
from typing import Any

from qa.types import Answer, Passage


def passage_dict(p: Passage, *, text_chars: int | None = None) -> dict[str, Any]:
    c = p.chunk
    return {
        "source": c.source,
        "section": c.section,
        "start": c.start,
        "end": c.end,
        "text": c.text if text_chars is None else c.text[:text_chars],
        "score": round(p.score, 4),
        "stage": p.stage,
        "dense": None if p.dense is None else round(p.dense, 4),
        "keyword": None if p.keyword is None else round(p.keyword, 4),
        "ranks": dict(p.ranks),
        "chunk_id": c.id,
    }


def answer_dict(a: Answer) -> dict[str, Any]:
    """Everything in an Answer, JSON-serialisable; keys match the Answer fields."""
    return {
        "question": a.question,
        "resolved_question": a.resolved_question,
        "text": a.text,
        "abstained": a.abstained,
        "confidence": a.confidence,
        "generator": a.generator,
        "citations": [dataclasses.asdict(c) for c in a.citations],
        "sentences": [dataclasses.asdict(s) for s in a.sentences],
        "passages": [passage_dict(p) for p in a.passages],
        "timings": dict(a.timings),
        "notes": list(a.notes),
        "raw": a.raw,
    }


def render(a: Answer, *, show_passages: bool = False, show_scores: bool = False):  # noqa: ANN201
    """A rich renderable for the terminal: the answer, its citations, and (on abstention) the closest passages."""
    from rich.console import Group
    from rich.markup import escape
    from rich.panel import Panel
    from rich.text import Text

    parts: list[Any] = []
    for note in a.notes:
        parts.append(Text(f"note: {note}", style="dim"))
    if a.abstained:
        parts.append(Panel(Text(a.text), title="no answer", border_style="yellow"))
    else:
        parts.append(Panel(Text(a.text), title="answer", border_style="green"))
        for c in a.citations:
            head = Text.assemble((f"[{c.n}] ", "bold cyan"), (c.source, "cyan"), (f"  {c.section}", "dim"))
            head.append(f"  chars {c.start}-{c.end}", style="dim")
            if show_scores:
                head.append(f"  score {c.score:.3f}", style="dim")
            parts.append(head)
            parts.append(Text(f'    "{" ".join(c.quote.split())}"', style="italic"))
    if a.abstained or show_passages:
        parts.append(Text("closest passages:" if a.abstained else "passages:", style="bold"))
        for i, p in enumerate(a.passages, 1):
            line = Text.assemble((f"{i}. ", "bold"), (p.chunk.source, "cyan"), (f"  {p.chunk.section}", "dim"))
            if show_scores:
                line.append(f"  score {p.score:.3f} ({p.stage})", style="dim")
            parts.append(line)
            snippet = " ".join(p.chunk.text.split())
            parts.append(Text(f"    {escape(snippet[:240])}{'...' if len(snippet) > 240 else ''}"))
    total = a.timings.get("total")
    if total is not None:
        parts.append(Text(f"{total:.0f} ms  confidence {a.confidence:.2f}  generator {a.generator}", style="dim"))
    return Group(*parts)
