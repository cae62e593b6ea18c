"""Checks of an output file named on the command line, made before any work starts.

A command that writes one file (``predict``'s CSV, ``embed``'s ``.npz``) checks its ``--out``
before it reads a model: the path must not be one of the inputs (the atomic write would replace
it), must not be a folder or a read-only file, and must lie in a folder that exists or can be
created and is writable (:func:`tfprot._io.check_writable`). Each problem is one
:class:`~tfprot.errors.OutputError` naming the path and what to do.

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> check_output_file(folder / "new" / "predictions.csv").name
'predictions.csv'
>>> check_output_file(folder)
Traceback (most recent call last):
...
tfprot.errors.OutputError: --out ... is a folder; give a file path such as .../output.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from tfprot._io import check_writable
from tfprot.errors import OutputError

__all__ = ["check_output_file"]


def check_output_file(
    out: str | os.PathLike,
    *,
    inputs: Iterable[str | os.PathLike] = (),
    option: str = "--out",
    example: str = "output",
) -> Path:
    """``out`` as a ``Path`` once it is known to be a writable file path that is none of
    ``inputs``.

    Args:
        out: the output file.
        inputs: files the command reads; writing over one of them (the same path, a symbolic or
            hard link to it) is refused.
        option: the option's name, for messages.
        example: a file name to suggest when ``out`` is a folder.

    Raises:
        OutputError: ``out`` is an input, a folder or a read-only file, or its folder cannot be
            created or written.
    """
    out = Path(out)
    for source in inputs:
        if _same_file(out, Path(source)):
            raise OutputError(
                f"{option} {out} is the input file {source}: writing the output would replace "
                "it. Choose another output path."
            )
    if out.is_dir():
        raise OutputError(f"{option} {out} is a folder; give a file path such as {out / example}.")
    check_writable(out.parent, option)
    if out.exists() and not os.access(out, os.W_OK):
        raise OutputError(
            f"{option} {out} is a read-only file; make it writable or choose another output path."
        )
    return out


def _same_file(out: Path, source: Path) -> bool:
    """Whether writing ``out`` would replace ``source`` (same path, or a link to it)."""
    try:
        return out.exists() and source.exists() and os.path.samefile(out, source)
    except OSError:
        return out.resolve() == source.resolve()
