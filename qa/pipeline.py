"""The one place that knows the order of the steps: load -> chunk -> embed -> store, and question -> retrieve ->
read (-> search again) -> answer (-> generate)."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

from qa.calibrate import calibrate
from qa.calibrate import current as calibration_current
from qa.chunk import chunk_document
from qa.compose import compose
from qa.embed import load_embedder, load_query_encoder, model_version
from qa.errors import GeneratorError, IndexMissingError, IndexOutdatedError, InputError
from qa.load import SourceFile, content_hash, load_file, scan
from qa.query import parse
from qa.read import reader_for
from qa.rerank import reranker_for
from qa.retrieve import retrieve
from qa.settings import Settings, current
from qa.stores import Reader, redacted, store_for
from qa.types import Answer, Document, FileState

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
) -> Reader:
    """Index a folder, embedding only what changed since the last build; returns the opened index."""
    settings = settings or current()
    folder = Path(folder).expanduser()
    files = scan(folder, max_file_mb=settings.max_file_mb)
    if not files:
        raise InputError(f"no documents in {folder}: add .md, .txt, .html or .pdf files, then run qa index {folder}")
    store = store_for(index_dir or settings.location_for(folder), settings.index)
    with store.writer(folder.resolve(), rebuild=rebuild) as writer:
        to_read = writer.plan(files)
        tick = _ticker(progress, "read", len(to_read))
        for f in to_read:
            doc, state = _read(f)
            if writer.unchanged(f.source, state.digest):
                pass  # touched but identical
            elif doc is None:
                if writer.keep(f.source):
                    log.warning("%s: kept the previously indexed version", f.source)
            else:
                chunks = chunk_document(doc, max_tokens=settings.max_chunk_tokens, count_tokens=_count_tokens(settings))
                if chunks:
                    writer.add(doc, state, chunks)
                else:
                    log.warning("skipped %s: no text to index", f.source)
            tick(1)
        chunk_texts, sentence_texts = writer.missing_texts()
        total = len(chunk_texts) + len(sentence_texts)
        embedder = load_embedder(settings.model) if total else None
        vectors = {}
        if embedder is not None:
            tick = _ticker(progress, "embed", total)
            t1 = time.perf_counter()
            for texts in (chunk_texts, sentence_texts):  # two calls: each batch pads to texts of one kind
                vecs = embedder.encode(
                    texts, threads=settings.index_threads, batch_size=settings.embed_batch_size, progress=tick
                )
                vectors.update(zip(texts, vecs, strict=True))
            writer.report.timings["embed_s"] = time.perf_counter() - t1
        writer.report.chunks_embedded, writer.report.sentences_embedded = len(chunk_texts), len(sentence_texts)
        index = writer.commit(
            vectors, dim=embedder.dim if embedder else None, model_source=model_version(settings.model)
        )
        if not calibration_current(index.calibration, reader_for().name):  # measure what confidence means here
            t2 = time.perf_counter()
            index.save_calibration(calibrate_index(index, settings))
            writer.report.timings["calibrate_s"] = time.perf_counter() - t2
        return index


def calibrate_index(index: Reader, settings: Settings) -> dict:
    """The reader's threshold on this corpus, from off-topic probes and questions derived from its own text."""
    encoder = load_query_encoder(index.model, settings.query_backend)
    reranker, reader = reranker_for(settings.reranker), reader_for()

    def confidence_of(question: str) -> float:
        retrieval = retrieve(parse(question), index, encoder, reranker, settings.retrieval)
        reading = reader.read(retrieval, max_words=settings.max_answer_words)
        return reader.extend(reading, retrieval, [], max_words=settings.max_answer_words).confidence

    return calibrate(confidence_of, index.chunks(index.rows()), reader.name)


def _ticker(progress: Progress | None, stage: str, total: int) -> Callable[[int], None]:
    """progress(stage, n, total) as a one-argument callback, announced with 0 when there is work."""
    if progress is None or not total:
        return lambda n: None
    progress(stage, 0, total)
    return lambda n: progress(stage, n, total)


def _count_tokens(settings: Settings) -> Callable[[Sequence[str]], list[int]]:
    return load_embedder(settings.model).count_tokens


def _read(f: SourceFile) -> tuple[Document | None, FileState]:
    """A file's Document (None when unreadable) and what it was when read."""
    try:
        data = f.path.read_bytes()
    except OSError as e:
        log.warning("skipped %s: cannot read (%s)", f.source, e.strerror or e)
        return None, FileState("", f.size, f.mtime_ns)
    return load_file(f, data), FileState(content_hash(data), f.size, f.mtime_ns)


