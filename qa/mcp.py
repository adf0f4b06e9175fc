"""`qa mcp`: the index as an MCP server, so coding agents and desktop assistants can ask the documents.

Built on the official MCP Python SDK (`mcp` 2.x, its MCPServer). Four tools, each returning structured data
(and the same as JSON text for clients that read only text):
    ask(question, history)     a cited answer or a refusal; citations as {n, source, section, start, end, quote}
    search(query, top_k)       the passages retrieved for a query, best first, with scores
    list_documents()           what is indexed, with the index's counts
    reindex(rebuild)           index the documents folder again (only what changed, unless rebuild)
Transports: stdio (what a desktop assistant starts), or streamable HTTP at http://HOST:PORT/mcp with
`--http PORT`, bound to 127.0.0.1 unless --host says otherwise. A wrong call (a missing or mistyped argument,
an empty question) gets a one-line error result naming the fix; the server keeps serving.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from qa.errors import IndexMissingError, QAError
from qa.pipeline import answer, build_index, open_index
from qa.present import passage_dict

log = logging.getLogger("qa")

INSTRUCTIONS = (
    "qa answers questions from a local folder of documents with exact quotes. Use `ask` for a question "
    "(it answers only from the documents, or says they don't answer it: then don't guess), `search` to "
    "see the passages behind a query, `list_documents` to see what is indexed, and `reindex` after the "
    "documents changed. Cite answers by source and section."
)


# --- what the tools return (their JSON schemas are the tools' output schemas) ------------------


class CitationOut(BaseModel):
    n: int = Field(description="The [n] marker in the answer text.")
    source: str = Field(description="Document path, relative to the indexed folder.")
    section: str = Field(description="Heading path inside the document.")
    start: int = Field(description="Character offset where the quote starts in the document's text.")
    end: int = Field(description="Character offset where the quote ends.")
    quote: str = Field(description="The exact text of the document between start and end.")


class AskOut(BaseModel):
    answer: str = Field(description="The answer with [n] citation markers, or why the documents don't answer.")
    abstained: bool = Field(description="True when the documents do not answer the question.")
    confidence: float
    citations: list[CitationOut]
    notes: list[str] = Field(description="e.g. a question that was cut short.")


class PassageOut(BaseModel):
    source: str
    section: str
    start: int
    end: int
    text: str
    score: float = Field(description="Reranked relevance; higher is better.")
    chunk_id: str


class SearchOut(BaseModel):
    query: str
    passages: list[PassageOut]


class DocumentOut(BaseModel):
    source: str
    title: str
    chars: int


class DocumentsOut(BaseModel):
    documents: list[DocumentOut]
    count: int
    chunks: int
    model: str


class ReindexOut(BaseModel):
    documents: int
    chunks: int
    added: list[str]
    changed: list[str]
    deleted: list[str]
    up_to_date: bool
    seconds: float


# --- the index being served ----------------------------------------------------------------


class LiveIndex:
    """The index the tools answer from: opened (or updated from the documents folder) in the background at
    start, so the client's handshake is not kept waiting; reindex swaps in the new one."""

    def __init__(self, settings: Any, index_dir: Path | None = None):
        self.settings, self.index_dir = settings, index_dir
        self.docs = Path(settings.docs).expanduser()
        self.index: Any = None
        self.problem = ""
        self._ready = threading.Event()
        self._building = threading.Lock()

    def start(self) -> LiveIndex:
        threading.Thread(target=self._load, name="qa-mcp-load", daemon=True).start()
        return self

    def _load(self) -> None:
        try:
            if self.docs.is_dir():
                self.reindex()
            else:
                self.index = open_index(self.index_dir, settings=self.settings)
        except QAError as e:
            try:  # e.g. an empty folder: an older index of it still answers
                self.index = self.index or open_index(self.index_dir, settings=self.settings)
            except QAError:
                self.problem = str(e)
                log.warning("%s", e)
        finally:
            self._ready.set()
        if self.index is not None:
            log.info("MCP server ready: %d documents, %d chunks", self.index.n_documents, self.index.n_chunks)

    def current(self) -> Any:
        self._ready.wait()
        if self.index is None:
            raise IndexMissingError(f"no index ({self.problem}); add documents to {self.docs}, then call reindex")
        return self.index

    def reindex(self, rebuild: bool = False) -> Any:
        """Index the documents folder (only what changed unless rebuild) and answer from the result."""
        if not self.docs.is_dir():
            raise IndexMissingError(f"no documents folder {self.docs}; start qa mcp with --docs FOLDER")
        with self._building:
            self.index = build_index(self.docs, index_dir=self.index_dir, settings=self.settings, rebuild=rebuild)
            self.problem = ""
            return self.index


# --- the server ----------------------------------------------------------------------------


def _one_line_validation(tool: str, exc: Exception) -> str:
    """A pydantic ValidationError of a tool's arguments -> one line naming each bad argument and the fix."""
    problems = []
    for err in exc.errors():  # type: ignore[attr-defined]
        name = ".".join(str(x) for x in err.get("loc", ())) or "arguments"
        problems.append(f"{name} is missing" if err.get("type") == "missing" else f"{name}: {err.get('msg')}")
    usage = {
        "ask": '{"question": "your question", "history": []}',
        "search": '{"query": "words to look for", "top_k": 5}',
        "reindex": '{"rebuild": false}',
        "list_documents": "{}",
    }.get(tool, "the arguments in the tool's input schema")
    return f"{tool}: {'; '.join(problems)}; call it with {usage}"


