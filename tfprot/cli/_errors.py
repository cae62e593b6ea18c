"""The one line the command line prints for a failure the user can act on.

tfprot's own errors (:class:`~tfprot.errors.TfprotError`) already say what is wrong and what to
do. Failures of input and output that reach the command line raw (any ``OSError``: a full or
read-only disk, a path through a file, a permission; text that is not UTF-8; damaged JSON or
safetensors) get a line here naming the file, when one can be told, and what to do.
Everything else (a ``TypeError`` from a bug in tfprot...) is not described: it keeps its
traceback, which is what a bug report needs.

>>> import errno
>>> describe(OSError(errno.ENOSPC, "No space left on device", "/data/out"))
'/data/out: No space left on device: the disk is full; free space there or write elsewhere.'
>>> describe(TypeError("unsupported operand")) is None
True
"""

from __future__ import annotations

import errno
import io
import json
import os
import traceback
from pathlib import PurePath

from tfprot.errors import TfprotError

__all__ = ["describe", "is_safetensors_error"]

_ADVICE = {
    errno.ENOSPC: "the disk is full; free space there or write elsewhere",
    errno.EDQUOT: "the disk quota is used up; free space there or write elsewhere",
    errno.EFBIG: "the file is too large for this file system or limit; write elsewhere",
    errno.EROFS: "the file system is read-only; choose a writable place",
    errno.EACCES: "permission denied; choose a place you may use, or change its permissions",
    errno.EPERM: "operation not permitted; choose a place you may use, or change its permissions",
    errno.ENOENT: "check the path",
    errno.ENOTDIR: "a part of the path is a file, not a folder; choose another path",
    errno.EISDIR: "it is a folder; name a file",
    errno.EEXIST: "it exists already; choose another path or remove it",
    errno.ENAMETOOLONG: "choose a shorter path",
    errno.EIO: "the storage failed; check the disk (or the network file system) and rerun",
}
"""What to do about an ``OSError``, by ``errno``."""

_PATH_NAMES = ("path", "filename", "file", "filepath", "file_path", "target", "folder")
"""Names of local variables that hold the path of the file being read or written."""


def describe(error: BaseException) -> str | None:
    """The one-line message for ``error``, or ``None`` when it is not a user's input or output
    failure (the caller re-raises it: a traceback for a bug)."""
    if isinstance(error, TfprotError):
        return _one_line(str(error)) or type(error).__name__
    if isinstance(error, OSError):
        return _os_error(error)
    if isinstance(error, UnicodeDecodeError):
        where = _file_in_traceback(error) or "a text file"
        return (
            f"{where}: not UTF-8 text ({error.reason}: byte 0x{error.object[error.start]:02x} at "
            f"offset {error.start}); save it as UTF-8 (in Excel: 'CSV UTF-8') and rerun."
        )
    if isinstance(error, json.JSONDecodeError):
        where = _file_in_traceback(error) or "a JSON file"
        return (
            f"{where}: damaged JSON ({error.msg} at line {error.lineno}, column {error.colno}); "
            "restore or write it again (a saved model: save it again)."
        )
    if is_safetensors_error(error):
        where = _file_in_traceback(error, suffix=".safetensors") or "a safetensors file"
        message = _one_line(str(error))
        if "os error 28" in message or "No space left" in message:
            return f"{where}: cannot write it, the disk is full ({message}); free space there or write elsewhere."
        if "serializ" in message.lower() and "deserializ" not in message.lower():
            return f"{where}: cannot write it ({message}); check the disk and rerun."
        return (
            f"{where}: damaged or incomplete weights ({message}); save or download the model again."
        )
    return None


def _os_error(error: OSError) -> str:
    reason = error.strerror or _one_line(str(error)) or type(error).__name__
    names = [n for n in (error.filename, error.filename2) if n is not None]
    where = " -> ".join(os.fsdecode(n) for n in names) or _file_in_traceback(error)
    advice = _ADVICE.get(error.errno) if error.errno is not None else None
    message = f"{where}: {reason}" if where else reason
    return f"{message}: {advice}." if advice else f"{message}."


def is_safetensors_error(error: BaseException) -> bool:
    return any(
        cls.__name__ == "SafetensorError" and cls.__module__.startswith("safetensors")
        for cls in type(error).__mro__
    )


def _file_in_traceback(error: BaseException, suffix: str | None = None) -> str | None:
    """The file the failing code was reading or writing, from the local variables of the
    innermost frame that holds one: an open (or just closed) file object first, else a
    path-like value (a ``Path``, or a string named like a path that exists). ``None`` when no
    frame holds one."""
    frames = [frame for frame, _ in traceback.walk_tb(error.__traceback__)]
    for frame in reversed(frames):
        values = list(frame.f_locals.items())
        files = [
            v.name
            for _, v in values
            if isinstance(v, io.IOBase) and isinstance(getattr(v, "name", None), str)
        ]
        paths = [p for p in (_as_path(n, v) for n, v in values) if p is not None]
        found = [f for f in (*files, *paths) if suffix is None or f.endswith(suffix)]
        if found:
            return found[0]
    return None


def _as_path(name: str, value: object) -> str | None:
    if isinstance(value, PurePath):
        return str(value)
    if (
        isinstance(value, str)
        and (name in _PATH_NAMES or name.endswith(("_path", "_file")))
        and os.path.isfile(value)
    ):
        return value
    return None


def _one_line(text: str) -> str:
    return " ".join(text.split())
