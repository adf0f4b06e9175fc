"""The English qa reads, written once: words and terms, sentences, list markers, pronouns, names and number words.

Chunking, querying, answering and verification all take these from here, so the same bit of English cannot
disagree with itself (before this module there were three sentence splitters and five list-marker patterns).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# English function words, plus question words: they carry no evidence of an answer.
STOPWORDS = frozenset(
    """a about above after again against all also am an and any are aren as at be because been before being
    below between both but by can cannot could couldn did didn do does doesn doing don down during each
    else ever few for from further had hadn has hasn have haven having he her here hers herself him himself
    his how however i if in into is isn it its itself just let ll me might more most much must mustn my
    myself no nor not now of off on once only or other ought our ours ourselves out over own re same shall
    she should shouldn so some still such than that the their theirs them themselves then there these they
    this those through thus to too under until up upon us very was wasn we were weren what when where which
    while who whom whose why will with within without won would wouldn yet you your yours yourself
    yourselves s t d ve m o y one two many several say says said tell told give gave given get got""".split()  # noqa: SIM905
)
QUESTION_WORDS = frozenset("who whom whose what which when where why how".split())  # noqa: SIM905

_TOKEN = re.compile(r"\w+", re.UNICODE)

# "- item", "* item", "• item", "3. item", "2) item": a list item's marker, and what follows it
LIST_MARKER = r"(?:[-*+•●▪–]|\d{1,3}[.)])"
LIST_ITEM = re.compile(rf"^\s*{LIST_MARKER}\s+")

# words that stand for something named earlier: a follow-up question ("who introduced it?") or an answer
# sentence that needs the one before it ("It is governed by ...")
PRONOUNS = frozenset("it its they them their this that these those he him his she her".split())  # noqa: SIM905

# number words, for answers written in words ("four rooms") and digits checked against them
NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        ]
    )
} | {"dozen": 12, "hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9}
# "one" is a number, except in "one of the ..." and "one another"
NUMBER_WORD = re.compile(
    rf"\b(?:one\b(?!\s+(?:of|another)\b)|(?:{'|'.join(w for w in NUMBER_WORDS if w != 'one')})s?\b)", re.IGNORECASE
)

MONTHS = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*"

# a name: a run of capitalised or camel-case words, digits and dotted parts ("KubeCon EU 2018", "Craig Box",
# "gVisor", "CRI-O", "Node.js")
NAME = re.compile(r"\b(?:[A-Z]|[a-z]+[A-Z])[\w'’/-]*(?:\.[\w'’/-]+)*(?:\s+[A-Z0-9][\w'’/-]*(?:\.[\w'’/-]+)*)*")


@lru_cache(maxsize=1)
def _stemmer():  # type: ignore[no-untyped-def]
    import Stemmer  # PyStemmer: Snowball English (Porter2), C speed

    return Stemmer.Stemmer("english")


# A word broken across lines: groff's hyphenation mark (U+2010) or a soft hyphen goes, so "GNU‐\n   makefile"
# reads "GNUmakefile"; a real hyphen at a line end ("up-to-\n date") stays, without the break.
_BROKEN_WORD = re.compile(r"(?<=\w)[\u2010\u00ad][ \t]*\n\s*(?=\w)|(?<=\w)\u00ad(?=\w)|(?<=\w-)[ \t]*\n\s*(?=[a-z])")


def unbreak(text: str) -> str:
    """Join words that hard-wrapped text (man pages, PDFs) breaks across lines, for search and display; quotes and
    offsets keep the text as it is."""
    return _BROKEN_WORD.sub("", text)


def words(text: str) -> list[str]:
    """Lower-cased word tokens (letters, digits, underscore)."""
    return _TOKEN.findall(text.lower())


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    return str(_stemmer().stemWord(word))


def terms(text: str) -> list[str]:
    """Stemmed content words: the unit of keyword search and of question/sentence overlap."""
    return [_stem(w) for w in words(unbreak(text)) if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]


def normalize_answer(text: str) -> str:
    """Normalise for answer matching: NFKC, case, digit-group commas, punctuation and spaces."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
    text = re.sub(r"[^\w]+|_", " ", text)
    return " ".join(text.split())


def contains_answer(haystack: str, gold: str) -> bool:
    """True when the normalised gold string occurs in the normalised text at word boundaries."""
    g = normalize_answer(gold)
    return bool(g) and f" {g} " in f" {normalize_answer(haystack)} "


