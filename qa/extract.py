"""Passages -> Answer: the extractive answerer, citations checked against the source, and abstention.

The answerer needs no LLM: it scores every sentence of the best passages by how well it answers the question
and quotes the best one, plus up to two more when each adds what the question asks for. A quote is always
`document.text[start:end]`, checked before it is returned.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from qa.query import Query
from qa.retrieve import Retrieval
from qa.settings import Settings
from qa.store import Index
from qa.text import STOPWORDS, clean_inline_markdown, terms
from qa.types import Answer, AnswerSentence, Chunk, Citation, Passage

# a second retrieval (query, vector or None to encode it), for questions whose answer spans two passages
Search = Callable[[Query, np.ndarray | None], Retrieval]

ANSWER_PASSAGES = 8  # sentences are chosen from this many top passages
# sentence score = cosine + W_OV * overlap + W_CUE * answer-type cue + W_PRIOR * passage prior; chosen on
# evals/docs.jsonl, and still the best of a 27-point grid around them on all four tuning sets (evals/README.md)
W_OV, W_CUE, W_PRIOR = 0.5, 0.15, 0.3
# a further sentence's bonus: question words the chosen ones lack, bridge words, adjacency
W_GAIN, W_BRIDGE, W_ADJ, SECOND_POOL = 1.0, 0.3, 0.05, 40
# the second and third sentence must score within these margins of the first (chosen on evals/docs.jsonl)
MORE_MARGINS = (0.1, 0.0)
# a sentence found by the second search must score this close to that search's best. On the four tuning sets
# (253 answerable questions) 0.25-0.3 add one for 0.4-3.7 more words per answer, and 0.1-0.15 lose 5-7
HOP_MARGIN = 0.2
# a sentence sharing more than this share of its terms with a chosen one restates it (Jaccard); docs.jsonl
# scores 0.3-0.6 alike, answers get shorter as it falls, and 0.25 starts dropping answers
SAME_FACT = 0.4
# an answer to a number, date or version question that holds none (or no amount in the unit asked for) loses this
# much confidence. On the four tuning sets, raising it from 0.25 to 0.45 refuses 7 more near-misses and no right
# answer; above 0.45 nothing changes
TYPE_PENALTY = 0.5
# ... and only a sentence that is about the question on its own (cosine or word share at least this) counts as
# giving the type: "$100,000" in a sentence on cloud costs does not answer what a conference ticket cost. On the
# tuning sets 0.4-0.45 refuse 3 more near-misses and lose no answer; 0.5 starts losing answers
ON_TOPIC = 0.4
ABSTAIN_TEXT = "The documents don't say: none of the closest passages answers this question."

_MONTHS = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*"
_CUES = {
    "time": re.compile(rf"\b(1[89]\d\d|20\d\d)\b|\b{_MONTHS}\b\.?\s+\d|\b\d{{1,2}}\s+{_MONTHS}\b", re.IGNORECASE),
    "number": re.compile(  # a count or amount; a bare year ("in 2015") and "one of" are not one
        r"\b(?!(?:1[89]|20)\d\d\b)\d[\d.,]*|\bone\b(?!\s+(?:of|another)\b)|\b(two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozen|hundred|thousand|million|billion)s?\b",
        re.IGNORECASE,
    ),
    "version": re.compile(r"\b\d+\.\d+(?:\.\d+)*\b|\bv\d+\b|\b(?:version|release)\s+\d+\b", re.IGNORECASE),
    "person": re.compile(  # capitalised words in a row, at a sentence start too unless the first is "The", "In" ...
        rf"(?:(?<![.!?]\s)(?<!^)|(?!(?:{'|'.join(sorted(w.capitalize() for w in STOPWORDS))})\b))"
        r"\b[A-Z][a-z]+(?:\s+[A-Z][a-z'’-]+)+"
    ),
    "role": re.compile(  # a job title, singular: "developers" or "engineers" in general name nobody's job
        r"\b(ceo|cto|cfo|coo|cio|ciso|vp|founder|co-founder|president|director|manager|engineer|architect|officer"
        r"|head of|chief|evangelist|advocate|maintainer|scientist|professor|consultant|analyst|editor|chair|fellow)\b",
        re.IGNORECASE,
    ),
    "reason": re.compile(
        r"\b(because|due to|since|as a result|consequence|reason|so that|in order to|thanks to|caus\w*|lead\w* to|driven by)\b",
        re.IGNORECASE,
    ),
    "place": re.compile(r"\b(?:in|at|from|to|near)\s+(?:the\s+)?[A-Z][\w'’-]+"),
}

# A quantity question that names its unit ("how many kilometres", "how much did it cost") is answered only by a
# sentence with an amount in that unit; units are a closed vocabulary, unlike the counted noun ("how many
# sessions" is answered by "four or five rooms"). (answer kind, question pattern, answer pattern).
_UNITS = (
    (  # money
        "number",
        r"\bhow much\b.*\b(cost|costs|charged?|price[ds]?|pay|paid|money|fees?|raised?|stipends?|salary|budget)\b"
        r"|\bwhat (?:was|is|were|are) the (price|cost|fee)s?\b",
        r"[$€£¥]|\b(dollars?|euros?|pounds|usd|eur|gbp|cents?|free)\b",
    ),
    (  # distance
        "number",
        r"\bhow far\b|\b(kilomet(er|re)s?|km|miles?)\b",
        r"\d\s*(km|mi)\b|\b(kilomet(er|re)s?|miles?|met(er|re)s?)\b",
    ),
    (  # data size
        "number",
        r"\b(bytes?|(kilo|mega|giga|tera)bytes?|[kmgt]i?b)\b",
        r"\d\s*([kmgt]i?b|bytes?)\b|\b(kilo|mega|giga|tera)?bytes?\b",
    ),
    (  # duration
        "number",
        r"\bhow long\b|\bhow many (milli|micro)?(seconds?|minutes?|hours?|days?|weeks?)\b",
        r"\b((milli|micro|nano)?seconds?|minutes?|hours?|days?|weeks?|months?|years?)\b|\d\s*(ms|s|min|h)\b",
    ),
    (  # a calendar date, not just a year ("On what date ..." is not answered by "KubeCon EU 2022")
        "time",
        r"\b(?:what|which)\s+(?:exact\s+)?dates?\b",
        rf"\b{_MONTHS}\.?\s+\d{{1,2}}\b|\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTHS}\b|\b\d{{4}}-\d\d-\d\d\b"
        r"|\b\d{1,2}[./]\d{1,2}[./]\d{2,4}\b",
    ),
    (  # share
        "number",
        r"\bwhat (percentage|percent|share|proportion|fraction)\b|\bhow many percent\b",
        r"%|\bper ?cent\b|\b(half|thirds?|quarters?|majority|minority)\b",
    ),
)
_UNIT_CUES = tuple((k, re.compile(q, re.IGNORECASE), re.compile(a, re.IGNORECASE)) for k, q, a in _UNITS)


def lacks_unit(kind: str, question: str, sentences: list[str]) -> bool:
    """True when a number or time question asks for an amount in a named unit (or a calendar date) and none of
    the sentences gives one."""
    return any(k == kind and q.search(question) and not any(a.search(s) for s in sentences) for k, q, a in _UNIT_CUES)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A sentence (or two adjacent ones) that could be quoted as the answer."""

    passage: Passage
    start: int  # absolute offsets in the document
    end: int
    score: float
    cosine: float
    overlap: float
    words: int


