"""The postgresql store against a real PostgreSQL 16 + pgvector server (started by the suite, see tests/pg.py):
the schema it owns, builds that are atomic and locked, connections that drop, and every bad input as one line
naming the fix. Store behaviour shared with the local store is in test_stores.py."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from conftest import make_kb
from pg import PgServer, install_without_pgvector, wait_until

from qa import Settings, answer, build_index, open_index
from qa.errors import IndexMismatchError, InputError, QAError, StoreError
from qa.stores import redacted, store_for
from qa.stores.pgconn import SCHEMA_VERSION

pytestmark = [pytest.mark.slow, pytest.mark.pg]

QUESTION, ANSWER = "Who wrote the first version of Lighthouse?", "Ada Park"


def one_line(e: BaseException) -> str:
    msg = str(e)
    assert "\n" not in msg and msg, msg
    return msg


def settings_for(url: str, kb, **kw) -> Settings:  # noqa: ANN001
    return Settings(docs=kb, store=url, **kw)


def qa_cli(*args: str, **kw) -> subprocess.CompletedProcess:  # noqa: ANN003
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "qa.cli", *args], capture_output=True, text=True, env=env, **kw)


def test_the_cli_indexes_into_the_database_and_answers_from_it(pg_url, tmp_path):
    kb = make_kb(tmp_path / "kb")
    r = qa_cli("index", str(kb), "--store", pg_url, "--quiet")
    assert r.returncode == 0, r.stderr
    assert "qa-test-secret" not in r.stdout + r.stderr  # the password never reaches the screen
    assert not (tmp_path / ".qa").exists()  # nothing written beside the folder
    r = qa_cli("ask", QUESTION, "--store", pg_url, "--collection", "kb", "--json")
    assert r.returncode == 0, r.stderr
    assert ANSWER in json.loads(r.stdout)["text"]


def test_the_schema_is_created_on_first_use_and_a_newer_one_is_refused(pg_server, pg_url, tmp_path):
    kb = make_kb(tmp_path / "kb")
    before = answer(QUESTION, index=build_index(kb, settings=settings_for(pg_url, kb)))
    db = pg_url.rsplit("/", 1)[1]
    assert pg_server.sql("SELECT version FROM qa.schema_version", db) == [(SCHEMA_VERSION,)]
    tables = {r[0] for r in pg_server.sql("SELECT tablename FROM pg_tables WHERE schemaname = 'qa'", db)}
    assert {"collections", "generations", "documents", "chunks", "sentences", "postings", "terms", "term_df"} <= tables
    hnsw = pg_server.sql("SELECT count(*) FROM pg_indexes WHERE schemaname = 'qa' AND indexdef LIKE '%hnsw%'", db)
    assert hnsw == [(0,)]  # 20 chunks: exact search; an HNSW index comes past HNSW_FROM chunks

    pg_server.sql(f"UPDATE qa.schema_version SET version = {SCHEMA_VERSION + 1}", db)
    from qa.stores.pgconn import database

    database.cache_clear()  # a new process: the schema is checked once per process
    with pytest.raises(StoreError, match=r"version \d+, written by a newer qa .* pip install -U") as e:
        build_index(kb, settings=settings_for(pg_url, kb))
    one_line(e.value)
    with pytest.raises(StoreError, match="newer qa"):
        open_index(settings=settings_for(pg_url, kb))
    pg_server.sql(f"UPDATE qa.schema_version SET version = {SCHEMA_VERSION}", db)
    database.cache_clear()
    after = answer(QUESTION, index=open_index(settings=settings_for(pg_url, kb)))  # nothing was lost
    assert after.text == before.text and after.citations == before.citations


@pytest.mark.parametrize(
    "url, expected",
    [
        ("postgresql://qa:pw@db.example:notaport/qa", r"not a valid PostgreSQL URL .*postgresql://USER:PASSWORD@HOST"),
        ("postgresql://qa:pw@db.example:5432/qa?colection=kb", r'invalid URI query parameter: "colection"'),
        ("postgresql://qa:pw@db.example:99999/qa", r"port '99999' is not a port"),
        ("postgresql://qa:pw@[::1/qa", r"not a valid PostgreSQL URL"),
    ],
)
def test_a_malformed_url_is_one_line(url, expected, tmp_path):
    with pytest.raises(StoreError, match=expected) as e:
        open_index(settings=Settings(docs=tmp_path, store=url))
    assert ":pw@" not in one_line(e.value)


def test_another_scheme_names_the_stores_there_are(tmp_path):
    with pytest.raises(QAError, match="no store for mysql:// locations.*postgresql") as e:
        open_index(settings=Settings(docs=tmp_path, store="mysql://qa:pw@localhost/qa"))
    one_line(e.value)


def test_a_server_that_is_down_a_wrong_password_and_a_missing_database(pg_server, tmp_path):
    from pg import _free_port

    t0 = time.time()
    down = f"postgresql://postgres:pw@127.0.0.1:{_free_port()}/qa"
    with pytest.raises(
        StoreError, match=r"cannot reach PostgreSQL at postgres@127.0.0.1:\d+/qa .*start the server"
    ) as e:
        open_index(settings=Settings(docs=tmp_path, store=down))
    assert time.time() - t0 < 10 and ":pw@" not in one_line(e.value)

    wrong = pg_server.url(password="not-the-password")
    with pytest.raises(StoreError, match="rejected the login of 'postgres'.*check the user and password") as e:
        open_index(settings=Settings(docs=tmp_path, store=wrong))
    assert "not-the-password" not in one_line(e.value)

    with pytest.raises(StoreError, match="database 'nowhere' does not exist.*createdb nowhere") as e:
        open_index(settings=Settings(docs=tmp_path, store=pg_server.url("nowhere")))
    one_line(e.value)


def test_a_role_without_rights_is_told_what_to_ask_for(pg_server, tmp_path):
    """A managed database: qa's role may neither create the extension nor (until granted) a schema."""
    kb = make_kb(tmp_path / "kb")
    role, db = f"app_{uuid.uuid4().hex[:6]}", f"managed_{uuid.uuid4().hex[:6]}"
    pg_server.sql(f"CREATE ROLE {role} LOGIN PASSWORD 'app-pw'")
    pg_server.create_database(db, vector=False)
    url = pg_server.url(db, user=role, password="app-pw")

    with pytest.raises(
        StoreError, match=rf"role '{role}' may not create the vector extension .* CREATE EXTENSION vector;"
    ) as e:
        build_index(kb, settings=settings_for(url, kb))
    one_line(e.value)

    pg_server.sql("CREATE EXTENSION vector", db)  # what the message asked a superuser to do
    with pytest.raises(
        StoreError, match=rf'may not create the schema qa .*GRANT CREATE ON DATABASE "{db}" TO "{role}"'
    ):
        build_index(kb, settings=settings_for(url, kb))

    pg_server.sql(f'GRANT CREATE ON DATABASE "{db}" TO "{role}"')
    assert ANSWER in answer(QUESTION, index=build_index(kb, settings=settings_for(url, kb))).text

    # a role that only answers: reading rights on the schema are enough; writing is one line
    reader = f"reader_{uuid.uuid4().hex[:6]}"
    pg_server.sql(f"CREATE ROLE {reader} LOGIN PASSWORD 'read-pw'")
    pg_server.sql(f"GRANT USAGE ON SCHEMA qa TO {reader}; GRANT SELECT ON ALL TABLES IN SCHEMA qa TO {reader}", db)
    read_url = pg_server.url(db, user=reader, password="read-pw")
    assert ANSWER in answer(QUESTION, settings=settings_for(read_url, kb)).text
    (kb / "new.md").write_text("# New\n\nA new file the reader may not index.\n")
    with pytest.raises(StoreError, match=rf"role '{reader}' lacks a right qa needs .*permission denied") as e:
        build_index(kb, settings=settings_for(read_url, kb))
    one_line(e.value)


