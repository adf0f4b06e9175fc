"""Answer -> what people and scripts read: a rich terminal rendering and a JSON-ready dict.

Document text is untrusted: a file can hold terminal escape sequences (clear the screen, set the window title, a
disguised OSC 8 link). visible() shows every control character as a visible symbol before text reaches a terminal.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from qa.types import Answer, Passage

# C0 controls but tab and newline, DEL, C1 controls (0x9b is CSI on some terminals), and the bidirectional
# overrides and isolates that reorder what a line shows (CVE-2021-42574, "Trojan Source")
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _picture(m: re.Match[str]) -> str:
    c = ord(m.group(0))
    if c < 0x20:
        return chr(0x2400 + c)  # the Unicode control pictures: ESC shows as ␛, BEL as ␇
    return "\u2421" if c == 0x7F else f"<U+{c:04X}>"


def visible(text: str) -> str:
    """Text safe for a terminal: each control character (ESC, BEL, CSI, bidi overrides) is replaced by a visible
    stand-in, so a document can neither move the cursor nor hide what it says; tabs and newlines stay."""
    return _UNSAFE.sub(_picture, text)


def json_text(data: Any) -> str:
    """JSON for a terminal or a script: exact values (control characters as \\u escapes, never raw bytes)."""
    import json

    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", json.dumps(data, indent=2, ensure_ascii=False))


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
    from rich.panel import Panel
    from rich.text import Text

    v = visible  # every string below comes from a document, a question or a model: none reaches the terminal raw
    parts: list[Any] = []
    for note in a.notes:
        parts.append(Text(f"note: {v(note)}", style="dim"))
    if a.abstained:
        parts.append(Panel(Text(v(a.text)), title="no answer", border_style="yellow"))
    else:
        parts.append(Panel(Text(v(a.text)), title="answer", border_style="green"))
        for c in a.citations:
            head = Text.assemble((f"[{c.n}] ", "bold cyan"), (v(c.source), "cyan"), (f"  {v(c.section)}", "dim"))
            head.append(f"  chars {c.start}-{c.end}", style="dim")
            if show_scores:
                head.append(f"  score {c.score:.3f}", style="dim")
            parts.append(head)
            parts.append(Text(f'    "{v(" ".join(c.quote.split()))}"', style="italic"))
    if a.abstained or show_passages:
        parts.append(Text("closest passages:" if a.abstained else "passages:", style="bold"))
        for i, p in enumerate(a.passages, 1):
            line = Text.assemble((f"{i}. ", "bold"), (v(p.chunk.source), "cyan"), (f"  {v(p.chunk.section)}", "dim"))
            if show_scores:
                line.append(f"  score {p.score:.3f} ({p.stage})", style="dim")
            parts.append(line)
            snippet = v(" ".join(p.chunk.text.split()))
            parts.append(Text(f"    {snippet[:240]}{'...' if len(snippet) > 240 else ''}"))
    total = a.timings.get("total")
    if total is not None:
        parts.append(Text(f"{total:.0f} ms  confidence {a.confidence:.2f}  generator {v(a.generator)}", style="dim"))
    return Group(*parts)
