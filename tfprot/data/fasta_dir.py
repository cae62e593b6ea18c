"""Read a folder of FASTA files, one file per class, the file name being the label.

This is the layout of MultiLoc (``multiloc/ER.fasta``, ``multiloc/nuclear.fasta``...).

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "membrane.fasta").write_text(">p1\\nMKTAY\\n")
>>> _ = (folder / "cytosol.fa").write_text(">p2\\nGGSW\\n")
>>> [(r.id, r.label) for r in read_fasta_dir(folder)]
[('p2', 'cytosol'), ('p1', 'membrane')]
"""

from __future__ import annotations

import os
from pathlib import Path

from tfprot.data._files import stem
from tfprot.data.fasta import read_fasta
from tfprot.data.records import ProteinRecord
from tfprot.errors import DataFileNotFoundError, DataFormatError

__all__ = ["FASTA_SUFFIXES", "fasta_files", "read_fasta_dir"]

FASTA_SUFFIXES = (".fasta", ".fa", ".faa", ".fas", ".fna")


def fasta_files(folder: str | os.PathLike) -> list[Path]:
    """The FASTA files (optionally ``.gz``) directly inside ``folder``, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataFileNotFoundError(f"{folder}: no such folder.")
    return sorted(
        path
        for path in folder.iterdir()
        if path.is_file() and path.name.lower().removesuffix(".gz").endswith(FASTA_SUFFIXES)
    )


def read_fasta_dir(folder: str | os.PathLike) -> list[ProteinRecord]:
    """Read every FASTA file in ``folder``; each record's label is its file's name.

    Records come class by class in file-name order. An id that appears in two files is an error
    naming both (a protein cannot be in two single-label classes).

    Raises:
        DataFileNotFoundError: no such folder.
        DataFormatError: no FASTA file in it, two files with the same label, or a duplicate id.
        InvalidSequenceError: a bad sequence, naming its file, line and id.
    """
    files = fasta_files(folder)
    if not files:
        raise DataFormatError(
            f"{folder}: no FASTA files ({', '.join(FASTA_SUFFIXES)}, optionally .gz) in this folder."
        )
    records: list[ProteinRecord] = []
    seen_labels: dict[str, Path] = {}
    seen_ids: dict[str, ProteinRecord] = {}
    for path in files:
        label = stem(path)
        if label in seen_labels:
            raise DataFormatError(
                f"{path} and {seen_labels[label]} both give the label {label!r}; keep one file per class."
            )
        seen_labels[label] = path
        for record in read_fasta(path, label=label):
            if record.id in seen_ids:
                raise DataFormatError(
                    f"{record.where}: id {record.id!r} is also in {seen_ids[record.id].where}. "
                    "A protein can be in one class file only; for several labels per protein use a "
                    "table with a 'A;B' label column."
                )
            seen_ids[record.id] = record
            records.append(record)
    return records