def cue(kind: str, sentence: str, question: str) -> float:
    """1 when the sentence holds the kind of thing the question asks for and the question does not already."""
    pattern = _CUES.get(kind)
    if pattern is None:
        return 0.0
    q = question.lower()
    for m in pattern.finditer(sentence):
        if m.group(0).lower() not in q:
            return 1.0
    return 0.0


def candidates(retrieval: Retrieval, *, max_passages: int = ANSWER_PASSAGES) -> list[Candidate]:
    """Every sentence of the top passages, scored."""
    query = retrieval.query
    passages = retrieval.passages[:max_passages]
    if not passages:
        return []
    top = max(p.score for p in passages) or 1.0
    q_terms = frozenset(query.terms)
    out = []
    for p in passages:
        ev = retrieval.evidence.get(p.chunk.id)
        if ev is None:
            continue
        prior = p.score / top
        for i, (s, e) in enumerate(p.chunk.sentences):
            text = p.chunk.text[s - p.chunk.start : e - p.chunk.start]
            novel = len(ev.terms[i] - q_terms)
            score = (
                float(ev.cosine[i])
                + W_OV * float(ev.overlap[i])
                + W_CUE * cue(query.kind, text, query.text)
                + W_PRIOR * prior
                - (0.3 if novel == 0 else 0.0)  # a sentence that only repeats the question answers nothing
            )
            out.append(Candidate(p, s, e, score, float(ev.cosine[i]), float(ev.overlap[i]), len(text.split())))
    out.sort(key=lambda c: -c.score)
    return out


