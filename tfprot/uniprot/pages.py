"""Check one UniProt response body (a search page or a whole stream) before anything uses it.

A body is accepted whole or not at all: it must decode as UTF-8, end with a line break, and for
TSV start with the header of the requested fields and hold the same number of tab-separated
columns on every row; for FASTA start with ``>`` and hold only sequence letters between headers.
Anything else raises :class:`MalformedPageError`, which the client answers by fetching the page
again. Counting records here is what lets the client check them against ``x-total-results``.

>>> page = parse_body(b"Entry\\tSequence\\nP1\\tMKT\\nP2\\tGGSW\\n", "tsv", ("accession", "sequence"))
>>> page.header, page.count, page.rows
('Entry\\tSequence', 2, 'P1\\tMKT\\nP2\\tGGSW\\n')
>>> parse_body(b"Entry\\tSequence\\nP1\\tMKT\\nP2", "tsv", ("accession", "sequence"))
Traceback (most recent call last):
...
tfprot.uniprot.pages.MalformedPageError: the body does not end with a line break (cut off?)
>>> next_link('<https://rest.uniprot.org/uniprotkb/search?cursor=abc&size=500>; rel="next"')
'https://rest.uniprot.org/uniprotkb/search?cursor=abc&size=500'
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from tfprot.errors import DataFormatError
from tfprot.uniprot.fields import FIELD_COLUMNS

__all__ = [
    "FORMATS",
    "MalformedPageError",
    "Page",
    "gunzip",
    "next_link",
    "parse_body",
]

FORMATS = ("tsv", "fasta")

_LINK = re.compile(r"<([^>]+)>\s*;\s*rel\s*=\s*\"?next\"?", re.IGNORECASE)
_FASTA_BODY = re.compile(r"[A-Za-z*]+")
_GZIP_MAGIC = b"\x1f\x8b"


class MalformedPageError(DataFormatError):
    """A response body that is cut off or not what was asked for; the client fetches it again."""


@dataclass(frozen=True)
class Page:
    """One checked response body.

    Attributes:
        header: the TSV header line (no line break); ``None`` for FASTA or an empty TSV body.
        rows: the records' text, each line ending with a line break (TSV: without the header).
        count: number of records (TSV rows or FASTA entries).
    """

    header: str | None
    rows: str
    count: int


def next_link(link: str | None) -> str | None:
    """The URL of ``rel="next"`` in a ``Link`` header, or ``None`` on the last page."""
    if not link:
        return None
    match = _LINK.search(link)
    return match.group(1) if match else None


def gunzip(body: bytes) -> bytes:
    """Decompress a gzip body; a truncated or corrupt one raises :class:`MalformedPageError`.

    >>> import gzip
    >>> gunzip(gzip.compress(b"Entry\\n"))
    b'Entry\\n'
    >>> gunzip(gzip.compress(b"Entry\\tSequence\\n" * 50)[:-12])
    Traceback (most recent call last):
    ...
    tfprot.uniprot.pages.MalformedPageError: truncated or corrupt gzip data (...)
    """
    try:
        return gzip.decompress(body)
    except (EOFError, OSError, zlib.error) as error:
        raise MalformedPageError(f"truncated or corrupt gzip data ({error})") from error


def parse_body(
    body: bytes, format: str, fields: Sequence[str] | None = None, *, header: str | None = None
) -> Page:
    """Check a response body and count its records.

    Args:
        body: the bytes received (gzip is recognised by its magic number and decompressed).
        format: ``'tsv'`` or ``'fasta'``.
        fields: the requested return fields; a TSV header must have one column per field, and
            the known ones (:data:`FIELD_COLUMNS`) must carry their UniProt names.
        header: the header of earlier pages; this page's header must equal it.

    Raises:
        MalformedPageError: the body is cut off, not UTF-8, or not a page of the requested format.
    """
    if body.startswith(_GZIP_MAGIC):
        body = gunzip(body)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise MalformedPageError(f"the body is not UTF-8 text ({error})") from error
    if not text:
        return Page(header=header, rows="", count=0)
    if not text.endswith("\n"):
        raise MalformedPageError("the body does not end with a line break (cut off?)")
    if format == "fasta":
        return Page(header=None, rows=text, count=_count_fasta(text))
    return _parse_tsv(text, fields, header)


def _parse_tsv(text: str, fields: Sequence[str] | None, expected_header: str | None) -> Page:
    first, _, rows = text.partition("\n")
    columns = first.split("\t")
    if expected_header is not None and first != expected_header:
        raise MalformedPageError(
            f"the header {first[:80]!r} differs from the first page's {expected_header[:80]!r}"
        )
    if fields:
        if len(columns) != len(fields):
            raise MalformedPageError(
                f"the header {first[:80]!r} has {len(columns)} columns for {len(fields)} "
                f"requested fields {list(fields)}"
            )
        for column, name in zip(columns, fields, strict=True):
            known = FIELD_COLUMNS.get(name)
            if known is not None and column != known:
                raise MalformedPageError(
                    f"column {column[:40]!r} where field {name!r} should give {known!r}"
                )
    count = 0
    for number, line in enumerate(rows.split("\n")[:-1], start=2):
        if line.count("\t") != len(columns) - 1:
            raise MalformedPageError(
                f"line {number} has {line.count(chr(9)) + 1} columns, the header {len(columns)}"
            )
        count += 1
    return Page(header=first, rows=rows, count=count)


def _count_fasta(text: str) -> int:
    if not text.startswith(">"):
        raise MalformedPageError(f"a FASTA body must start with '>', got {text[:40]!r}")
    count = 0
    empty_entry: int | None = None  # line of a header with no sequence yet
    for number, line in enumerate(text.split("\n")[:-1], start=1):
        if line.startswith(">"):
            if empty_entry is not None:
                raise MalformedPageError(f"the entry on line {empty_entry} has no sequence")
            count += 1
            empty_entry = number
        elif line and not _FASTA_BODY.fullmatch(line):
            raise MalformedPageError(
                f"line {number} is neither a header nor sequence: {line[:40]!r}"
            )
        elif line:
            empty_entry = None
    if empty_entry is not None:
        raise MalformedPageError(f"the entry on line {empty_entry} has no sequence (cut off?)")
    return count
