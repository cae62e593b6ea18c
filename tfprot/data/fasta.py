"""Read FASTA files: multi-line bodies, blank lines, ``>`` headers with descriptions, gzip.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "two.fasta"
>>> _ = path.write_text(">P1 first protein\\nMKTAY\\nIAKQ\\n\\n>P2\\nGGSW*\\n")
>>> [(r.id, r.sequence, r.description) for r in read_fasta(path)]
[('P1', 'MKTAYIAKQ', 'first protein'), ('P2', 'GGSW', '')]
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

from tfprot.data._files import read_lines
from tfprot.data.duplicates import check_duplicates_option, resolve_duplicates
from tfprot.data.records import Label, ProteinRecord, Source
from tfprot.data.sequences import clean_sequence
from tfprot.errors import DataFormatError

__all__ = ["FastaEntry", "iter_fasta", "read_fasta"]


@dataclass(frozen=True)
class FastaEntry:
    """One raw FASTA entry: header id and description, the body joined, and its header line."""

    id: str
    description: str
    body: str
    path: str
    line: int

    @property
    def where(self) -> str:
        return f"{self.path}, line {self.line}, id {self.id!r}"


def iter_fasta(path: str | os.PathLike, *, unique_ids: bool = True) -> Iterator[FastaEntry]:
    """Yield raw entries of a FASTA file in order, without validating the bodies.

    Bodies are the entry's lines joined with white space removed. Text before the first header,
    headers without an id and (with ``unique_ids``) a repeated id raise :class:`DataFormatError`;
    so does a file that is not UTF-8 text (see :func:`tfprot.data._files.read_lines`).
    """
    name = os.fspath(path)
    seen: dict[str, int] | None = {} if unique_ids else None
    header: tuple[str, str, int] | None = None
    body: list[str] = []
    for line_number, line in enumerate(read_lines(path), start=1):
        line = line.strip()
        if not line or line.startswith(";"):
            continue
        if line.startswith(">"):
            if header is not None:
                yield FastaEntry(header[0], header[1], "".join(body), name, header[2])
            header = _parse_header(line, name, line_number, seen)
            body = []
        elif header is None:
            raise DataFormatError(
                f"{name}, line {line_number}: sequence text before the first '>' header. "
                "Is this a FASTA file? Each entry starts with a line '>ID description'."
            )
        else:
            body.append("".join(line.split()))
    if header is not None:
        yield FastaEntry(header[0], header[1], "".join(body), name, header[2])


def _parse_header(
    line: str, path: str, line_number: int, seen: dict[str, int] | None
) -> tuple[str, str, int]:
    words = line[1:].split(maxsplit=1)
    if not words:
        raise DataFormatError(
            f"{path}, line {line_number}: header '>' without an id. Write '>ID' (and an optional "
            "description) on each header line."
        )
    record_id = words[0]
    if seen is None:
        return record_id, words[1].strip() if len(words) > 1 else "", line_number
    if record_id in seen:
        raise DataFormatError(
            f"{path}, line {line_number}: duplicate id {record_id!r} (first seen on line "
            f"{seen[record_id]}). Ids must be unique; rename or remove one of them."
        )
    seen[record_id] = line_number
    return record_id, words[1].strip() if len(words) > 1 else "", line_number


def read_fasta(
    path: str | os.PathLike, *, label: Label | None = None, duplicates: str = "error"
) -> list[ProteinRecord]:
    """Read a FASTA file (optionally ``.gz``) into validated records.

    Args:
        path: the FASTA file.
        label: a label to give every record (used for one-file-per-class folders).
        duplicates: an id repeated with a different sequence is an error (``'error'``), or keeps
            its ``'first'`` or ``'last'`` entry; exact repeats are kept once (and logged). See
            :func:`tfprot.data.duplicates.resolve_duplicates`.

    Returns:
        One :class:`ProteinRecord` per id, in file order, ``source`` set to file and line.

    Raises:
        DataFileNotFoundError: no such file.
        DataFormatError: not UTF-8 text, text before the first header, a header without id, ids
            repeated with different sequences, no entry at all.
        InvalidSequenceError: a body that is not a protein sequence (names file, line and id).
        OptionError: an unknown ``duplicates`` value.
    """
    check_duplicates_option(duplicates)
    return resolve_duplicates(fasta_records(path, label=label), duplicates)


def fasta_records(path: str | os.PathLike, *, label: Label | None = None) -> list[ProteinRecord]:
    """The records of a FASTA file as written, repeated ids included (for :func:`read_fasta`)."""
    records = [
        ProteinRecord(
            id=entry.id,
            sequence=clean_sequence(entry.body, where=entry.where),
            label=label,
            description=entry.description,
            source=Source(entry.path, line=entry.line),
        )
        for entry in iter_fasta(path, unique_ids=False)
    ]
    if not records:
        raise DataFormatError(f"{os.fspath(path)}: no FASTA entries ('>ID' lines) in this file.")
    return records
