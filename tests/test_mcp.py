"""`qa mcp` as an assistant meets it: the official MCP SDK's own client starts `qa mcp` as a subprocess (stdio)
and calls each tool; one test talks streamable HTTP to `qa mcp --http PORT`. Real model, real index.
"""

import json
import os
import socket
import subprocess
import sys
import time
from contextlib import asynccontextmanager

import pytest
from conftest import free_port, make_kb

pytest.importorskip("mcp")
import anyio  # noqa: E402
from mcp import ClientSession  # noqa: E402
from mcp.client.stdio import StdioServerParameters, stdio_client  # noqa: E402


def env(home) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PYTHONPATH", "PATH", "HOME")}
    return {**keep, "QA_HOME": str(home), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


@asynccontextmanager
async def qa_mcp(docs, home):
    """The SDK's client connected to `python -m qa.cli mcp --docs DOCS` over stdio."""
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "qa.cli", "mcp", "--docs", str(docs)], env=env(home)
    )
    with open(home / "mcp-stderr.log", "w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            yield session


def run(test):
    """Run an async test body with a session on a fresh copy of the test corpus."""

    def wrapper(tmp_path):
        docs, home = make_kb(tmp_path / "kb"), tmp_path / "home"
        home.mkdir()

        async def main():
            async with qa_mcp(docs, home) as session:
                await test(session, docs)

        anyio.run(main)

    wrapper.__name__ = test.__name__
    return wrapper


def text(result) -> str:
    assert len(result.content) == 1
    return result.content[0].text


@pytest.mark.slow
@run
async def test_the_four_tools_over_stdio(session, docs):
    tools = {t.name: t for t in (await session.list_tools()).tools}
    assert set(tools) == {"ask", "search", "list_documents", "reindex"}
    assert tools["ask"].input_schema["required"] == ["question"] and tools["ask"].description
    assert "citations" in tools["ask"].output_schema["properties"]

    r = await session.call_tool("ask", {"question": "Who designed Driftwood?"})
    got = r.structured_content
    assert not r.is_error and not got["abstained"] and "Tomas Vik" in got["answer"]
    c = got["citations"][0]
    assert set(c) == {"n", "source", "section", "start", "end", "quote"} and c["source"] == "driftwood.txt"
    assert c["quote"] == (docs / "driftwood.txt").read_text()[c["start"] : c["end"]]  # exact, at its offsets
    assert json.loads(text(r)) == got  # the same as text, for clients that read only text

    r = await session.call_tool("ask", {"question": "When was it first released?", "history": ["What is Lighthouse?"]})
    assert "2020" in r.structured_content["answer"]
    r = await session.call_tool("ask", {"question": "What is the airspeed velocity of an unladen swallow?"})
    assert r.structured_content["abstained"] is True and r.structured_content["citations"] == []

    r = await session.call_tool("search", {"query": "tide gauge batteries", "top_k": 3})
    passages = r.structured_content["passages"]
    assert 1 <= len(passages) <= 3 and passages[0]["source"] == "gauges.pdf"
    assert [p["score"] for p in passages] == sorted((p["score"] for p in passages), reverse=True)

    r = await session.call_tool("list_documents", {})
    listed = r.structured_content
    assert listed["count"] == 4 and listed["chunks"] > 4
    assert {d["source"] for d in listed["documents"]} == {
        "driftwood.txt",
        "gauges.pdf",
        "lighthouse.md",
        "release-notes.html",
    }

    (docs / "osprey.md").write_text("# Osprey\n\nThe Osprey buoy was anchored off Varden by Ivo Sand in 2016.\n")
    r = await session.call_tool("reindex", {})
    assert r.structured_content["added"] == ["osprey.md"] and r.structured_content["documents"] == 5
    r = await session.call_tool("ask", {"question": "Who anchored the Osprey buoy?"})
    assert "Ivo Sand" in r.structured_content["answer"]
    r = await session.call_tool("reindex", {})
    assert r.structured_content["up_to_date"] is True


BAD_CALLS = [
    # (tool, arguments, words the one-line error must hold)
    ("ask", {}, "question is missing"),
    ("ask", {"query": "Who designed Driftwood?"}, "question is missing"),
    ("ask", {"question": 42}, "question: Input should be a valid string"),
    ("ask", {"question": ""}, "question is empty"),
    ("ask", {"question": "Who?", "history": "What is Lighthouse?"}, "history"),
    ("ask", {"question": "Who?", "history": [{"role": "user"}]}, "history.0"),
    ("search", {"query": "gauges", "top_k": "many"}, "top_k"),
    ("search", {"query": "gauges", "top_k": 0}, "from 1 to 50"),
    ("search", {}, "query is missing"),
    ("reindex", {"rebuild": "please"}, "rebuild"),
    ("summarise", {"text": "x"}, "summarise"),
]  # fmt: skip


@pytest.mark.slow
@run
async def test_wrong_calls_get_one_line_errors_and_the_server_keeps_serving(session, docs):
    for tool, arguments, words in BAD_CALLS:
        r = await session.call_tool(tool, arguments)
        message = text(r)
        assert r.is_error, (tool, arguments)
        assert words in message and "\n" not in message, (tool, arguments, message)
        ok = await session.call_tool("ask", {"question": "Who designed Driftwood?"})
        assert not ok.is_error and "Tomas Vik" in ok.structured_content["answer"]


@pytest.mark.slow
def test_streamable_http_on_localhost(tmp_path):
    psutil = pytest.importorskip("psutil")
    from mcp.client.streamable_http import streamable_http_client

    docs, home, port = make_kb(tmp_path / "kb"), tmp_path / "home", free_port()
    cmd = [sys.executable, "-m", "qa.cli", "mcp", "--docs", str(docs), "--http", str(port)]
    proc = subprocess.Popen(cmd, env=env(home), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        t0 = time.monotonic()
        while True:
            assert proc.poll() is None, proc.stderr.read()
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() - t0 < 120
            time.sleep(0.2)
        listening = [c.laddr for c in psutil.Process(proc.pid).net_connections("tcp") if c.status == psutil.CONN_LISTEN]
        assert [a.ip for a in listening] == ["127.0.0.1"], listening  # local only unless --host says otherwise

        async def main():
            async with (
                streamable_http_client(f"http://127.0.0.1:{port}/mcp") as (read, write),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                r = await session.call_tool("list_documents", {})
                assert r.structured_content["count"] == 4
                r = await session.call_tool("ask", {"question": "Who designed Driftwood?"})
                assert r.structured_content["citations"][0]["source"] == "driftwood.txt"
                bad = await session.call_tool("ask", {})
                assert bad.is_error and "question is missing" in text(bad)

        anyio.run(main)
    finally:
        proc.terminate()
        proc.wait(30)
