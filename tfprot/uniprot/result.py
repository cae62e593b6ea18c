"""One query's records as UniProt sent them (TSV or FASTA text), and where they came from.

>>> from tfprot.uniprot.request import UniProtRequest
>>> result = UniProtResult(UniProtRequest("x", ("accession", "sequence")),
...                        "Entry\\tSequence\\nP1\\tMKT\\n", count=1)
>>> result.header, result.rows()
(('Entry', 'Sequence'), [{'Entry': 'P1', 'Sequence': 'MKT'}])
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfprot.data.records import ProteinRecord, Source
from tfprot.data.sequences import clean_sequence
from tfprot.errors import DataFormatError
from tfprot.uniprot.fields import column_for, find_column
from tfprot.uniprot.request import UniProtRequest

__all__ = ["UniProtResult"]


@dataclass(frozen=True)
class UniProtResult:
    """The records of one query, as text in UniProt's format, with where they came from.

    Attributes:
        request: what was asked.
        text: the whole result (TSV with one header line, or FASTA).
        count: number of records.
        total: ``x-total-results`` as the server sent it (``None`` if it sent none).
        release: the UniProt release (``X-UniProt-Release``), if the server named it.
        release_date: ``X-UniProt-Release-Date``, if sent.
        from_cache: whether this came from the local cache rather than the network.
        path: the cached file, if the cache is on.
        fetched: when it was downloaded (ISO 8601, UTC).
    """

    request: UniProtRequest
    text: str
    count: int
    total: int | None = None
    release: str | None = None
    release_date: str | None = None
    from_cache: bool = False
    path: Path | None = None
    fetched: str | None = None

    @classmethod
    def from_meta(
        cls,
        request: UniProtRequest,
        text: str,
        meta: Mapping[str, Any],
        *,
        from_cache: bool,
        path: Path | None,
    ) -> UniProtResult:
        """The result described by ``meta`` (what the cache stores in ``meta.json``)."""
        return cls(
            request,
            text,
            count=meta["records"],
            total=meta.get("total"),
            release=meta.get("release"),
            release_date=meta.get("release_date"),
            from_cache=from_cache,
            path=path,
            fetched=meta.get("fetched"),
        )

    def __len__(self) -> int:
        return self.count

    @property
    def header(self) -> tuple[str, ...]:
        """TSV column names, as UniProt wrote them (``('Entry', 'Sequence', ...)``)."""
        if self.request.format != "tsv" or not self.text:
            return ()
        return tuple(self.text.partition("\n")[0].split("\t"))

    def rows(self) -> list[dict[str, str]]:
        """TSV rows as ``{column name: value}``, in order.

        Raises:
            DataFormatError: the result is FASTA, or a row's columns differ from the header's.
        """
        if self.request.format != "tsv":
            raise DataFormatError(f"{self.describe()}: rows() needs format='tsv'; use records().")
        header = self.header
        rows = []
        for number, line in enumerate(self.text.split("\n")[1:-1], start=2):
            values = line.split("\t")
            if len(values) != len(header):
                raise DataFormatError(
                    f"{self.describe()}, line {number}: {len(values)} columns, the header "
                    f"{len(header)}; download it again (refresh=True)."
                )
            rows.append(dict(zip(header, values, strict=True)))
        return rows

    def records(self) -> list[ProteinRecord]:
        """Unlabelled, validated records (id = accession), e.g. for prediction or embeddings.

        >>> from tfprot.uniprot.request import UniProtRequest
        >>> result = UniProtResult(UniProtRequest("x", format="fasta"),
        ...                        ">sp|P01308|INS_HUMAN Insulin OS=Homo sapiens\\nMALW\\nLLPL\\n", 1)
        >>> [(r.id, r.sequence, r.description) for r in result.records()]
        [('P01308', 'MALWLLPL', 'INS_HUMAN Insulin OS=Homo sapiens')]
        """
        if self.request.format == "fasta":
            return self._fasta_records()
        rows = self.rows()
        if not rows:
            return []
        sequence = column_for(rows[0], "sequence", self.describe())
        identifier = find_column(rows[0], ("accession", "id"))
        records = []
        for number, row in enumerate(rows, start=1):
            record_id = row[identifier] if identifier else f"row{number}"
            source = Source(self.describe(), row=number, line=number + 1)
            records.append(self._record(record_id, row[sequence], source))
        return records

    def describe(self) -> str:
        """The request, and the release when known (for messages)."""
        parts = [self.request.describe()]
        if self.release:
            parts.append(f"release {self.release}")
        return ", ".join(parts)

    def _record(
        self, record_id: str, sequence: str, source: Source, description: str = ""
    ) -> ProteinRecord:
        where = f"{source.describe()}, id {record_id!r}"
        return ProteinRecord(
            id=record_id,
            sequence=clean_sequence(sequence, where=where),
            description=description,
            source=source,
        )

    def _fasta_records(self) -> list[ProteinRecord]:
        records = []
        header: tuple[str, str, int] | None = None
        body: list[str] = []
        lines = self.text.split("\n")
        for number, line in enumerate([*lines, ">"], start=1):
            if not line.startswith(">"):
                body.append(line)
                continue
            if header is not None:
                record_id, description, line_number = header
                source = Source(self.describe(), line=line_number)
                records.append(self._record(record_id, "".join(body), source, description))
            if number <= len(lines):
                header = (*_fasta_id(line), number)
                body = []
        return records


def _fasta_id(line: str) -> tuple[str, str]:
    """(id, description) of a FASTA header; ``>sp|P01308|INS_HUMAN ...``: the accession."""
    word, _, description = line[1:].partition(" ")
    parts = word.split("|")
    if len(parts) >= 3:  # sp|P01308|INS_HUMAN: the accession, the entry name kept
        return parts[1], f"{parts[2]} {description}".strip()
    return word, description
