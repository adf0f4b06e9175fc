"""The `qa` command: a thin shell over the Python API (index, ask, serve, eval, bench).

Heavy imports (torch, faiss, gradio) happen inside commands so `qa --help` answers at once.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(
    help="Ask questions of a folder of documents; get short answers with verified citations. Works offline.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    rich_markup_mode="rich",
)


def _fail(message: str, code: int = 2) -> typer.Exit:
    """A usage error as one line on stderr (typer's own is a boxed panel): print it, return the Exit to raise."""
    from qa.present import visible

    typer.echo(f"error: {visible(message)}", err=True)
    return typer.Exit(code)


def _folder(what: str) -> Any:  # noqa: ANN401
    """A parser for a folder argument that refuses an empty one: typer turns "" into Path("."), the current folder."""

    def parse(value: str) -> Path:
        if not value.strip():
            raise _fail(f"{what} is empty; name a folder, e.g. docs/")
        return Path(value)

    return parse


IndexOpt = Annotated[
    Path | None,
    typer.Option(
        "--index",
        parser=_folder("--index"),
        help="Index folder (default: .qa/<name> beside the documents, or under QA_HOME).",
    ),
]
DocsOpt = Annotated[
    Path | None,
    typer.Option("--docs", parser=_folder("--docs"), help="Documents folder (default: QA_DOCS, or docs/)."),
]
StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="Keep the index in PostgreSQL + pgvector: postgresql://USER:PASSWORD@HOST:5432/DB (QA_STORE; default: a local folder).",
    ),
]
CollectionOpt = Annotated[
    str | None,
    typer.Option(
        "--collection", help="Collection in the --store database (QA_COLLECTION; default: the folder's name)."
    ),
]
GeneratorOpt = Annotated[
    str | None,
    typer.Option(
        "--generator", help="extractive (default) | llama:PATH.gguf | llama:smollm2 | openai:BASE_URL (QA_GENERATOR)."
    ),
]


# the options whose Settings field has another name than the option
OPTION_OF = {
    "abstain_threshold": "--threshold",
    "top_k": "--top-k",
    "index_dir": "--index",
    "index_type": "--index-type",
}


def _settings(**overrides: Any):  # noqa: ANN202
    """Settings from the environment and the given options; an invalid value (nan, out of range) is one line
    naming the option or QA_ variable it came from."""
    from pydantic import ValidationError

    from qa.settings import Settings, apply_environment

    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        settings = Settings(**given)
    except ValidationError as e:
        err = e.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else ""
        where = OPTION_OF.get(field, f"--{field.replace('_', '-')}") if field in given else f"QA_{field.upper()}"
        value = err.get("input")
        raise _fail(f"{where} {value!r}: {err['msg'].lower()}; pass a valid value (see qa --help)") from None
    apply_environment(settings)  # the one place the CLI sets what libraries read from the environment
    return settings


class _VisibleFormatter(logging.Formatter):
    """Log lines name files, and a file name can hold escape sequences: show them, never send them."""

    def format(self, record: logging.LogRecord) -> str:
        from qa.present import visible

        return visible(super().format(record))


