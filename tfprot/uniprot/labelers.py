"""What every labeler shares: finding UniProt columns, counting kept and dropped rows.

A labeler turns UniProt TSV rows (from :func:`tfprot.uniprot.fetch`, or hand-written dicts keyed by
UniProt column names such as ``'Subcellular location [CC]'`` or by field names such as
``'cc_subcellular_location'``) into :class:`~tfprot.data.ProteinRecord` objects of one task, and
says how many rows it kept and why it dropped the others: nothing is dropped silently.

>>> from tfprot.uniprot import CytosolMembrane
>>> rows = [{"Entry": "P1", "Sequence": "MKTAY", "Subcellular location [CC]":
...          "SUBCELLULAR LOCATION: Cytoplasm, cytosol {ECO:0000269}."},
...         {"Entry": "P2", "Sequence": "GGSWL", "Subcellular location [CC]": ""}]
>>> labelled = CytosolMembrane().label(rows)
>>> [(r.id, r.label) for r in labelled.records]
[('P1', 'cytosolic')]
>>> print(labelled.summary)
kept 1 of 2 rows (cytosolic 1); dropped 1: 1 no subcellular location annotation (e.g. P2)
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tfprot.data.records import ProteinRecord, Source
from tfprot.data.sequences import clean_sequence
from tfprot.errors import DataFormatError
from tfprot.uniprot.fields import column_for, find_column
from tfprot.uniprot.result import UniProtResult

__all__ = ["Drop", "LabelSummary", "Labeler", "Labelled", "column_for"]

logger = logging.getLogger(__name__)

_EXAMPLES = 3


@dataclass(frozen=True)
class Drop:
    """A labeler's verdict that a row does not make a record, and why."""

    reason: str


@dataclass(frozen=True)
class LabelSummary:
    """How many rows a labeler kept and dropped, and why.

    Attributes:
        rows: rows seen.
        kept: records made.
        dropped: reason → rows dropped for it.
        examples: reason → the first few ids dropped for it.
        classes: label → records (for per-residue labels: residues).
        notes: other counts worth knowing (residues ignored for conflicts, unmapped terms...).
    """

    rows: int
    kept: int
    dropped: dict[str, int] = field(default_factory=dict)
    examples: dict[str, tuple[str, ...]] = field(default_factory=dict)
    classes: dict[str, int] = field(default_factory=dict)
    notes: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        classes = ", ".join(f"{name} {count:,}" for name, count in self.classes.items())
        text = f"kept {self.kept:,} of {self.rows:,} rows" + (f" ({classes})" if classes else "")
        dropped = sum(self.dropped.values())
        if dropped:
            reasons = ", ".join(
                f"{count:,} {reason} (e.g. {', '.join(self.examples.get(reason, ()))})"
                for reason, count in self.dropped.items()
            )
            text += f"; dropped {dropped:,}: {reasons}"
        if self.notes:
            text += "; " + ", ".join(f"{note}: {count:,}" for note, count in self.notes.items())
        return text


@dataclass(frozen=True)
class Labelled:
    """The records a labeler made, their task, and the summary."""

    records: list[ProteinRecord]
    task: str
    summary: LabelSummary

    def dataset(self, **options: Any):
        """A :class:`tfprot.ProteinDataset` of these records (``options`` go to it).

        Raises:
            DataFormatError: no row was kept.
        """
        from tfprot.data.dataset import ProteinDataset

        if not self.records:
            raise DataFormatError(f"No records to build a data set from: {self.summary}.")
        return ProteinDataset(self.records, task=self.task, **options)


class Labeler:
    """Base of the labelers: subclasses set ``fields``, ``task`` and ``_label_row``."""

    fields: tuple[str, ...] = ("accession", "sequence")
    task: str = "classification"

    def label(self, data: Any, *, source: str | None = None) -> Labelled:
        """Turn UniProt rows into records of this labeler's task.

        Args:
            data: a :class:`~tfprot.uniprot.UniProtResult` (TSV) or an iterable of row dicts.
            source: how to name the rows in messages; by default the query.

        Returns:
            The records (in row order), the task, and a :class:`LabelSummary` (also logged).

        Raises:
            DataFormatError: a needed column is missing, or a row's annotation is malformed (the
                message names the row and id).
            InvalidSequenceError: a sequence holds a character that is not an amino acid.
        """
        rows, name = _rows(data, source)
        records: list[ProteinRecord] = []
        dropped: Counter[str] = Counter()
        examples: dict[str, list[str]] = {}
        notes: Counter[str] = Counter()
        columns: dict[str, str] | None = None
        seen: dict[str, int] = {}
        for number, row in enumerate(rows, start=1):
            if columns is None:
                columns = self._columns(row, name)
            record_id = row[columns["id"]] if columns.get("id") else f"row{number}"
            source_at = Source(name, row=number)
            where = f"{source_at.describe()}, id {record_id!r}"
            if record_id in seen:
                raise DataFormatError(f"{where}: duplicate id (also row {seen[record_id]}).")
            seen[record_id] = number
            sequence = clean_sequence(row[columns["sequence"]], where=where)
            outcome = self._label_row(row, columns, sequence, where, notes)
            if isinstance(outcome, Drop):
                dropped[outcome.reason] += 1
                reasons = examples.setdefault(outcome.reason, [])
                if len(reasons) < _EXAMPLES:
                    reasons.append(record_id)
                continue
            label, residue_labels, mask = outcome
            records.append(
                ProteinRecord(
                    id=record_id,
                    sequence=sequence,
                    label=label,
                    residue_labels=residue_labels,
                    mask=mask,
                    source=source_at,
                )
            )
        summary = LabelSummary(
            rows=len(seen),
            kept=len(records),
            dropped=dict(dropped.most_common()),
            examples={reason: tuple(ids) for reason, ids in examples.items()},
            classes=self._class_counts(records),
            notes=dict(notes),
        )
        logger.info("%s: %s", name, summary)
        return Labelled(records, self.task, summary)

    # -- for subclasses ---------------------------------------------------------------------

    def _columns(self, row: Mapping[str, Any], where: str) -> dict[str, str]:
        """Field name → key in the rows; ``id`` is optional (accession, else entry name)."""
        columns = {name: column_for(row, name, where) for name in self._required()}
        optional = {"id": ("accession", "id"), **{name: (name,) for name in self._optional()}}
        for name, candidates in optional.items():
            column = find_column(row, candidates)
            if column is not None:
                columns[name] = column
        return columns

    def _required(self) -> Sequence[str]:
        return [name for name in self.fields if name not in ("accession", "id")]

    def _optional(self) -> Sequence[str]:
        return ()

    def _label_row(
        self,
        row: Mapping[str, Any],
        columns: dict[str, str],
        sequence: str,
        where: str,
        notes: Counter[str],
    ) -> Drop | tuple[Any, Any, Any]:
        raise NotImplementedError

    def _class_counts(self, records: list[ProteinRecord]) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for record in records:
            if isinstance(record.label, tuple):
                counts.update(record.label)
            elif record.label is not None:
                counts[str(record.label)] += 1
        return dict(sorted(counts.items()))


def _rows(data: Any, source: str | None) -> tuple[Iterable[Mapping[str, Any]], str]:
    if isinstance(data, UniProtResult):
        return data.rows(), source or data.describe()
    if isinstance(data, Mapping):
        raise DataFormatError("Expected rows (a list of dicts) or a UniProtResult, got one dict.")
    return data, source or "<UniProt rows>"
