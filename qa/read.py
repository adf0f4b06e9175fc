"""The Reader seam: Retrieval -> Reading (the spans to quote, and how sure). One small protocol plus a name ->
factory registry (READERS); a model reader or an LLM judge plugs in here.

A reader states its own confidence scale and the threshold calibrated on it, so swapping readers never silently
moves abstention. It may ask for follow-up searches (facts that span two passages); the pipeline runs them and
hands the results to `extend`. The built-in "heuristic" reader needs no model: it scores every sentence of the
best passages by how well it answers the question and quotes the best one, plus up to two more when each adds
what the question asks for. Its rules and numbers are in qa/rules.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Protocol

import numpy as np

from qa import rules as R
from qa.errors import InputError
from qa.text import NAME, QUESTION_WORDS, STOPWORDS, terms
from qa.types import Chunk, FollowUp, Query, Reading, Retrieval, Span


class Reader(Protocol):
    """Chooses what to quote, and says how sure it is on its own scale."""

    name: str
    threshold: float  # abstain below this confidence (calibrated for this reader)

    def read(self, retrieval: Retrieval, *, max_words: int) -> Reading: ...

    def extend(self, reading: Reading, retrieval: Retrieval, found: Sequence[Retrieval], *, max_words: int) -> Reading:
        """The reader's last word: the reading with what the follow-up searches found (found[i] answers
        reading.follow_ups[i]; empty when none were run), and its final confidence."""
        ...


# --- rule family 3/4: what the question asks for -------------------------------------------------


def cue(kind: str, sentence: str, question: str) -> float:
    """1 when the sentence holds the kind of thing the question asks for and the question does not already."""
    pattern = R.CUES.get(kind)
    if pattern is None:
        return 0.0
    q = question.lower()
    for m in pattern.finditer(sentence):
        if m.group(0).lower() not in q:
            return 1.0
    return 0.0


def lacks_unit(kind: str, question: str, sentences: list[str]) -> bool:
    """True when a number or time question asks for an amount in a named unit (or a calendar date) and none of
    the sentences gives one."""
    return any(k == kind and q.search(question) and not any(a.search(s) for s in sentences) for k, q, a in R.UNITS)


# --- rule family 5: every sentence scored ---------------------------------------------------------


Off = frozenset[str]  # rule families switched off (R.FAMILIES), for ablation


def candidates(retrieval: Retrieval, *, max_passages: int = R.ANSWER_PASSAGES, off: Off = frozenset()) -> list[Span]:
    """Every sentence of the top passages, scored, best first."""
    w_cue = 0.0 if "cues" in off else R.W_CUE
    restated = 0.0 if "restatement" in off else R.RESTATEMENT_PENALTY
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
                + R.W_OV * float(ev.overlap[i])
                + w_cue * cue(query.kind, text, query.text)
                + R.W_PRIOR * prior
                - (restated if novel == 0 else 0.0)
            )
            out.append(Span(p, s, e, score, float(ev.cosine[i]), float(ev.overlap[i]), len(text.split())))
    out.sort(key=lambda c: -c.score)
    return out


def _terms_of(c: Span) -> frozenset[str]:
    return frozenset(terms(c.text))


# --- rule families 6 and 7: the sentences chosen --------------------------------------------------


def choose(cands: list[Span], retrieval: Retrieval, max_words: int, *, off: Off = frozenset()) -> list[Span]:
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
    antecedent = None if "context" in off else _antecedent(first, cands)
    if antecedent is not None and first.words + antecedent.words <= max_words:
        chosen.append(antecedent)
    naming = None if "context" in off else _naming(first, cands)
    if naming is not None and sum(c.words for c in chosen) + naming.words <= max_words:
        chosen.append(naming)
    for margin in () if "further" in off else R.MORE_MARGINS:
        best, best_score = _next_sentence(chosen, cands[1 : R.SECOND_POOL], retrieval, max_words, off=off)
        if best is None or best_score < first.score - margin:
            break
        chosen.append(best)
    return chosen


def _antecedent(first: Span, cands: list[Span]) -> Span | None:
    """The sentence just before `first` in its chunk when `first` opens with a pronoun or says "the latter"."""
    text = first.text
    if not (R.PRONOUN_START.match(text) or R.BACK_REFERENCE.search(text)):
        return None
    i = _sentence_index(first)
    if i == 0:
        return None
    return _candidate_at(cands, first.passage.chunk, i - 1)


def _naming(first: Span, cands: list[Span]) -> Span | None:
    """The sentence just after `first` when it names what `first` describes ("This is known as propagating the
    error."): the name is often the answer, and that sentence alone matches little of the question."""
    i = _sentence_index(first)
    chunk = first.passage.chunk
    if i + 1 >= len(chunk.sentences):
        return None
    s, e = chunk.sentences[i + 1]
    if not R.NAMING.match(chunk.text[s - chunk.start : e - chunk.start]):
        return None
    return _candidate_at(cands, chunk, i + 1)


def _candidate_at(cands: list[Span], chunk: Chunk, i: int) -> Span | None:
    """The candidate for sentence i of `chunk` (None when its passage was not among the answer passages)."""
    s, e = chunk.sentences[i]
    return next((c for c in cands if c.passage.chunk.id == chunk.id and c.start == s and c.end == e), None)


def _sentence_index(c: Span) -> int:
    """Which of its chunk's sentences a span starts in (a trimmed span starts mid-sentence)."""
    return next((k for k, (s, e) in enumerate(c.passage.chunk.sentences) if s <= c.start < e), 0)


def _next_sentence(
    chosen: list[Span],
    pool: list[Span],
    retrieval: Retrieval,
    max_words: int,
    *,
    must_add: bool = False,
    off: Off = frozenset(),
) -> tuple[Span | None, float]:
    """The candidate of `pool` that best completes `chosen`, with its score (bonuses included).

    A neighbour of a chosen sentence may simply continue it; with `must_add`, every candidate must add question
    words or the answer type.
    """
    query = retrieval.query
    idf = retrieval.idf
    q_terms = frozenset(query.terms)
    chosen_terms = [_terms_of(c) for c in chosen]
    t1 = frozenset().union(*chosen_terms)
    used = sum(c.words for c in chosen)
    bridge = t1 - q_terms
    q_total = sum(idf.get(t, 0.0) for t in q_terms) or 1.0
    b_total = sum(idf.get(t, 0.0) for t in bridge) or 1.0
    cue1 = max(cue(query.kind, c.text, query.text) for c in chosen)
    best, best_score = None, float("-inf")
    for c in pool:
        if any(c.passage.chunk.id == o.passage.chunk.id and c.start < o.end and o.start < c.end for o in chosen):
            continue  # overlaps a chosen sentence
        if used + c.words > max_words:
            if max_words - used < R.MIN_CLAUSE_WORDS:
                continue
            c = trim(c, query, retrieval.idf, max_words - used)
            if used + c.words > max_words:
                continue
        tc = _terms_of(c)
        if any(len(tc & t) > R.SAME_FACT * len(tc | t) for t in chosen_terms):
            continue  # the same fact again, e.g. from another page
        gain = sum(idf.get(t, 0.0) for t in (q_terms & tc) - t1) / q_total
        bridged = sum(idf.get(t, 0.0) for t in bridge & tc) / b_total
        cue_gain = max(0.0, cue(query.kind, c.text, query.text) - cue1)
        adjacent = any(c.passage.chunk.id == o.passage.chunk.id for o in chosen)
        if not (gain > 0 or cue_gain > 0 or (adjacent and not must_add)):
            continue  # it must add question words or the answer type, not restate
        w_cue = 0.0 if "cues" in off else R.W_CUE
        score = c.score + R.W_GAIN * gain + R.W_BRIDGE * bridged + w_cue * cue_gain + (R.W_ADJ if adjacent else 0.0)
        if score > best_score:
            best, best_score = c, score
    return best, best_score


# --- rule family 8: the second search -------------------------------------------------------------


def follow_ups(
    chosen: list[Span], retrieval: Retrieval, max_words: int, *, off: Off = frozenset()
) -> tuple[FollowUp, ...]:
    """The searches that may find a fact spanning two passages.

    The question with the first answer sentence added ("Where in Copenhagen was the conference at which Google
    open sourced gVisor?": the first sentence names the conference, and only a search that includes it finds the
    venue), and, when the question has a relative clause, its main clause with the names the first sentence
    gives ("Who introduced the runtime" + "gVisor"), which finds what is asked about the thing the clause
    describes. None when the answer is already long enough.
    """
    room = max_words - sum(c.words for c in chosen)
    if "second-search" in off or len(chosen) > len(R.MORE_MARGINS) or room < R.MIN_CLAUSE_WORDS:
        return ()
    query = retrieval.query
    first = chosen[0].text
    with_first = replace(query, text=f"{query.text} {first}", terms=tuple(dict.fromkeys((*query.terms, *terms(first)))))
    out = [FollowUp(with_first, _hop_vector(chosen[0], retrieval))]
    names = list(dict.fromkeys(n for n in NAME.findall(first) if n.lower() not in query.text.lower()))
    named = frozenset(terms(" ".join(names))) - frozenset(query.terms)
    if query.main is not None and named:  # without a new name, no sentence could be kept: skip the search
        text = " ".join([query.main, *names])
        main = replace(query, text=text, terms=tuple(dict.fromkeys(terms(text))))
        out.append(FollowUp(main, None, _answers_main_clause(query, named, chosen)))
    return tuple(out)


def second_hop(
    chosen: list[Span],
    asked: Sequence[FollowUp],
    found: Sequence[Retrieval],
    retrieval: Retrieval,
    max_words: int,
    *,
    off: Off = frozenset(),
) -> list[Span]:
    """The chosen spans plus the best sentence the follow-up searches found, each judged against its own search's
    best hit (within HOP_MARGIN); it must add question words or the answer type (adjacency is not enough)."""
    pick, gap = None, float("-inf")
    for hop, result in zip(asked, found, strict=True):
        cands = candidates(result, off=off)
        if not cands:
            continue
        pool = [c for c in cands[: R.SECOND_POOL] if hop.keep is None or hop.keep(c)]
        best, best_score = _next_sentence(chosen, pool, retrieval, max_words, must_add=True, off=off)
        if best is not None and best_score - cands[0].score > gap:
            pick, gap = best, best_score - cands[0].score
    if pick is None or gap < -R.HOP_MARGIN:
        return chosen
    return [*chosen, pick]


def _answers_main_clause(query: Query, named: frozenset[str], chosen: list[Span]) -> Callable[[Span], bool]:
    """Which sentences the main-clause search may add: one about a thing the first sentence names (`named`: the
    terms of those names) that adds a main-clause word or the answer type the answer lacks, and holds the type
    when the answer already does. Without the last rule, a typed question already answered ("Which Spark version
    ...") gained a sentence on Kubernetes versions that named none."""
    main_terms = frozenset(terms(query.main or ""))
    covered = frozenset().union(*(_terms_of(c) for c in chosen))
    typed = any(cue(query.kind, c.text, query.text) for c in chosen)

    def keep(c: Span) -> bool:
        tc = _terms_of(c)
        has_type = cue(query.kind, c.text, query.text) > 0
        adds = bool((main_terms & tc) - covered) or (has_type and not typed)
        return bool(named & tc) and adds and (has_type or not typed)

    return keep


def _hop_vector(first: Span, retrieval: Retrieval) -> np.ndarray | None:
    """The question's vector plus the first sentence's stored one: the second search needs no model call."""
    ev = retrieval.evidence.get(first.passage.chunk.id)
    if retrieval.vector is None or ev is None:
        return None
    v = retrieval.vector + ev.vectors[_sentence_index(first)]
    return (v / (np.linalg.norm(v) or 1.0)).astype(np.float32)


# --- rule family 10: trimming ---------------------------------------------------------------------


def trim(c: Span, query: Query, idf: dict[str, float], max_words: int) -> Span:
    """Cut an over-long sentence to its clauses that best match the question, within max_words."""
    if c.words <= max_words:
        return c
    text = c.text
    cuts = [0] + [m.end() for m in R.CLAUSE.finditer(text)] + [len(text)]
    q_terms = frozenset(query.terms)
    best, best_key = None, None
    for i in range(len(cuts) - 1):
        for j in range(i + 1, len(cuts)):
            piece = text[cuts[i] : cuts[j]].strip(" ,;:()–—-")
            n = len(piece.split())
            if n > max_words:
                break
            if n < R.MIN_TRIM_WORDS:
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
    return Span(c.passage, c.start + s, c.start + e, c.score, c.cosine, c.overlap, len(text[s:e].split()))


# --- rule family 9: confidence --------------------------------------------------------------------


def confidence(
    retrieval: Retrieval, cands: list[Span], chosen: Sequence[Span] = (), *, off: Off = frozenset()
) -> float:
    """How sure we are that the passages answer the question: the best sentence cosine among the top candidates,
    or OVERLAP_IN_CONFIDENCE times the best sentence's share of the question's idf-weighted words, whichever is
    higher, less TYPE_PENALTY when a count, date or version is asked for and no on-topic chosen sentence gives
    one (or no amount in the unit asked for: "how many kilometres" answered by "312 stations"). The coverage
    rule is applied to the final spans, after any second search (HeuristicReader.extend).

    Sixty off-topic probe questions (evals/offtopic-probes.jsonl) reach at most 0.36 on docs/ and on the seeds,
    so THRESHOLD (0.40) refuses them with room to spare (on man pages and the Rust book, probes worded like
    technical text reach 0.70: README, Quality). Mixing in the share of question words the top passage covers (the
    formula before) refused more paraphrased answerable questions and no more off-topic ones.
    """
    if not cands or not retrieval.passages:
        return 0.0
    top = cands[: R.CONFIDENCE_POOL]
    conf = max(max(c.cosine for c in top), R.OVERLAP_IN_CONFIDENCE * max(c.overlap for c in top))
    query = retrieval.query
    kind = query.kind
    if chosen and kind in R.TYPED_KINDS and "type-penalty" not in off:
        texts = [c.text for c in chosen if max(c.cosine, c.overlap) >= R.ON_TOPIC]
        unit_missing = "units" not in off and lacks_unit(kind, query.text, texts)
        if not any(cue(kind, t, query.text) for t in texts) or unit_missing:
            conf -= R.TYPE_PENALTY
    return conf


def uncovered(retrieval: Retrieval, chosen: Sequence[Span]) -> list[str]:
    """What the question names that its evidence never mentions: a year, a version or a number absent from the
    chosen spans' chunks (with their headings) and the other answer passages of the same documents ("Who spoke at
    KubeCon 2024?" is not answered by a passage about 2019); or a name the corpus never uses at all ("How does
    Java's HashMap resize?" asked of the Python docs). Names are judged against the whole corpus, not the
    evidence: a two-passage question names its bridge ("the Copenhagen keynote speaker") in another passage."""
    query = retrieval.query
    sources = {s.passage.chunk.source for s in chosen}
    nearby = [p.chunk for p in retrieval.passages[: R.ANSWER_PASSAGES] if p.chunk.source in sources]
    chunks = {c.id: c for c in [s.passage.chunk for s in chosen] + nearby}
    evidence = " ".join(f"{c.title}\n{c.section}\n{c.text}" for c in chunks.values())
    numbers = set(R.NUMBER.findall(_DIGIT_GROUP.sub("", evidence)))
    missing = [n for n in R.NUMBER.findall(_DIGIT_GROUP.sub("", query.text)) if n not in numbers]
    lowered = evidence.lower()
    missing += [v for v in R.VERSION.findall(query.text) if v.lower() not in lowered]
    for name in _names(query.text):  # a name counts when the corpus uses it anywhere (a bridge may name it)
        name_terms = [t for t in terms(name) if not t.isdigit() and len(t) > 2]  # "VP", "EU": too short to tell
        if name_terms and all(t in retrieval.unseen for t in name_terms):
            missing.append(name)
    return list(dict.fromkeys(missing))


_DIGIT_GROUP = re.compile(r"(?<=\d),(?=\d{3}\b)")  # the comma in 4,000


def _names(question: str) -> list[str]:
    """The names in a question: capitalised runs, less an opening question word or function word ("Which", "In"),
    and less the capital every sentence opens with ("Besides", "Name a ...") unless the word looks like a name
    anyway (inner capitals or digits: "KubeCon", "K8s")."""
    out = []
    for m in NAME.finditer(question):
        words = m.group(0).split()
        opens = m.start() == 0 or question[: m.start()].rstrip().endswith((".", "?", "!", ":"))
        if opens and words and not re.search(r"[A-Z0-9]", words[0][1:]):
            words = words[1:]
        while words and words[0].lower() in STOPWORDS | QUESTION_WORDS:
            words = words[1:]
        if words:
            out.append(" ".join(words))
    return out


class HeuristicReader:
    """Today's model-free reader: sentence scores, further sentences, a second search, confidence (qa/rules.py).
    `off` switches rule families off, for ablation (R.FAMILIES)."""

    name = "heuristic"
    threshold = R.THRESHOLD

    def __init__(self, off: Off = frozenset()):
        unknown = set(off) - set(R.FAMILIES)
        if unknown:
            raise InputError(f"unknown rule families {sorted(unknown)}; QA_RULES_OFF takes: {', '.join(R.FAMILIES)}")
        self.off = frozenset(off)

    def read(self, retrieval: Retrieval, *, max_words: int) -> Reading:
        off = self.off
        cands = candidates(retrieval, off=off)
        if not cands:
            return Reading((), 0.0)
        chosen = choose(cands, retrieval, max_words, off=off)
        conf = confidence(retrieval, cands, chosen, off=off)
        return Reading(tuple(chosen), conf, follow_ups(chosen, retrieval, max_words, off=off))

    def extend(self, reading: Reading, retrieval: Retrieval, found: Sequence[Retrieval], *, max_words: int) -> Reading:
        spans = list(reading.spans)
        if found:
            spans = second_hop(spans, reading.follow_ups, found, retrieval, max_words, off=self.off)
        conf = reading.confidence
        if spans and "coverage" not in self.off and uncovered(retrieval, spans):
            conf -= R.COVERAGE_PENALTY  # the evidence, second search included, misses what the question names
        return Reading(tuple(spans), conf)


READERS: dict[str, Callable[[Off], Reader]] = {"heuristic": HeuristicReader}


def reader_for(name: str = "heuristic", *, off: Off = frozenset()) -> Reader:
    """The reader registered under `name`, with these rule families switched off."""
    if name not in READERS:
        raise InputError(f"unknown reader {name!r}; use one of: {', '.join(READERS)}")
    return READERS[name](off)
