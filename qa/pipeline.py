"""The one place that knows the order of the steps: load -> chunk -> embed -> store, and question -> retrieve ->
read (-> search again) -> answer (-> generate)."""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from qa import checks
from qa.cache import VectorCache
from qa.calibrate import calibrate
from qa.calibrate import current as calibration_current
from qa.compose import compose
from qa.embed import load_embedder, load_query_encoder, model_version
from qa.errors import GeneratorError, IndexMissingError, IndexOutdatedError, InputError
from qa.ingest import parsed
from qa.load import scan
from qa.query import parse
from qa.read import reader_for
from qa.rerank import reranker_for
from qa.retrieve import retrieve
from qa.settings import IndexSettings, Settings, current
from qa.stores import Reader, redacted, store_for
from qa.types import Answer, BuildReport, Chunk

log = logging.getLogger("qa")

# progress(stage, advance, total): stage is "read" (files) or "embed" (chunks); total may grow as files are read
Progress = Callable[[str, int, int], None]

EMBED_EVERY = 256  # chunks gathered before the model runs: 8 batches of 32, a few seconds, then one cache commit


def build_index(
    folder: str | Path,
    *,
    index_dir: str | Path | None = None,
    settings: Settings | None = None,
    rebuild: bool = False,
    progress: Progress | None = None,
) -> Reader:
    """Index a folder, embedding only what changed since the last build (and what an interrupted build had not
    embedded yet); returns the opened index."""
    settings = settings or current()
    s = settings.index
    folder = Path(folder).expanduser()
    files = scan(folder, max_file_mb=settings.max_file_mb, follow_links=settings.follow_links)
    if not files:
        raise InputError(f"no documents in {folder}: add .md, .txt, .html or .pdf files, then run qa index {folder}")
    store = store_for(index_dir or settings.location_for(folder), s)
    with store.writer(folder.resolve(), rebuild=rebuild) as writer:
        to_read = writer.plan(files)
        cache = VectorCache(_cache_path(store.location, settings), settings.model) if to_read else None
        try:
            embed = _Embedding(cache, s, progress, sum(f.size for f in to_read)) if cache is not None else None
            tick = _ticker(progress, "read", len(to_read))
            for item in parsed(to_read, model=settings.model, max_tokens=s.max_chunk_tokens, workers=s.index_workers):
                f = item.file
                if item.gone:
                    pass  # removed since the scan: dropped, like a deleted file
                elif writer.unchanged(f.source, item.state.digest):
                    pass  # touched but identical
                elif item.doc is None:
                    if writer.keep(f.source):
                        log.warning("%s: kept the previously indexed version", f.source)
                elif item.chunks:
                    writer.add(item.doc, item.state, item.chunks)
                    assert embed is not None
                    embed.add(item.chunks, *writer.missing_texts())
                else:
                    log.warning("skipped %s: no text to index", f.source)
                if embed is not None:
                    embed.read(f.size)
                tick(1)
            if embed is not None:
                embed.flush()
                embed.report(writer.report)
            vectors = cache.view(s.sentence_kind, s.chunk_kind) if cache is not None else {}
            index = writer.commit(vectors, dim=embed.dim if embed else None, model_source=model_version(settings.model))
            if cache is not None:
                cache.clear()  # the index holds them now
            if not calibration_current(index.calibration, reader_for().name):  # measure what confidence means here
                t2 = time.perf_counter()
                index.save_calibration(calibrate_index(index, settings))
                writer.report.timings["calibrate_s"] = time.perf_counter() - t2
            return index
        finally:
            if cache is not None:
                cache.close()


def _cache_path(location: str, settings: Settings) -> Path:
    """Beside a local index; under QA_HOME (or ~/.cache/qa) for a store at a URL."""
    if "://" not in location:
        return Path(location) / "vectors.sqlite"
    base = settings.home.expanduser() if settings.home is not None else Path.home() / ".cache" / "qa"
    base.mkdir(parents=True, exist_ok=True)
    return base / f"vectors-{hashlib.sha1(location.encode()).hexdigest()[:12]}.sqlite"


