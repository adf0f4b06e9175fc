"""The one Settings object: every knob, its default and why, readable from QA_* environment variables.

Fields keep flat names (QA_TOP_K, QA_MODEL ...); each stage receives only its group (`settings.index`,
`.retrieval`, `.answer`, `.llm`, `.web`), a small frozen dataclass, so no module depends on knobs it does not use.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# bump when documents or chunks change (boundaries, titles, what is quoted or embedded): old indexes rebuild
# 11: what is embedded is chosen (shape["vectors"]); 12: Office and e-book formats, HTML as the page reads;
# 13: HTML keeps <aside> (Sphinx footnotes) and class="sidebar" (DocBook side notes)
CHUNKER_VERSION = 13


class Settings(BaseSettings):
    """All of qa's configuration. Every field can be set as QA_<NAME> in the environment."""

    model_config = SettingsConfigDict(env_prefix="QA_", extra="forbid", frozen=True, allow_inf_nan=False)

    # --- where things live -------------------------------------------------------------------
    home: Path | None = Field(
        None, description="Folder for indexes and feedback when set; otherwise the index sits beside the folder."
    )
    docs: Path = Field(Path("docs"), description="Folder answered over when no index is given.")
    index_dir: Path | None = Field(None, description="Index folder; default derives from the documents folder.")
    store: SecretStr | None = Field(
        None,
        description="Keep indexes in a database instead of folders: postgresql://USER:PASSWORD@HOST:5432/DB "
        "(PostgreSQL + pgvector; pip install 'qa[pg]'). Empty: local folders.",
    )
    collection: str | None = Field(
        None, description="Collection name in the QA_STORE database; default: the documents folder's name."
    )

    # --- ingest -------------------------------------------------------------------------------
    model: str = Field(
        "all-MiniLM-L6-v2",
        description="Sentence-transformers model: a name (bundled: all-MiniLM-L6-v2) or a local folder.",
    )
    offline: bool = Field(
        True, description="Forbid hub downloads (sets HF_HUB_OFFLINE=1) so a missing model fails loudly."
    )
    max_chunk_tokens: int = Field(
        200, ge=32, le=512, description="Chunk size limit in the model's word pieces (MiniLM reads at most 256)."
    )
    embed_batch_size: int = Field(32, ge=1, le=1024, description="Texts per model call when indexing.")
    embed_passes: Literal["both", "chunks", "sentences"] = Field(
        "both",
        description="What goes through the model: both (every chunk, then every sentence on its own), or about half "
        "the work: chunks (one pass per chunk; each sentence's vector pooled from its chunk's tokens) or sentences "
        "(one pass per sentence, heading and code block; a chunk's vector is the mean of its pieces' tokens). "
        "The halves cost a few answers (README, Speed).",
    )
    sentence_context: int = Field(
        0,
        ge=0,
        le=64,
        description="With QA_EMBED_PASSES=chunks: word pieces on each side of a sentence that its "
        "pooled vector also averages.",
    )
    index_threads: int = Field(0, ge=0, description="Torch threads while indexing; 0 = all cores.")
    index_workers: int = Field(
        -1,
        ge=-1,
        description="Processes that read and chunk files while the model embeds: -1 = one per spare core (at least "
        "one) for jobs over 2 MB or 200 files; 0 = read in the indexing process.",
    )
    query_threads: int = Field(1, ge=1, description="Torch threads for one query (1 avoids 0.5 s stalls on 2 cores).")
    query_backend: Literal["auto", "torch", "onnx"] = Field(
        "auto", description="Question encoder: onnx (int8 copy of MiniLM, no torch: fast start), torch, or auto."
    )
    index_type: Literal["auto", "flat", "hnsw", "ivf"] = Field(
        "auto", description="FAISS index: flat (exact), hnsw or ivf (IVF-SQ8); auto picks by corpus size."
    )
    max_file_mb: float = Field(
        50.0, gt=0, description="Files larger than this are skipped with a warning; an Office file may unpack to 4x."
    )
    follow_links: bool = Field(
        False, description="Follow symlinks that lead out of the documents folder (off: a link to /etc is not indexed)."
    )

    # --- retrieval ----------------------------------------------------------------------------
    dense_k: int = Field(50, ge=1, description="Candidates taken from the dense (FAISS) search.")
    keyword_k: int = Field(50, ge=1, description="Candidates taken from the keyword (BM25) search.")
    rrf_k: int = Field(60, ge=1, description="Reciprocal-rank-fusion constant.")
    rerank_k: int = Field(30, ge=1, description="Fused candidates rescored by the sentence-level reranker.")
    rerank_each: int = Field(
        5, ge=0, description="Top hits of each search that are rescored too, however low fusion ranks them."
    )
    top_k: int = Field(5, ge=1, le=50, description="Passages returned with an answer (and shown as evidence).")
    reranker: str | None = Field(
        None, description="Optional sentence-transformers CrossEncoder (name or local folder) for reranking."
    )

    # --- answering ----------------------------------------------------------------------------
    abstain_threshold: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Answers whose confidence is below this abstain; empty: the reader's own calibrated threshold "
        "(0.40 for the default reader; see qa eval --sweep).",
    )
    max_answer_words: int = Field(
        80, ge=5, description="Most words in an extractive answer (up to three sentences; most are far shorter)."
    )
    max_question_chars: int = Field(2000, ge=10, description="Longer questions are truncated, with a note.")
    rules_off: str = Field(
        "",
        description="Answer rule families to switch off, comma-separated (for ablation, see qa eval --ablate): "
        "cues, units, restatement, further, context, second-search, type-penalty, coverage.",
    )

    # --- optional generator (LLM) -------------------------------------------------------------
    generator: str = Field(
        "extractive",
        description="extractive | llama:PATH.gguf | llama:smollm2 (bundled test model) | openai:BASE_URL "
        "(an OpenAI-compatible server).",
    )
    llm_model: str = Field("", description="Model name sent to an openai: server (empty: the server's first model).")
    llm_api_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("QA_LLM_API_KEY", "OPENAI_API_KEY"),
        description="API key for an openai: server (QA_LLM_API_KEY or OPENAI_API_KEY).",
    )
    llm_timeout: float = Field(60.0, gt=0, description="Seconds before a generator call gives up.")
    llm_max_tokens: int = Field(200, ge=16, description="Most tokens a generator may write.")
    llm_context: int = Field(
        3072, ge=512, description="Context window for llama: models (the prompt is ~700 tokens plus the passages)."
    )
    llm_threads: int = Field(
        2,
        ge=1,
        description="CPU threads for llama: models; 1 on a busy machine (2 spin-waiting threads ran 10x slower).",
    )

    llm_passages: int = Field(
        3,
        ge=1,
        le=50,
        description="Passages a generator reads: those the extractive answer quotes, then the best others "
        "(each is ~250 prompt tokens, most of a CPU model's time).",
    )
    llm_judge: bool = Field(
        False,
        description="When the model's answer cannot be verified, ask it whether the extractive quotes answer the "
        "question, and refuse if it says no (one short extra call).",
    )

    # --- web ----------------------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="Address qa serve binds to.")
    port: int = Field(7860, ge=1, le=65535, description="Port qa serve listens on.")
    upload_max_mb: float = Field(10.0, gt=0, description="Largest file the web UI accepts.")
    feedback_file: Path | None = Field(None, description="Where web feedback is appended (JSONL).")

    @property
    def index(self) -> IndexSettings:
        return IndexSettings(
            self.model, self.offline, self.max_chunk_tokens, self.embed_batch_size, self.index_threads,
            self.index_type, self.max_file_mb, self.embed_passes, self.sentence_context, self.index_workers,
        )  # fmt: skip

    @property
    def retrieval(self) -> RetrievalSettings:
        return RetrievalSettings(
            self.dense_k, self.keyword_k, self.rrf_k, self.rerank_k, self.rerank_each, self.top_k, self.reranker,
            self.query_threads, self.query_backend,
        )  # fmt: skip

    @property
    def answer(self) -> AnswerSettings:
        off = frozenset(f.strip() for f in self.rules_off.split(",") if f.strip())
        return AnswerSettings(self.abstain_threshold, self.max_answer_words, self.max_question_chars, self.top_k, off)

    @property
    def llm(self) -> LLMSettings:
        key = self.llm_api_key.get_secret_value() if self.llm_api_key else ""
        return LLMSettings(
            self.generator, self.llm_model, key, self.llm_timeout, self.llm_max_tokens, self.llm_context,
            self.llm_threads, self.llm_passages, self.llm_judge,
        )  # fmt: skip

    @property
    def web(self) -> WebSettings:
        return WebSettings(self.host, self.port, self.upload_max_mb, self.feedback_path())

    def index_dir_for(self, folder: Path) -> Path:
        """The default index folder for a documents folder: under QA_HOME, else `.qa/<name>` beside it."""
        if self.index_dir is not None:
            return self.index_dir
        folder = folder.expanduser().resolve()
        if self.home is not None:
            tag = hashlib.sha1(str(folder).encode()).hexdigest()[:8]
            return self.home.expanduser() / "indexes" / f"{folder.name}-{tag}"
        return folder.parent / ".qa" / folder.name

    def location_for(self, folder: Path) -> str:
        """Where the index of a documents folder lives: QA_STORE's database (collection: QA_COLLECTION, else the
        folder's name) when set, else the index folder."""
        url = self.store.get_secret_value() if self.store is not None else ""
        if not url:  # QA_STORE unset or empty
            return str(self.index_dir_for(folder))
        return f"{url}#{self.collection or folder.expanduser().resolve().name}"

    def feedback_path(self) -> Path:
        if self.feedback_file is not None:
            return self.feedback_file
        base = self.home.expanduser() if self.home is not None else self.index_dir_for(self.docs).parent
        return base / "feedback.jsonl"

    def shape(self) -> dict[str, object]:
        """The settings an index is built from; any change means re-embedding."""
        return self.index.shape()