def _setup_logging(verbose: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_VisibleFormatter("%(levelname)s: %(message)s"))
    log = logging.getLogger("qa")
    log.handlers[:] = [handler]
    log.setLevel(logging.DEBUG if verbose else logging.INFO)
    log.propagate = False
    for noisy in ("sentence_transformers", "transformers", "faiss", "bm25s", "httpx", "urllib3", "trafilatura"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    logging.addLevelName(logging.WARNING, "warning")
    logging.addLevelName(logging.INFO, "note")
    logging.addLevelName(logging.ERROR, "error")


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """Expected failures become one line on stderr and exit code 1; bugs keep their traceback."""
    from qa.errors import QAError
    from qa.present import visible

    try:
        yield
    except QAError as e:
        typer.echo(f"error: {visible(str(e))}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise typer.Exit(130) from None


@app.command()
def index(
    path: Annotated[
        Path,
        typer.Argument(
            parser=_folder("the folder to index"),
            help="Folder of documents: md, txt, html, pdf, Office, epub, rtf (searched recursively).",
        ),
    ],
    index_dir: IndexOpt = None,
    store: StoreOpt = None,
    collection: CollectionOpt = None,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Re-embed everything instead of only what changed.")
    ] = False,
    model: Annotated[str | None, typer.Option(help="Embedding model name or local folder (QA_MODEL).")] = None,
    index_type: Annotated[str | None, typer.Option(help="auto | flat | hnsw | ivf (QA_INDEX_TYPE).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    watch: Annotated[
        bool,
        typer.Option("--watch", help="Then keep watching the folder and re-index after files change (Ctrl-C stops)."),
    ] = False,
    passes: Annotated[
        str | None,
        typer.Option(
            "--embed-passes",
            help="What goes through the model: chunks (one pass each; sentences pooled from it), sentences (one "
            "pass each; chunk vectors merged from them) or both (the way before, about 2x the work) (QA_EMBED_PASSES).",
        ),
    ] = None,
) -> None:
    """Index a folder: only added or changed files are embedded; deleted files are dropped; a stopped build
    resumes where it stopped."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    _setup_logging()
    settings = _settings(model=model, index_type=index_type, embed_passes=passes, store=store, collection=collection)
    console = Console(stderr=True)
    with _errors():
        from qa.pipeline import build_index

        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=console,
            disable=quiet or not console.is_terminal,
            transient=True,
        ) as bar:
            tasks: dict[str, Any] = {}

            def progress(stage: str, advance: int, total: int) -> None:
                if stage not in tasks:
                    label = {"read": "files read", "embed": "chunks embedded"}.get(stage, stage)
                    tasks[stage] = bar.add_task(label, total=total)
                bar.update(tasks[stage], advance=advance, total=total)  # the chunk total is a forecast: it moves

            idx = build_index(path, index_dir=index_dir, settings=settings, rebuild=rebuild, progress=progress)
        r = idx.build_report
        assert r is not None
        if r.up_to_date:
            typer.echo(
                f"index up to date: {r.documents} documents, {r.chunks} chunks, nothing embedded ({r.seconds:.2f} s) -> {r.index_dir}"
            )
        else:
            rate = r.chunks_embedded / r.timings["embed_s"] if r.timings.get("embed_s") else 0.0
            resumed = f"; {r.chunks_from_cache} chunks already in the vector cache" if r.chunks_from_cache else ""
            typer.echo(
                f"indexed {r.documents} documents, {r.chunks} chunks in {r.seconds:.1f} s -> {r.index_dir}\n"
                f"  {len(r.added)} added, {len(r.changed)} changed, {len(r.deleted)} deleted, {r.unchanged} unchanged; "
                f"embedded {r.chunks_embedded} chunks ({rate:.1f}/s) with {r.sentences_pooled} sentences pooled from "
                f"them and {r.sentences_embedded} embedded on their own{resumed}"
            )
        if watch:
            from qa.watch import Watcher

            root = Path(r.index_dir)
            rebuild = lambda: build_index(path, index_dir=root, settings=settings)  # noqa: E731
            typer.echo(f"watching {path} (Ctrl-C stops)")
            try:
                Watcher(path, rebuild, ignore=[root]).run()
            except KeyboardInterrupt:
                typer.echo("stopped watching", err=True)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question, in quotes. '-' reads it from stdin.")],
    index_dir: IndexOpt = None,
    store: StoreOpt = None,
    collection: CollectionOpt = None,
    docs: DocsOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole Answer as JSON.")] = False,
    top_k: Annotated[int | None, typer.Option("--top-k", help="Passages returned (QA_TOP_K).")] = None,
    threshold: Annotated[
        float | None, typer.Option("--threshold", help="Abstain below this confidence (QA_ABSTAIN_THRESHOLD).")
    ] = None,
    generator: GeneratorOpt = None,
    passages: Annotated[bool, typer.Option("--passages", help="Also show the retrieved passages.")] = False,
    scores: Annotated[bool, typer.Option("--scores", help="Show retrieval scores.")] = False,
) -> None:
    """Answer a question with cited quotes, or say the documents don't answer it."""
    _setup_logging()
    if question == "-":  # bytes, so invalid UTF-8 becomes U+FFFD instead of a UnicodeDecodeError
        question = sys.stdin.buffer.read().decode("utf-8", "replace")
    settings = _settings(
        docs=docs, top_k=top_k, abstain_threshold=threshold, generator=generator, store=store, collection=collection
    )
    with _errors():
        from qa.pipeline import answer, open_index

        idx = open_index(index_dir, settings=settings) if index_dir else None
        result = answer(question, index=idx, settings=settings)
        if as_json:
            from qa.present import answer_dict, json_text

            typer.echo(json_text(answer_dict(result)))
        else:
            from rich.console import Console

            from qa.present import render

            Console().print(render(result, show_passages=passages, show_scores=scores))


@app.command()
def serve(
    docs: DocsOpt = None,
    index_dir: IndexOpt = None,
    store: StoreOpt = None,
    collection: CollectionOpt = None,
    host: Annotated[str | None, typer.Option(help="Bind address (QA_HOST, default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (QA_PORT, default 7860).")] = None,
    auth: Annotated[
        str | None, typer.Option(help="Require a login, as user:pass (the JSON API takes it as HTTP Basic auth).")
    ] = None,
    generator: GeneratorOpt = None,
    watch: Annotated[
        bool, typer.Option("--watch", help="Re-index when files in the documents folder change; answering goes on.")
    ] = False,
) -> None:
    """Start the web chat (Gradio) and the JSON API (/api) over a documents folder; the index is built or updated
    first."""
    _setup_logging()
    settings = _settings(
        docs=docs, index_dir=index_dir, host=host, port=port, generator=generator, store=store, collection=collection
    )
    login = None
    if auth is not None:
        user, _, password = auth.partition(":")
        if not user.strip() or not password:  # ":" or "user:" would lock everyone out
            raise _fail("--auth needs a user and a password, as --auth user:pass")
        login = (user.strip(), password)  # Gradio strips the user name typed on the login page
    with _errors():
        from qa.web import serve as run

        run(settings, auth=login, watch=watch)


@app.command()
def mcp(
    docs: DocsOpt = None,
    index_dir: IndexOpt = None,
    http: Annotated[
        int | None, typer.Option("--http", help="Serve streamable HTTP on this port (at /mcp) instead of stdio.")
    ] = None,
    host: Annotated[str, typer.Option(help="Bind address for --http.")] = "127.0.0.1",
    watch: Annotated[bool, typer.Option("--watch", help="Re-index when files in the documents folder change.")] = False,
) -> None:
    """Serve the index to coding agents and desktop assistants over MCP (tools: ask, search, list_documents,
    reindex); stdio unless --http."""
    _setup_logging()
    settings = _settings(docs=docs)
    with _errors():
        from qa.mcp import serve as run

        run(settings, index_dir, http_port=http, host=host, watch=watch)


@app.command("eval")
def eval_(
    questions: Annotated[Path, typer.Argument(help="A JSONL question set (see evals/README.md).")],
    docs: DocsOpt = None,
    index_dir: IndexOpt = None,
    store: StoreOpt = None,
    collection: CollectionOpt = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write metrics and every question's record here.")
    ] = None,
    html_out: Annotated[Path | None, typer.Option("--html", help="Write a self-contained HTML report here.")] = None,
    sweep: Annotated[bool, typer.Option("--sweep", help="Show accuracy/abstention across thresholds.")] = False,
    ablate: Annotated[
        bool, typer.Option("--ablate", help="Also answer with each answer-rule family switched off in turn.")
    ] = False,
    baseline: Annotated[
        bool,
        typer.Option("--baseline", help="Also score two baselines on 1000-char chunks, top passage: MiniLM and BM25."),
    ] = False,
    threshold: Annotated[float | None, typer.Option("--threshold", help="Abstention threshold to evaluate.")] = None,
    generator: GeneratorOpt = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N questions.")] = None,
    every: Annotated[
        int, typer.Option(min=1, help="Only every K-th question (a sample with every kind, for slow generators).")
    ] = 1,
) -> None:
    """Score a question set against a folder: answer, citation and retrieval accuracy, abstention, latency."""
    _setup_logging()
    settings = _settings(
        docs=docs, abstain_threshold=threshold, generator=generator, store=store, collection=collection
    )
    with _errors():
        from qa.evaluate import main as run_eval

        run_eval(
            questions,
            settings=settings,
            index_dir=index_dir,
            json_out=json_out,
            html_out=html_out,
            sweep=sweep,
            ablate=ablate,
            baseline=baseline,
            limit=limit,
            every=every,
        )


@app.command()
def bench(
    docs: DocsOpt = None,
    scale: Annotated[
        list[int] | None,
        typer.Option(
            "--scale",
            help="Also measure search over N synthetic chunks (repeatable): FAISS and BM25, and with --store "
            "postgresql://... that store too, side by side (in a throwaway collection).",
        ),
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the figures as JSON.")] = None,
    queries: Annotated[int, typer.Option(help="Questions timed for query latency.")] = 50,
    quick: Annotated[bool, typer.Option("--quick", help="Smoke-test sizes (CI).")] = False,
    store: StoreOpt = None,
) -> None:
    """Measure indexing throughput, query latency per stage, cold start and (with --scale) search at N chunks."""
    _setup_logging()
    settings = _settings(docs=docs, store=store)
    with _errors():
        from qa.bench import main as run_bench

        run_bench(settings, scale=scale or [], json_out=json_out, n_queries=queries, quick=quick)


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