class _Embedding:
    """Gathers the chunks a build must embed and runs the model on them a few hundred at a time, writing every
    batch's vectors to the cache at once; what the cache already holds (an interrupted build's work) is skipped.

    What goes through the model is `embed_passes`: "chunks" (each chunk once; its sentences' vectors pooled from
    the chunk's tokens), "sentences" (each sentence, heading and stretch between sentences once; the chunk's
    vector merged from them) or "both" (each chunk, then each sentence again)."""

    def __init__(self, cache: VectorCache, s: IndexSettings, progress: Progress | None, total_bytes: int):
        self.cache, self.s, self.progress = cache, s, progress
        self.kind, self.chunk_kind, self.passes = s.sentence_kind, s.chunk_kind, s.embed_passes
        self.chunks: dict[str, list[Any]] = {}  # indexed text -> its sentences' spans in it, or its pieces
        self.sentences: dict[str, None] = {}  # sentences embedded on their own
        self.dim: int | None = None
        self.bytes_total, self.bytes_read = max(1, total_bytes), 0
        self.seen = self.done = 0  # chunks to embed found so far / embedded
        self.chunks_embedded = self.sentences_embedded = self.sentences_pooled = self.from_cache = 0
        self.seconds = 0.0

    def add(self, chunks: Sequence[Chunk], chunk_texts: Sequence[str], sentence_texts: Sequence[str]) -> None:
        """Queue what the writer lacks for these chunks and the cache does not hold."""
        fresh = [t for t in chunk_texts if t not in self.chunks]
        todo = self.cache.missing(self.chunk_kind, fresh)
        self.from_cache += len(fresh) - len(todo)
        wanted = set(todo)
        covered: set[str] = set()
        for c in chunks:
            text = c.indexed_text
            if text not in wanted or text in self.chunks:
                continue
            if self.passes == "chunks":
                head = len(c.section) + 1 - c.start
                self.chunks[text] = [(a + head, b + head) for a, b in c.sentences]
                covered.update(c.sentence_texts())
            elif self.passes == "sentences":
                self.chunks[text] = list(pieces(c))
                covered.update(c.sentence_texts())
            else:
                self.chunks[text] = []
        rest = [t for t in sentence_texts if t not in covered and t not in self.sentences]
        self.sentences.update(dict.fromkeys(self.cache.missing(self.kind, rest)))
        self.seen += len(todo)
        if len(self.chunks) + len(self.sentences) // 8 >= EMBED_EVERY:
            self.flush()

    def read(self, nbytes: int) -> None:
        self.bytes_read += nbytes

    def flush(self) -> None:
        """Embed what is queued and commit it to the cache."""
        if not self.chunks and not self.sentences:
            return
        emb = load_embedder(self.s.model)
        self.dim = emb.dim
        t0 = time.perf_counter()
        texts = list(self.chunks)
        opts = {"threads": self.s.index_threads, "batch_size": self.s.embed_batch_size}
        merge = self.passes == "sentences"
        groups = self._merged(emb, opts) if merge else self._chunks_then_sentences(emb, opts)
        self.seconds += time.perf_counter() - t0
        self.cache.put_groups(groups)
        self.chunks_embedded += len(texts)
        self.done += len(texts)
        self.chunks, self.sentences = {}, {}
        if self.progress:
            # the total is a forecast until every file is read: chunks found so far, scaled by the bytes still unread
            forecast = max(self.done, round(self.seen * self.bytes_total / max(1, self.bytes_read)))
            self.progress("embed", len(texts), forecast)

    def _chunks_then_sentences(self, emb: Any, opts: dict[str, int]) -> list[tuple[str, Sequence[str], Any]]:
        texts, spans = list(self.chunks), list(self.chunks.values())
        groups: list[tuple[str, Sequence[str], Any]] = []
        if texts and self.passes == "chunks":
            cvecs, svecs, alone = emb.encode_with_spans(texts, spans, context=self.s.sentence_context, **opts)
            sents = [t[a:b] for t, sp in zip(texts, spans, strict=True) for a, b in sp]
            groups += [(self.chunk_kind, texts, cvecs), (self.kind, sents, [v for vs in svecs for v in vs])]
            self.sentences_pooled += len(sents) - alone
            self.sentences_embedded += alone
        elif texts:
            groups.append((self.chunk_kind, texts, emb.encode(texts, **opts)))
        if self.sentences:
            alone_texts = list(self.sentences)
            groups.append((self.kind, alone_texts, emb.encode(alone_texts, **opts)))
            self.sentences_embedded += len(alone_texts)
        return groups

    def _merged(self, emb: Any, opts: dict[str, int]) -> list[tuple[str, Sequence[str], Any]]:
        """Every distinct piece once; a sentence's vector is its own, a chunk's the mean over all its pieces' tokens."""
        unique = list(dict.fromkeys([p for _, ps in self.chunks.values() for p in ps] + list(self.sentences)))
        means, counts = emb.encode_means(unique, **opts)
        at = {p: i for i, p in enumerate(unique)}
        sentences = {s for c in self.chunks.values() for s in c[0]} | set(self.sentences)
        chunk_vecs = []
        for parts in self.chunks.values():
            rows = [at[p] for p in parts[1]]
            v = (means[rows] * counts[rows, None]).sum(0)
            chunk_vecs.append(v / (np.linalg.norm(v) or 1.0))
        sent_list = [s for s in unique if s in sentences]
        svecs = means[[at[s] for s in sent_list]] if sent_list else np.zeros((0, emb.dim), np.float32)
        svecs = svecs / np.maximum(np.linalg.norm(svecs, axis=1, keepdims=True), 1e-12)
        self.sentences_embedded += len(sent_list)
        return [(self.chunk_kind, list(self.chunks), chunk_vecs), (self.kind, sent_list, svecs)]

    def report(self, r: BuildReport) -> None:
        r.chunks_embedded, r.sentences_embedded = self.chunks_embedded, self.sentences_embedded
        r.sentences_pooled, r.chunks_from_cache = self.sentences_pooled, self.from_cache
        r.timings["embed_s"] = self.seconds
        if self.progress and self.done:
            self.progress("embed", 0, self.done)


