"""Open data files for reading: plain or gzip-compressed text, with clear errors."""

from __future__ import annotations

import gzip
import io
import os
from pathlib import Path
from typing import IO

from tfprot.errors import DataFileNotFoundError, DataFormatError


def open_text(path: str | os.PathLike) -> IO[str]:
    """Open ``path`` as UTF-8 text, transparently decompressing ``*.gz``.

    Raises:
        DataFileNotFoundError: the file does not exist.
        DataFormatError: the path is a folder, or a ``.gz`` file is not gzip.
    """
    path = Path(path)
    if not path.exists():
        raise DataFileNotFoundError(f"{path}: no such file. Check the path and the current folder.")
    if path.is_dir():
        raise DataFormatError(f"{path}: is a folder, expected a file.")
    if path.suffix == ".gz":
        handle = gzip.open(path, "rb")  # noqa: SIM115 (returned to the caller, who closes it)
        try:
            handle.peek(1)
        except OSError as error:
            handle.close()
            raise DataFormatError(f"{path}: not a gzip file ({error}).") from error
        return io.TextIOWrapper(handle, encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def stem(path: str | os.PathLike) -> str:
    """File name without its data extensions: ``'a/ER.fasta.gz'`` -> ``'ER'``.

    >>> stem("multiloc/plasma_membrane.fasta.gz")
    'plasma_membrane'
    """
    name = Path(path).name
    for suffix in (".gz",):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name.rsplit(".", 1)[0] if "." in name else name
