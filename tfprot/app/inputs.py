"""What a request holds: the text box (one raw sequence, or FASTA with one or many records) or
an uploaded FASTA/CSV file, checked against the app's limits.

Bad input raises the same :class:`~tfprot.errors.TfprotError` the command line shows, naming
the record ("the text box, line 3, id 'p2'") or the uploaded file by its name (never the
server's temporary path).

>>> [(r.id, r.sequence) for r in parse_text(">p1 first\\nMKT\\nAY\\n\\n>p2\\nggsw*")]
[('p1', 'MKTAY'), ('p2', 'GGSW')]
>>> [(r.id, r.sequence) for r in parse_text(" mkt ay\\n iak ")]
[('seq0', 'MKTAYIAK')]
>>> parse_text(">p1\\nMK1T")
Traceback (most recent call last):
...
tfprot.errors.InvalidSequenceError: the text box, line 1, id 'p1': invalid character '1' ...
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from tfprot.app.settings import AppSettings
from tfprot.data.duplicates import resolve_duplicates
from tfprot.data.records import ProteinRecord, Source
from tfprot.data.sequences import clean_sequence
from tfprot.errors import DataFormatError, InvalidSequenceError, TfprotError

__all__ = [
    "TEXT_BOX",
    "UPLOAD_SUFFIXES",
    "check_limits",
    "parse_text",
    "read_request",
    "read_upload",
]

TEXT_BOX = "the text box"
"""How messages name the pasted text."""

UPLOAD_SUFFIXES = (".fasta", ".fa", ".faa", ".fas", ".csv", ".tsv", ".gz")
"""Upload types the page offers (what :func:`tfprot.data.read_records` recognises)."""

RAW_ID = "seq0"
"""The id of a raw (header-less) sequence, as ``model.predict_sequences`` names one."""


def parse_text(text: str) -> list[ProteinRecord]:
    """Records from the text box: FASTA (``>id description`` headers) or one raw sequence
    (white space and line breaks ignored).

    Raises:
        DataFormatError: nothing but white space, text before the first header, a header
            without an id, an id repeated with another sequence.
        InvalidSequenceError: a body that is not a protein sequence.
    """
    lines = text.splitlines()
    if not text.strip():
        raise DataFormatError(
            "No sequence given: paste a protein sequence or FASTA records, or upload a FASTA or "
            "CSV file."
        )
    if not text.lstrip().startswith(">"):
        if any(line.lstrip().startswith(">") for line in lines):
            first = next(i for i, line in enumerate(lines, 1) if line.lstrip().startswith(">"))
            raise DataFormatError(
                f"{TEXT_BOX}, line {first}: sequence text before the first '>' header. Paste one "
                "raw sequence, or FASTA records that each start with a line '>ID description'."
            )
        sequence = clean_sequence(text, where=TEXT_BOX)
        return [ProteinRecord(RAW_ID, sequence, source=Source(TEXT_BOX, line=1))]
    records = [_fasta_record(lines, start, end) for start, end in _entries(lines)]
    return resolve_duplicates(records, "error")


def _entries(lines: Sequence[str]) -> list[tuple[int, int]]:
    """``(header index, end index)`` of each FASTA entry in ``lines``."""
    starts = [i for i, line in enumerate(lines) if line.lstrip().startswith(">")]
    return list(zip(starts, [*starts[1:], len(lines)], strict=True))


def _fasta_record(lines: Sequence[str], start: int, end: int) -> ProteinRecord:
    words = lines[start].strip()[1:].split(maxsplit=1)
    if not words:
        raise DataFormatError(
            f"{TEXT_BOX}, line {start + 1}: header '>' without an id. Write '>ID' (and an "
            "optional description) on each header line."
        )
    identifier = words[0]
    body = "".join(lines[start + 1 : end])
    where = f"{TEXT_BOX}, line {start + 1}, id {identifier!r}"
    return ProteinRecord(
        id=identifier,
        sequence=clean_sequence(body, where=where),
        description=words[1].strip() if len(words) > 1 else "",
        source=Source(TEXT_BOX, line=start + 1),
    )


def read_upload(path: str | os.PathLike, name: str | None = None) -> list[ProteinRecord]:
    """Records of an uploaded FASTA or CSV/TSV file (``.gz`` too), through
    :func:`tfprot.data.read_records`; errors name the file as ``name`` (its name when uploaded)
    instead of the server's temporary path."""
    from tfprot.data import read_records

    path = Path(path)
    shown = name or path.name
    try:
        return read_records(path)
    except TfprotError as error:
        message = str(error).replace(str(path), shown)
        if message == str(error):
            raise
        raise type(error)(message) from None


def read_request(text: str | None, upload: str | os.PathLike | None) -> list[ProteinRecord]:
    """The records of one request: the text box or the uploaded file, not both."""
    text = text or ""
    if upload is not None and text.strip():
        raise DataFormatError(
            "Both the text box and a file hold sequences: clear the text box or remove the file."
        )
    if upload is not None:
        return read_upload(upload)
    return parse_text(text)


def check_limits(records: Sequence[ProteinRecord], settings: AppSettings) -> None:
    """Refuse a request over the app's limits, stating the limit.

    >>> check_limits([ProteinRecord("p1", "MKTAY")], AppSettings(max_length=4))
    Traceback (most recent call last):
    ...
    tfprot.errors.InvalidSequenceError: the text box...id 'p1': 5 residues, over this app's limit of 4 residues per sequence. ...
    """
    if len(records) > settings.max_sequences:
        raise DataFormatError(
            f"{len(records)} sequences in one request, over this app's limit of "
            f"{settings.max_sequences}. Send at most {settings.max_sequences} at a time, or run "
            "'tfprot predict' on the whole file."
        )
    for record in records:
        if len(record) > settings.max_length:
            where = record.where.replace("<memory>", TEXT_BOX)
            raise InvalidSequenceError(
                f"{where}: {len(record)} residues, over this app's limit of "
                f"{settings.max_length} residues per sequence. Send a shorter sequence (a "
                "domain), or run 'tfprot predict' for long ones."
            )