def test_a_server_without_pgvector_names_the_extension(tmp_path):
    copy = Path(tempfile.mkdtemp(prefix="qa-pg-novector-"))  # outside pytest's 0700 temp root: the server user reads it
    try:
        server = PgServer.start(install_without_pgvector(copy))
    except RuntimeError as e:
        shutil.rmtree(copy)
        pytest.skip(f"PostgreSQL could not start: {e}")
    try:
        kb = make_kb(tmp_path / "kb")
        with pytest.raises(StoreError, match=r"has no pgvector; install pgvector .* CREATE EXTENSION vector;") as e:
            build_index(kb, settings=settings_for(server.url(), kb))
        one_line(e.value)
    finally:
        server.close()
        shutil.rmtree(copy)


def test_a_collection_built_with_another_model_is_the_same_one_line_error(pg_url, tmp_path):
    kb = make_kb(tmp_path / "kb")
    build_index(kb, settings=settings_for(pg_url, kb))
    with pytest.raises(
        IndexMismatchError, match=r"model: index 'all-MiniLM-L6-v2' vs settings 'other'.*--rebuild"
    ) as e:
        open_index(settings=settings_for(pg_url, kb, model="other"))
    assert redacted(pg_url) in one_line(e.value) and "qa-test-secret" not in str(e.value)


