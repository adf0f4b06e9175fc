"""Answers per second through two `qa serve` replicas, with 1, 2 and 4 concurrent clients, for the local store and
the postgresql store side by side.

Each store: index docs/ once, start two real `qa serve` processes over it (127.0.0.1, free ports; the local pair
shares one index folder, the postgresql pair one database), then C clients (threads) ask questions from
evals/docs.jsonl through Gradio's REST API `/ask`, alternating between the replicas. Also checks that the two
replicas give the same answer to every question.

    python benchmarks/pg_replicas.py [--url postgresql://...] [--each 6] [--json out.json]

Without --url it starts a throwaway PostgreSQL from the pgserver wheel, as the tests do.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
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


def ask(client: httpx.Client, url: str, question: str) -> str:
    r = client.post(f"{url}/gradio_api/call/ask", json={"data": [question, []]})
    r.raise_for_status()
    kind = ""
    with client.stream("GET", f"{url}/gradio_api/call/ask/{r.json()['event_id']}") as events:
        for line in events.iter_lines():
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:") and kind in ("complete", "error"):
                if kind == "error":
                    raise RuntimeError(line[5:200])
                return json.loads(line[5:])[0]["text"]
    raise RuntimeError("stream ended without a result")


def start(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "qa.cli", "serve", "--docs", str(ROOT / "docs"), "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 600
    while time.time() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(1)
    proc.kill()
    raise RuntimeError("qa serve did not start in 600 s")


def run_store(name: str, env: dict[str, str], questions: list[str], each: int) -> dict:
    subprocess.run([sys.executable, "-m", "qa.cli", "index", str(ROOT / "docs"), "--quiet"], env=env, check=True)
    replicas = [start(env), start(env)]
    urls = [u for _, u in replicas]
    out: dict = {"store": name, "runs": []}
    try:
        with httpx.Client(timeout=300) as client:
            for q in questions[:3]:  # warm both replicas
                for u in urls:
                    ask(client, u, q)
            same = sum(ask(client, urls[0], q) == ask(client, urls[1], q) for q in questions[:20])
            out["replicas_agree"] = f"{same}/20"
        for clients in (1, 2, 4):
            errors: list[str] = []
            done = [0]

            def work(i: int, done: list[int] = done, errors: list[str] = errors) -> None:
                with httpx.Client(timeout=300) as c:
                    for j in range(each):
                        q = questions[(i * each + j) % len(questions)]
                        try:
                            ask(c, urls[(i + j) % 2], q)
                            done[0] += 1
                        except (httpx.HTTPError, RuntimeError) as e:
                            errors.append(str(e)[:100])

            t0 = time.perf_counter()
            threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - t0
            run = {"clients": clients, "answers": done[0], "errors": len(errors), "seconds": round(wall, 1),
                   "answers_per_s": round(done[0] / wall, 2)}  # fmt: skip
            print(name, run, flush=True)
            out["runs"].append(run)
    finally:
        for proc, _ in replicas:
            proc.terminate()
            proc.wait(timeout=30)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url")
    ap.add_argument("--each", type=int, default=6, help="questions per client")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--home", help="QA_HOME to use (an index of docs/ already there is reused; default: a temp one)")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "tests"))
    server = None
    if args.url is None:
        from pg import PgServer

        server = PgServer.start()
        args.url = server.create_database("replicas")
    questions = [
        json.loads(x)["question"] for x in (ROOT / "evals" / "docs.jsonl").read_text().splitlines() if x.strip()
    ]
    home = args.home or tempfile.mkdtemp(prefix="qa-replicas-")
    base = {**os.environ, "HF_HUB_OFFLINE": "1", "QA_HOME": home, "GRADIO_ANALYTICS_ENABLED": "False"}
    base.pop("QA_STORE", None)
    try:
        results = [run_store("local", base, questions, args.each),
                   run_store("postgresql", {**base, "QA_STORE": args.url}, questions, args.each)]  # fmt: skip
    finally:
        if server is not None:
            server.close()
    print(
        "| store | replicas agree | "
        + " | ".join(f"{c} client{'s' if c > 1 else ''} (answers/s)" for c in (1, 2, 4))
        + " |"
    )
    print("|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['store']} | {r['replicas_agree']} | " + " | ".join(str(x["answers_per_s"]) for x in r["runs"]) + " |"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