def open_index(index_dir: str | Path | None = None, *, settings: Settings | None = None) -> Reader:
    """Open an index (default: the one for settings.docs), checking it matches the settings."""
    settings = settings or current()
    return store_for(index_dir or settings.location_for(settings.docs), settings.index).open()


@lru_cache(maxsize=4)
def _cached_index(location: str, generation: str, settings: Settings) -> Reader:
    return store_for(location, settings.index).open()


def default_index(settings: Settings) -> Reader:
    """The index of settings.docs, opened once per process (and again after a build changes it); built on first
    use, and again when an older qa wrote it."""
    store = store_for(settings.location_for(settings.docs), settings.index)
    if store.generation() is None:
        if not Path(settings.docs).is_dir():
            raise IndexMissingError(
                f"no index at {redacted(store.location)} and no folder {settings.docs}; build one with: qa index DOCS_FOLDER"
            )
        log.warning("no index for %s yet; building it now (once)", settings.docs)
        build_index(settings.docs, index_dir=store.location, settings=settings)
    try:
        return _cached_index(store.location, str(store.generation()), settings)
    except IndexOutdatedError:
        if not Path(settings.docs).is_dir():
            raise
        build_index(settings.docs, index_dir=store.location, settings=settings)  # warns that it builds from scratch
        return _cached_index(store.location, str(store.generation()), settings)


def stream_answer(
    question: str,
    *,
    index: Reader | None = None,
    settings: Settings | None = None,
    history: Sequence[str] = (),
) -> Iterator[str | Answer]:
    """Answer as a stream: text pieces as they are produced, then the final Answer (always last).

    The extractive answer is always computed: it decides abstention and is the fallback when an optional
    generator fails. A generator's streamed text is provisional; the final Answer holds only verified sentences.
    """
    t0 = time.perf_counter()
    settings = settings or current()
    s = settings.answer
    query = parse(question, history=history, max_chars=s.max_question_chars)
    index = index or default_index(settings)
    encoder = load_query_encoder(index.model, settings.query_backend)
    reranker, reader = reranker_for(settings.reranker), reader_for(off=s.rules_off)
    threshold = threshold_for(settings, index)
    retrieval = retrieve(query, index, encoder, reranker, settings.retrieval)
    t1 = time.perf_counter()
    reading = reader.read(retrieval, max_words=s.max_answer_words)
    found = []
    if reading.spans and reading.confidence >= threshold:  # search again only for an answer that may stand
        found = [
            retrieve(f.query, index, encoder, reranker, settings.retrieval, vector=f.vector) for f in reading.follow_ups
        ]
    reading = reader.extend(reading, retrieval, found, max_words=s.max_answer_words)
    generating = settings.generator != "extractive"
    cited = [sp.passage for sp in reading.spans] + (list(retrieval.passages[: s.top_k]) if generating else [])
    documents = {p.chunk.source: index.document(p.chunk.source) for p in cited}
    result = compose(retrieval, reading, documents, threshold=threshold, top_k=s.top_k)
    timings = {
        **{k: round(v, 2) for k, v in retrieval.timings.items()},
        "answer": round((time.perf_counter() - t1) * 1e3, 2),
    }
    generated = False
    if generating and not result.abstained:
        from qa.generate import generate

        t2 = time.perf_counter()
        try:
            result = yield from generate(result, documents, settings.llm)
            generated = True
        except GeneratorError as e:  # a failing optional generator never takes the answer down
            log.warning("generator failed (%s): showing the extractive answer", e)
            result = replace(result, notes=(*result.notes, f"generator failed ({e}): showing the extractive answer"))
        timings["generate"] = round((time.perf_counter() - t2) * 1e3, 2)
    if not generated:
        yield from re.split(r"(?<=\s)", result.text)  # word by word, so every surface streams alike
    timings["total"] = round((time.perf_counter() - t0) * 1e3, 2)
    yield replace(result, timings=timings)


def threshold_for(settings: Settings, index: Reader | None = None) -> float:
    """The abstention threshold in force: the one set; else the one measured on this index's corpus for the
    reader (qa/calibrate.py); else the reader's own default."""
    if settings.abstain_threshold is not None:
        return settings.abstain_threshold
    reader = reader_for()
    calibration = index.calibration if index is not None else None
    if calibration_current(calibration, reader.name):
        return float(calibration["threshold"])
    return reader.threshold


def answer(
    question: str,
    *,
    index: Reader | None = None,
    settings: Settings | None = None,
    history: Sequence[str] = (),
) -> Answer:
    """Answer a question from the index with cited quotes, or abstain; `history` holds earlier questions."""
    final = None
    for item in stream_answer(question, index=index, settings=settings, history=history):
        final = item
    assert isinstance(final, Answer)
    return final
