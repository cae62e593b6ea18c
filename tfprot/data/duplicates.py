"""Repeated ids in a data set: exact repeats collapse, conflicting ones need a choice.

Real files repeat ids: FLIP's ``bind/one_vs_many.fasta`` lists 46 of its 1,314 proteins twice, 13 of
them once as ``SET=train`` and once as ``SET=test``. A repeat that agrees in everything that trains
or scores (sequence, label, per-residue labels, mask, split) is collapsed to its first occurrence,
and the count is logged. Repeats that disagree are refused in one message that counts and lists
them, unless the caller chooses ``duplicates='first'`` or ``'last'`` (the occurrence kept, at its
place in the file, as ``pandas.DataFrame.drop_duplicates(keep=...)`` does).

>>> from tfprot.data.records import ProteinRecord, Source
>>> records = [ProteinRecord("a", "MKT", "x", source=Source("t.csv", line=2, row=1)),
...            ProteinRecord("b", "GGS", "y", source=Source("t.csv", line=3, row=2)),
...            ProteinRecord("a", "MKT", "z", source=Source("t.csv", line=4, row=3))]
>>> resolve_duplicates(records)
Traceback (most recent call last):
...
tfprot.errors.DataFormatError: t.csv: 1 duplicate id with different contents: 'a' (row 1 (line 2); row 3 (line 4): label differs). ...
>>> [(r.id, r.label) for r in resolve_duplicates(records, "last")]
[('b', 'y'), ('a', 'z')]
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

from tfprot.data.records import ProteinRecord
from tfprot.errors import DataFormatError, OptionError

__all__ = ["DUPLICATES", "check_duplicates_option", "resolve_duplicates"]

logger = logging.getLogger(__name__)

DUPLICATES = ("error", "first", "last")
"""What to do with an id repeated with different contents: refuse, or keep its first or last."""

_SHOWN = 5
"""Conflicting ids listed in the error; the rest are counted."""

_COMPARED = (
    ("sequence", "sequence"),
    ("label", "label"),
    ("residue_labels", "residue labels"),
    ("mask", "mask"),
    ("split", "split"),
)


def check_duplicates_option(duplicates: str) -> str:
    """``duplicates`` itself if it is one of :data:`DUPLICATES`; otherwise :class:`OptionError`.

    >>> check_duplicates_option("keep")
    Traceback (most recent call last):
    ...
    tfprot.errors.OptionError: Unknown duplicates='keep'. Expect one of ('error', 'first', 'last').
    """
    if duplicates not in DUPLICATES:
        raise OptionError(f"Unknown duplicates={duplicates!r}. Expect one of {DUPLICATES}.")
    return duplicates


def resolve_duplicates(
    records: Sequence[ProteinRecord],
    duplicates: str = "error",
    *,
    where: str | None = None,
    hint: str = "",
) -> list[ProteinRecord]:
    """Records with every id once.

    Args:
        records: records as read, in file order.
        duplicates: ``'error'`` refuses ids repeated with different contents; ``'first'`` or
            ``'last'`` keeps that occurrence of each repeated id. Exact repeats are collapsed to
            their first occurrence in every case (to the last with ``'last'``) and logged.
        where: the file or folder the records come from, for messages (default: their common
            file).
        hint: a sentence added to the error (e.g. what a repeat means in this format).

    Raises:
        OptionError: ``duplicates`` is not one of :data:`DUPLICATES`.
        DataFormatError: (``'error'``) the conflicting ids, counted, the first few listed with
            where each occurrence is and what differs.
    """
    check_duplicates_option(duplicates)
    positions: dict[str, list[int]] = {}
    for index, record in enumerate(records):
        positions.setdefault(record.id, []).append(index)
    repeated = {key: found for key, found in positions.items() if len(found) > 1}
    if not repeated:
        return list(records)
    conflicts = {
        key: found
        for key, found in repeated.items()
        if any(_differences(records[found[0]], records[i]) for i in found[1:])
    }
    if conflicts and duplicates == "error":
        raise DataFormatError(_conflict_message(records, repeated, conflicts, where, hint))
    keep = {found[-1] if duplicates == "last" else found[0] for found in repeated.values()}
    kept = [
        record
        for index, record in enumerate(records)
        if len(positions[record.id]) == 1 or index in keep
    ]
    place = where or _common_path(records) or "records"
    exact = len(repeated) - len(conflicts)
    if exact:
        logger.info(
            "%s: %s repeated with the same sequence, labels and split; each is kept once (%s "
            "dropped).",
            place,
            _count(exact, "id"),
            _count(
                sum(len(repeated[k]) - 1 for k in repeated if k not in conflicts), "exact repeat"
            ),
        )
    if conflicts:
        logger.warning(
            "%s: %s repeated with different contents; kept the %s occurrence of each "
            "(duplicates=%r), dropped %s: %s.",
            place,
            _count(len(conflicts), "id"),
            duplicates,
            duplicates,
            _count(sum(len(found) - 1 for found in conflicts.values()), "record"),
            ", ".join(repr(key) for key in list(conflicts)[:_SHOWN])
            + (", ..." if len(conflicts) > _SHOWN else ""),
        )
    return kept


def _differences(first: ProteinRecord, other: ProteinRecord) -> list[str]:
    return [name for field, name in _COMPARED if getattr(first, field) != getattr(other, field)]


def _common_path(records: Sequence[ProteinRecord]) -> str | None:
    paths = {record.source.path if record.source else None for record in records}
    return paths.pop() if len(paths) == 1 else None


def _places(records: list[ProteinRecord], place: str | None) -> str:
    """``'lines 3 and 90'``, or each record's location relative to ``place`` joined by ``'; '``."""
    located = []
    for record in records:
        where = record.source.describe() if record.source else "<memory>"
        if place and where.startswith((f"{place}, ", f"{place}/", f"{place}{os.sep}")):
            where = where[len(place) + 1 :].lstrip(" ")
        located.append(where)
    if all(where.startswith("line ") and where[5:].isdigit() for where in located):
        numbers = [where[5:] for where in located]
        return "lines " + ", ".join(numbers[:-1]) + " and " + numbers[-1]
    return "; ".join(located)


def _conflict_message(
    records: Sequence[ProteinRecord],
    repeated: dict[str, list[int]],
    conflicts: dict[str, list[int]],
    where: str | None,
    hint: str,
) -> str:
    place = where or _common_path(records)
    order = [name for _, name in _COMPARED]
    shown = []
    for key, found in list(conflicts.items())[:_SHOWN]:
        differ = sorted(
            {name for i in found[1:] for name in _differences(records[found[0]], records[i])},
            key=order.index,
        )
        places = _places([records[i] for i in found], place)
        shown.append(f"{key!r} ({places}: {' and '.join(differ)} {_differ(differ)})")
    more = f" and {len(conflicts) - _SHOWN} more" if len(conflicts) > _SHOWN else ""
    exact = len(repeated) - len(conflicts)
    count = _count(len(conflicts), "duplicate id")
    return (
        f"{place or 'the records'}: {count} with different contents: {'; '.join(shown)}{more}."
        + (
            f" ({exact} other id{'s repeat' if exact != 1 else ' repeats'} exactly; kept once.)"
            if exact
            else ""
        )
        + (f" {hint}" if hint else "")
        + " Fix the data, or choose which occurrence to keep: duplicates='first' or 'last' "
        "(--duplicates first|last on the command line)."
    )


def _count(number: int, noun: str) -> str:
    """>>> _count(1, "id"), _count(2, "id")
    ('1 id', '2 ids')
    """
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _differ(names: list[str]) -> str:
    return "differ" if len(names) > 1 else "differs"
