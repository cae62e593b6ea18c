"""The one error family of tfprot.

Every error tfprot raises on purpose is a :class:`TfprotError`. Subclasses also inherit the
matching built-in exception, so ``except ValueError`` keeps working for callers that do not know
tfprot. Messages name the record (file, line or row, sequence id), repeat the bad value and say
what to do about it.

>>> from tfprot.errors import InvalidSequenceError, TfprotError
>>> issubclass(InvalidSequenceError, ValueError) and issubclass(InvalidSequenceError, TfprotError)
True
"""

from __future__ import annotations

__all__ = [
    "CheckpointError",
    "CpuOpsError",
    "DataFileNotFoundError",
    "DataFormatError",
    "DistributeError",
    "HubError",
    "InvalidSequenceError",
    "LabelError",
    "MMseqsError",
    "MissingDependencyError",
    "NonFiniteOutputError",
    "OptionError",
    "OutputError",
    "PrecisionError",
    "TfprotError",
    "UniProtError",
    "one_line",
]


class TfprotError(Exception):
    """Root of every error tfprot raises on purpose."""


class InvalidSequenceError(TfprotError, ValueError):
    """A protein sequence is empty or holds a character that is not an amino acid."""


class CpuOpsError(TfprotError, RuntimeError):
    """tfprot's CPU ops are asked for but not available: not built here (no compiler, a failed
    build; the message says why) while ``TFPROT_REQUIRE_CPU_OPS=1``, or called directly."""


class DataFormatError(TfprotError, ValueError):
    """A data file or table is malformed: a missing column, a duplicate id, a length mismatch."""


class DataFileNotFoundError(TfprotError, FileNotFoundError):
    """A data file or folder named by the caller does not exist."""


class LabelError(TfprotError, ValueError):
    """A label is unknown to the label vocabulary, or not a valid value for the task."""


class CheckpointError(TfprotError, OSError):
    """A checkpoint (Hub id, local folder or preset) cannot be found, reached or read."""


class MissingDependencyError(TfprotError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


class MMseqsError(TfprotError, RuntimeError):
    """MMseqs2 (run for homology-aware splits and the leakage report) failed; the message gives
    its exit code, its last output and the command line."""


class DistributeError(TfprotError, RuntimeError):
    """A distribution strategy cannot be created (no TPU, a malformed ``TF_CONFIG``...)."""


class HubError(TfprotError, OSError):
    """The 🤗 Hub could not be reached, or refused a request (e.g. an upload); the message names
    the endpoint and never holds the token."""


class NonFiniteOutputError(TfprotError, FloatingPointError):
    """A model gave NaN or infinite outputs: corrupt or mismatched weights, or a training run
    that diverged (e.g. a learning rate too high). The message names the model."""


class OptionError(TfprotError, ValueError):
    """An option is out of range or of the wrong type (e.g. ``trainable_layers=-1``)."""


class OutputError(TfprotError, OSError):
    """An output file or folder cannot be written (a read-only or full disk, a path through a
    file); the message names it and says what to do."""


class PrecisionError(TfprotError, ValueError):
    """An unknown precision policy name (expect ``'auto'``, ``'float32'``, ``'mixed_float16'`` or
    ``'mixed_bfloat16'``)."""


class UniProtError(TfprotError, OSError):
    """UniProt could not be reached, refused the request, or sent something unusable.

    Attributes:
        url: the URL of the failing request.
        status: its HTTP status, or ``None`` when no response came (connection error).
    """

    def __init__(self, message: str, *, url: str | None = None, status: int | None = None):
        super().__init__(message)
        self.url = url
        self.status = status

    def __str__(self) -> str:
        return str(self.args[0])


def one_line(error: BaseException) -> str:
    """The error's message on one line (white space runs collapsed).

    >>> one_line(ValueError("a\\n  b"))
    'a b'
    """
    return " ".join(str(error).split()) or type(error).__name__
