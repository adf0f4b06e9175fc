"""Retrieval: both searches, fusion and the sentence-level rerank, on the real test index."""

from __future__ import annotations

from qa.embed import load_query_encoder
from qa.query import parse
from qa.rerank import reranker_for
from qa.retrieve import retrieve
from qa.settings import Settings


def test_each_search_s_best_hit_is_reranked_however_low_fusion_ranks_it(kb_index):
    """A chunk that only one search finds can be the answer; fusion alone would cut it below the rerank depth."""
    question = "Which release added compression?"
    narrow = Settings(rerank_k=1, rerank_each=0)
    wide = Settings(rerank_k=1, rerank_each=1)
    encoder = load_query_encoder(kb_index.model, wide.query_backend)

    only_fused = retrieve(parse(question), kb_index, encoder, reranker_for(None), narrow.retrieval)
    both = retrieve(parse(question), kb_index, encoder, reranker_for(None), wide.retrieval)

    assert len(only_fused.passages) == 1
    tops = {both.stages["dense"][0], both.stages["keyword"][0], both.stages["fused"][0]}
    assert {p.chunk.id for p in both.passages} == tops
    assert len(tops) > 1  # the searches disagree on this question, so the rerank sees more than fusion's best
