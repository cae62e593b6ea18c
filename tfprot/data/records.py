"""The record type every reader returns, and where a record came from.

>>> record = ProteinRecord(id="P1", sequence="MKT", label="cytoplasmic",
...                        source=Source(path="cyto.fasta", line=1))
>>> record.where
"cyto.fasta, line 1, id 'P1'"
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tfprot.errors import DataFormatError

__all__ = ["SPLITS", "Label", "ProteinRecord", "Source"]

SPLITS = ("train", "validation", "test")
"""The split names tfprot uses, in this order."""

Label = str | float | tuple[str, ...]
"""A sequence-level label as read: a class name, a ';'-joined class list, or a number."""


@dataclass(frozen=True)
class Source:
    """Where a record was read: a file (or in-memory collection) and a 1-based line or row.

    ``label_column`` is the table column its label came from, for messages about the labels.
    """

    path: str | None = None
    line: int | None = None
    row: int | None = None
    label_column: str | None = None

    def describe(self) -> str:
        """Human-readable location, e.g. ``'train.csv, row 12 (line 13)'``.

        >>> Source("a.fasta", line=3).describe()
        'a.fasta, line 3'
        """
        parts = [self.path or "<memory>"]
        if self.row is not None:
            parts.append(f"row {self.row}" + (f" (line {self.line})" if self.line else ""))
        elif self.line is not None:
            parts.append(f"line {self.line}")
        return ", ".join(parts)


@dataclass(frozen=True)
class ProteinRecord:
    """One protein with its labels, as every tfprot reader returns it.

    Attributes:
        id: the sequence id (FASTA header word, id column, or a generated ``seq<N>``).
        sequence: the validated, upper-case amino-acid sequence.
        label: sequence-level label as read (class name, ``'A;B'`` for several, or a number);
            interpreted by :class:`tfprot.data.LabelEncoder` once the task is known.
        residue_labels: one label per residue (e.g. ``'CCHHHE'``), for token classification.
        mask: one flag per residue, ``True`` where the residue counts (resolved); ``False``
            residues are excluded from loss and metrics.
        split: ``'train'``, ``'validation'``, ``'test'`` or ``None`` when the data carries none.
        description: the rest of a FASTA header, if any.
        source: where the record was read, for error messages.
    """

    id: str
    sequence: str
    label: Label | None = None
    residue_labels: str | tuple[str, ...] | None = None
    mask: tuple[bool, ...] | None = None
    split: str | None = None
    description: str = ""
    source: Source | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.split is not None and self.split not in SPLITS:
            raise DataFormatError(
                f"{self.where}: unknown split {self.split!r}; expected one of {SPLITS}."
            )
        for name, values in (("residue labels", self.residue_labels), ("mask", self.mask)):
            if values is not None and len(values) != len(self.sequence):
                raise DataFormatError(
                    f"{self.where}: {len(values)} {name} for a sequence of {len(self.sequence)} "
                    f"residues. Each residue needs exactly one; check that the {name} belong to "
                    "this id."
                )

    @property
    def where(self) -> str:
        """The record's location and id, for error messages."""
        location = self.source.describe() if self.source else "<memory>"
        return f"{location}, id {self.id!r}"

    def __len__(self) -> int:
        return len(self.sequence)
