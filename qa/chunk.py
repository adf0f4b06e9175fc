"""Document -> Chunks along its structure: headings give the section path, paragraphs and sentences stay whole.

Pure functions. Token counts come from a callable so chunks fit the embedding model's window exactly
(all-MiniLM-L6-v2 reads 256 word pieces and silently drops the rest).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from qa.text import LIST_ITEM, clean_inline_markdown, split_sentences, trim_space
from qa.types import Chunk, Document

TokenCounter = Callable[[Sequence[str]], list[int]]


def estimate_tokens(texts: Sequence[str]) -> list[int]:
    """A model-free estimate (word pieces run ~1.3 per word); for tests and tools without a tokenizer."""
    return [int(len(re.findall(r"\w+|[^\w\s]", t)) * 1.3) + 1 for t in texts]


@dataclass(frozen=True, slots=True)
class Block:
    """A structural unit of a document: a heading, or body text that chunks never split badly."""

    kind: str  # "heading" or "body"
    start: int
    end: int
    level: int = 0  # heading level
    prose: bool = True  # body whose sentences may be split on punctuation (not code or tables)
    quotable: bool = True  # may be quoted as an answer sentence (code is indexed, never quoted)


# --- blocks ---------------------------------------------------------------------------------

_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_TABLE = re.compile(r"^\s*\|")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)\s*$")
_RULE = re.compile(r"^ {0,3}([-*_])(\s*\1){2,}\s*$")
_LINKS_ONLY = re.compile(r"^\s*(?:[-*+]\s+)?(?:\[[^\]]*\]\([^)]*\)[\s,;:.·|-]*)+$")


def _lines(text: str) -> list[tuple[int, int]]:
    """(start, end) of each line, end excluding the newline."""
    out, pos = [], 0
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        out.append((pos, pos + len(body)))
        pos += len(line)
    return out


def markdown_blocks(text: str) -> list[Block]:
    """Headings (ATX and setext), paragraphs, list items, tables and code fences of Markdown."""
    blocks: list[Block] = []
    lines = _lines(text)
    para: list[tuple[int, int]] = []
    i = 0

    def flush(prose: bool = True, quotable: bool = True) -> None:
        if para:
            s, e = trim_space(text, para[0][0], para[-1][1])
            if e > s and not _LINKS_ONLY.match(text[s:e]):
                blocks.append(Block("body", s, e, prose=prose, quotable=quotable))
            para.clear()

    if text.startswith("---"):
        m = re.match(r"---\s*\n.*?\n---\s*\n", text, re.DOTALL)
        if m:
            while i < len(lines) and lines[i][0] < m.end():
                i += 1
    while i < len(lines):
        s, e = lines[i]
        line = text[s:e]
        if not line.strip():
            flush()
        elif _FENCE.match(line):
            flush()
            fence = _FENCE.match(line).group(1)  # type: ignore[union-attr]
            j = i + 1
            while j < len(lines) and not text[lines[j][0] : lines[j][1]].lstrip().startswith(fence):
                j += 1
            body = lines[i + 1 : j]
            if body:
                para.extend(body)
                flush(prose=False, quotable=False)
            i = j
        elif m := _ATX.match(line):
            flush()
            hs = s + m.start(2)
            blocks.append(Block("heading", hs, hs + len(m.group(2)), level=len(m.group(1))))
        elif para and _SETEXT.match(line) and len(para) == 1 and not LIST_ITEM.match(text[para[0][0] : para[0][1]]):
            hs, he = trim_space(text, *para[0])
            para.clear()
            blocks.append(Block("heading", hs, he, level=1 if line.strip()[0] == "=" else 2))
        elif _RULE.match(line):
            flush()
        elif _TABLE.match(line):
            if para and not _TABLE.match(text[para[-1][0] : para[-1][1]]):
                flush()
            if not re.match(r"^\s*\|[\s:|-]+\|?\s*$", line):  # skip the |---| separator row
                para.append((s, e))
                flush(prose=False)  # one row at a time: rows are the sentences of a table
        elif LIST_ITEM.match(line):
            flush()
            para.append((s, e))
        else:
            para.append((s, e))
        i += 1
    flush()
    return blocks


def _looks_like_heading(line: str) -> bool:
    line = line.strip()
    n_words = len(line.split())
    return (
        0 < len(line) <= 80
        and 1 <= n_words <= 10
        and not re.search(r"[.!?,;:…]$", line)
        and (line[0].isupper() or line[0].isdigit())
        and not LIST_ITEM.match(line)
        and not re.match(r"^[\d\W]+$", line)  # dates, numbers, separators
    )


# A first line of this many words is quotable even when it is the title: titles are shorter ("Driftwood",
# "TAR(1) GNU TAR Manual TAR(1)"); a PDF's first line "The gauge network covers 312 stations along the fjord" is not
_STATEMENT_WORDS = 6
_ENDS_SENTENCE = re.compile(r"[.!?:\"”’)]$")  # a line that ends here ends a sentence, not a wrapped line


def text_blocks(text: str, title: str = "") -> list[Block]:
    """Plain or extracted text: paragraphs by blank lines; short title-like lines become headings.

    Raw web text puts one paragraph per line, while hard-wrapped text spreads a paragraph over many:
    a paragraph is read as wrapped prose when its lines (but the last) are all long. Less indented lines on top
    are headings ("DESCRIPTION" above a man page's text) or terms ("-k, --keep" above what it does): the rest is
    judged without them, and a term opens the first sentence of its description.
    """
    blocks: list[Block] = []
    lines = _lines(text)
    groups: list[list[tuple[int, int]]] = [[]]
    for s, e in lines:
        if text[s:e].strip():
            groups[-1].append((s, e))
        elif groups[-1]:
            groups.append([])
    first = True
    for group in groups:
        if not group:
            continue
        body = [text[s:e] for s, e in group]
        # less indented lines on top: headings ("FILES"), then up to three term lines ("-p", "--page-requisites")
        h = 0
        while h < len(body) - 1 and _indent(body[h]) < _indent(body[h + 1]) and _looks_like_heading(body[h]):
            h += 1
        m = h
        while m < len(body) and _indent(body[m]) == _indent(body[h]):
            m += 1
        term = h < m < len(body) and m - h <= 3 and _indent(body[m]) > _indent(body[h])
        prose = group[m:] if term else group[h:]
        inner = [text[s:e].strip() for s, e in prose[:-1]]
        wrapped = not any(LIST_ITEM.match(b) for b in body) and (
            (term and len(prose) == 1)
            or (
                len(prose) > 1
                and all(30 <= len(b) <= 130 for b in inner)  # a wrap width, not one paragraph per line
                and sum(not _ENDS_SENTENCE.search(b) for b in inner) * 2 >= len(inner)  # lines end mid-sentence
            )
        )
        units = [(s, e, False) for s, e in (group[:h] if wrapped else group)]
        if wrapped:
            units.append((group[h][0], group[-1][1], True))
        else:
            units = _rejoin_wrapped(text, units)
        for s, e, joined in units:
            s, e = trim_space(text, s, e)
            if e <= s:
                continue
            line = text[s:e]
            if not re.search(r"\w", line):
                continue  # a bare "-" or "*" separator line
            if not joined and (_looks_like_heading(line) or (first and " ".join(line.split()) == title)):
                blocks.append(Block("heading", s, e, level=1 if first else 2))
                if not first or len(line.split()) >= _STATEMENT_WORDS:
                    # a guessed heading may be a byline or a caption ("Published at 28.06.2022"), and a first line
                    # taken as the title may state a fact ("The network covers 312 stations"): keep it quotable
                    blocks.append(Block("body", s, e))
            else:
                blocks.append(Block("body", s, e))
            first = False
    return blocks


def _rejoin_wrapped(text: str, units: list[tuple[int, int, bool]]) -> list[tuple[int, int, bool]]:
    """Lines of a group that mixes wrapped paragraphs with headings (a PDF page): a line as long as the wrap
    width that does not end a sentence continues on the next line. Only when no line is longer than a wrap
    width: raw web text, one paragraph per line, stays as it is."""
    lengths = [len(text[s:e].strip()) for s, e, _ in units]
    width = max(lengths, default=0)
    if not 50 <= width <= 130:
        return units
    out: list[tuple[int, int, bool]] = []
    joining = False
    for (s, e, _), n in zip(units, lengths, strict=True):
        line = text[s:e].strip()
        if joining and not LIST_ITEM.match(line):
            out[-1] = (out[-1][0], e, True)
        else:
            out.append((s, e, False))
        joining = n >= 0.6 * width and not _ENDS_SENTENCE.search(line)
    return out


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


# --- packing --------------------------------------------------------------------------------


def _section_name(text: str, b: Block) -> str:
    return clean_inline_markdown(text[b.start : b.end]).strip("#* ") or "Untitled"


def _cut_long(text: str, s: int, e: int, tokens: int, budget: int) -> list[tuple[int, int]]:
    """Split one over-long sentence at word boundaries into pieces that fit the budget."""
    n_pieces = -(-tokens // budget)
    target = (e - s) / n_pieces
    out, cur = [], s
    while e - cur > target * 1.05:
        cut = text.rfind(" ", cur, int(cur + target))
        if cut <= cur:
            cut = int(cur + target)
        out.append(trim_space(text, cur, cut))
        cur = cut
    out.append(trim_space(text, cur, e))
    return [p for p in out if p[1] > p[0]]


def chunk_document(
    doc: Document, *, max_tokens: int = 200, count_tokens: TokenCounter = estimate_tokens
) -> list[Chunk]:
    """Split a document into chunks of whole sentences that fit `max_tokens` word pieces with their heading."""
    text = doc.text
    # plain text, PDF and RTF have no markup: headings are guessed; every other format is stored as Markdown-like
    # text (qa/load/markup.py) whose `#` lines are its real headings, slide titles and chapters
    plain = doc.format in ("txt", "pdf", "rtf")
    blocks = text_blocks(text, doc.title) if plain else markdown_blocks(text)

    # group body blocks under their heading path
    sections: list[tuple[str, list[Block]]] = []
    stack: list[tuple[int, str]] = []
    for b in blocks:
        if b.kind == "heading":
            while stack and stack[-1][0] >= b.level:
                stack.pop()
            stack.append((b.level, _section_name(text, b)))
            continue
        names = [n for _, n in stack]
        if not names or names[0].casefold() != doc.title.casefold():
            names = [doc.title, *names]
        path = " > ".join(names)
        if doc.pages:
            page = sum(1 for p in doc.pages if p <= b.start)
            path += f" (slide {page})" if doc.format == "pptx" else f" (p. {page})"
        if sections and sections[-1][0] == path:
            sections[-1][1].append(b)
        else:
            sections.append((path, [b]))

    # sentences of every body block, counted in one batch
    sentences: list[list[list[tuple[int, int]]]] = [
        [split_sentences(text, b.start, b.end) if b.prose else [(b.start, b.end)] for b in bl] for _, bl in sections
    ]
    flat = [span for sec in sentences for blk in sec for span in blk]
    counts = iter(count_tokens([text[s:e] for s, e in flat]) if flat else [])
    head_counts = count_tokens([p + "\n" for p, _ in sections]) if sections else []

    # code is embedded and searched with its chunk but never quoted: an answer sentence is prose
    code = {
        span
        for (_, bl), sec in zip(sections, sentences, strict=True)
        for b, blk in zip(bl, sec, strict=True)
        if not b.quotable
        for span in blk
    }
    chunks: list[Chunk] = []
    for (path, _), sec, head in zip(sections, sentences, head_counts, strict=True):
        budget = max(32, max_tokens - head - 2)  # 2 = the model's [CLS] and [SEP]
        cur: list[tuple[int, int]] = []
        used = 0

        def close(path: str = path) -> None:
            nonlocal cur, used
            if cur:
                s, e = cur[0][0], cur[-1][1]
                body = text[s:e]
                cid = hashlib.sha1(f"{doc.source}\0{s}\0{body}".encode()).hexdigest()[:20]
                quotable = tuple(span for span in cur if span not in code)
                chunks.append(Chunk(cid, doc.source, doc.title, path, s, e, body, quotable))
            cur, used = [], 0

        for blk in sec:
            spans = []
            for s, e in blk:
                n = next(counts)
                if n > budget:
                    pieces = _cut_long(text, s, e, n, budget)
                    if (s, e) in code:
                        code.update(pieces)
                    spans.extend((p, n * (p[1] - p[0]) // max(1, e - s) + 1) for p in pieces)
                else:
                    spans.append(((s, e), n))
            block_tokens = sum(n for _, n in spans)
            if cur and used + block_tokens > budget and used >= budget // 2:
                close()  # start the paragraph in a fresh chunk rather than splitting it
            for span, n in spans:
                if cur and used + n > budget:
                    close()
                cur.append(span)
                used += n
        close()
    return chunks
