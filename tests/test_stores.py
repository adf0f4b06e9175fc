"""The Store seam's conformance tests: every store (qa.stores.STORES) must pass the same ones, built from the same
real folder with the real model. A store joins by adding a fixture param that yields its location."""

from __future__ import annotations

import shutil
import uuid

import numpy as np
import pytest
from conftest import make_kb

from qa import Settings, answer, build_index
from qa.errors import IndexMismatchError
from qa.stores import store_for
from qa.text import terms

pytestmark = pytest.mark.slow


def local_location(request, tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("store") / "index")


def postgresql_location(request, tmp_path_factory) -> str:
    """A fresh database on the suite's PostgreSQL server (which skips, saying why, only when it cannot start)."""
    server = request.getfixturevalue("pg_server")
    return server.create_database(f"conformance_{uuid.uuid4().hex[:8]}") + "#kb"


LOCATIONS = {"local": local_location, "postgresql": postgresql_location}


@pytest.fixture(params=sorted(LOCATIONS), scope="class")
def built(request, tmp_path_factory):
    """(folder, location, reader) of the test corpus built into each store."""
    folder = make_kb(tmp_path_factory.mktemp("docs") / "kb")
    location = LOCATIONS[request.param](request, tmp_path_factory)
    return folder, location, build_index(folder, index_dir=location)


class TestStoreConformance:
    def test_counts_documents_and_file_states_agree(self, built):
        folder, _, index = built
        sources = [s for s, _, _ in index.documents()]
        assert sources == sorted(p.name for p in folder.iterdir())
        assert index.n_documents == len(sources) and set(index.file_states()) == set(sources)
        assert index.n_chunks == index.build_report.chunks > 0

    def test_chunks_come_back_in_the_order_asked_with_their_vectors(self, built):
        _, _, index = built
        rows = list(index.rows())[::-1]
        chunks = index.chunks(rows)
        assert [index.chunk_by_id(c.id) for c in chunks] == chunks
        vectors = index.chunk_vectors(rows)
        assert vectors.shape == (len(rows), 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-2)
        for c, sv in zip(chunks, index.sentence_vectors(rows), strict=True):
            assert sv.shape == (len(c.sentences), 384)
            doc = index.document(c.source)
            assert doc.text[c.start : c.end] == c.text  # every offset points into the stored document

    def test_dense_search_finds_a_chunk_by_its_own_vector(self, built):
        _, _, index = built
        for row in index.rows():
            rows, scores = index.dense_search(index.chunk_vectors([row])[0], 3)
            assert rows[0] == row and scores[0] == pytest.approx(1.0, abs=1e-2)
            assert list(scores) == sorted(scores, reverse=True)

    def test_keyword_search_ranks_the_chunk_that_holds_a_rare_word(self, built):
        _, _, index = built
        rows, scores = index.keyword_search(terms("Driftwood delta encoding"), 5)
        assert "delta encoding" in index.chunks(rows[:1])[0].text
        assert all(s > 0 for s in scores) and list(scores) == sorted(scores, reverse=True)
        assert index.keyword_search(terms("zyzzyva"), 5)[0].size == 0

    def test_idf_is_highest_for_a_word_the_corpus_never_uses(self, built):
        _, _, index = built
        idf = index.idf(["zyzzyva", *terms("Lighthouse")])
        assert idf["zyzzyva"] > idf[terms("Lighthouse")[0]] > 0

    def test_answers_quote_the_stored_text_exactly(self, built):
        _, _, index = built
        a = answer("Who designed the Driftwood database?", index=index)
        assert "Tomas Vik" in a.text
        for c in a.citations:
            assert index.document(c.source).text[c.start : c.end] == c.quote

    def test_nothing_changed_embeds_nothing_and_a_changed_file_only_itself(self, built, tmp_path):
        folder, location, _ = built
        again = build_index(folder, index_dir=location)
        assert again.build_report.up_to_date and again.build_report.chunks_embedded == 0
        copy = tmp_path / "kb"
        shutil.copytree(folder, copy)
        with (copy / "driftwood.txt").open("a") as f:
            f.write("\n\nDriftwood keeps ninety days of readings.\n")
        (copy / "gauges.pdf").unlink()
        changed = build_index(copy, index_dir=location)
        r = changed.build_report
        assert r.changed == ["driftwood.txt"] and r.deleted == ["gauges.pdf"] and not r.added
        assert 0 < r.chunks_embedded <= 3  # only the changed file's new text went through the model
        assert "gauges.pdf" not in changed.file_states()
        build_index(folder, index_dir=location)  # back to the corpus the other tests expect

    def test_another_model_is_a_one_line_mismatch(self, built):
        _, location, _ = built
        other = Settings(model="some-other-model")
        with pytest.raises(IndexMismatchError, match="rebuild it with"):
            store_for(location, other.index).open()