def _terms_of(c: Candidate) -> frozenset[str]:
    chunk = c.passage.chunk
    return frozenset(terms(chunk.text[c.start - chunk.start : c.end - chunk.start]))


def _text_of(c: Candidate) -> str:
    chunk = c.passage.chunk
    return chunk.text[c.start - chunk.start : c.end - chunk.start]


def choose(cands: list[Candidate], retrieval: Retrieval, index: Index, max_words: int) -> list[Candidate]:
    """The best sentence (with the one before it when it opens with a pronoun), plus up to two more when each
    adds what those chosen so far lack.

    A further sentence earns a bonus for question words the chosen ones do not cover, for the answer type they
    lack, and for sharing their new words (a bridge: the first names "Kata Containers", the next says who
    governs Kata Containers); it must score close to the first and fit the word budget. From another passage
    it must add question words or the answer type: a restatement (docs/ repeats facts across pages) only makes
    the answer longer. A first sentence that opens with a pronoun ("It's an incubating project ...") or points
    back ("... the latter approach is becoming more popular") brings the sentence before it, which says what
    "it" or "the latter" is; one followed by a sentence that names what it describes ("This is known as
    propagating the error.") brings that sentence.
    """
    first = trim(cands[0], retrieval.query, retrieval.idf, max_words)
    chosen = [first]
    antecedent = _antecedent(first, cands)
    if antecedent is not None and first.words + antecedent.words <= max_words:
        chosen.append(antecedent)
    naming = _naming(first, cands)
    if naming is not None and sum(c.words for c in chosen) + naming.words <= max_words:
        chosen.append(naming)
    for margin in MORE_MARGINS:
        best, best_score = _next_sentence(chosen, cands[1:SECOND_POOL], retrieval, index, max_words)
        if best is None or best_score < first.score - margin:
            break
        chosen.append(best)
    return chosen


def _antecedent(first: Candidate, cands: list[Candidate]) -> Candidate | None:
    """The sentence just before `first` in its chunk when `first` opens with a pronoun or says "the latter",
    else None."""
    text = _text_of(first)
    if not (_PRONOUN_START.match(text) or _BACK_REFERENCE.search(text)):
        return None
    i = _sentence_index(first)
    if i == 0:
        return None
    return _candidate_at(cands, first.passage.chunk, i - 1)


def _naming(first: Candidate, cands: list[Candidate]) -> Candidate | None:
    """The sentence just after `first` when it names what `first` describes ("This is known as propagating the
    error."), else None: the name is often the answer, and that sentence alone matches little of the question."""
    i = _sentence_index(first)
    chunk = first.passage.chunk
    if i + 1 >= len(chunk.sentences):
        return None
    s, e = chunk.sentences[i + 1]
    if not _NAMING.match(chunk.text[s - chunk.start : e - chunk.start]):
        return None
    return _candidate_at(cands, chunk, i + 1)


def _candidate_at(cands: list[Candidate], chunk: Chunk, i: int) -> Candidate | None:
    """The candidate for sentence i of `chunk` (None when its passage was not among the answer passages)."""
    s, e = chunk.sentences[i]
    return next((c for c in cands if c.passage.chunk.id == chunk.id and c.start == s and c.end == e), None)


def _sentence_index(c: Candidate) -> int:
    """Which of its chunk's sentences a candidate starts in (a trimmed candidate starts mid-sentence)."""
    return next((k for k, (s, e) in enumerate(c.passage.chunk.sentences) if s <= c.start < e), 0)


