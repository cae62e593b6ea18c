"""Read CSV/TSV tables with a sequence column, and optional label, id and split columns.

Column names are matched case-insensitively. Left as ``None``, a column is detected when the
header makes it obvious (``sequence``/``seq``; ``label``/``target``/``y``; ``id``/``name``/
``accession``/``entry``; ``set``/``split``; ``validation``), and the choice is logged. This reads the
FLIP CSV splits (``sequence,target,set,validation``) as they are.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
>>> _ = path.write_text("id,sequence,location,set\\np1,MKTAY,membrane,train\\np2,GGSW,cytosol,test\\n")
>>> [(r.id, r.sequence, r.label, r.split) for r in read_table(path)]
[('p1', 'MKTAY', 'membrane', 'train'), ('p2', 'GGSW', 'cytosol', 'test')]
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tfprot.data._files import read_text
from tfprot.data.duplicates import check_duplicates_option, resolve_duplicates
from tfprot.data.records import ProteinRecord, Source
from tfprot.data.sequences import clean_sequence
from tfprot.errors import DataFormatError

__all__ = ["TableColumns", "detect_columns", "parse_split", "read_table"]

logger = logging.getLogger(__name__)

_SEQUENCE_NAMES = ("sequence", "seq", "sequences", "protein_sequence", "aa_sequence")
_LABEL_NAMES = ("label", "labels", "target", "y", "class", "fitness")
_ID_NAMES = ("id", "name", "accession", "entry", "protein_id", "uniprot_id")
_SPLIT_NAMES = ("set", "split", "partition", "fold_set")
_VALIDATION_NAMES = ("validation", "is_validation")

_SPLIT_VALUES = {
    "train": "train",
    "training": "train",
    "valid": "validation",
    "validation": "validation",
    "val": "validation",
    "dev": "validation",
    "test": "test",
    "testing": "test",
}
_TRUE = frozenset({"true", "1", "yes", "y", "t"})
_FALSE = frozenset({"false", "0", "no", "n", "f", ""})


@dataclass(frozen=True)
class TableColumns:
    """The header names chosen for each role (``None``: the table has no such column)."""

    sequence: str
    label: str | None = None
    id: str | None = None
    split: str | None = None
    validation: str | None = None


def detect_columns(
    header: Sequence[str],
    *,
    sequence_column: str | None = None,
    label_column: str | None = None,
    id_column: str | None = None,
    split_column: str | None = None,
    validation_column: str | None = None,
    where: str = "table",
) -> TableColumns:
    """Resolve each role to a header name: given names must exist, missing ones are detected.

    When there is no obvious label column and exactly one column is left unused, that column is
    the label (e.g. ``id,sequence,location,set``).

    >>> detect_columns(["ID", "Sequence", "Location", "set"])
    TableColumns(sequence='Sequence', label='Location', id='ID', split='set', validation=None)
    """
    by_lower = {name.strip().lower(): name for name in header}

    def given(name: str | None, role: str) -> str | None:
        if name is None:
            return None
        found = by_lower.get(name.strip().lower())
        if found is None:
            raise DataFormatError(
                f"{where}: no {role} column {name!r}; the columns are {list(header)}. "
                f"Pass the right name with the {role}-column option."
            )
        return found

    def detect(candidates: tuple[str, ...]) -> str | None:
        return next((by_lower[c] for c in candidates if c in by_lower), None)

    sequence = given(sequence_column, "sequence") or detect(_SEQUENCE_NAMES)
    if sequence is None:
        raise DataFormatError(
            f"{where}: cannot tell which column holds the sequences; the columns are "
            f"{list(header)}. Name it with the sequence-column option."
        )
    columns = {
        "id": given(id_column, "id") or detect(_ID_NAMES),
        "split": given(split_column, "split") or detect(_SPLIT_NAMES),
        "validation": given(validation_column, "validation") or detect(_VALIDATION_NAMES),
    }
    label = given(label_column, "label") or detect(_LABEL_NAMES)
    if label is None:
        used = {sequence, *columns.values()}
        left = [name for name in header if name not in used and name.strip()]
        if len(left) == 1:
            label = left[0]
    chosen = TableColumns(sequence=sequence, label=label, **columns)
    logger.info("%s: columns %s", where, chosen)
    return chosen


def parse_split(value: str, where: str) -> str:
    """Map a split cell (``train``, ``valid``, ``dev``, ``test``...) to a tfprot split name."""
    split = _SPLIT_VALUES.get(value.strip().lower())
    if split is None:
        raise DataFormatError(
            f"{where}: unknown split {value!r}; expected one of {sorted(set(_SPLIT_VALUES))}."
        )
    return split


def _parse_flag(value: str, where: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise DataFormatError(
        f"{where}: expected True/False (or empty) in the validation column, got {value!r}."
    )


def read_table(
    path: str | os.PathLike,
    *,
    sequence_column: str | None = None,
    label_column: str | None = None,
    id_column: str | None = None,
    split_column: str | None = None,
    validation_column: str | None = None,
    delimiter: str | None = None,
    duplicates: str = "error",
) -> list[ProteinRecord]:
    """Read a CSV or TSV file (optionally ``.gz``) into validated records.

    Args:
        path: the table; ``.tsv``/``.tab`` are tab-separated, ``.csv`` comma-separated, anything
            else is sniffed.
        sequence_column, label_column, id_column, split_column, validation_column: header names;
            ``None`` detects them (see :func:`detect_columns`).
        delimiter: force a delimiter.
        duplicates: an id repeated with a different sequence, label or split is an error
            (``'error'``), or keeps its ``'first'`` or ``'last'`` row; exact repeats are kept once
            (and logged). See :func:`tfprot.data.duplicates.resolve_duplicates`.

    Returns:
        One record per id. Ids come from the id column or are ``row<N>``; a ``validation`` flag
        turns a train row into a validation row (the FLIP convention). Empty label cells give
        ``label=None``.

    Raises:
        DataFileNotFoundError, DataFormatError, InvalidSequenceError: each naming file and row
            (a file that is not UTF-8 text is a DataFormatError naming the line and byte).
        OptionError: an unknown ``duplicates`` value.
    """
    check_duplicates_option(duplicates)
    name = os.fspath(path)
    text = read_text(path)
    if not text.strip():
        raise DataFormatError(f"{name}: the table is empty.")
    delimiter = delimiter or _delimiter_for(Path(name), text)
    reader = csv.reader(text.splitlines(keepends=True), delimiter=delimiter)
    try:
        header = next(reader)
    except csv.Error as error:
        raise DataFormatError(f"{name}, line 1: cannot parse the header ({error}).") from error
    columns = detect_columns(
        header,
        sequence_column=sequence_column,
        label_column=label_column,
        id_column=id_column,
        split_column=split_column,
        validation_column=validation_column,
        where=name,
    )
    index = {column: header.index(column) for column in header}
    records: list[ProteinRecord] = []
    row_number = 0
    try:
        for row_number, row in enumerate(reader, start=1):
            if not any(cell.strip() for cell in row):
                continue
            source = Source(name, line=reader.line_num, row=row_number, label_column=columns.label)
            where = source.describe()
            if len(row) != len(header):
                raise DataFormatError(
                    f"{where}: {len(row)} fields, but the header has {len(header)}. Check for an "
                    f"unquoted {delimiter!r} inside a cell."
                )

            def cell(column: str | None, row=row) -> str | None:
                return None if column is None else row[index[column]].strip()

            record_id = cell(columns.id) or f"row{row_number}"
            where = f"{where}, id {record_id!r}"
            split = parse_split(cell(columns.split), where) if columns.split else None
            if columns.validation and _parse_flag(cell(columns.validation), where):
                if split == "test":
                    raise DataFormatError(f"{where}: a test row cannot also be a validation row.")
                split = "validation"
            records.append(
                ProteinRecord(
                    id=record_id,
                    sequence=clean_sequence(cell(columns.sequence), where=where),
                    label=cell(columns.label) or None,
                    split=split,
                    source=source,
                )
            )
    except csv.Error as error:
        raise DataFormatError(f"{name}, row {row_number + 1}: cannot parse ({error}).") from error
    if not records:
        raise DataFormatError(f"{name}: the table has a header but no rows.")
    return resolve_duplicates(records, duplicates)


def _delimiter_for(path: Path, text: str) -> str:
    suffixes = [s for s in path.suffixes if s != ".gz"]
    suffix = suffixes[-1].lower() if suffixes else ""
    if suffix in (".tsv", ".tab"):
        return "\t"
    if suffix == ".csv":
        return ","
    first_line = text.split("\n", 1)[0]
    return "\t" if first_line.count("\t") > first_line.count(",") else ","
