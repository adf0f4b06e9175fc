"""Errors people can act on: each message names the problem, the value and the fix."""


class QAError(Exception):
    """Base class for every expected failure; the CLI prints it as one line, the UI as one message."""


class InputError(QAError):
    """A question, file or folder that cannot be used as given."""


class IndexMissingError(QAError):
    """No index where one was expected."""


class IndexMismatchError(QAError):
    """An index built with other settings or another model."""


class IndexOutdatedError(IndexMismatchError):
    """An index written by an older qa (file format or chunker version): building it again is the fix."""


class IndexCorruptError(QAError):
    """An index whose files are missing, truncated or inconsistent."""


class ModelError(QAError):
    """A model that cannot be found or loaded."""


class GeneratorError(QAError):
    """An optional LLM generator that failed (unreachable, timed out, bad output)."""


class StoreError(QAError):
    """A database store that cannot be reached or used: bad URL, login, rights, a missing extension, a newer schema."""
