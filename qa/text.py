"""Text analysis shared by indexing and querying: terms for BM25 and overlap, answer normalisation."""

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
    breaks and the hyphens of words broken across lines go."""
    escaped: list[str] = []

    def hide(m: re.Match[str]) -> str:  # an escaped "*" is a star, not emphasis
        escaped.append(m.group(1))
        return f"\ue000{len(escaped) - 1}\ue001"

    text = re.sub(r"\\([\\`*_{}\[\]()#+.!|-])", hide, unbreak(text))
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"(\*\*|__|`)(.+?)\1", r"\2", text)
    text = re.sub(r"(?<!\w)[*_](\S(?:.*?\S)?)[*_](?!\w)", r"\1", text)
    text = re.sub(r"^\s*(?:[-*+]|\d+[.)])\s+", "", text)
    text = re.sub(r"\ue000(\d+)\ue001", lambda m: escaped[int(m.group(1))], text)
    return " ".join(text.split())
