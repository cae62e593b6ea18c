"""Split files: a split written once (``tfprot split``), then reused and published.

A split file is a CSV table with a header and one row per record of the data it was made from::

    id,set,cluster
    P13918,train,P13918
    Q9UTR6,test,Q9UTR6
    P59862,removed,P12830

``set`` is ``train``, ``validation``, ``test`` or ``removed`` (left out by a homology split to keep
its guarantee); ``cluster`` is the id of the record's MMseqs2 cluster representative (empty for a
random split; the column is optional when reading). ``tfprot train --split FILE.csv`` applies it
to ``--data``: every record must be listed, and every listed id must be in the data.

>>> import tempfile, pathlib
>>> from tfprot.data.memory import from_lists
>>> records = from_lists(["MKTAY", "GGSWK", "MKTAW"], labels=["a", "b", "a"])
>>> path = pathlib.Path(tempfile.mkdtemp()) / "split.csv"
>>> write_split_file(path, [("seq0", "train", "seq0"), ("seq1", "test", "seq1"),
...                         ("seq2", "removed", "seq0")])
>>> kept, removed = apply_split_file(records, path)
>>> [(r.id, r.split) for r in kept], removed
([('seq0', 'train'), ('seq1', 'test')], ['seq2'])
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
from collections.abc import Iterable, Sequence

from tfprot._io import write_text_atomic
from tfprot.data.records import SPLITS, ProteinRecord
from tfprot.errors import DataFormatError

__all__ = ["COLUMNS", "SETS", "apply_split_file", "read_split_file", "write_split_file"]

COLUMNS = ("id", "set", "cluster")
SETS = (*SPLITS, "removed")
"""The values of the ``set`` column."""


def write_split_file(path: str | os.PathLike, rows: Iterable[tuple[str, str, str]]) -> None:
    """Write ``(id, set, cluster)`` rows under the header ``id,set,cluster``, atomically."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for identifier, name, cluster in rows:
        if name not in SETS:
            raise DataFormatError(f"{identifier!r}: unknown set {name!r}; expected one of {SETS}.")
        writer.writerow((identifier, name, cluster or ""))
    write_text_atomic(path, buffer.getvalue())


def read_split_file(path: str | os.PathLike) -> dict[str, str]:
    """``{id: set}`` of a split file.

    Raises:
        DataFormatError: a missing ``id`` or ``set`` column, an unknown set, an id listed twice
            (each naming the file and line).
    """
    from tfprot.data._files import read_lines

    lines = read_lines(path)
    try:
        reader = csv.reader(lines)
        header = next(reader, None)
        if header is None:
            raise DataFormatError(f"{path}: the split file is empty; expected a header {COLUMNS}.")
        columns = [name.strip().lower() for name in header]
        missing = [name for name in ("id", "set") if name not in columns]
        if missing:
            raise DataFormatError(
                f"{path}, line 1: no {' or '.join(repr(m) for m in missing)} column in {header}; "
                f"a split file has the columns {','.join(COLUMNS)} (written by tfprot split)."
            )
        id_at, set_at = columns.index("id"), columns.index("set")
        found: dict[str, str] = {}
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) <= max(id_at, set_at):
                raise DataFormatError(f"{path}, line {line}: {len(row)} cells, expected {header}.")
            identifier, name = row[id_at].strip(), row[set_at].strip().lower()
            if name not in SETS:
                raise DataFormatError(
                    f"{path}, line {line}, id {identifier!r}: unknown set {row[set_at]!r}; "
                    f"expected one of {SETS}."
                )
            if identifier in found:
                raise DataFormatError(
                    f"{path}, line {line}: id {identifier!r} is listed twice; a split file lists "
                    "each record once."
                )
            found[identifier] = name
    finally:
        lines.close()
    return found


def apply_split_file(
    records: Sequence[ProteinRecord], path: str | os.PathLike
) -> tuple[list[ProteinRecord], list[str]]:
    """The records with the split file's sets (any split they carried is replaced), without
    those it marks ``removed``; and the ids of those.

    Raises:
        DataFormatError: a record the file does not list, or ids the file lists that the data
            lacks (the file was made for other data).
    """
    sets = read_split_file(path)
    ids = {r.id for r in records}
    absent = [r for r in records if r.id not in sets]
    if absent:
        raise DataFormatError(
            f"{path}: {len(absent)} of {len(records)} records are not in the split file, e.g. "
            f"{absent[0].where}. The split file must list every record; make it for this data "
            "(tfprot split --data ...)."
        )
    extra = [name for name in sets if name not in ids]
    if extra:
        raise DataFormatError(
            f"{path}: {len(extra)} ids of the split file are not in the data, e.g. {extra[:3]}; "
            "it was made for other data. Make it for this data (tfprot split --data ...)."
        )
    kept = [dataclasses.replace(r, split=sets[r.id]) for r in records if sets[r.id] != "removed"]
    return kept, [r.id for r in records if sets[r.id] == "removed"]
