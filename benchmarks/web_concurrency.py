"""The web server under many askers at once: errors, latency and the server's memory before and after.

Indexes docs/ under a temporary QA_HOME, starts the real `qa serve` over it as a subprocess (127.0.0.1, a free
port), then N askers (threads) each ask M questions from evals/docs.jsonl through `/ask`, over Gradio's REST API
as any HTTP client would, all at once. Every request is bounded (M per asker, a 120 s timeout each); nothing
leaves 127.0.0.1. An error is anything but a complete answer: an HTTP error, an error event, a timeout.

    .venv/bin/python benchmarks/web_concurrency.py                        # 50 askers x 8 questions
    .venv/bin/python benchmarks/web_concurrency.py --askers 50 --each 8 --json benchmarks/results/web-concurrency.json
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def memory_mb(pid: int) -> dict[str, float]:
    """Resident memory now and at its peak (VmHWM), from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return {"rss_mb": round(fields["VmRSS"], 1), "peak_mb": round(fields["VmHWM"], 1)}


def ask(client: httpx.Client, url: str, question: str) -> dict:
    """One question through /ask: ("complete", seconds) or the error."""
    t0 = time.perf_counter()
    try:
        r = client.post(f"{url}/gradio_api/call/ask", json={"data": [question, []]})
        r.raise_for_status()
        event_id = r.json()["event_id"]
        kind = ""
        with client.stream("GET", f"{url}/gradio_api/call/ask/{event_id}") as events:
            for line in events.iter_lines():
                if line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:") and kind in ("complete", "error"):
                    ok = kind == "complete" and "text" in json.loads(line[5:])[0]
                    return {"ok": ok, "s": time.perf_counter() - t0, "error": None if ok else line[5:200]}
        return {"ok": False, "s": time.perf_counter() - t0, "error": "stream ended without a result"}
    except (httpx.HTTPError, ValueError, KeyError) as e:
        return {"ok": False, "s": time.perf_counter() - t0, "error": f"{type(e).__name__}: {e}"[:200]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=Path, default=ROOT / "docs")
    ap.add_argument("--askers", type=int, default=50)
    ap.add_argument("--each", type=int, default=8, help="questions per asker")
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args()

    lines = (ROOT / "evals" / "docs.jsonl").read_text().splitlines()
    questions = [json.loads(line)["question"] for line in lines if line.strip()]
    home, port = Path(tempfile.mkdtemp(prefix="qa-web-load-")), free_port()
    env = {**os.environ, "QA_HOME": str(home), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    log = (home / "server.log").open("wb")
    # index first, in its own process: a server that indexed in-process keeps the torch model (600 MB) resident
    subprocess.run([sys.executable, "-m", "qa.cli", "index", str(args.docs), "-q"], env=env, check=True, stdout=log)
    cmd = [sys.executable, "-m", "qa.cli", "serve", "--docs", str(args.docs), "--port", str(port)]
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600
        while True:  # indexing docs/ first, then Gradio starts
            if server.poll() is not None:
                sys.exit(f"qa serve exited: {(home / 'server.log').read_text()[-2000:]}")
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                sys.exit("qa serve did not start within 600 s")
            time.sleep(0.5)
        with httpx.Client(timeout=120) as c:
            ask(c, url, questions[0])  # warm-up: models loaded, first answer served
        before = memory_mb(server.pid)
        results: list[dict] = []
        lock = threading.Lock()
        start = threading.Barrier(args.askers)

        def asker(i: int) -> None:
            with httpx.Client(timeout=120) as client:
                start.wait()
                for j in range(args.each):
                    r = ask(client, url, questions[(i * args.each + j) % len(questions)])
                    with lock:
                        results.append(r)

        t0 = time.perf_counter()
        threads = [threading.Thread(target=asker, args=(i,)) for i in range(args.askers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        after = memory_mb(server.pid)
    finally:
        server.terminate()
        server.wait(30)
        log.close()

    ok = [r["s"] * 1e3 for r in results if r["ok"]]
    errors = [r["error"] for r in results if not r["ok"]]
    figures = {
        "askers": args.askers,
        "questions_each": args.each,
        "requests": len(results),
        "errors": len(errors),
        "error_examples": errors[:5],
        "wall_s": round(wall, 1),
        "answers_per_s": round(len(ok) / wall, 1),
        "latency_ms": {
            "p50": round(statistics.median(ok)),
            "p90": round(statistics.quantiles(ok, n=10)[-1]),
            "max": round(max(ok)),
        }
        if ok
        else {},
        "server_memory_before": before,
        "server_memory_after": after,
    }
    print(
        f"\n/ask under {args.askers} concurrent askers x {args.each} questions over {args.docs.name}/: "
        f"{len(results)} requests, {len(errors)} errors, {wall:.1f} s ({figures['answers_per_s']} answers/s)"
    )
    if ok:
        lat = figures["latency_ms"]
        print(f"latency per question (queued included): p50 {lat['p50']} ms, p90 {lat['p90']} ms, max {lat['max']} ms")
    print(
        f"server RSS: {before['rss_mb']:.0f} MB before (after one warm-up question), {after['rss_mb']:.0f} MB after; "
        f"peak {after['peak_mb']:.0f} MB"
    )
    for e in errors[:5]:
        print("  error:", e)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
