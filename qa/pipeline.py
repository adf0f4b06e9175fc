"""The one place that knows the order of the steps: load -> chunk -> embed -> index, and query -> retrieve -> answer."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

from qa import store
from qa.chunk import chunk_document
from qa.embed import load_embedder, load_query_encoder, model_version
from qa.errors import GeneratorError, IndexMissingError, IndexOutdatedError, InputError
from qa.extract import extractive
from qa.load import SourceFile, content_hash, load_file, scan
from qa.query import parse
from qa.retrieve import retrieve
from qa.settings import Settings, current
from qa.store import BuildReport, Index
from qa.types import Answer, Document

log = logging.getLogger("qa")

# progress(stage, advance, total): stage is "read" or "embed"; total is set on the first call of a stage
Progress = Callable[[str, int, int], None]


def build_index(
    folder: str | Path,
    *,
    index_dir: str | Path | None = None,
    settings: Settings | None = None,
    rebuild: bool = False,
    progress: Progress | None = None,
) -> Index:
    """Index a folder, embedding only what changed since the last build; returns the opened index."""
    t0 = time.perf_counter()
    settings = settings or current()
    folder = Path(folder).expanduser()
    root = Path(index_dir).expanduser() if index_dir else settings.index_dir_for(folder)
    files = scan(folder, max_file_mb=settings.max_file_mb)
    if not files:
        raise InputError(f"no documents in {folder}: add .md, .txt, .html or .pdf files, then run qa index {folder}")
    report = BuildReport(index_dir=str(root))
    with store.IndexWriter(root, settings, folder.resolve(), rebuild=rebuild) as writer:
        old = writer.previous_documents()
        to_read = []
        for f in files:
            prev = old.get(f.source)
            if prev and prev[1] == f.size and prev[2] == f.mtime_ns:
                writer.keep(f.source)
            else:
                to_read.append(f)
        embedder = None
        if progress and to_read:
            progress("read", 0, len(to_read))
        for f in to_read:
            doc, digest = _read(f)
            prev = old.get(f.source)
            if prev and prev[0] == digest:
                writer.keep(f.source)  # touched but identical
            elif doc is None and prev:
                log.warning("%s: kept the previously indexed version", f.source)
                writer.keep(f.source)
            elif doc is not None:
                if embedder is None:
                    embedder = load_embedder(settings.model)
                chunks = chunk_document(doc, max_tokens=settings.max_chunk_tokens, count_tokens=embedder.count_tokens)
                if chunks:
                    writer.add(doc, digest, f.size, f.mtime_ns, chunks)
                    (report.changed if prev else report.added).append(f.source)
                else:
                    log.warning("skipped %s: no text to index", f.source)
            if progress:
                progress("read", 1, len(to_read))
        report.deleted = sorted(set(old) - {f.source for f in files})
        report.unchanged = len(writer.kept)
        if not writer.kept and not writer.new_docs:
            raise InputError(f"no readable text in {folder}: every file was skipped (see the warnings above)")
        if writer.previous is not None and not writer.new_docs and not report.deleted:
            report.up_to_date = True
            report.documents, report.chunks = writer.previous.n_documents, writer.previous.n_chunks
            report.seconds = time.perf_counter() - t0
            index, writer.previous = writer.previous, None  # hand the open index over instead of reopening it
            index.build_report = report
            return index

        embedder = embedder or load_embedder(settings.model)
        reuse_c, reuse_s = writer.reusable_vectors()
        new_chunks = [c for d in writer.new_docs for c in d.chunks]
        chunk_texts = list(dict.fromkeys(c.indexed_text for c in new_chunks if c.indexed_text not in reuse_c))
        sent_texts = list(dict.fromkeys(s for c in new_chunks for s in c.sentence_texts() if s not in reuse_s))
        total = len(chunk_texts) + len(sent_texts)
        if progress:
            progress("embed", 0, total)
        tick = (lambda n: progress("embed", n, total)) if progress else None
        t1 = time.perf_counter()
        threads = settings.index_threads
        vc = embedder.encode(chunk_texts, threads=threads, batch_size=settings.embed_batch_size, progress=tick)
        vs = embedder.encode(sent_texts, threads=threads, batch_size=settings.embed_batch_size, progress=tick)
        report.timings["embed_s"] = time.perf_counter() - t1
        reuse_c.update(zip(chunk_texts, vc, strict=True))
        reuse_s.update(zip(sent_texts, vs, strict=True))
        report.chunks_embedded, report.sentences_embedded = len(chunk_texts), len(sent_texts)
        index = writer.commit(
            reuse_c, reuse_s, dim=embedder.dim, model_source=model_version(settings.model), report=report
        )
    report.documents, report.chunks = index.n_documents, index.n_chunks
    report.seconds = time.perf_counter() - t0
    index.build_report = report
    return index


def _read(f: SourceFile) -> tuple[Document | None, str]:
    """A file's Document (None when unreadable) and content hash."""
    try:
        data = f.path.read_bytes()
    except OSError as e:
        log.warning("skipped %s: cannot read (%s)", f.source, e.strerror or e)
        return None, ""
    return load_file(f, data), content_hash(data)