def test_collections_live_side_by_side(pg_url, tmp_path):
    kb = make_kb(tmp_path / "kb")
    other = tmp_path / "notes"
    other.mkdir()
    (other / "a.md").write_text("# Notes\n\nThe harbour office opens at seven in the morning.\n")
    build_index(kb, settings=settings_for(pg_url, kb))
    build_index(other, settings=settings_for(pg_url, other))
    assert ANSWER in answer(QUESTION, index=open_index(settings=settings_for(pg_url, kb))).text
    notes = open_index(settings=settings_for(pg_url, other))
    assert (
        notes.n_documents == 1
        and answer("When does the harbour office open?", index=notes).passages[0].chunk.source == "a.md"
    )
    assert open_index(settings=settings_for(pg_url, kb, collection="notes")).n_documents == 1


def test_a_second_build_of_one_collection_stops_with_a_clear_message(pg_url, tmp_path):
    kb = make_kb(tmp_path / "kb")
    s = settings_for(pg_url, kb)
    build_index(kb, settings=s)
    store = store_for(s.location_for(kb), s.index)
    with store.writer(kb):  # a build in progress holds the collection's advisory lock
        with pytest.raises(
            InputError, match=r"another qa index is already writing collection 'kb' .*\(server pid \d+"
        ) as e:
            build_index(kb, settings=s)
        one_line(e.value)
        other = tmp_path / "other"
        other.mkdir()
        (other / "a.md").write_text("# Other\n\nAnother collection builds meanwhile.\n")
        assert build_index(other, settings=s).n_documents == 1  # other collections are not held up
    assert build_index(kb, settings=s).build_report.up_to_date  # the lock went with the session


def test_a_killed_build_leaves_the_previous_collection_answering(pg_server, pg_url, tmp_path):
    kb = make_kb(tmp_path / "kb")
    s = settings_for(pg_url, kb)
    first = build_index(kb, settings=s)
    before = answer(QUESTION, index=first)
    assert ANSWER in before.text
    for i in range(24):  # enough new text that a build takes a while
        body = " ".join(f"Filler sentence {j} about harbours and tides in file {i}." for j in range(25))
        (kb / f"extra-{i}.md").write_text(f"# Extra {i}\n\n{body}\n")
    db = pg_url.rsplit("/", 1)[1]

    def writing() -> bool:  # the build's transaction has begun to write
        return bool(pg_server.sql(f"SELECT 1 FROM pg_stat_activity WHERE datname = '{db}' AND backend_xid IS NOT NULL "
                                  "AND application_name = 'qa'"))  # fmt: skip

    for moment in ("embedding", "writing"):
        proc = subprocess.Popen(
            [sys.executable, "-m", "qa.cli", "index", str(kb), "--store", pg_url, "--quiet"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )  # fmt: skip
        if moment == "writing":
            wait_until(lambda p=proc: writing() or p.poll() is not None, timeout=180, step=0.002)
        else:
            time.sleep(6)
        assert proc.poll() is None, "indexing finished before it could be killed; give it more work"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        idx = open_index(settings=s)
        assert idx.n_documents == 4 and idx.manifest == first.manifest
        after = answer(QUESTION, index=idx)
        assert after.text == before.text and after.citations == before.citations
    # the killed runs left nothing behind (their transactions rolled back): without the new files, nothing to do
    for i in range(24):
        (kb / f"extra-{i}.md").unlink()
    assert build_index(kb, settings=s).build_report.up_to_date
    assert pg_server.sql("SELECT count(*) FROM qa.generations", db) == [(1,)]
    assert pg_server.sql("SELECT count(*) FROM qa.documents", db) == [(4,)]


def test_a_dropped_connection_is_retried_once(pg_server, pg_url, tmp_path):
    kb = make_kb(tmp_path / "kb")
    index = build_index(kb, settings=settings_for(pg_url, kb))
    before = answer(QUESTION, index=index)
    db = pg_url.rsplit("/", 1)[1]
    killed = pg_server.sql(
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}' AND pid <> pg_backend_pid()"
    )
    assert killed  # every pooled connection of this process is gone
    after = answer(QUESTION, index=index)
    assert after.text == before.text and after.citations == before.citations


