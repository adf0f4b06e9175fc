"""Generated text -> checked claims: every sentence must cite a passage it was given and be supported by it.

Pure functions over strings, so each rule is unit-tested with small inputs. A sentence is verified when
  1. it cites at least one passage that was given ([n] with 1 <= n <= len(passages); other markers are removed),
  2. every number and every name in it occurs in what it cites ("90" does not match "900"; "ten" in a passage
     counts as 10; a name is a capitalised word, the sentence's first word too unless it is a function word),
     those restated from the question too: exempting them let "The diversity scholarship program raised
     $250,000 for KubeCon Europe 2018" through on a passage about KubeCon 2017 (a near miss, issue 19), and
     "4000 attendees came to the conference where Amazon EKS was announced" on one that never names EKS,
  3. at least SUPPORT_THRESHOLD of its content words (stemmed, qa.text.terms) occur in what it cites, and
  4. it has content words the question did not already contain, and at least NEW_WORDS_THRESHOLD of them occur
     in what it cites.
  5. every word it adds to the question is stated beside the question's words: in some sentence of a cited
     passage (with the passage's heading) that holds at least ANCHOR_WORDS of the question's content words.
     A short answer ("69%" for "What share of deployments run on AWS?") is so the claim "the share ... is
     69%": it passes only where 69% is said of what was asked, not where the passage gives 69% of something
     else. A full sentence gets no pass for restating the question around a word the passage says of
     something else: "Linkerd was first released in 2017 [3]", where [3] only says LWN's coverage of KubeCon
     Austin 2017 credited Linkerd with ..., is dropped (a near miss Qwen2.5-Coder-1.5B answered, issue 19).
"What it cites" is the union of the cited passages: a sentence that joins facts from [1] and [3] is checked
against both. Of several citations, only those that add words of the sentence the others lack are kept.
Rule 4 is what catches a small model's favourite error: the question restated around an invented name ("Mira
Holm delivered the opening keynote on the second day of KubeCon EU 2018" has 10 of its 12 words in the passage,
0 of its 2 new ones). Rule 3 may be looser because a faithful answer often restates question words the passage
puts differently. Both thresholds were measured on evals/seeds.jsonl and evals/docs.jsonl (README, Generative
answers); rule 5's on Qwen2.5-Coder-1.5B's answers to a subset of both (benchmarks/llm_lab.py).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from qa.text import STOPWORDS, terms

ABSTAIN_PHRASE = "NOT IN DOCUMENTS"  # what the prompt tells the model to write when the passages don't answer
SUPPORT_THRESHOLD = 0.5  # kept 91% of faithful answers (question restated + gold) against the gold passage
NEW_WORDS_THRESHOLD = 0.75  # one unsupported new word in four passes; an invented name in a restatement does not
ANCHOR_WORDS = 2  # an answer's new words must be stated beside this many of the question's words (rule 5)

# [1]  [1, 2]  [1][2]  [Passage 1]  [source 2]  (markers models write for "cite passage n")
_MARKER = re.compile(r"\[\s*(?:passages?|sources?|docs?|documents?)?\s*(\d+(?:\s*[,;]\s*\d+)*)\s*\]", re.IGNORECASE)
# a sentence ends at . ! or ? (with closing quotes and glued markers: "in 2019.[1]") before a capital, digit or [
_SENT_END = re.compile(r"([.!?][\"'”’)]*(?:\[[^\]\n]*\])*)\s+(?=[\[A-Z0-9\"'“‘(])")
_ABBREV = re.compile(r"(?:\b(?:Mr|Mrs|Ms|Dr|Prof|St|Inc|Ltd|Co|Jr|Sr|vs|etc|e\.g|i\.e|No|Fig|approx|p|pp)|\b[A-Z])\.$")
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_DIGIT_GROUP = re.compile(r"(?<=\d),(?=\d{3}\b)")  # the comma in 400,000
# number words a passage may use for a digit in the answer; not "one", which is mostly a pronoun ("one of the")
_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"]
        + ["thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty"]
    )
    if w not in ("zero", "one")
}
_NAME = re.compile(r"(?<![\w-])[A-Z][\w'’-]*")
_THINK = re.compile(r"<think>.*?(?:</think>|$)", re.DOTALL | re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Claim:
    """One sentence of a generated answer with the passage numbers it cites (as written, given or not)."""

    text: str  # the sentence without its citation markers
    cited: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Verdict:
    """A claim checked against the passages it cites."""

    text: str
    cited: tuple[int, ...]  # cited passages that were given and back some of the claim (1-based)
    removed: tuple[int, ...]  # cited numbers that name no given passage
    support: float  # share of the claim's content words found in the cited passages
    new_support: float  # the same share for the words the question did not contain (1.0 when there are none)
    missing_numbers: tuple[str, ...]  # numbers and names of the claim that no cited passage contains
    verified: bool
    reason: str  # why it was not verified; "" when it was


def clean_output(raw: str) -> str:
    """The model's answer without reasoning blocks (<think>...</think>) and surrounding space."""
    return _THINK.sub("", raw).strip()