def pieces(c: Chunk) -> tuple[list[str], list[str]]:
    """(its sentences, all its pieces): a chunk cut where embedding it sentence by sentence cuts it: its section
    path, each sentence, and the text between sentences (code, table rows) as one piece per stretch."""
    parts, pos = [c.section], c.start
    for s, e in c.sentences:
        gap = c.text[pos - c.start : s - c.start].strip()
        if gap:
            parts.append(gap)
        parts.append(c.text[s - c.start : e - c.start])
        pos = e
    tail = c.text[pos - c.start :].strip()
    if tail:
        parts.append(tail)
    return c.sentence_texts(), parts


def calibrate_index(index: Reader, settings: Settings) -> dict:
    """The reader's threshold on this corpus, from off-topic probes and questions derived from its own text."""
    encoder = load_query_encoder(index.model, settings.query_backend)
    reranker, reader = reranker_for(settings.reranker), reader_for()

    def confidence_of(question: str) -> float:
        retrieval = retrieve(parse(question), index, encoder, reranker, settings.retrieval)
        reading = reader.read(retrieval, max_words=settings.max_answer_words)
        return reader.extend(reading, retrieval, [], max_words=settings.max_answer_words).confidence

    return calibrate(confidence_of, index.chunks(list(index.rows())), reader.name)


def _ticker(progress: Progress | None, stage: str, total: int) -> Callable[[int], None]:
    """progress(stage, n, total) as a one-argument callback, announced with 0 when there is work."""
    if progress is None or not total:
        return lambda n: None
    progress(stage, 0, total)
    return lambda n: progress(stage, n, total)


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
    question, history = checks.question(question, history)  # one-line InputError for anything but text
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
            generated = result.generator != "extractive"  # else its answer was not verified: the extractive one
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