def build_server(settings: Any, index_dir: Path | None = None, *, live: LiveIndex | None = None):  # noqa: ANN201
    """The MCPServer with qa's four tools over `live` (default: the index of settings.docs, loaded in the
    background)."""
    try:
        from mcp.server.mcpserver import MCPServer
        from mcp.server.mcpserver.exceptions import ToolError
    except ImportError:
        raise QAError("the MCP server needs the mcp extra: pip install 'qa[mcp]'") from None
    from pydantic import ValidationError

    import qa

    live = live or LiveIndex(settings, index_dir).start()

    class Server(MCPServer):
        async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
            try:
                return await super().call_tool(name, arguments, context)
            except ToolError as e:  # the SDK's message is pydantic's, over several lines
                if isinstance(e.__cause__, ValidationError):
                    raise ToolError(_one_line_validation(name, e.__cause__)) from None
                prefix = f"Error executing tool {name}: "
                if str(e).startswith(prefix):  # qa's own error: "ask: the question is empty; ..."
                    raise ToolError(f"{name}: {str(e)[len(prefix) :]}") from None
                raise

    server = Server("qa", instructions=INSTRUCTIONS, version=qa.__version__, log_level="WARNING")

    def fail(e: QAError) -> ToolError:
        return ToolError(" ".join(str(e).split()))

    def tool(fn: Any) -> Any:  # the docstring, on one line, is what the assistant's model reads
        return server.tool(description=" ".join((fn.__doc__ or "").split()))(fn)

    @tool
    def ask(question: str, history: list[str] | None = None) -> AskOut:
        """Answer a question from the documents with exact quotes as citations, or say the documents don't
        answer it. `history` holds the earlier questions of the conversation, so a follow-up like "And where?"
        is understood."""
        try:
            a = answer(question, index=live.current(), settings=settings, history=history or [])
        except QAError as e:
            raise fail(e) from None
        citations = [
            CitationOut(n=c.n, source=c.source, section=c.section, start=c.start, end=c.end, quote=c.quote)
            for c in a.citations
        ]
        return AskOut(
            answer=a.text,
            abstained=a.abstained,
            confidence=round(a.confidence, 4),
            citations=citations,
            notes=list(a.notes),
        )

    @tool
    def search(query: str, top_k: int = 5) -> SearchOut:
        """The passages of the documents that best match a query, best first, with their scores (1-50)."""
        if not 1 <= top_k <= 50:
            raise ToolError(f"search: top_k is {top_k}; use a number from 1 to 50")
        try:
            a = answer(query, index=live.current(), settings=settings.model_copy(update={"top_k": top_k}))
        except QAError as e:
            raise fail(e) from None
        keep = ("source", "section", "start", "end", "text", "score", "chunk_id")
        passages = [PassageOut(**{k: v for k, v in passage_dict(p).items() if k in keep}) for p in a.passages]
        return SearchOut(query=query, passages=passages[:top_k])

    @tool
    def list_documents() -> DocumentsOut:
        """The documents in the index (path, title, size in characters) and its chunk count."""
        try:
            index = live.current()
        except QAError as e:
            raise fail(e) from None
        docs = [DocumentOut(source=s, title=t, chars=n) for s, t, n in index.documents()]
        return DocumentsOut(documents=docs, count=len(docs), chunks=index.n_chunks, model=index.model)

    @tool
    def reindex(rebuild: bool = False) -> ReindexOut:
        """Index the documents folder again: only added, changed or deleted files are processed, unless
        rebuild is true. Answers go on from the previous index until the new one is ready."""
        try:
            index = live.reindex(rebuild=rebuild)
        except QAError as e:
            raise fail(e) from None
        r = index.build_report
        return ReindexOut(
            documents=index.n_documents,
            chunks=index.n_chunks,
            added=list(r.added) if r else [],
            changed=list(r.changed) if r else [],
            deleted=list(r.deleted) if r else [],
            up_to_date=bool(r and r.up_to_date),
            seconds=round(r.seconds, 3) if r else 0.0,
        )

    return server


def serve(
    settings: Any,
    index_dir: Path | None = None,
    *,
    http_port: int | None = None,
    host: str = "127.0.0.1",
    watch: bool = False,
) -> None:
    """Run the MCP server until the client closes stdin (stdio) or Ctrl-C (HTTP)."""
    live = LiveIndex(settings, index_dir).start()
    server = build_server(settings, index_dir, live=live)
    for (
        handler
    ) in logging.getLogger().handlers:  # the SDK's handler: libraries' debug lines stay out of the client's log
        handler.setLevel(logging.WARNING)
    if watch:
        from qa.watch import Watcher

        Watcher(live.docs, live.reindex, ignore=[index_dir] if index_dir else ()).start()
    if http_port is None:
        server.run("stdio")
        return
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning(
            "qa mcp on %s:%d has no authentication: anyone who can reach it can read the documents", host, http_port
        )
    log.info("MCP server on http://%s:%d/mcp", host, http_port)
    server.run("streamable-http", host=host, port=http_port)


__all__ = ["LiveIndex", "build_server", "serve"]
