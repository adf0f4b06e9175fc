"""The JSON API beside the chat, driven with plain HTTP (httpx) against a real `qa serve` on 127.0.0.1.

One server serves the module: a copy of the test corpus, --auth, --watch. Every bad request gets one line of
JSON with a 4xx status, and a good request right after it still works.
"""

import json
import time

import pytest
from conftest import free_port, make_kb

httpx = pytest.importorskip("httpx")
pytest.importorskip("gradio")

AUTH = ("ann", "tide-2024")
MB = 1_000_000


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`qa serve --auth ann:tide-2024 --watch` over a copy of the test corpus."""
    from qa.settings import Settings
    from qa.web import serve

    tmp = tmp_path_factory.mktemp("api")
    docs = make_kb(tmp / "docs")
    settings = Settings(docs=docs, home=tmp / "home", port=free_port())
    app = serve(settings, auth=AUTH, block=False, watch=True)
    yield app.local_url.rstrip("/"), docs, app
    app.watcher.stop()
    app.close()


@pytest.fixture(scope="module")
def client(server):
    url, _, _ = server
    with httpx.Client(base_url=url, auth=AUTH, timeout=120) as c:
        yield c


def one_line_error(r, status: int) -> str:
    assert r.status_code == status, (r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"} and "\n" not in body["error"] and body["error"], body
    return body["error"]


def still_serving(client) -> None:
    r = client.post("/api/ask", json={"question": "Who designed Driftwood?"})
    assert r.status_code == 200 and "Tomas Vik" in r.json()["text"]


@pytest.mark.slow
def test_ask_returns_what_qa_ask_json_prints(server, client):
    from qa import answer, open_index
    from qa.present import answer_dict
    from qa.settings import Settings

    r = client.post("/api/ask", json={"question": "Who designed Driftwood?", "history": []})
    assert r.status_code == 200
    got = r.json()
    assert got["abstained"] is False and "Tomas Vik" in got["text"]
    c = got["citations"][0]
    assert c["source"] == "driftwood.txt" and c["quote"] in (server[1] / "driftwood.txt").read_text()
    assert {"source", "section", "start", "end", "quote"} <= set(c)

    _, docs, _ = server
    settings = Settings(docs=docs, home=docs.parent / "home")
    local = answer_dict(answer("Who designed Driftwood?", index=open_index(settings=settings), settings=settings))
    assert set(got) == set(local) and got["text"] == local["text"] and got["citations"] == local["citations"]


@pytest.mark.slow
def test_a_follow_up_uses_the_history(client):
    r = client.post(
        "/api/ask", json={"question": "When was it first lit?", "history": ["Where is the Varden lighthouse?"]}
    )
    assert r.status_code == 200
    got = r.json()
    assert got["resolved_question"] != got["question"] or got["citations"], got
    refusal = client.post("/api/ask", json={"question": "What is the airspeed velocity of an unladen swallow?"})
    assert refusal.status_code == 200 and refusal.json()["abstained"] is True


@pytest.mark.slow
def test_documents_lists_the_index(client):
    r = client.get("/api/documents")
    assert r.status_code == 200
    got = r.json()
    assert got["count"] == 4 and got["chunks"] > 4
    assert {d["source"] for d in got["documents"]} >= {"driftwood.txt", "lighthouse.md", "gauges.pdf"}


@pytest.mark.slow
def test_openapi_describes_the_api(server):
    url, _, _ = server
    spec = httpx.get(f"{url}/api/openapi.json").json()  # open without auth: it holds no documents
    assert {"/ask", "/documents"} <= set(spec["paths"])
    assert spec["servers"][0]["url"] == "/api"
    body = spec["paths"]["/ask"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    ask = spec["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    assert ask["required"] == ["question"] and ask["properties"]["history"]["type"] == "array"
    assert "HTTPBasic" in spec["components"]["securitySchemes"]


@pytest.mark.slow
def test_the_api_takes_the_same_login_as_the_chat(server, client):
    url, _, _ = server
    for auth in (None, ("ann", "wrong"), ("bob", "tide-2024")):
        r = httpx.post(f"{url}/api/ask", json={"question": "Who designed Driftwood?"}, auth=auth)
        assert "--auth" in one_line_error(r, 401) and r.headers["www-authenticate"].startswith("Basic")
    r = httpx.get(f"{url}/api/documents", headers={"Authorization": "Basic !!!not-base64"})
    one_line_error(r, 401)
    still_serving(client)


BAD = [
    # (what, how to send it, status, words the error must contain)
    ("wrong content type", {"content": "Who designed Driftwood?", "headers": {"Content-Type": "text/plain"}}, 415, "application/json"),
    ("form post", {"data": {"question": "Who designed Driftwood?"}}, 415, "application/json"),
    ("no content type", {"content": b'{"question": "Who designed Driftwood?"}'}, 415, "Content-Type is missing"),
    ("malformed JSON", {"content": '{"question": "Who', "headers": {"Content-Type": "application/json"}}, 400, "malformed JSON"),
    ("empty body", {"content": b"", "headers": {"Content-Type": "application/json"}}, 422, "question"),
    ("a list, not an object", {"json": ["Who designed Driftwood?"]}, 422, "JSON object"),
    ("missing question", {"json": {"history": []}}, 422, "question is missing"),
    ("empty question", {"json": {"question": ""}}, 422, "empty"),
    ("blank question", {"json": {"question": "   \n\t "}}, 422, "empty"),
    ("question is a number", {"json": {"question": 42}}, 422, "question"),
    ("history is a string", {"json": {"question": "Who?", "history": "Where is Varden?"}}, 422, "history"),
    ("history holds numbers", {"json": {"question": "Who?", "history": [1, 2]}}, 422, "history.0"),
    ("history holds chat messages", {"json": {"question": "Who?", "history": [{"role": "user", "content": "x"}]}}, 422, "history"),
    ("a misspelt field", {"json": {"questoin": "Who designed Driftwood?"}}, 422, "questoin"),
    ("10 MB question", {"json": {"question": "x" * (10 * MB)}}, 413, "MB"),
]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("what,send,status,words", BAD, ids=[b[0] for b in BAD])
def test_bad_requests_get_a_one_line_json_error(client, what, send, status, words):
    r = client.post("/api/ask", **send)
    assert words in one_line_error(r, status)
    still_serving(client)


@pytest.mark.slow
def test_wrong_routes_and_methods_are_one_line_errors(client):
    assert "openapi.json" in one_line_error(client.get("/api/ask"), 405)
    assert "openapi.json" in one_line_error(client.post("/api/nothing", json={}), 404)
    assert "/api/documents" in one_line_error(client.post("/api/documents", json={}), 405)
    still_serving(client)


@pytest.mark.slow
def test_a_long_question_is_cut_with_a_note(client):
    r = client.post("/api/ask", json={"question": "Who designed Driftwood? " + "please " * 20_000})
    assert r.status_code == 200 and any("truncated" in n or "cut" in n for n in r.json()["notes"])


@pytest.mark.slow
def test_a_watched_folder_shows_new_documents_in_the_api(server, client):
    _, docs, app = server
    (docs / "osprey.md").write_text("# Osprey\n\nThe Osprey buoy was anchored off Varden by Ivo Sand in 2016.\n")
    t0 = time.monotonic()
    while client.get("/api/documents").json()["count"] != 5:
        assert time.monotonic() - t0 < 60, app.watcher.stats
        time.sleep(0.1)
    r = client.post("/api/ask", json={"question": "Who anchored the Osprey buoy?"})
    assert "Ivo Sand" in r.json()["text"] and r.json()["citations"][0]["source"] == "osprey.md"
    (docs / "osprey.md").unlink()
    while client.get("/api/documents").json()["count"] != 4:
        assert time.monotonic() - t0 < 60
        time.sleep(0.1)
    print(f"\nAPI: new file answerable after {time.monotonic() - t0:.2f} s")


def test_errors_are_json_lines():
    from qa.web.api import _validation_message

    status, line = _validation_message([{"type": "json_invalid", "loc": ("body", 17), "ctx": {"error": "x"}}])
    assert status == 400 and "malformed JSON" in line and json.dumps(line).count("\\n") == 0
