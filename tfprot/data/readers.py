"""One entry point for every on-disk format: ``read_records(path, format="auto")``.

Formats: ``fasta`` (one file, no labels), ``csv``/``tsv`` (a table), ``fasta-dir`` (one FASTA per
class), ``flip`` (a FLIP split folder or file). ``auto`` picks by what the path is:

- a folder holding ``sequences.fasta`` is ``flip``; any other folder of FASTA files ``fasta-dir``;
- ``*.csv``/``*.tsv``/``*.tab`` (optionally ``.gz``) is a table;
- a FASTA file whose first header carries ``SET=`` is ``flip``, any other FASTA file ``fasta``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from tfprot.data.duplicates import check_duplicates_option
from tfprot.data.fasta import iter_fasta, read_fasta
from tfprot.data.fasta_dir import FASTA_SUFFIXES, read_fasta_dir
from tfprot.data.flip import SEQUENCES_FILE, read_flip
from tfprot.data.records import ProteinRecord
from tfprot.data.table import read_table
from tfprot.errors import DataFileNotFoundError, DataFormatError

__all__ = ["FORMATS", "as_records", "detect_format", "read_records"]

logger = logging.getLogger(__name__)

FORMATS = ("auto", "fasta", "csv", "tsv", "fasta-dir", "flip")
_TABLE_SUFFIXES = (".csv", ".tsv", ".tab")


def detect_format(path: str | os.PathLike) -> str:
    """The format ``auto`` would read ``path`` as.

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "ER.fasta").write_text(">p1\\nMKT\\n")
    >>> detect_format(folder)
    'fasta-dir'
    """
    path = Path(path)
    if not path.exists():
        raise DataFileNotFoundError(f"{path}: no such file or folder.")
    name = path.name.lower().removesuffix(".gz")
    if path.is_dir():
        if any(
            (path / f"{SEQUENCES_FILE}{suffix}").exists()
            for suffix in (".fasta", ".fasta.gz", ".fa")
        ):
            return "flip"
        return "fasta-dir"
    if name.endswith(_TABLE_SUFFIXES):
        return "tsv" if name.endswith((".tsv", ".tab")) else "csv"
    if name.endswith(FASTA_SUFFIXES):
        first = next(iter_fasta(path), None)
        return "flip" if first is not None and "SET=" in first.description.upper() else "fasta"
    raise DataFormatError(
        f"{path}: cannot tell the format from the name; pass format= one of {FORMATS[1:]}."
    )


def read_records(
    path: str | os.PathLike, format: str = "auto", *, duplicates: str = "error", **options: Any
) -> list[ProteinRecord]:
    """Read labelled (or unlabelled) protein records from a file or folder.

    Args:
        path: the file or folder.
        format: one of ``FORMATS``.
        duplicates: ids repeated with different contents are an error (``'error'``), or keep
            their ``'first'`` or ``'last'`` occurrence; exact repeats are kept once (and logged).
            See :func:`tfprot.data.duplicates.resolve_duplicates`.
        **options: passed to the reader: column names for tables (``sequence_column``,
            ``label_column``, ``id_column``, ``split_column``...), ``split`` for FLIP folders.

    Returns:
        The records, in file order.

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "x.tsv"
    >>> _ = path.write_text("sequence\\tlabel\\nMKTAY\\t1.5\\n")
    >>> [(r.sequence, r.label) for r in read_records(path)]
    [('MKTAY', '1.5')]
    """
    if format not in FORMATS:
        raise DataFormatError(f"Unknown format {format!r}. Expect one of {FORMATS}.")
    check_duplicates_option(duplicates)
    chosen = detect_format(path) if format == "auto" else format
    if format == "auto":
        logger.info("%s: reading as %s", path, chosen)
    readers = {
        "fasta": read_fasta,
        "csv": lambda p, **o: read_table(p, delimiter=",", **o),
        "tsv": lambda p, **o: read_table(p, delimiter="\t", **o),
        "fasta-dir": read_fasta_dir,
        "flip": _read_flip_any,
    }
    try:
        return readers[chosen](path, duplicates=duplicates, **options)
    except TypeError as error:
        if "unexpected keyword" in str(error):
            raise DataFormatError(
                f"{path}: option not understood by the {chosen} reader ({error})."
            ) from error
        raise


def _read_flip_any(path: str | os.PathLike, **options: Any) -> list[ProteinRecord]:
    """FLIP folders/FASTA splits, and FLIP CSV splits (``sequence,target,set,validation``)."""
    if Path(path).is_file() and Path(path).name.lower().removesuffix(".gz").endswith(
        _TABLE_SUFFIXES
    ):
        return read_table(path, **options)
    return read_flip(path, **options)


def as_records(inputs: Any) -> list[ProteinRecord]:
    """Records from whatever a user passes to predict or embed.

    Accepts a path (FASTA, table, folder: read with :func:`read_records`), a list of sequence
    strings (ids ``seq0``, ``seq1``...), a single sequence string, or a list of
    :class:`ProteinRecord`.

    >>> [r.id for r in as_records(["MKT", "GGS"])]
    ['seq0', 'seq1']
    """
    from tfprot.data.memory import from_lists

    if isinstance(inputs, (str, os.PathLike)):
        if Path(inputs).exists():
            return read_records(inputs)
        text = str(inputs)
        if os.sep in text or text.lower().endswith((".fasta", ".fa", ".csv", ".tsv", ".gz")):
            raise DataFileNotFoundError(f"{text}: no such file or folder.")
        return from_lists([text])
    items = list(inputs)
    if not items:
        raise DataFormatError(
            "No sequences given: the input is empty. Pass at least one sequence, a FASTA or table "
            "path, or ProteinRecords."
        )
    if all(isinstance(item, ProteinRecord) for item in items):
        return items
    if all(isinstance(item, str) for item in items):
        return from_lists(items)
    raise DataFormatError(
        f"Expected a path, sequence strings or ProteinRecords, got {type(items[0]).__name__} items."
    )
