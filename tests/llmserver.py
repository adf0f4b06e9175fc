"""Misbehaving OpenAI-compatible servers for the hostile tests: real HTTP on 127.0.0.1, each breaking one rule.

good               a model list and a short streamed answer, as a healthy server sends them
trickle            the answer as one byte every 0.5 s, never a newline
trickle-models     GET /models as one byte every 0.5 s
list-content       delta.content is a JSON list; number-content: a number
flood              50 MB of events, ignoring max_tokens (bytes actually written are counted)
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODELS = json.dumps({"object": "list", "data": [{"id": "hostile", "object": "model"}]}).encode()
FLOOD_BYTES = 50_000_000


def event(content: object) -> bytes:
    return f"data: {json.dumps({'choices': [{'index': 0, 'delta': {'content': content}}]})}\n\n".encode()


class LLMServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, mode: str, answer: str = "Tomas Vik designed Driftwood [1]."):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.mode, self.answer = mode, answer
        self.sent = 0  # body bytes written to the client (flood)
        self.requests: list[str] = []
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def __enter__(self) -> LLMServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # the body ends when the connection closes: no length to honour
    server: LLMServer

    def log_message(self, *args: object) -> None:
        pass

    def _head(self, ctype: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.end_headers()

    def _trickle(self, body: bytes) -> None:
        """One byte every 0.5 s, for at most two minutes (the test is long over by then)."""
        for i in range(240):
            if self.server.stopping.is_set():
                return
            self.wfile.write(body[i % len(body) : i % len(body) + 1])
            self.wfile.flush()
            time.sleep(0.5)

    def do_GET(self) -> None:  # noqa: N802
        self.server.requests.append(f"GET {self.path}")
        if self.server.mode == "trickle-models":
            self._head("application/json")
            self._trickle(MODELS.replace(b"\n", b" "))
            return
        self._head("application/json")
        self.wfile.write(MODELS)

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.requests.append(f"POST {self.path}")
        mode = self.server.mode
        self._head("text/event-stream")
        try:
            if mode == "trickle":
                self._trickle(b'data: {"choices": [{"delta": {"content": "Tomas Vik designed it"}}]} ' * 10)
            elif mode in ("list-content", "number-content"):
                self.wfile.write(event("Tomas Vik "))
                self.wfile.write(event(["designed", "Driftwood"] if mode == "list-content" else 42))
                self.wfile.write(b"data: [DONE]\n\n")
            elif mode == "flood":
                block = event("Driftwood was designed by Tomas Vik [1]. ") * 1000
                while self.server.sent < FLOOD_BYTES and not self.server.stopping.is_set():
                    self.wfile.write(block)
                    self.server.sent += len(block)
                self.wfile.write(b"data: [DONE]\n\n")
            else:
                for word in self.server.answer.split(" "):
                    self.wfile.write(event(word + " "))
                self.wfile.write(b"data: [DONE]\n\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading: what a capped client does