def test_a_server_going_away_mid_question_is_one_line_and_loses_nothing(tmp_path):
    try:
        server = PgServer.start()
    except RuntimeError as e:
        pytest.skip(f"PostgreSQL could not start: {e}")
    try:
        kb = make_kb(tmp_path / "kb")
        url = server.create_database("away")
        index = build_index(kb, settings=settings_for(url, kb))
        before = answer(QUESTION, index=index)
        server.stop("immediate")
        t0 = time.time()
        with pytest.raises(
            StoreError, match=r"cannot reach PostgreSQL at postgres@127.0.0.1:\d+/away .*start the server"
        ) as e:
            answer(QUESTION, index=index)
        assert time.time() - t0 < 30 and "qa-test-secret" not in one_line(e.value)
        server.restart()
        after = answer(QUESTION, index=index)  # the same reader works again once the server is back
        assert after.text == before.text and after.citations == before.citations
    finally:
        server.close()


def test_replicas_answer_alike_and_see_each_others_rebuilds(pg_url, tmp_path):
    """Two processes on one database (as two `qa serve` replicas are): the same answer, and a rebuild by one is
    what the other answers from next (the pipeline reopens when the live generation changes)."""
    kb = make_kb(tmp_path / "kb")
    s = settings_for(pg_url, kb)
    build_index(kb, settings=s)
    here = answer(QUESTION, settings=s)
    r = qa_cli("ask", QUESTION, "--docs", str(kb), "--store", pg_url, "--json")
    there = json.loads(r.stdout)
    assert there["text"] == here.text
    assert [(c["source"], c["start"], c["end"]) for c in there["citations"]] == [
        (c.source, c.start, c.end) for c in here.citations
    ]
    md = kb / "lighthouse.md"
    md.write_text(md.read_text().replace("Ada Park", "Ines Duarte"))
    r = qa_cli("index", str(kb), "--store", pg_url, "--quiet")  # the other replica rebuilds
    assert r.returncode == 0, r.stderr
    assert "Ines Duarte" in answer(QUESTION, settings=s).text


@pytest.mark.parametrize("name", ["docs", "seeds"])
def test_the_eval_sets_answer_the_same_on_both_stores(name, pg_url, tmp_path):
    """Every answer, citation, stage rank and confidence of evals/docs.jsonl and evals/seeds.jsonl is the same
    with the index in PostgreSQL as in the local store (evals/compare.py)."""
    from qa.evaluate import main as run_eval

    root = Path(__file__).parent.parent
    docs = (root / json.loads((root / "evals" / "gates.json").read_text())[name]["docs"]).resolve()
    if not docs.is_dir():
        pytest.skip(f"{docs} is not here")
    questions = root / "evals" / f"{name}.jsonl"
    run_eval(questions, settings=Settings(docs=docs), json_out=tmp_path / "local.json")
    run_eval(questions, settings=Settings(docs=docs, store=pg_url), json_out=tmp_path / "pg.json")
    sys.path.insert(0, str(root / "evals"))
    from compare import compare

    local, pg = (json.loads((tmp_path / f).read_text()) for f in ("local.json", "pg.json"))
    assert compare(local, pg, 1e-4) == []