def open_index(index_dir: str | Path | None = None, *, settings: Settings | None = None) -> Index:
    """Open an index (default: the one for settings.docs), checking it matches the settings."""
    settings = settings or current()
    root = Path(index_dir).expanduser() if index_dir else settings.index_dir_for(settings.docs)
    return store.open_store(root, settings)


@lru_cache(maxsize=4)
def _cached_index(root: Path, generation: str, settings: Settings) -> Index:
    return store.open_store(root, settings)


def default_index(settings: Settings) -> Index:
    """The index of settings.docs, opened once per process; built on first use, and again when an older qa
    wrote it."""
    root = settings.index_dir_for(settings.docs)
    current = root / "CURRENT"
    if not current.exists():
        if not Path(settings.docs).is_dir():
            raise IndexMissingError(
                f"no index at {root} and no folder {settings.docs}; build one with: qa index DOCS_FOLDER"
            )
        log.warning("no index for %s yet; building it now (once)", settings.docs)
        build_index(settings.docs, index_dir=root, settings=settings)
    try:
        return _cached_index(root, current.read_text().strip(), settings)
    except IndexOutdatedError:
        if not Path(settings.docs).is_dir():
            raise
        build_index(settings.docs, index_dir=root, settings=settings)  # warns that it builds from scratch
        return _cached_index(root, current.read_text().strip(), settings)


def stream_answer(
    question: str,
    *,
    index: Index | None = None,
    settings: Settings | None = None,
    history: Sequence[str] = (),
) -> Iterator[str | Answer]:
    """Answer as a stream: text pieces as they are produced, then the final Answer (always last).

    The extractive answer is always computed: it decides abstention and is the fallback when an optional
    generator fails. A generator's streamed text is provisional; the final Answer holds only verified sentences.
    """
    t0 = time.perf_counter()
    settings = settings or current()
    query = parse(question, history=history, max_chars=settings.max_question_chars)
    index = index or default_index(settings)
    embedder = load_query_encoder(index.model, settings.query_backend)
    retrieval = retrieve(query, index, embedder, settings)
    t1 = time.perf_counter()
    result = extractive(retrieval, index, settings, lambda q, v: retrieve(q, index, embedder, settings, vector=v))
    timings = {
        **{k: round(v, 2) for k, v in retrieval.timings.items()},
        "answer": round((time.perf_counter() - t1) * 1e3, 2),
    }
    generated = False
    if settings.generator != "extractive" and not result.abstained:
        from qa.generate import generate

        t2 = time.perf_counter()
        try:
            result = yield from generate(result, retrieval, index, settings)
            generated = True
        except GeneratorError as e:  # a failing optional generator never takes the answer down
            log.warning("generator failed (%s): showing the extractive answer", e)
            result = replace(result, notes=(*result.notes, f"generator failed ({e}): showing the extractive answer"))
        timings["generate"] = round((time.perf_counter() - t2) * 1e3, 2)
    if not generated:
        yield from re.split(r"(?<=\s)", result.text)  # word by word, so every surface streams alike
    timings["total"] = round((time.perf_counter() - t0) * 1e3, 2)
    yield replace(result, timings=timings)


def answer(
    question: str,
    *,
    index: Index | None = None,
    settings: Settings | None = None,
    history: Sequence[str] = (),
) -> Answer:
    """Answer a question from the index with cited quotes, or abstain; `history` holds earlier questions."""
    final = None
    for item in stream_answer(question, index=index, settings=settings, history=history):
        final = item
    assert isinstance(final, Answer)
    return final