def _next_sentence(
    chosen: list[Candidate],
    pool: list[Candidate],
    retrieval: Retrieval,
    index: Index,
    max_words: int,
    *,
    must_add: bool = False,
) -> tuple[Candidate | None, float]:
    """The candidate of `pool` that best completes `chosen`, with its score (bonuses included).

    A neighbour of a chosen sentence may simply continue it; with `must_add`, every candidate must add question
    words or the answer type.
    """
    query = retrieval.query
    q_terms = frozenset(query.terms)
    chosen_terms = [_terms_of(c) for c in chosen]
    t1 = frozenset().union(*chosen_terms)
    used = sum(c.words for c in chosen)
    bridge = t1 - q_terms
    idf = {**retrieval.idf, **index.idf(bridge)}
    q_total = sum(idf.get(t, 0.0) for t in q_terms) or 1.0
    b_total = sum(idf.get(t, 0.0) for t in bridge) or 1.0
    cue1 = max(cue(query.kind, _text_of(c), query.text) for c in chosen)
    best, best_score = None, float("-inf")
    for c in pool:
        if any(c.passage.chunk.id == o.passage.chunk.id and c.start < o.end and o.start < c.end for o in chosen):
            continue  # overlaps a chosen sentence
        if used + c.words > max_words:
            if max_words - used < 12:
                continue  # a clause that short rarely carries an answer
            c = trim(c, query, retrieval.idf, max_words - used)
            if used + c.words > max_words:
                continue
        tc = _terms_of(c)
        if any(len(tc & t) > SAME_FACT * len(tc | t) for t in chosen_terms):
            continue  # the same fact again, e.g. from another page
        gain = sum(idf.get(t, 0.0) for t in (q_terms & tc) - t1) / q_total
        bridged = sum(idf.get(t, 0.0) for t in bridge & tc) / b_total
        cue_gain = max(0.0, cue(query.kind, _text_of(c), query.text) - cue1)
        adjacent = any(c.passage.chunk.id == o.passage.chunk.id for o in chosen)
        if not (gain > 0 or cue_gain > 0 or (adjacent and not must_add)):
            continue  # it must add question words or the answer type, not restate
        score = c.score + W_GAIN * gain + W_BRIDGE * bridged + W_CUE * cue_gain + (W_ADJ if adjacent else 0.0)
        if score > best_score:
            best, best_score = c, score
    return best, best_score


def second_hop(
    chosen: list[Candidate], retrieval: Retrieval, index: Index, max_words: int, search: Search
) -> list[Candidate]:
    """Search again for facts that span two passages, and add the best sentence found.

    Two searches, each judged against its own best hit (within HOP_MARGIN): the question with the first answer
    sentence added ("Where in Copenhagen was the conference at which Google open sourced gVisor?": the first
    sentence names the conference, and only a search that includes it finds the venue), and, when the question
    has a relative clause, its main clause with the names the first sentence gives ("Who introduced the runtime"
    + "gVisor"), which finds what is asked about the thing the clause describes. The new sentence must add
    question words or the answer type (being next to a chosen sentence is not enough here).
    """
    room = max_words - sum(c.words for c in chosen)
    if len(chosen) > len(MORE_MARGINS) or room < 12:
        return chosen
    query = retrieval.query
    first = _text_of(chosen[0])
    with_first = replace(query, text=f"{query.text} {first}", terms=tuple(dict.fromkeys((*query.terms, *terms(first)))))
    searches: list[tuple[Query, np.ndarray | None, Callable[[Candidate], bool] | None]] = [
        (with_first, _hop_vector(chosen[0], retrieval), None)
    ]
    names = list(dict.fromkeys(n for n in _NAME.findall(first) if n.lower() not in query.text.lower()))
    named = frozenset(terms(" ".join(names))) - frozenset(query.terms)
    if query.main is not None and named:  # without a new name, no sentence could be kept: skip the model call
        text = " ".join([query.main, *names])
        main = replace(query, text=text, terms=tuple(dict.fromkeys(terms(text))))
        searches.append((main, None, _answers_main_clause(query, named, chosen)))
    pick, gap = None, float("-inf")
    for hop, vector, keep in searches:
        found = candidates(search(hop, vector))
        if not found:
            continue
        pool = [c for c in found[:SECOND_POOL] if keep is None or keep(c)]
        best, best_score = _next_sentence(chosen, pool, retrieval, index, max_words, must_add=True)
        if best is not None and best_score - found[0].score > gap:
            pick, gap = best, best_score - found[0].score
    if pick is None or gap < -HOP_MARGIN:
        return chosen
    return [*chosen, pick]


# names in a sentence: capitalised word runs and camel-case words ("KubeCon EU 2018", "Craig Box", "gVisor")
_NAME = re.compile(r"\b(?:[A-Z]|[a-z]+[A-Z])[\w'’/-]*(?:\.[\w'’/-]+)*(?:\s+[A-Z0-9][\w'’/-]*(?:\.[\w'’/-]+)*)*")


