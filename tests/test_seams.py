"""Conformance of the swappable stages: every registered encoder, reranker and reader gets the same input and must
give valid output, answers whose quotes are exact, and refusals on off-topic questions (real model, real index).
The store seam has its own class in test_stores.py."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from qa import answer
from qa.embed import ENCODERS, encode_query, resolve_model
from qa.query import parse
from qa.read import READERS
from qa.rerank import RERANKERS, reranker_for
from qa.retrieve import retrieve
from qa.settings import current

pytestmark = pytest.mark.slow

QUESTION = "Who designed the Driftwood database?"
OFF_TOPIC = ["How long should spaghetti boil?", "Who won the 1998 football world cup?"]


class TestEncoderConformance:
    @pytest.fixture(params=sorted(ENCODERS), scope="class")
    def encoder(self, request):
        return ENCODERS[request.param]("all-MiniLM-L6-v2")

    def test_unit_vectors_one_row_per_text(self, encoder):
        v = encoder.encode(["Tomas Vik designed Driftwood.", "Batteries last 18 months."], threads=1)
        assert v.shape == (2, 384) and v.dtype == np.float32
        assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)

    def test_every_encoder_agrees_with_the_reference_model(self, encoder):
        reference = ENCODERS["torch"]("all-MiniLM-L6-v2")
        assert float(encode_query(encoder, QUESTION) @ encode_query(reference, QUESTION)) > 0.99


def _rerankers() -> dict[str, str]:
    """Each registered reranker with an argument that loads offline: the cross-encoder is built from the bundled
    MiniLM weights (an untrained scoring head, so valid scores, not good ones)."""
    return {kind: (resolve_model("all-MiniLM-L6-v2") if kind == "cross-encoder" else "") for kind in RERANKERS}


class TestRerankerConformance:
    @pytest.fixture(params=sorted(RERANKERS), scope="class")
    def reranker(self, request):
        arg = _rerankers()[request.param]
        return reranker_for(f"{request.param}:{arg}" if arg else request.param)

    def test_one_finite_score_per_candidate_best_first(self, reranker, kb_index):
        settings = current()
        encoder = ENCODERS["torch"](kb_index.model)
        r = retrieve(parse(QUESTION), kb_index, encoder, reranker, settings.retrieval)
        scores = [p.score for p in r.passages]
        assert scores and all(math.isfinite(s) for s in scores) and scores == sorted(scores, reverse=True)

    def test_answers_stay_exact_and_off_topic_questions_are_refused(self, reranker, kb_index):
        settings = current().model_copy(update={"reranker": reranker.name if reranker.name != "heuristic" else None})
        a = answer(QUESTION, index=kb_index, settings=settings)
        for c in a.citations:
            assert kb_index.document(c.source).text[c.start : c.end] == c.quote
        for q in OFF_TOPIC:
            assert answer(q, index=kb_index, settings=settings).abstained


class TestReaderConformance:
    @pytest.fixture(params=sorted(READERS), scope="class")
    def reader(self, request):
        return READERS[request.param]()

    def _retrieval(self, kb_index, question):
        settings = current()
        return retrieve(
            parse(question), kb_index, ENCODERS["torch"](kb_index.model), reranker_for(None), settings.retrieval
        )

    def test_spans_lie_inside_their_passages_and_confidence_clears_the_threshold(self, reader, kb_index):
        reading = reader.read(self._retrieval(kb_index, QUESTION), max_words=80)
        assert reading.spans and reading.confidence >= reader.threshold
        for s in reading.spans:
            assert s.passage.chunk.start <= s.start < s.end <= s.passage.chunk.end
        assert "Tomas Vik" in " ".join(s.text for s in reading.spans)

    def test_off_topic_questions_fall_below_the_reader_s_own_threshold(self, reader, kb_index):
        for q in OFF_TOPIC:
            assert reader.read(self._retrieval(kb_index, q), max_words=80).confidence < reader.threshold

    def test_extend_without_findings_keeps_the_reading(self, reader, kb_index):
        r = self._retrieval(kb_index, QUESTION)
        reading = replace(reader.read(r, max_words=80), follow_ups=())
        assert reader.extend(reading, r, [], max_words=80).spans == reading.spans
