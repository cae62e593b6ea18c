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
from tfprot.data.duplicates import check_duplicates_option, resolve_duplicates
from tfprot.data.fasta import fasta_records
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


def read_fasta_dir(folder: str | os.PathLike, *, duplicates: str = "error") -> list[ProteinRecord]:
    """Read every FASTA file in ``folder``; each record's label is its file's name.

    Records come class by class in file-name order. An id that appears in two files is an error
    naming both (a protein cannot be in two single-label classes), unless ``duplicates`` is
    ``'first'`` or ``'last'`` (the entry kept, in file-name order); an id repeated within a file
    with the same sequence is kept once.

    Raises:
        DataFileNotFoundError: no such folder.
        DataFormatError: no FASTA file in it, two files with the same label, a file that is not
            UTF-8 text, or repeated ids that differ (all of them counted, the first few listed).
        InvalidSequenceError: a bad sequence, naming its file, line and id.
        OptionError: an unknown ``duplicates`` value.
    """
    check_duplicates_option(duplicates)
    files = fasta_files(folder)
    if not files:
        raise DataFormatError(
            f"{folder}: no FASTA files ({', '.join(FASTA_SUFFIXES)}, optionally .gz) in this folder."
        )
    records: list[ProteinRecord] = []
    seen_labels: dict[str, Path] = {}
    for path in files:
        label = stem(path)
        if label in seen_labels:
            raise DataFormatError(
                f"{path} and {seen_labels[label]} both give the label {label!r}; keep one file per class."
            )
        seen_labels[label] = path
        records += fasta_records(path, label=label)
    return resolve_duplicates(
        records,
        duplicates,
        where=str(Path(folder)),
        hint="A protein can be in one class file only; for several labels per protein use a "
        "table with a 'A;B' label column.",
    )