def _answers_main_clause(query: Query, named: frozenset[str], chosen: list[Candidate]) -> Callable[[Candidate], bool]:
    """Which sentences the main-clause search may add: one about a thing the first sentence names (`named`: the
    terms of those names) that adds a main-clause word or the answer type the answer lacks, and holds the type
    when the answer already does. Without the last rule, a typed question already answered ("Which Spark version
    ...") gained a sentence on Kubernetes versions that named none."""
    main_terms = frozenset(terms(query.main or ""))
    covered = frozenset().union(*(_terms_of(c) for c in chosen))
    typed = any(cue(query.kind, _text_of(c), query.text) for c in chosen)

    def keep(c: Candidate) -> bool:
        tc = _terms_of(c)
        has_type = cue(query.kind, _text_of(c), query.text) > 0
        adds = bool((main_terms & tc) - covered) or (has_type and not typed)
        return bool(named & tc) and adds and (has_type or not typed)

    return keep


def _hop_vector(first: Candidate, retrieval: Retrieval) -> np.ndarray | None:
    """The question's vector plus the first sentence's stored one: the second search needs no model call."""
    ev = retrieval.evidence.get(first.passage.chunk.id)
    if retrieval.vector is None or ev is None:
        return None
    v = retrieval.vector + ev.vectors[_sentence_index(first)]
    return (v / (np.linalg.norm(v) or 1.0)).astype(np.float32)


_PRONOUN_START = re.compile(
    r"^[\"'“‘(]?(it|its|it’s|it's|this|that|these|those|they|their|he|she|his|her|such)\b"
    r"|^(?:in|for|with|of|from|unlike|like|besides)\s+(?:those|these|such|both)\s",  # "In those languages, ..."
    re.I,
)


# "This is known as ...", "It is called ...": a sentence that gives the name of what the one before describes
_NAMING = re.compile(
    r"^(?:this|that|it|these|those|such\s+\w+)\s+(?:is|are|was|were)\s+(?:also\s+|often\s+|sometimes\s+)?"
    r"(?:called|known\s+as|referred\s+to\s+as|named|termed|dubbed)\b",
    re.IGNORECASE,
)

# "the latter approach", "the former": a reference back that only the sentence before can resolve
_BACK_REFERENCE = re.compile(r"\bthe (latter|former|above)\b", re.I)

_CLAUSE = re.compile(r"[,;:]\s+|\s+[–—-]\s+|\s+\(|\)\s+")


def trim(c: Candidate, query: Query, idf: dict[str, float], max_words: int) -> Candidate:
    """Cut an over-long sentence to its clauses that best match the question, within max_words."""
    if c.words <= max_words:
        return c
    text = _text_of(c)
    cuts = [0] + [m.end() for m in _CLAUSE.finditer(text)] + [len(text)]
    q_terms = frozenset(query.terms)
    best, best_key = None, None
    for i in range(len(cuts) - 1):
        for j in range(i + 1, len(cuts)):
            piece = text[cuts[i] : cuts[j]].strip(" ,;:()–—-")
            n = len(piece.split())
            if n > max_words:
                break
            if n < 4:
                continue
            pt = frozenset(terms(piece))
            key = (sum(idf.get(t, 0.0) for t in q_terms & pt) + cue(query.kind, piece, query.text), n)
            if best_key is None or key > best_key:
                best, best_key = (cuts[i], cuts[j]), key
    if best is None:  # no clause boundary fits: cut at the word budget
        words = list(re.finditer(r"\S+", text))
        best = (0, words[max_words - 1].end())
    s, e = best
    while s < e and text[s] in " ,;:()–—-":
        s += 1
    while e > s and text[e - 1] in " ,;:(–—-":
        e -= 1
    start = c.start + s
    end = c.start + e
    return Candidate(c.passage, start, end, c.score, c.cosine, c.overlap, len(text[s:e].split()))


def _merge_adjacent(chosen: list[Candidate]) -> list[Candidate]:
    """Sentences of one chunk read in document order, and as one quote when nothing lies between them."""
    order = list(dict.fromkeys(c.passage.chunk.id for c in chosen))
    out: list[Candidate] = []
    for c in sorted(chosen, key=lambda c: (order.index(c.passage.chunk.id), c.start)):
        prev = out[-1] if out else None
        chunk = c.passage.chunk
        if (
            prev is None
            or prev.passage.chunk.id != chunk.id
            or chunk.text[prev.end - chunk.start : c.start - chunk.start].strip()
        ):
            out.append(c)
            continue
        out[-1] = Candidate(
            prev.passage,
            prev.start,
            c.end,
            max(prev.score, c.score),
            max(prev.cosine, c.cosine),
            max(prev.overlap, c.overlap),
            prev.words + c.words,
        )
    return out