def is_abstention(text: str, *, anywhere: bool = False) -> bool:
    """True when the model answered with the abstention phrase: as its first words, or anywhere if asked."""
    norm = " ".join(re.sub(r"[^\w\s]", " ", clean_output(text)).upper().split())
    phrases = (ABSTAIN_PHRASE, "NOT IN THE DOCUMENTS")
    return any((p in norm) if anywhere else norm.startswith(p) for p in phrases)


def markers(text: str) -> tuple[int, ...]:
    """Passage numbers cited in a piece of text, in order, without repeats."""
    nums = (int(n) for m in _MARKER.finditer(text) for n in re.split(r"[,;]", m.group(1)))
    return tuple(dict.fromkeys(nums))


def _strip_markers(text: str) -> str:
    text = _MARKER.sub(" ", text)
    text = re.sub(r"\s+([.,;:!?])", r"\1", text)
    return " ".join(text.split()).strip()


def _sentences(line: str) -> list[str]:
    out, start = [], 0
    for m in _SENT_END.finditer(line):
        head = line[start : m.end(1)]
        if _ABBREV.search(head.rstrip("\"'”’)")):
            continue  # "Dr. Vik", "J. Smith": not a sentence end
        out.append(head.strip())
        start = m.end()
    out.append(line[start:].strip())
    return [p for p in out if p]


def split_claims(text: str) -> list[Claim]:
    """Sentences with their citations.

    Markers after a sentence's end ("... in 2019. [1]") belong to that sentence when the answer uses that
    style (it ends with a marker); otherwise a leading marker ("[1] Ada Park wrote ...") belongs to the
    sentence it starts.
    """
    text = clean_output(text)
    pieces: list[str] = []
    for line in text.splitlines():
        line = _BULLET.sub("", line).strip()
        if line:
            pieces += _sentences(line)
    # trailing style: some piece is markers only, e.g. "Foo. [1]" split into "Foo." and "[1]"
    trailing = any(not _strip_markers(p) for p in pieces[1:])
    claims: list[tuple[str, list[int]]] = []
    for p in pieces:
        lead = re.match(rf"^(?:{_MARKER.pattern}\s*)+", p, re.IGNORECASE)
        body = p
        if trailing and lead and claims:
            claims[-1][1].extend(markers(lead.group(0)))
            body = p[lead.end() :]
        words = _strip_markers(body)
        if not words:
            if claims:
                claims[-1][1].extend(markers(body))
            continue
        claims.append((words, list(markers(body))))
    return [Claim(t, tuple(dict.fromkeys(c))) for t, c in claims if t.upper().strip(" .") != ABSTAIN_PHRASE]


def numbers(text: str, *, words: bool = False) -> set[str]:
    """Numbers in a text, digit groups joined ("400,000" -> "400000"); with words=True also "ten" -> "10"."""
    out = {_DIGIT_GROUP.sub("", m.group(0)) for m in _NUMBER.finditer(text)}
    if words:
        out |= {_NUMBER_WORDS[w] for w in re.findall(r"[a-z]+", text.lower()) if w in _NUMBER_WORDS}
    return out


def names(text: str) -> list[str]:
    """Capitalised words ("Copenhagen", "KubeCon", "CRI-O"; possessive 's dropped), the first word only when it is
    not a function word ("The", "In"): the names a claim asserts, in order."""
    out = []
    for m in _NAME.finditer(text):
        w = re.sub(r"['’]s?$", "", m.group(0))
        if (m.start() > 0 or w.lower() not in STOPWORDS) and w and w not in out:
            out.append(w)
    return out


def _names_in(name: str, evidence: str, found: set[str], *, first: bool) -> bool:
    """A name occurs in the evidence as a whole word (any case); a sentence's first word may be a plain word
    ("Readings arrive ..."), so there its stem in the evidence is enough."""
    if re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", evidence, re.IGNORECASE):
        return True
    return first and bool(content_words(name)) and content_words(name) <= found


def content_words(text: str) -> set[str]:
    """Distinct stemmed content words and numbers ("400,000" as "400000"): what every rule compares."""
    return set(terms(_DIGIT_GROUP.sub("", text)))


_content = content_words


def support(claim: str, evidence: str) -> float:
    """Share of the claim's distinct content words (stemmed) and numbers that occur in the evidence; 0 for none."""
    mine = _content(claim)
    if not mine:
        return 0.0
    return len(mine & (_content(evidence) | numbers(evidence, words=True))) / len(mine)