def clean_inline_markdown(text: str) -> str:
    """Display form of a quote: links become their text, emphasis marks, escapes ("Stream\\[src\\]"), line
    breaks and the hyphens of words broken across lines go. Code keeps every character: a `code span`'s content,
    identifiers (__init__, snake_case) and globs (*args, **kwargs, **/*.md) are shown as the document writes them."""
    kept: list[str] = []

    def hide(m: re.Match[str]) -> str:  # an escaped "*" is a star, and code is code: no emphasis is read in them
        kept.append(m.group(1))
        return f"\ue000{len(kept) - 1}\ue001"

    text = re.sub(r"\\([\\`*_{}\[\]()#+.!|-])", hide, unbreak(text))
    text = re.sub(r"`([^`]+)`", hide, text)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    # emphasis only around words: "**bold**", "*it*", and with underscores only a phrase ("_a phrase_"), since a
    # word between underscores is an identifier (__init__, _private_); "**/*.md" or "*args, **kwargs" is no emphasis
    text = re.sub(r"(?<![\w*])\*\*(?=[^\W_])(.+?)(?<=[^\s*])\*\*(?![\w*])", r"\1", text)
    text = re.sub(r"(?<![\w*])\*(?=[^\W_])([^*]*?)(?<=[^\s*])\*(?![\w*])", r"\1", text)
    text = re.sub(r"(?<![\w_])(__|_)(?=[^\W_])([^_]*?\s[^_]*?)(?<=[^\s_])\1(?![\w_])", r"\2", text)
    text = LIST_ITEM.sub("", text)
    text = re.sub(r"\ue000(\d+)\ue001", lambda m: kept[int(m.group(1))], text)
    return " ".join(text.split())


# --- sentences -------------------------------------------------------------------------------

# a full stop after these is not a sentence end ("e.g. Kata", "Dr. Vik", "pp. 4-5")
ABBREVIATIONS = frozenset(
    "e.g i.e etc vs mr mrs ms dr prof inc ltd co jr sr st no fig al approx dept est misc cf ca resp p pp".split()  # noqa: SIM905
)
# an end mark (with closing quotes and citation markers glued on, "in 2019.[1]"), then space and a capital,
# digit, bullet or opening quote; or "before.Day", a missing space in scraped text; or the end of the text
_BOUNDARY = re.compile(
    r"[.!?…]+[\"'”’)\]]*(?:\[\d+(?:\s*[,;]\s*\d+)*\])*(?=\s+[\"'“‘(\[]?[A-Z0-9À-Ý•\-–])"
    r"|(?<=[a-z]{3}[.!?])(?=[A-Z][a-z]{2})"
    r"|[.!?…]+[\"'”’)\]]*$"
)
_LINE_BREAK = re.compile(rf"\n\s*\n|\n(?=\s*{LIST_MARKER}\s)")  # a blank line, or a line that starts a list item
_MARKER_AT = re.compile(rf"\s*{LIST_MARKER}\s+")


def trim_space(text: str, start: int, end: int) -> tuple[int, int]:
    """(start, end) moved inward past white space."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence spans within text[start:end], as absolute offsets, never cutting a word; a list item's marker
    is left out of its sentence."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    seg = text[start:end]
    pieces, pos = [], 0
    for m in _LINE_BREAK.finditer(seg):
        pieces.append((pos, m.start()))
        pos = m.end()
    pieces.append((pos, len(seg)))
    for ps, pe in pieces:
        cur = ps
        for m in _BOUNDARY.finditer(seg, ps, pe):
            cut = m.end()
            word = re.search(r"([\w.]+)[.!?…]+[\"'”’)\]]*(?:\[[^\]]*\])*$", seg[cur:cut])
            token = word.group(1).lower() if word else ""
            if (
                token.rstrip(".") in ABBREVIATIONS
                or re.fullmatch(r"[a-z]", token)
                or re.fullmatch(r"(?:[a-z]\.)+[a-z]?", token)
            ):
                continue  # "e.g.", "Dr.", an initial like "J." or "U.S."
            s, e = trim_space(seg, cur, cut)
            if e > s:
                spans.append((start + s, start + e))
            cur = cut
        s, e = trim_space(seg, cur, pe)
        if e > s:
            spans.append((start + s, start + e))
    return [_strip_marker(text, s, e) for s, e in spans]


def _strip_marker(text: str, s: int, e: int) -> tuple[int, int]:
    m = _MARKER_AT.match(text, s, e)
    return (m.end(), e) if m and m.end() < e else (s, e)


def sentences(text: str) -> list[str]:
    """The sentences of a text, as strings."""
    return [text[s:e] for s, e in split_sentences(text)]