def confidence(retrieval: Retrieval, cands: list[Candidate], chosen: list[Candidate] = ()) -> float:  # type: ignore[assignment]
    """How sure we are that the passages answer the question: the best sentence cosine among the top candidates,
    or half the best sentence's share of the question's idf-weighted words, whichever is higher.

    Sixty off-topic probe questions (evals/offtopic-probes.jsonl) reach at most 0.36 on docs/ and on the seeds,
    so the default threshold of 0.40 refuses them with room to spare (on man pages and the Rust book, probes
    worded like technical text reach 0.70: README, Quality). The word share counts only when a sentence
    holds 80% of the question's weight: names the embedding model does not know ("At which company is Rafael
    Fernández López a senior software engineer?") leave the cosine low. Mixing in the share of question words
    the top passage covers (the formula before) refused more paraphrased answerable questions and no more
    off-topic ones. A question that asks for a number, a date or a version whose chosen answer holds none, or
    for an amount in a unit the answer does not give ("how many kilometres" answered by "312 stations"), loses
    TYPE_PENALTY: the passages are about the right thing but do not say what was asked (a near-miss). A sentence
    counts as giving the type only when it is itself about the question (ON_TOPIC).
    """
    if not cands or not retrieval.passages:
        return 0.0
    top = cands[:20]
    conf = max(max(c.cosine for c in top), 0.5 * max(c.overlap for c in top))
    kind = retrieval.query.kind
    if chosen and kind in ("number", "time", "version"):
        texts = [_text_of(c) for c in chosen if max(c.cosine, c.overlap) >= ON_TOPIC]
        if not any(cue(kind, t, retrieval.query.text) for t in texts) or lacks_unit(kind, retrieval.query.text, texts):
            conf -= TYPE_PENALTY
    return conf


def cite(index: Index, n: int, chunk: Chunk, start: int, end: int, score: float) -> Citation | None:
    """A citation whose quote is checked against the stored document text; None if it does not match."""
    quote = chunk.text[start - chunk.start : end - chunk.start]
    doc = index.document(chunk.source)
    if doc is None or doc.text[start:end] != quote:
        return None
    return Citation(n, chunk.source, chunk.section, start, end, quote, round(score, 4), chunk.id)


def extractive(retrieval: Retrieval, index: Index, settings: Settings, search: Search | None = None) -> Answer:
    """The default answer: quoted sentences with [n] markers, or an abstention with the closest passages.

    `search` (retrieval for another query) enables the second hop; without it the answer uses these passages only.
    """
    cands = candidates(retrieval)
    chosen = choose(cands, retrieval, index, settings.max_answer_words) if cands else []
    conf = confidence(retrieval, cands, chosen)
    passages = retrieval.passages[: settings.top_k]
    common = dict(
        question=retrieval.query.original,
        passages=passages,
        timings={},
        confidence=round(conf, 4),
        resolved_question=retrieval.query.text,
        notes=retrieval.query.notes,
        stages=retrieval.stages,
    )
    if not cands or conf < settings.abstain_threshold:
        return Answer(text=ABSTAIN_TEXT, abstained=True, citations=(), **common)  # type: ignore[arg-type]
    if search is not None:
        chosen = second_hop(chosen, retrieval, index, settings.max_answer_words, search)
    chosen = _merge_adjacent(chosen)
    citations, parts, sentences = [], [], []
    for c in chosen:
        cit = cite(index, len(citations) + 1, c.passage.chunk, c.start, c.end, c.score)
        if cit is None:
            continue
        citations.append(cit)
        display = clean_inline_markdown(cit.quote)
        if not any(c.start == s for s, _ in c.passage.chunk.sentences):
            display = "…" + display  # trimmed to its relevant clauses
        if not any(c.end == e for _, e in c.passage.chunk.sentences):
            display += "…"
        parts.append(f"{display} [{cit.n}]")
        sentences.append(AnswerSentence(display, (cit.n,), True))
    if not citations:
        return Answer(text=ABSTAIN_TEXT, abstained=True, citations=(), **common)  # type: ignore[arg-type]
    return Answer(
        text=" ".join(parts),
        abstained=False,
        citations=tuple(citations),
        raw="\n".join(c.quote for c in citations),
        sentences=tuple(sentences),
        **common,  # type: ignore[arg-type]
    )