@dataclass(frozen=True, slots=True)
class IndexSettings:
    """What building (and opening) an index needs."""

    model: str
    offline: bool
    max_chunk_tokens: int
    embed_batch_size: int
    index_threads: int
    index_type: str
    max_file_mb: float
    embed_passes: str = "both"
    sentence_context: int = 0
    index_workers: int = -1

    @property
    def sentence_kind(self) -> str:
        """What a sentence vector is, as the vector cache names it: its own pass, or pooled from its chunk's."""
        return f"sentence-pooled-{self.sentence_context}" if self.embed_passes == "chunks" else "sentence"

    @property
    def chunk_kind(self) -> str:
        """What a chunk vector is: its own pass, or the mean of its pieces' passes."""
        return "chunk-mean-of-pieces" if self.embed_passes == "sentences" else "chunk"

    def shape(self) -> dict[str, object]:
        """The settings an index is built from; any change means re-embedding."""
        return {
            "model": self.model,
            "max_chunk_tokens": self.max_chunk_tokens,
            "chunker": CHUNKER_VERSION,
            "vectors": f"{self.chunk_kind}+{self.sentence_kind}",
        }

    def shape_hash(self) -> str:
        return hashlib.sha1(json.dumps(self.shape(), sort_keys=True).encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class RetrievalSettings:
    """What a search needs: candidate counts, fusion, rerank, and the question encoder."""

    dense_k: int
    keyword_k: int
    rrf_k: int
    rerank_k: int
    rerank_each: int
    top_k: int
    reranker: str | None
    query_threads: int
    query_backend: str


@dataclass(frozen=True, slots=True)
class AnswerSettings:
    """What the answer step needs."""

    threshold: float | None  # None: the reader's calibrated threshold
    max_answer_words: int
    max_question_chars: int
    top_k: int  # passages shown with an answer
    rules_off: frozenset[str]  # rule families switched off (ablation)


@dataclass(frozen=True, slots=True)
class LLMSettings:
    """What an optional generator needs."""

    generator: str
    model: str
    api_key: str
    timeout: float
    max_tokens: int
    context: int
    threads: int
    passages: int = 3  # passages in the prompt, the extractive answer's first
    judge: bool = False  # ask the model whether the extractive quotes answer, before showing them in its place


@dataclass(frozen=True, slots=True)
class WebSettings:
    """What the web chat needs besides the documents folder."""

    host: str
    port: int
    upload_max_mb: float
    feedback_file: Path


def apply_environment(settings: Settings) -> None:
    """Set the environment the libraries read, once, from an entry point (the CLI, the web server): offline
    Hugging Face (a hidden download fails instead of hanging), no telemetry or analytics, quiet tokenizers."""
    if settings.offline:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def current() -> Settings:
    """Settings from the environment, parsed once per distinct QA_* environment (parsing costs ~4 ms a call)."""
    return _from_env(
        tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("QA_") or k == "OPENAI_API_KEY"))
    )


@lru_cache(maxsize=8)
def _from_env(_key: tuple[tuple[str, str], ...]) -> Settings:
    return Settings()


def field_docs() -> list[tuple[str, str, str]]:
    """(env var, default, description) for every setting: README's table and `qa --help` come from here."""
    rows = []
    for name, f in Settings.model_fields.items():
        default = f.default
        rows.append((f"QA_{name.upper()}", "" if default is None else str(default), f.description or ""))
    return rows
