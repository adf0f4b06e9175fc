"""The plain JSON API beside the web chat, for scripts and other services (mounted at /api by `qa serve`).

    POST /api/ask        {"question": "...", "history": ["earlier question", ...]} -> what `qa ask --json` prints
    GET  /api/documents  the indexed documents and the index's counts
    GET  /api/openapi.json

With `qa serve --auth user:pass` the data routes take HTTP Basic auth with the same user and password as the
chat's login page (`curl -u user:pass`): scripts have no login form to fill in. Every error is one line of
JSON, {"error": "..."}, with a 4xx status naming the problem; nothing a client sends stops the server.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from qa.errors import InputError, QAError
from qa.pipeline import answer
from qa.present import answer_dict

log = logging.getLogger("qa")

# Largest request body read: a question is cut at QA_MAX_QUESTION_CHARS (2,000) anyway, and 20 history
# questions of that size fit in 1 MB many times over; a 10 MB body is refused before it is parsed.
MAX_BODY_BYTES = 1_000_000
# What is read and thrown away after a refused body, so the client gets its 413 instead of a reset connection
DRAIN_BYTES = 64_000_000
# Questions answered at once; more wait (each takes a CPU core for ~0.1-1 s on the extractive reader)
CONCURRENT_ANSWERS = 4

Auth = tuple[str, str] | Callable[[str, str], bool] | None


class AskRequest(BaseModel):
    """A question, with the earlier questions of the conversation for follow-ups ("And where was it?")."""

    model_config = ConfigDict(extra="forbid")
    question: str = Field(description="The question.", examples=["Who designed Driftwood?"])
    history: list[str] = Field(
        default_factory=list,
        max_length=50,
        description="Earlier questions of the same conversation, oldest first (strings).",
        examples=[[]],
    )


class ErrorBody(BaseModel):
    error: str = Field(description="One line naming the problem and the fix.")


def _error(status: int, message: str, headers: dict[str, str] | None = None):  # noqa: ANN202
    from fastapi.responses import JSONResponse

    return JSONResponse({"error": " ".join(str(message).split())}, status_code=status, headers=headers)


def _check(auth: Auth, header: str | None) -> bool:
    """HTTP Basic credentials against the chat's --auth (a user:pass pair, or a check function)."""
    if auth is None:
        return True
    if not header or not header.lower().startswith("basic "):
        return False
    try:
        user, _, password = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    if callable(auth):
        return bool(auth(user, password))
    ok_user = hmac.compare_digest(user.encode(), auth[0].encode())
    ok_pass = hmac.compare_digest(password.encode(), auth[1].encode())
    return ok_user and ok_pass


class _Gate:
    """ASGI middleware in front of the API: Basic auth first, then JSON only (415), then a body over
    MAX_BODY_BYTES is answered 413 before any of it is parsed. The OpenAPI description stays open: it holds
    no documents."""

    def __init__(self, app: Any, auth: Auth = None, max_bytes: int = MAX_BODY_BYTES):
        self.app, self.auth, self.max_bytes = app, auth, max_bytes

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if scope["path"].rstrip("/") not in ("/openapi.json", "/api/openapi.json"):
            given = headers.get(b"authorization", b"").decode("latin-1") or None
            if not _check(self.auth, given):
                response = _error(
                    401,
                    "log in with HTTP Basic auth: the user:pass given to qa serve --auth (curl -u user:pass)",
                    {"WWW-Authenticate": 'Basic realm="qa"'},
                )
                await response(scope, receive, send)
                return
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        ctype = headers.get(b"content-type", b"").decode("latin-1").split(";")[0].strip().lower()
        if ctype != "application/json" and not ctype.endswith("+json"):
            response = _error(
                415, f"Content-Type is {ctype or 'missing'}; send JSON with Content-Type: application/json"
            )
            await response(scope, receive, send)
            return
        declared = headers.get(b"content-length", b"").decode() or None
        too_big = declared is not None and declared.isdigit() and int(declared) > self.max_bytes
        body, more, seen = b"", True, 0
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            seen += len(chunk)
            more = message.get("more_body", False)
            if too_big or seen > self.max_bytes:
                too_big = True
                if seen > DRAIN_BYTES:
                    break
                continue
            body += chunk
        if too_big:
            size = int(declared) if declared and declared.isdigit() else seen
            response = _error(
                413,
                f"request body is {size / 1e6:.1f} MB, over the {self.max_bytes / 1e6:g} MB limit; "
                "send a shorter question (questions are cut at 2,000 characters anyway)",
            )
            await response(scope, receive, send)
            return
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def _validation_message(errors: list[dict[str, Any]]) -> tuple[int, str]:
    """RequestValidationError -> (status, one line naming the field and the fix)."""
    # a misspelt field also makes `question` missing: naming the misspelling says what to fix
    errors = sorted(errors, key=lambda e: e.get("type") != "extra_forbidden")
    first = errors[0] if errors else {}
    kind, loc = first.get("type", ""), [str(x) for x in first.get("loc", ()) if x != "body"]
    example = 'send a JSON object like {"question": "your question", "history": []}'
    if kind == "json_invalid":
        where = first.get("ctx", {}).get("error", "") or first.get("msg", "")
        return 400, f"malformed JSON ({where}); {example}"
    if not loc:
        return 422, f"the body must be a JSON object; {example}"
    field = ".".join(loc)
    if kind == "missing":
        return 422, f"{field} is missing; {example}"
    if kind == "extra_forbidden":
        return 422, f"unknown field {field!r}: only question and history are read; {example}"
    if loc[0] == "history":
        return 422, f"{field}: {first.get('msg', 'invalid')}; history is a list of earlier questions (strings)"
    return 422, f"{field}: {first.get('msg', 'invalid')}; {example}"


