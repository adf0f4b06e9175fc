"""Shared fixtures: a temp QA_HOME, a small real corpus (md, txt, html, pdf) and its index built once."""

from __future__ import annotations

import os
import shutil
import socket
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
ROOT = HERE.parent
SEEDS = ROOT.parent / "shared" / "seeds"
sys.path.insert(0, str(HERE))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from pdfgen import make_pdf  # noqa: E402

PDF_PAGES = [
    ["Tide gauge network", "The gauge network covers 312 stations along the fjord."],
    ["Maintenance", "Batteries in each gauge are replaced every 18 months by a crew from Alesund."],
]


@pytest.fixture(autouse=True)
def qa_home(tmp_path_factory, monkeypatch):
    """Every test gets its own QA_HOME so no index leaks between tests or into the user's home."""
    home = tmp_path_factory.mktemp("qa_home")
    monkeypatch.setenv("QA_HOME", str(home))
    return home


def make_kb(dest: Path) -> Path:
    """The small test corpus: Markdown, text, HTML and a generated PDF."""
    shutil.copytree(HERE / "data" / "kb", dest)
    (dest / "gauges.pdf").write_bytes(make_pdf(PDF_PAGES))
    return dest


@pytest.fixture(scope="session")
def kb_dir(tmp_path_factory) -> Path:
    return make_kb(tmp_path_factory.mktemp("corpus") / "kb")


@pytest.fixture(scope="session")
def kb_index(kb_dir, tmp_path_factory):
    """The test corpus indexed once per session with the real model and real FAISS."""
    from qa import build_index

    return build_index(kb_dir, index_dir=tmp_path_factory.mktemp("kb_index") / "index")


@pytest.fixture(scope="session")
def seeds_dir() -> Path:
    if not SEEDS.is_dir():
        pytest.skip("../shared/seeds is not beside the repository")
    return SEEDS


@pytest.fixture(scope="session")
def pg_server():
    """A real PostgreSQL 16 + pgvector server (the pgserver wheel's binaries) on a free port, for the session.
    Skips only when it cannot start, saying why."""
    from pg import PgServer

    try:
        server = PgServer.start()
    except (RuntimeError, OSError, KeyError) as e:  # KeyError: no `nobody` user to run it as when root
        print(f"\nPostgreSQL tests skipped: {e}", file=sys.stderr)
        pytest.skip(f"PostgreSQL could not start: {e}")
    yield server
    server.close()


@pytest.fixture
def pg_url(pg_server, request) -> str:
    """A fresh database (vector extension created) on the session's server: its superuser URL."""
    import re
    import uuid

    name = re.sub(r"\W", "_", request.node.name.lower())[:40] + "_" + uuid.uuid4().hex[:6]
    return pg_server.create_database(name)


# --- servers and the browser (WEBTEST.md): every test that drives a page or a port uses these ---------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
    "--disable-background-networking", "--disable-component-update",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost",
]  # fmt: skip


def free_port() -> int:
    """A port nothing listens on, on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium, one per test module (WEBTEST.md)."""
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