def test_two_web_replicas_answer_alike_and_serve_each_others_rebuilds(pg_url, tmp_path):
    """Two `qa serve` apps on one database, asked through /ask as a load balancer would send questions."""
    from gradio_client import Client
    from pg import _free_port

    from qa.web import serve

    kb = make_kb(tmp_path / "kb")
    apps = [serve(Settings(docs=kb, store=pg_url, home=tmp_path / f"h{i}", port=_free_port()), block=False)
            for i in (1, 2)]  # fmt: skip
    try:
        one, two = (Client(a.local_url, analytics_enabled=False, verbose=False) for a in apps)
        a1, a2 = (c.predict(QUESTION, api_name="/ask") for c in (one, two))
        assert ANSWER in a1["text"] and a1["text"] == a2["text"] and a1["citations"] == a2["citations"]
        md = kb / "lighthouse.md"
        md.write_text(md.read_text().replace("Ada Park", "Ines Duarte"))
        build_index(kb, settings=Settings(docs=kb, store=pg_url))  # what replica one's rebuild button runs
        assert "Ines Duarte" in two.predict(QUESTION, api_name="/ask")["text"]
    finally:
        for a in apps:
            a.close()


def test_bench_at_scale_measures_the_database_beside_the_local_store(pg_url, tmp_path):
    """`qa bench --store URL --scale N`: the same synthetic chunks in FAISS + bm25s and in PostgreSQL, side by side,
    in a throwaway collection that is dropped afterwards."""
    kb = make_kb(tmp_path / "kb")
    out = tmp_path / "bench.json"
    r = qa_cli("bench", "--docs", str(kb), "--store", pg_url, "--quick", "--scale", "2000", "--json", str(out))
    assert r.returncode == 0, r.stderr[-3000:]
    scale = json.loads(out.read_text())["scale"]
    assert {row["index"] for row in scale["rows"]} == {"flat", "ivf", "hnsw"}
    (pg,) = scale["postgresql"]
    assert pg["n"] == 2000 and pg["store"].startswith("postgresql (exact")  # below HNSW_FROM: exact search
    assert pg["recall@10"] == 1.0 and pg["keyword_recall@50_vs_bm25"] == 1.0
    assert pg["size_mb"] > 0 and pg["hybrid_p50"] > 0
    assert "postgresql store at scale" in r.stdout
    assert store_for(f"{pg_url}#qa-bench-scale-2000", Settings().index).generation() is None


def test_hnsw_candidates_grow_with_the_collection():
    """200 up to 100k chunks (recall@10 0.977 there), 1000 (pgvector's limit) from 1M (0.986 there)."""
    from qa.stores.postgres import HNSW_EF_SEARCH_MAX, ef_search_for

    sizes = [20_000, 100_000, 200_000, 500_000, 1_000_000, 10_000_000]
    efs = [ef_search_for(n) for n in sizes]
    assert efs[:2] == [200, 200] and efs[-2:] == [HNSW_EF_SEARCH_MAX, HNSW_EF_SEARCH_MAX] == [1000, 1000]
    assert efs == sorted(efs) and 200 < efs[2] < efs[3] < 1000


def test_an_hnsw_collection_records_the_graph_it_has(pg_server, pg_url, tmp_path):
    """QA_INDEX_TYPE=hnsw: the graph is built with ef_construction 128; a graph an earlier qa built (pgvector's
    default 64) is kept on the next build, and the manifest says 64, not what this qa would build."""
    kb = make_kb(tmp_path / "kb")
    settings = settings_for(pg_url, kb, index_type="hnsw")
    index = build_index(kb, settings=settings)
    assert index.manifest["ann"] == {"kind": "hnsw", "m": 16, "ef_construction": 128, "ef_search": 200}
    assert ANSWER in answer(QUESTION, index=index, settings=settings).text
    db = pg_url.rsplit("/", 1)[1]
    (name, table), *_ = pg_server.sql(
        "SELECT indexname, tablename FROM pg_indexes WHERE schemaname = 'qa' AND indexdef LIKE '%hnsw%'", db
    )
    pg_server.sql(f"DROP INDEX qa.{name}", db)
    pg_server.sql(
        f"CREATE INDEX {name} ON qa.{table} USING hnsw ((embedding::vector(384)) vector_cosine_ops) "
        "WITH (m = 16, ef_construction = 64)",
        db,
    )
    (kb / "osprey.md").write_text("# Osprey\n\nThe Osprey buoy was anchored off Varden by Ivo Sand.\n")
    index = build_index(kb, settings=settings)
    assert index.manifest["ann"]["ef_construction"] == 64
    assert "Ivo Sand" in answer("Who anchored the Osprey buoy?", index=index, settings=settings).text
