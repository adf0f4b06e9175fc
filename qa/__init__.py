"""qa: ask questions of a folder of documents and get short answers with verified citations.

    from qa import answer
    print(answer("Who introduced gVisor?").text)

Names are imported on first use, so `qa --help` does not pay for numpy, FAISS or pydantic.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__all__ = ["Answer", "Citation", "Passage", "QAError", "Settings", "answer", "build_index", "open_index"]
__version__ = "0.1.0"

_WHERE = {
    "answer": "qa.pipeline",
    "build_index": "qa.pipeline",
    "open_index": "qa.pipeline",
    "Settings": "qa.settings",
    "QAError": "qa.errors",
    "Answer": "qa.types",
    "Citation": "qa.types",
    "Passage": "qa.types",
}

if TYPE_CHECKING:
    from qa.errors import QAError
    from qa.pipeline import answer, build_index, open_index
    from qa.settings import Settings
    from qa.types import Answer, Citation, Passage


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'qa' has no attribute {name!r}")
