"""The answerer's rules, one family at a time, on small hand-made retrievals: no model, no index (qa/rules.py).

Each test builds the passages and the per-sentence signals a retrieval would measure, then checks what one rule
does with them. The numbers are chosen to isolate the rule, not to look like real cosines.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from qa import rules as R
from qa.compose import ABSTAIN_TEXT, compose, merge_adjacent
from qa.query import parse
from qa.read import HeuristicReader, candidates, choose, confidence, cue, follow_ups, lacks_unit, second_hop, trim
from qa.rerank import Candidate, HeuristicReranker
from qa.text import NUMBER_WORD, split_sentences, terms
from qa.types import Chunk, Document, Passage, Retrieval, SentenceEvidence


def chunk(text: str, *, source: str = "a.md", section: str = "Lighthouse", start: int = 0) -> Chunk:
    spans = tuple((s + start, e + start) for s, e in split_sentences(text))
    cid = hashlib.sha1(f"{source}{start}{text}".encode()).hexdigest()[:20]
    return Chunk(cid, source, section, section, start, start + len(text), text, spans)


def retrieval(question: str, passages: list[tuple[Chunk, list[float], float]]) -> Retrieval:
    """A Retrieval of these chunks: (chunk, each sentence's cosine, passage score); word shares are measured."""
    query = parse(question)
    corpus = {t for c, _, _ in passages for t in terms(c.indexed_text)}  # these passages stand for the corpus
    idf = dict.fromkeys(set(query.terms) | corpus, 1.0)
    evidence, out = {}, []
    for c, cosines, score in passages:
        sent_terms = tuple(frozenset(terms(s)) for s in c.sentence_texts())
        total = len(query.terms) or 1
        overlap = np.array([len(set(query.terms) & st) / total for st in sent_terms], dtype=np.float32)
        vectors = np.eye(len(sent_terms), 8, dtype=np.float32)
        evidence[c.id] = SentenceEvidence(np.array(cosines, dtype=np.float32), overlap, sent_terms, vectors)
        out.append(Passage(c, score, "both"))
    unseen = frozenset(t for t in query.terms if t not in corpus)
    return Retrieval(query, tuple(out), evidence, idf, {}, {}, np.ones(8, dtype=np.float32) / np.sqrt(8), unseen)


# --- the shared English -------------------------------------------------------------------------


def test_one_sentence_splitter_keeps_abbreviations_and_glued_citation_markers():
    text = "Dr. Vik designed it, e.g. for tides. It shipped in 2019.[1] Then it grew.\n- a list item ends one too"
    assert [text[s:e] for s, e in split_sentences(text)] == [
        "Dr. Vik designed it, e.g. for tides.",
        "It shipped in 2019.[1]",
        "Then it grew.",
        "a list item ends one too",
    ]


def test_one_is_a_number_except_in_one_of_the():
    assert NUMBER_WORD.search("It has one gauge.")
    assert not NUMBER_WORD.search("It is one of the oldest.")
    assert NUMBER_WORD.search("Fifteen stations report.")


# --- family 2: reranker weights -------------------------------------------------------------------


def test_the_heuristic_reranker_prefers_the_passage_whose_best_sentence_matches():
    r = retrieval("Who designed Driftwood?", [(chunk("Driftwood was designed by Tomas Vik."), [0.8], 1.0)])
    ev = next(iter(r.evidence.values()))
    weak = SentenceEvidence(ev.cosine * 0.5, ev.overlap * 0, ev.terms, ev.vectors)
    c = r.passages[0].chunk
    strong, poor = Candidate(c, 0.5, 2.0, 2.0, ev), Candidate(c, 0.5, 2.0, 2.0, weak)
    scores = HeuristicReranker().scores(r.query, [strong, poor])
    assert scores[0] > scores[1]
    expected = R.W_CHUNK * 0.5 + R.W_SENTENCE * 0.8 + R.W_KEYWORD * 1.0 + R.W_OVERLAP * float(ev.overlap.max())
    assert scores[0] == pytest.approx(expected, rel=1e-6)


# --- families 3 and 4: what the question asks for --------------------------------------------------


def test_a_cue_counts_only_what_the_question_does_not_already_say():
    assert cue("time", "The gauge network opened in 1998.", "When did the network open?") == 1.0
    assert cue("time", "In 1998 the network opened.", "What happened in 1998?") == 0.0
    assert cue("number", "It is one of the oldest networks.", "How many networks are there?") == 0.0


def test_a_named_unit_is_only_answered_by_an_amount_in_that_unit():
    assert lacks_unit("number", "How much did the ticket cost?", ["It drew 400 people."])
    assert not lacks_unit("number", "How much did the ticket cost?", ["A ticket was $400."])
    assert not lacks_unit("number", "How many people came?", ["It drew 400 people."])  # no unit named


# --- family 5: every sentence scored --------------------------------------------------------------


def test_a_sentence_that_only_repeats_the_question_is_penalised():
    c = chunk("Who designed Driftwood? Driftwood was designed by Tomas Vik.")
    r = retrieval("Who designed Driftwood?", [(c, [0.9, 0.7], 1.0)])
    by_text = {s.text: s for s in candidates(r)}
    echo, answer = by_text["Who designed Driftwood?"], by_text["Driftwood was designed by Tomas Vik."]
    assert answer.score > echo.score  # 0.9 cosine, but no word the question lacks: RESTATEMENT_PENALTY
    assert echo.score == pytest.approx(0.9 + R.W_OV * echo.overlap + R.W_PRIOR - R.RESTATEMENT_PENALTY, rel=1e-6)


# --- families 6 and 7: the sentences chosen ------------------------------------------------------


def test_a_sentence_that_opens_with_it_brings_the_one_before():
    c = chunk("Driftwood is a time-series database. It was designed by Tomas Vik in Bergen.")
    r = retrieval("Who designed the database?", [(c, [0.3, 0.9], 1.0)])
    chosen = choose(candidates(r), r, 80)
    assert [s.text for s in chosen][:2] == [
        "It was designed by Tomas Vik in Bergen.",
        "Driftwood is a time-series database.",
    ]


def test_a_sentence_followed_by_this_is_called_brings_that_name():
    c = chunk("Errors are handed back to the caller. This is known as propagating the error.")
    r = retrieval("What happens when errors are handed back to the caller?", [(c, [0.9, 0.2], 1.0)])
    chosen = choose(candidates(r), r, 80)
    assert "This is known as propagating the error." in [s.text for s in chosen]


def test_a_further_sentence_from_another_page_must_add_what_the_question_asks():
    first = chunk("Lighthouse was written by Ada Park.", source="a.md")
    same = chunk("Ada Park wrote Lighthouse.", source="b.md")
    adds = chunk("Lighthouse first shipped in 2019 to twelve harbours.", source="c.md")
    question = "Who wrote Lighthouse and when did it first ship?"
    r = retrieval(question, [(first, [0.95], 1.0), (same, [0.8], 0.99), (adds, [0.6], 0.9)])
    texts = [s.text for s in choose(candidates(r), r, 80)]
    assert texts[0] == "Lighthouse was written by Ada Park."
    assert "Ada Park wrote Lighthouse." not in texts  # the same fact again (SAME_FACT)
    assert "Lighthouse first shipped in 2019 to twelve harbours." in texts  # adds "first", "ship" (W_GAIN)


# --- family 8: the second search -------------------------------------------------------------------


def test_a_relative_clause_asks_for_a_main_clause_search_with_the_names_found():
    c = chunk("Lighthouse stores every reading in a database called Driftwood.")
    question = "Who designed the database that stores every Lighthouse reading?"
    r = retrieval(question, [(c, [0.8], 1.0)])
    chosen = choose(candidates(r), r, 80)[:1]
    asked = follow_ups(chosen, r, 80)
    assert [f.query.text for f in asked] == [f"{question} {chosen[0].text}", "Who designed the database Driftwood"]
    assert asked[0].vector is not None  # the question plus the first sentence's stored vector: no model call

    found = retrieval(
        "Who designed the database Driftwood", [(chunk("Tomas Vik designed Driftwood.", source="d.txt"), [0.7], 1.0)]
    )
    assert [s.text for s in second_hop(chosen, asked, [r, found], r, 80)][-1] == "Tomas Vik designed Driftwood."
    assert second_hop(chosen, (), [], r, 80) == chosen


# --- family 9: confidence ------------------------------------------------------------------------


def test_a_count_question_answered_without_a_number_loses_the_type_penalty():
    question = "How many stations does the network have?"
    with_number = retrieval(question, [(chunk("The network has 312 stations along the fjord."), [0.7], 1.0)])
    without = retrieval(question, [(chunk("The network has stations along the whole fjord."), [0.7], 1.0)])
    conf = [confidence(r, candidates(r), choose(candidates(r), r, 80)) for r in (with_number, without)]
    assert conf[0] == pytest.approx(0.7, rel=1e-6)
    assert conf[1] == pytest.approx(0.7 - R.TYPE_PENALTY, rel=1e-6)


def test_the_reader_states_its_own_threshold():
    assert HeuristicReader().threshold == R.THRESHOLD


# --- family 10: trimming ---------------------------------------------------------------------------


def test_an_over_long_sentence_is_cut_to_the_clauses_that_match_the_question():
    text = (
        "The harbour office, which also sells fishing permits and maps, keeps the logbooks of every gauge, "
        "while the batteries are replaced every 18 months by a crew from Alesund."
    )
    r = retrieval("How often are the batteries replaced?", [(chunk(text), [0.8], 1.0)])
    cut = trim(candidates(r)[0], r.query, dict(r.idf), 15)
    assert cut.words <= 15 and "batteries are replaced every 18 months" in cut.text


# --- the answer step -----------------------------------------------------------------------------


def test_quotes_are_checked_against_the_document_and_adjacent_ones_merge():
    doc = Document("a.md", "Lighthouse", "# Lighthouse\n\nDriftwood is a database. It was designed by Tomas Vik.", "md")
    c = chunk("Driftwood is a database. It was designed by Tomas Vik.", start=14)
    r = retrieval("Who designed the database?", [(c, [0.3, 0.9], 1.0)])
    reading = HeuristicReader().read(r, max_words=80)
    assert len(merge_adjacent(reading.spans)) == 1  # two sentences of one chunk, nothing between: one quote

    a = compose(r, reading, {"a.md": doc}, threshold=0.4, top_k=5)
    assert not a.abstained and a.citations[0].quote == doc.text[a.citations[0].start : a.citations[0].end]
    assert compose(r, reading, {"a.md": doc}, threshold=0.95, top_k=5).text == ABSTAIN_TEXT
    changed = Document("a.md", "Lighthouse", doc.text.replace("Tomas", "Tomás"), "md")
    assert compose(r, reading, {"a.md": changed}, threshold=0.4, top_k=5).abstained  # a quote that no longer matches


# --- family 11: coverage -------------------------------------------------------------------------


def test_a_year_the_evidence_never_mentions_or_a_name_the_corpus_never_uses_is_uncovered():
    from qa.read import uncovered

    c = chunk("The conference drew 4,000 attendees in Austin.", section="KubeCon 2017 > Size")
    r = retrieval("How many attendees did KubeCon 2019 draw?", [(c, [0.8], 1.0)])
    spans = candidates(r)[:1]
    assert uncovered(r, spans) == ["2019"]
    r = retrieval("How many attendees did KubeCon 2017 draw in Austin?", [(c, [0.8], 1.0)])
    assert uncovered(r, candidates(r)[:1]) == []  # the year is in the heading path, the place in the text
    r = retrieval("How many attendees did the Seattle edition draw?", [(c, [0.8], 1.0)])
    assert uncovered(r, candidates(r)[:1]) == ["Seattle"]  # no passage of this corpus names Seattle
    other = chunk("Seattle hosted the next edition.", source="b.md")
    r = retrieval("How many attendees did the Seattle edition draw?", [(c, [0.8], 1.0), (other, [0.2], 0.5)])
    assert uncovered(r, candidates(r)[:1]) == []  # the corpus names it: a bridge to another passage, not a miss
    r = retrieval("How many attendees came, 4000?", [(c, [0.8], 1.0)])
    assert uncovered(r, candidates(r)[:1]) == []  # "4,000" and "4000" are one number


def test_uncovered_evidence_loses_the_coverage_penalty_and_ablation_switches_it_off():
    c = chunk("The conference drew 4,000 attendees in Austin.", section="KubeCon 2017 > Size")
    r = retrieval("How many attendees did KubeCon 2019 draw?", [(c, [0.8], 1.0)])
    on, off = HeuristicReader(), HeuristicReader(frozenset({"coverage"}))
    final = [reader.extend(reader.read(r, max_words=80), r, [], max_words=80).confidence for reader in (on, off)]
    assert final[0] == pytest.approx(final[1] - R.COVERAGE_PENALTY)


# --- calibration ---------------------------------------------------------------------------------


def test_the_calibrated_threshold_sits_above_the_probes_and_below_the_derived_questions():
    from qa.calibrate import CEILING, FLOOR, PROBE_MARGIN, choose_threshold, quantile

    probes = [0.1, 0.15, 0.2, 0.22, 0.25, 0.3, 0.31, 0.32, 0.33, 0.4]
    derived = [0.45, 0.6, 0.62, 0.7, 0.75, 0.8, 0.81, 0.85, 0.9, 0.92]
    assert choose_threshold(probes, derived) == pytest.approx(0.4 + PROBE_MARGIN)  # just above every probe
    on_topic = [*probes[:-1], 0.7]  # one probe happens to be about this corpus
    assert choose_threshold(on_topic, derived) == pytest.approx(quantile(derived, 0.1))  # its questions stay answered
    assert choose_threshold([0.9] * 10, [0.95] * 10) == CEILING and choose_threshold([0.0] * 10, []) == FLOOR
