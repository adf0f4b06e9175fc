"""qa: ask questions of a folder of documents and get short answers with verified citations.

    from qa import answer
    print(answer("Who introduced gVisor?").text)
"""

from qa.errors import QAError
from qa.pipeline import answer, build_index, open_index
from qa.settings import Settings
from qa.types import Answer, Citation, Passage

__all__ = ["Answer", "Citation", "Passage", "QAError", "Settings", "answer", "build_index", "open_index"]
__version__ = "0.1.0"
