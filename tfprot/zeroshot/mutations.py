"""Mutations in the field's notation, checked against the wild type; mutation tables.

A substitution is ``A24G``: the wild-type residue, its 1-based position, the new residue. A
multi-mutant joins substitutions with ``:`` (ProteinGym's ``A24G:K30R``). ``WT`` or ``_wt``
(any case) is the wild type itself. Every substitution is checked against the wild type: the
residue at the position must be the one named.

A mutation table (``tfprot score --mutations``) is a CSV or TSV with a ``mutant`` column; a
ProteinGym DMS file also has ``mutated_sequence`` (checked to be the wild type with the
substitutions applied) and ``DMS_score`` (the measurement scores are compared with).

>>> parse_mutant("A2G:K4R", "MAEKL")
(Substitution(position=2, wildtype='A', mutant='G'), Substitution(position=4, wildtype='K', mutant='R'))
>>> apply_mutant("MAEKL", parse_mutant("A2G:K4R", "MAEKL"))
'MGERL'
>>> parse_mutant("E2G", "MAEKL", where="m.csv, line 3")
Traceback (most recent call last):
...
tfprot.errors.DataFormatError: m.csv, line 3: mutant 'E2G' says position 2 is E, but the wild type has A there ...
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tfprot.data.sequences import STANDARD_RESIDUES
from tfprot.errors import DataFormatError

__all__ = [
    "MutationTable",
    "Substitution",
    "apply_mutant",
    "parse_mutant",
    "read_mutation_table",
]

_SUBSTITUTION = re.compile(r"([A-Z])([1-9][0-9]*)([A-Z])")
_WILD_TYPE_NAMES = frozenset({"wt", "_wt", "wildtype", "wild_type"})
MUTANT_COLUMN = "mutant"
SEQUENCE_COLUMN = "mutated_sequence"
SCORE_COLUMN = "DMS_score"


@dataclass(frozen=True)
class Substitution:
    """One residue replaced: ``wildtype`` at 1-based ``position`` becomes ``mutant``."""

    position: int
    wildtype: str
    mutant: str

    def __str__(self) -> str:
        return f"{self.wildtype}{self.position}{self.mutant}"


def parse_mutant(text: str, wildtype: str, *, where: str = "mutant") -> tuple[Substitution, ...]:
    """The substitutions of ``text`` (``'A24G'``, ``'A24G:K30R'``, ``'WT'``), checked against
    ``wildtype``, in position order.

    Raises:
        DataFormatError: notation, position out of range, a wild-type residue that is not the
            wild type's, a repeated position or a new residue that is not one of the 20 standard
            amino acids; the message starts with ``where`` (the file and row).
    """
    cleaned = str(text).strip()
    if cleaned.lower() in _WILD_TYPE_NAMES:
        return ()
    if not cleaned:
        raise DataFormatError(f"{where}: the mutant is empty. Write it as A24G or A24G:K30R.")
    found: dict[int, Substitution] = {}
    for part in cleaned.split(":"):
        match = _SUBSTITUTION.fullmatch(part.strip())
        if match is None:
            raise DataFormatError(
                f"{where}: {part.strip()!r} in mutant {cleaned!r} is not a substitution such as "
                "A24G (wild-type residue, 1-based position, new residue; ':' between several)."
            )
        wt, position, mt = match.group(1), int(match.group(2)), match.group(3)
        if position > len(wildtype):
            raise DataFormatError(
                f"{where}: mutant {cleaned!r} names position {position}, but the wild type has "
                f"{len(wildtype)} residues (positions are 1-based)."
            )
        if wildtype[position - 1] != wt:
            raise DataFormatError(
                f"{where}: mutant {cleaned!r} says position {position} is {wt}, but the wild type "
                f"has {wildtype[position - 1]} there (positions are 1-based). Check the wild-type "
                "sequence and any numbering offset."
            )
        if mt not in STANDARD_RESIDUES:
            raise DataFormatError(
                f"{where}: mutant {cleaned!r} puts {mt!r} at position {position}; expect one of "
                f"the 20 standard amino acids {STANDARD_RESIDUES}."
            )
        if position in found:
            raise DataFormatError(f"{where}: mutant {cleaned!r} changes position {position} twice.")
        found[position] = Substitution(position, wt, mt)
    return tuple(found[position] for position in sorted(found))


def apply_mutant(wildtype: str, substitutions: Sequence[Substitution]) -> str:
    """The wild type with ``substitutions`` applied."""
    residues = list(wildtype)
    for substitution in substitutions:
        residues[substitution.position - 1] = substitution.mutant
    return "".join(residues)


@dataclass(frozen=True)
class MutationTable:
    """A mutation table as read: its columns and rows (text, in file order), each row's
    substitutions, and the measurements (``DMS_score``) when the table has them."""

    path: str
    columns: tuple[str, ...]
    rows: tuple[dict[str, str], ...]
    mutants: tuple[tuple[Substitution, ...], ...]
    measurements: tuple[float, ...] | None

    def __len__(self) -> int:
        return len(self.rows)


def read_mutation_table(path: str | os.PathLike, wildtype: str) -> MutationTable:
    """Read a CSV or TSV (by extension: ``.tsv``/``.tab`` are tab-separated) with a ``mutant``
    column, checking every row against ``wildtype``.

    Raises:
        DataFormatError: no ``mutant`` column, no rows, a bad mutant, a ``mutated_sequence`` that
            is not the wild type with the row's substitutions, or a ``DMS_score`` that is not a
            finite number; each names the file and line.
    """
    from tfprot.data._files import open_text

    path = Path(path)
    delimiter = "\t" if path.name.lower().removesuffix(".gz").endswith((".tsv", ".tab")) else ","
    with open_text(path) as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        columns = tuple(reader.fieldnames or ())
        if MUTANT_COLUMN not in columns:
            raise DataFormatError(
                f"{path}: no {MUTANT_COLUMN!r} column (found {list(columns)}). A mutation table "
                "needs a 'mutant' column such as A24G or A24G:K30R."
            )
        rows, mutants, scores = [], [], []
        for row in reader:
            where = f"{path}, line {reader.line_num}"
            if None in row:
                raise DataFormatError(f"{where}: more cells than the header's {len(columns)}.")
            substitutions = parse_mutant(row[MUTANT_COLUMN] or "", wildtype, where=where)
            given = (row.get(SEQUENCE_COLUMN) or "").strip().upper()
            if given and given != apply_mutant(wildtype, substitutions):
                raise DataFormatError(
                    f"{where}: {SEQUENCE_COLUMN} is not the wild type with mutant "
                    f"{row[MUTANT_COLUMN]!r} applied; check that the wild type is the one the "
                    "table was measured on."
                )
            if SCORE_COLUMN in columns:
                scores.append(_measurement(row.get(SCORE_COLUMN), where))
            rows.append(dict(row))
            mutants.append(substitutions)
    if not rows:
        raise DataFormatError(f"{path}: no mutants (the table has a header only).")
    return MutationTable(
        str(path),
        columns,
        tuple(rows),
        tuple(mutants),
        tuple(scores) if SCORE_COLUMN in columns else None,
    )


def _measurement(text: str | None, where: str) -> float:
    try:
        value = float(text or "")
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise DataFormatError(
            f"{where}: {SCORE_COLUMN} {text!r} is not a finite number. Fix or remove the row."
        )
    return value