def check(
    claim: Claim,
    passages: Sequence[str],
    *,
    question: str = "",
    threshold: float = SUPPORT_THRESHOLD,
    new_threshold: float = NEW_WORDS_THRESHOLD,
) -> Verdict:
    """Verify one claim against the given passages (passage n is passages[n - 1])."""
    given = tuple(n for n in claim.cited if 1 <= n <= len(passages))
    removed = tuple(n for n in claim.cited if n not in given)
    evidence = "\n".join(passages[n - 1] for n in given)
    text = claim.text
    for n in given:  # small models open with the passage's heading line ("Driftwood > Performance: ..."); drop it
        head = passages[n - 1].split("\n", 1)[0].strip()
        if head and text.startswith(head + ":") and text[len(head) + 1 :].strip():
            text = text[len(head) + 1 :].strip()
            break
    asked = _content(question)
    mine = _content(text)
    found = _content(evidence) | numbers(evidence, words=True)
    score = len(mine & found) / len(mine) if given and mine else 0.0
    new_words = mine - asked
    new_score = len(new_words & found) / len(new_words) if new_words and given else float(bool(given))
    missing = tuple(sorted(numbers(text) - numbers(evidence, words=True)))
    missing += tuple(n for n in names(text) if not _names_in(n, evidence, found, first=text.startswith(n)))
    loose = _unanchored(new_words & found, asked, [passages[n - 1] for n in given])  # missing ones: rule 4
    if not given:
        reason = "cites no given passage" if removed else "cites nothing"
    elif missing:
        nums, nms = [m for m in missing if m[0].isdigit()], [m for m in missing if not m[0].isdigit()]
        parts = ([f"number {', '.join(nums)}"] if nums else []) + ([f"name {', '.join(nms)}"] if nms else [])
        reason = f"{' and '.join(parts)} is not in {_refs(given)}"
    elif question and not new_words:
        reason = "adds nothing to the question"  # "The catalog offers [1]": a restatement answers nothing
    elif score < threshold:
        reason = f"support {score:.2f} < {threshold} in {_refs(given)}"
    elif new_score < new_threshold:
        absent = ", ".join(sorted(new_words - found)[:4])
        reason = f"words beyond the question not in {_refs(given)}: {absent}"
    elif loose:
        reason = f"{', '.join(loose[:4])} not stated with the question's words in {_refs(given)}"
    else:
        reason = ""
    if len(given) > 1:  # of "[1][2]", keep the passages that back words of the claim the others do not
        given = _cover(mine | numbers(text), given, passages)
    return Verdict(text, given, removed, round(score, 4), round(new_score, 4), missing, not reason, reason)


def _cover(words: set[str], cited: Sequence[int], passages: Sequence[str]) -> tuple[int, ...]:
    """The cited passages that, taken best first, each add words of the claim (all of them, if none holds any)."""
    held = {n: words & (_content(passages[n - 1]) | numbers(passages[n - 1], words=True)) for n in cited}
    kept: list[int] = []
    covered: set[str] = set()
    for n in sorted(cited, key=lambda n: -len(held[n])):
        if held[n] - covered:
            kept.append(n)
            covered |= held[n]
    return tuple(n for n in cited if n in kept) or tuple(cited)


def _unanchored(answer_words: set[str], asked: set[str], cited: Sequence[str]) -> list[str]:
    """Rule 5: the answer words that no sentence of a cited passage (with its heading, the first line) states
    beside ANCHOR_WORDS of the question's words."""
    need = min(ANCHOR_WORDS, len(asked))
    windows = []
    for passage in cited:
        head, _, body = passage.partition("\n") if "\n" in passage else ("", "", passage)
        context = _content(head)
        sents = [_content(x) | numbers(x, words=True) for line in body.splitlines() for x in _sentences(line)]
        windows += [context | x for x in sents]
    return sorted(w for w in answer_words if not any(w in win and len(win & asked) >= need for win in windows))


def _refs(ns: Sequence[int]) -> str:
    return "".join(f"[{n}]" for n in ns)


def verify(text: str, passages: Sequence[str], *, question: str = "", **thresholds: float) -> list[Verdict]:
    """Every sentence of a generated answer, checked; the caller keeps the verified ones."""
    return [check(c, passages, question=question, **thresholds) for c in split_claims(text)]


def best_span(claim: str, sentences: Sequence[str], *, max_sentences: int = 2) -> tuple[int, int]:
    """The run of consecutive sentences (at most max_sentences) that best supports a claim: (first, last+1).

    Most of the claim's words win, each extra sentence costing 1.5 words (it must add two of the claim's words
    to be quoted too); among equals, the earliest.
    """
    mine = _content(claim)
    sets = [_content(s) | numbers(s, words=True) for s in sentences]
    best, best_key = (0, 1), (-1.0, 0)
    for i in range(len(sentences)):
        covered: set[str] = set()
        for j in range(i, min(len(sentences), i + max_sentences)):
            covered |= sets[j] & mine
            key = (len(covered) - 1.5 * (j - i), -i)
            if key > best_key:
                best, best_key = (i, j + 1), key
    return best
