"""Per-residue secondary structure from UniProt's ``ft_helix``, ``ft_strand`` and ``ft_turn``.

UniProt lists the secondary structure of the PDB entries of a protein as features with 1-based,
inclusive ranges, e.g. ``HELIX 5..12; /evidence="ECO:0007829|PDB:1ABC"; HELIX 20..25; ...``
(column "Helix"), ``STRAND 3..7; ...`` ("Beta strand"), ``TURN 13..15; ...`` ("Turn").
Residue ``i`` (1-based) of ``HELIX a..b`` is helix exactly when ``a <= i <= b``.

Rules (:class:`SecondaryStructure`):

- labels: ``H`` helix, ``E`` strand, ``C`` coil/other (the letters of FLIP / NetSurfP, so the
  records mix with ``flip_secondary_structure``); with ``turns='class'`` turns get ``T``, with
  ``turns='coil'`` (default, the DSSP 3-state reduction) they are coil.
- ``unannotated='coil'`` (the reference): residues in no feature are ``C``.
  ``unannotated='ignore'``: they are masked (label ``-``, mask 0, so -100 in training): only
  residues a structure covers count. Turns are annotated residues in both modes.
- overlaps: a residue in both a helix and a strand (different PDB entries disagree) is masked
  with ``overlap='ignore'`` (default); ``'helix'`` or ``'strand'`` lets that one win (the
  reference applies strands after helices, so ``'strand'`` reproduces it). Helices and strands
  always win over turns. Masked residues are counted in the summary.
- a row with no helix, strand or turn feature is dropped ("no secondary-structure features"):
  the reference keeps such rows with every label -100, where they only cost compute.
- a feature with an unknown end (``?``) drops the row; uncertain ends (``<1``, ``>120``) count as
  the position given. A range past the sequence end or reversed raises ``DataFormatError``.

>>> row = {"Entry": "P1", "Sequence": "MKTAYIAKQR",
...        "Helix": 'HELIX 2..5; /evidence="ECO:0007829|PDB:1ABC"',
...        "Beta strand": "STRAND 8..9; /evidence=\\"ECO:0007829|PDB:1ABC\\""}
>>> record = SecondaryStructure().label([row]).records[0]
>>> record.residue_labels
'CHHHHCCEEC'
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tfprot.errors import DataFormatError
from tfprot.uniprot.labelers import Drop, Labeler

__all__ = ["SecondaryStructure", "parse_features"]

_FEATURE = re.compile(r"\b(HELIX|STRAND|TURN)\s+([<>?]?\d*)(?:\.\.([<>?]?\d*))?")
_CODES = {"HELIX": "H", "STRAND": "E", "TURN": "T"}
_COLUMNS = {"ft_helix": "HELIX", "ft_strand": "STRAND", "ft_turn": "TURN"}
_IGNORED = "-"


def parse_features(text: str | None, where: str = "feature") -> list[tuple[str, int, int] | None]:
    """``(kind, start, end)`` of each feature (1-based, inclusive); ``None`` for an unknown end.

    >>> parse_features('HELIX 5..12; /evidence="ECO:0007829|PDB:1ABC"; HELIX <1..3; TURN 14')
    [('HELIX', 5, 12), ('HELIX', 1, 3), ('TURN', 14, 14)]
    >>> parse_features("STRAND 7..?")
    [None]
    """
    if not text or not text.strip():
        return []
    features: list[tuple[str, int, int] | None] = []
    for match in _FEATURE.finditer(text):
        kind, start, end = match.group(1), match.group(2), match.group(3)
        end = start if end is None else end
        if "?" in start or "?" in end:
            features.append(None)
            continue
        try:
            first, last = int(start.lstrip("<>")), int(end.lstrip("<>"))
        except ValueError:
            raise DataFormatError(
                f"{where}: cannot read the range of {match.group(0)!r}; expected e.g. "
                "'HELIX 5..12'."
            ) from None
        features.append((kind, first, last))
    if not features:
        raise DataFormatError(
            f"{where}: {text[:80]!r} holds no HELIX/STRAND/TURN feature; expected UniProt's "
            "format, e.g. 'HELIX 5..12; /evidence=\"...\"'."
        )
    return features


@dataclass(frozen=True)
class SecondaryStructure(Labeler):
    """Per-residue helix / strand / coil labels (task ``'token'``), with the rules above.

    Attributes:
        unannotated: ``'coil'`` (residues in no feature are ``C``) or ``'ignore'`` (masked).
        turns: ``'coil'`` (turns are ``C``) or ``'class'`` (their own label ``T``).
        overlap: a residue in a helix and a strand: ``'ignore'`` (masked), ``'helix'`` or
            ``'strand'`` (that one wins).

    >>> row = {"Entry": "P2", "Sequence": "MKTAYIAK", "Helix": "HELIX 1..4", "Beta strand": "",
    ...        "Turn": "TURN 5..6"}
    >>> record = SecondaryStructure(unannotated="ignore").label([row]).records[0]
    >>> record.residue_labels, record.mask
    ('HHHHCC--', (True, True, True, True, True, True, False, False))
    """

    unannotated: str = "coil"
    turns: str = "coil"
    overlap: str = "ignore"

    fields = ("accession", "sequence", "ft_helix", "ft_strand", "ft_turn")
    task = "token"

    def __post_init__(self) -> None:
        for name, allowed in (
            ("unannotated", ("coil", "ignore")),
            ("turns", ("coil", "class")),
            ("overlap", ("ignore", "helix", "strand")),
        ):
            if getattr(self, name) not in allowed:
                raise DataFormatError(f"{name}={getattr(self, name)!r}; expect one of {allowed}.")

    def _required(self) -> tuple[str, ...]:
        return ("sequence",)

    def _optional(self) -> tuple[str, ...]:
        return tuple(_COLUMNS)

    def _columns(self, row: Mapping[str, Any], where: str) -> dict[str, str]:
        columns = super()._columns(row, where)
        if not any(name in columns for name in _COLUMNS):
            raise DataFormatError(
                f"{where}: no column 'Helix', 'Beta strand' or 'Turn' (fields ft_helix, "
                f"ft_strand, ft_turn); the columns are {list(row)}. Fetch with "
                "fields=SecondaryStructure().fields."
            )
        return columns

    def _label_row(
        self,
        row: Mapping[str, Any],
        columns: dict[str, str],
        sequence: str,
        where: str,
        notes: Counter[str],
    ) -> Drop | tuple[Any, Any, Any]:
        length = len(sequence)
        helix = [False] * length
        strand = [False] * length
        turn = [False] * length
        marks = {"HELIX": helix, "STRAND": strand, "TURN": turn}
        count = 0
        for name in _COLUMNS:
            if name not in columns:
                continue
            text = row[columns[name]]
            for feature in parse_features(text, f"{where}, column {columns[name]!r}"):
                if feature is None:
                    return Drop("feature with an unknown position ('?')")
                kind, start, end = feature
                if not 1 <= start <= end <= length:
                    raise DataFormatError(
                        f"{where}: {kind} {start}..{end} does not fit a sequence of {length} "
                        "residues (ranges are 1-based and inclusive, start <= end). Check that "
                        "the features belong to this sequence (isoform?)."
                    )
                flags = marks[kind]
                for index in range(start - 1, end):
                    flags[index] = True
                count += 1
        if count == 0:
            return Drop("no secondary-structure features")
        labels, mask = [], []
        for is_helix, is_strand, is_turn in zip(helix, strand, turn, strict=True):
            if is_helix and is_strand:
                notes["residues in both a helix and a strand"] += 1
                if self.overlap == "ignore":
                    labels.append(_IGNORED)
                    mask.append(False)
                    continue
                labels.append("H" if self.overlap == "helix" else "E")
            elif is_helix:
                labels.append("H")
            elif is_strand:
                labels.append("E")
            elif is_turn:
                labels.append("T" if self.turns == "class" else "C")
            elif self.unannotated == "coil":
                labels.append("C")
            else:
                notes["unannotated residues ignored"] += 1
                labels.append(_IGNORED)
                mask.append(False)
                continue
            mask.append(True)
        return None, "".join(labels), (None if all(mask) else tuple(mask))

    def _class_counts(self, records) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for record in records:
            mask = record.mask or (True,) * len(record.sequence)
            counts.update(
                label for label, keep in zip(record.residue_labels, mask, strict=True) if keep
            )
        return {f"{name} residues": count for name, count in sorted(counts.items())}
