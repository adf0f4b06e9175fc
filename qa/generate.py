"""Optional generative answers (issue 7): an LLM writes the answer from the numbered passages, then every
sentence is verified against what it cites. Placeholder until the generators land: says so plainly."""

from __future__ import annotations

from collections.abc import Generator

from qa.errors import GeneratorError
from qa.retrieve import Retrieval
from qa.settings import Settings
from qa.store import Index
from qa.types import Answer


def generate(extractive: Answer, retrieval: Retrieval, index: Index, settings: Settings) -> Generator[str, None, Answer]:
    """Stream a generated answer; return the verified final Answer."""
    raise GeneratorError(f"generator {settings.generator!r} is not available yet; use --generator extractive")
    yield ""  # pragma: no cover
