"""Web chat latency as a person feels it: from pressing Enter to the first streamed words and to the full answer.

Serves the real docs/ folder (indexed under a temporary QA_HOME), drives the chat in headless Chromium and times
each question inside the browser (performance.now() at the Enter keydown; a MutationObserver sees the first text
of the new answer and the sources panel filled by the final Answer). For comparison it also times the same
questions through the Python API in this process (first streamed piece, final Answer). Optionally saves the
screenshots the web docs use.

    .venv/bin/python benchmarks/web_latency.py                       # 20 questions from evals/docs.jsonl
    .venv/bin/python benchmarks/web_latency.py --screenshots benchmarks/screenshots --json out.json
"""

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
    "--disable-background-networking", "--disable-component-update",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost",
]  # fmt: skip

# Installed before each question; resolves when the sources panel shows the answer to question `n`.
WATCH = """
(n) => {
  const r = {updates: 0, last: ''};
  window.__lat = new Promise((resolve) => {
    const textOf = () => {
      const bots = document.querySelectorAll("#qa-chat [data-testid='bot']");
      return bots.length >= n ? (bots[n - 1].querySelector('.message-content')?.textContent || '').trim() : '';
    };
    const check = () => {
      if (r.t0 === undefined) return;
      const now = performance.now(), text = textOf();
      if (text && text !== r.last) { r.updates += 1; r.last = text; if (r.first === undefined) r.first = now; }
      const title = document.querySelector('#qa-sources .qa-panel-title');
      if (title && title.textContent.startsWith('Q' + n + ':')) {
        obs.disconnect();
        resolve({first_ms: r.first - r.t0, full_ms: now - r.t0, updates: r.updates, text: r.last});
      }
    };
    const obs = new MutationObserver(check);
    obs.observe(document.body, {subtree: true, childList: true, characterData: true});
    document.querySelector('#qa-question textarea').addEventListener('keydown', (e) => {
      if (e.key === 'Enter') r.t0 = performance.now();
    }, {capture: true, once: true});
  });
}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def questions(n: int) -> list[str]:
    lines = (ROOT / "evals" / "docs.jsonl").read_text().splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()][:n]


def ask_timed(page, question: str) -> dict:
    """Ask in a cleared chat (no follow-up rewriting), return the in-browser timings."""
    page.locator("#qa-clear").click()
    page.wait_for_function("() => document.querySelectorAll(\"#qa-chat [data-testid='bot']\").length === 0")
    page.evaluate(WATCH, 1)
    page.fill("#qa-question textarea", question)
    page.press("#qa-question textarea", "Enter")
    return page.evaluate("window.__lat")


def api_timed(qs: list[str], index, settings) -> list[dict]:
    from qa.pipeline import stream_answer
    from qa.types import Answer

    out = []
    for q in qs:
        t0 = time.perf_counter()
        first = None
        for item in stream_answer(q, index=index, settings=settings):
            if first is None:
                first = time.perf_counter()
            if isinstance(item, Answer):
                out.append({"first_ms": (first - t0) * 1e3, "full_ms": (time.perf_counter() - t0) * 1e3})
    return out


def screenshots(page, folder: Path) -> None:
    """First visit, an answer with its sources, a clicked citation with the document open, an abstention."""
    folder.mkdir(parents=True, exist_ok=True)
    page.locator("#qa-clear").click()
    page.wait_for_timeout(500)
    page.screenshot(path=str(folder / "1-first-visit.png"))
    page.get_by_text("Who introduced gVisor at KubeCon EU 2018?").click()
    page.wait_for_function("() => document.querySelector('#qa-sources .qa-panel-title')?.textContent.startsWith('Q1:')")
    page.wait_for_timeout(400)
    page.screenshot(path=str(folder / "2-answer-with-sources.png"))
    last = page.locator("#qa-chat a.qa-cite").last
    card = last.get_attribute("href").lstrip("#")  # the card this marker leads to
    last.click()
    page.locator(f"#{card}").get_by_text("view document").click()
    page.locator("#qa-doc-mark").wait_for()
    page.wait_for_timeout(400)
    page.screenshot(path=str(folder / "3-citation-and-document.png"))
    page.evaluate(WATCH, 2)
    page.fill("#qa-question textarea", "What is the best recipe for chocolate cake?")
    page.press("#qa-question textarea", "Enter")
    page.evaluate("window.__lat")
    page.wait_for_timeout(400)
    page.screenshot(path=str(folder / "4-abstention.png"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=Path, default=ROOT / "docs")
    ap.add_argument("-n", type=int, default=20, help="questions timed")
    ap.add_argument("--screenshots", type=Path, help="also save screenshots here")
    ap.add_argument("--json", type=Path, help="write every timing here")
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    from qa.settings import Settings
    from qa.web import serve

    home = Path(tempfile.mkdtemp(prefix="qa-web-bench-"))
    settings = Settings(docs=args.docs, home=home, port=free_port())
    t0 = time.perf_counter()
    app = serve(settings, block=False)
    startup_s = time.perf_counter() - t0
    qs = questions(args.n)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(app.local_url)
            page.wait_for_selector("#qa-question textarea")
            ask_timed(page, "Which foundation governs Kata Containers?")  # warm-up, not counted
            web = [ask_timed(page, q) for q in qs]
            if args.screenshots:
                screenshots(page, args.screenshots)
            browser.close()
        from qa.pipeline import open_index

        api = api_timed(qs, open_index(settings=settings), settings)
    finally:
        app.close()

    def med(rows: list[dict], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    def p90(rows: list[dict], key: str) -> float:
        return statistics.quantiles([r[key] for r in rows], n=10)[-1]

    print(f"\nqa web chat latency: {len(qs)} questions over {args.docs} (startup incl. index build {startup_s:.1f} s)")
    print(f"{'':28}{'median ms':>10}{'p90 ms':>10}")
    for label, rows, key in [
        ("browser: Enter -> 1st word", web, "first_ms"),
        ("browser: Enter -> full", web, "full_ms"),
        ("python API: first piece", api, "first_ms"),
        ("python API: full Answer", api, "full_ms"),
    ]:
        print(f"{label:28}{med(rows, key):>10.0f}{p90(rows, key):>10.0f}")
    print(f"streamed updates seen per answer (median): {statistics.median(r['updates'] for r in web):.0f}")
    if args.json:
        figures = {"questions": qs, "browser": web, "api": api, "startup_s": startup_s}
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
