"""Open data files for reading, with one clear error for anything that is not readable text.

Text is UTF-8, with or without a byte-order mark (Excel's "CSV UTF-8" writes one), or UTF-16 with
a byte-order mark (Excel's "Unicode Text"). gzip-compressed files are decompressed, whatever their
name. A byte-order mark at the start of a later line (files joined with ``cat``) is dropped too.
Undecodable bytes (Latin-1 text, a binary file), NUL bytes and corrupt or truncated gzip data raise
:class:`DataFormatError` naming the file, the line and the byte, and saying what to do.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "excel.csv"
>>> _ = path.write_bytes(b"\\xef\\xbb\\xbfid,sequence\\r\\np1,MKT\\r\\n")
>>> read_text(path)
'id,sequence\\r\\np1,MKT\\r\\n'
>>> _ = path.write_bytes(b"id,sequence\\np\\xe91,MKT\\n")
>>> read_text(path)
Traceback (most recent call last):
...
tfprot.errors.DataFormatError: ...excel.csv, line 2 (byte offset 13): not UTF-8 text: byte 0xe9 ...
"""

from __future__ import annotations

import codecs
import functools
import gzip
import io
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from tfprot.errors import DataFileNotFoundError, DataFormatError

__all__ = ["open_text", "read_lines", "read_text", "stem"]

GZIP_MAGIC = b"\x1f\x8b"
BYTE_ORDER_MARK = "\ufeff"
_UTF16_MARKS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_CORRUPT_GZIP = (EOFError, zlib.error, gzip.BadGzipFile)
_SAVE_AS_UTF8 = (
    "tfprot reads UTF-8 text (a byte-order mark is fine): save the file as UTF-8 (in Excel: "
    "'CSV UTF-8'), or convert it, e.g. `iconv -f latin1 -t utf-8 IN > OUT`."
)


def open_text(path: str | os.PathLike) -> IO[str]:
    """Open ``path`` as text (see the module docstring for what is accepted).

    Decoding errors surface while reading; :func:`read_lines` and :func:`read_text` turn them into
    :class:`DataFormatError`.

    Raises:
        DataFileNotFoundError: the file does not exist.
        DataFormatError: the path is a folder, or a ``.gz`` file is not gzip.
    """
    path = Path(path)
    handle = _open_binary(path)
    if isinstance(handle, gzip.GzipFile):
        _check_gzip(path)
    start = handle.peek(4)[:4]
    encoding = "utf-16" if start.startswith(_UTF16_MARKS) else "utf-8-sig"
    return io.TextIOWrapper(handle, encoding=encoding, newline="")


def read_lines(path: str | os.PathLike) -> Iterator[str]:
    """The lines of a text file, with their line ends, and every reading error made clear.

    Raises:
        DataFileNotFoundError, DataFormatError: see :func:`open_text`; also bytes that are not
            UTF-8, NUL bytes, corrupt or truncated gzip data, each naming the file and the line.
    """
    with open_text(path) as handle:
        count = 0
        try:
            for line in handle:
                count += 1
                if "\0" in line:
                    raise DataFormatError(
                        f"{path}, line {count}: holds NUL bytes, so it is not UTF-8 text: a binary "
                        "file, or UTF-16 text without a byte-order mark. Is it the right file? "
                        + _SAVE_AS_UTF8
                    )
                yield line.removeprefix(BYTE_ORDER_MARK)
        except UnicodeDecodeError as error:
            raise _decoding_error(Path(path), handle.encoding, count, error) from error
        except _CORRUPT_GZIP as error:
            raise DataFormatError(
                f"{path}, after line {count}: the gzip data is corrupt or cut short ({error}). "
                "Download or compress the file again."
            ) from error


def read_text(path: str | os.PathLike) -> str:
    """The whole text of a file, read as :func:`read_lines` reads it."""
    return "".join(read_lines(path))


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


def _open_binary(path: Path) -> io.BufferedIOBase:
    if not path.exists():
        raise DataFileNotFoundError(f"{path}: no such file. Check the path and the current folder.")
    if path.is_dir():
        raise DataFormatError(f"{path}: is a folder, expected a file.")
    with open(path, "rb") as probe:
        compressed = probe.read(2) == GZIP_MAGIC
    if path.suffix == ".gz" and not compressed:
        raise DataFormatError(
            f"{path}: not a gzip file, although its name ends in .gz. Rename it without .gz if it "
            "is plain text."
        )
    return gzip.open(path, "rb") if compressed else open(path, "rb")  # the caller closes it


def _check_gzip(path: Path) -> None:
    """Decompress ``path`` once, so corrupt data is refused before any of it is parsed.

    A flipped byte can inflate to plausible text; only the checksum at the end of the stream tells.
    A file checked once is not checked again while its size and modification time stay the same.
    """
    stat = path.stat()
    _check_gzip_once(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _check_gzip_once(path: str, size: int, mtime_ns: int) -> None:
    try:
        with gzip.open(path, "rb") as handle:
            while handle.read(1 << 20):
                pass
    except _CORRUPT_GZIP as error:
        raise DataFormatError(
            f"{path}: the gzip data is corrupt or cut short ({error}). Download or compress the "
            "file again."
        ) from error


def _decoding_error(
    path: Path, encoding: str, lines_read: int, error: UnicodeDecodeError
) -> DataFormatError:
    """The error for undecodable bytes, located exactly by a second pass over the raw bytes."""
    if encoding != "utf-8-sig":
        return DataFormatError(
            f"{path}, after line {lines_read}: not valid {encoding} text ({error.reason}). "
            + _SAVE_AS_UTF8
        )
    offset = 0
    with _open_binary(path) as handle:
        head = handle.peek(1024)[:1024]
        for line_number, raw in enumerate(handle, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as found:
                bad = raw[found.start : found.end]
                if b"\0" in head:
                    advice = (
                        "It looks like a binary file, not text: is it the right file? tfprot "
                        "reads FASTA, CSV and TSV files as UTF-8 text."
                    )
                else:
                    shown = bad.decode("cp1252", "replace")
                    advice = (
                        f"It may be Latin-1/Windows-1252 text ({shown!r} there). {_SAVE_AS_UTF8}"
                    )
                return DataFormatError(
                    f"{path}, line {line_number} (byte offset {offset + found.start}): not UTF-8 "
                    f"text: byte {bad[0]:#04x} ({found.reason}). {advice}"
                )
            offset += len(raw)
    return DataFormatError(  # the text layer failed where a line-by-line pass does not
        f"{path}, after line {lines_read}: not UTF-8 text ({error.reason}). {_SAVE_AS_UTF8}"
    )