def create_api(current_index: Callable[[], Any], settings: Any, *, auth: Auth = None):  # noqa: ANN201 (ASGI app)
    """The /api app: `current_index()` returns the live Index (raising QAError when there is none yet)."""
    import anyio
    from fastapi import Depends, FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.security import HTTPBasic
    from starlette.exceptions import HTTPException

    limiter = anyio.CapacityLimiter(CONCURRENT_ANSWERS)
    errors: dict[int | str, dict[str, Any]] = {
        code: {"model": ErrorBody, "description": why}
        for code, why in (
            (400, "malformed JSON"),
            (401, "missing or wrong Basic auth (qa serve --auth)"),
            (413, f"body over {MAX_BODY_BYTES / 1e6:g} MB"),
            (415, "not application/json"),
            (422, "empty question or wrong field types"),
            (503, "no index yet"),
        )
    }

    # documents the Basic auth in the OpenAPI description; _Gate enforces it before the body is read
    basic = [Depends(HTTPBasic(auto_error=False, realm="qa"))] if auth is not None else []

    api = FastAPI(
        title="qa",
        version=__import__("qa").__version__,
        description="Ask questions of a folder of documents; answers quote the documents with exact citations.",
        openapi_url="/openapi.json",
        docs_url=None,  # Swagger UI loads its scripts from a CDN; qa stays offline (use the JSON description)
        redoc_url=None,
    )

    @api.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):  # noqa: ANN202
        status, message = _validation_message(list(exc.errors()))
        return _error(status, message)

    @api.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):  # noqa: ANN202
        headers = {"WWW-Authenticate": 'Basic realm="qa"'} if exc.status_code == 401 else None
        detail = exc.detail
        if exc.status_code == 404:
            detail = f"no route {request.method} {request.url.path}; see /api/openapi.json"
        elif exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}; see /api/openapi.json"
        return _error(exc.status_code, str(detail), headers)

    @api.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):  # noqa: ANN202
        log.exception("API request %s %s failed", request.method, request.url.path)
        return _error(500, f"unexpected error ({type(exc).__name__}); details are in the server log")

    def qa_error(e: QAError):  # noqa: ANN202
        return _error(422 if isinstance(e, InputError) else 503, str(e))

    @api.post(
        "/ask",
        summary="Answer a question with cited quotes, or abstain",
        response_description="The whole Answer, as `qa ask --json` prints it: text, abstained, confidence, "
        "citations (source, section, start, end, quote), passages, timings, notes.",
        responses=errors,
        dependencies=basic,
    )
    async def ask(request: AskRequest) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            a = answer(request.question, index=current_index(), settings=settings, history=request.history)
            return answer_dict(a)

        try:
            return await anyio.to_thread.run_sync(run, limiter=limiter)
        except QAError as e:
            return qa_error(e)  # type: ignore[return-value]

    @api.get(
        "/documents",
        summary="The indexed documents and the index's counts",
        responses=errors,
        dependencies=basic,
    )
    async def documents() -> dict[str, Any]:
        try:
            index = current_index()
        except QAError as e:
            return qa_error(e)  # type: ignore[return-value]
        docs = [{"source": s, "title": t, "chars": n} for s, t, n in index.documents()]
        return {"documents": docs, "count": len(docs), "chunks": index.n_chunks, "model": index.model}

    return _Gate(api, auth)


def api_routes(current_index: Callable[[], Any], settings: Any, *, auth: Auth = None) -> list[Any]:
    """The API mounted at /api, for gradio's launch(app_kwargs={"routes": ...}) (matched before gradio's own)."""
    from starlette.routing import Mount

    return [Mount("/api", app=create_api(current_index, settings, auth=auth))]


__all__ = ["AskRequest", "api_routes", "create_api"]
