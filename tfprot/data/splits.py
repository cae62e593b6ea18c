"""Train/validation/test splits: the data's own, or a seeded (stratified) random one.

Rules, in order:

1. Every record carries a split (FLIP ``SET``/``VALIDATION``, a table's ``set`` column, a
   ``DatasetDict``): use them. If there is no validation split, ``validation_fraction`` of the
   training records (stratified) become one; ``validation_fraction=0`` keeps none.
2. No record carries a split: a seeded random split by ``fractions``, stratified by
   ``stratify_key`` (the class for classification) so every class keeps its share.
3. Some records carry a split and others do not: an error naming the first one without.

>>> from tfprot.data.memory import from_lists
>>> records = from_lists(["MKT"] * 10, labels=["a"] * 5 + ["b"] * 5)
>>> splits = split_records(records, fractions=(0.6, 0.2, 0.2), stratify_key=lambda r: r.label)
>>> {name: [r.label for r in part] for name, part in splits.items()}
{'train': ['a', 'a', 'a', 'b', 'b', 'b'], 'validation': ['a', 'b'], 'test': ['a', 'b']}
"""

from __future__ import annotations

import dataclasses
import logging
from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence

import numpy as np

from tfprot.data.records import SPLITS, ProteinRecord
from tfprot.errors import DataFormatError

__all__ = ["split_records"]

logger = logging.getLogger(__name__)


def split_records(
    records: Sequence[ProteinRecord],
    *,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    validation_fraction: float = 0.1,
    seed: int = 0,
    stratify_key: Callable[[ProteinRecord], Hashable] | None = None,
) -> dict[str, tuple[ProteinRecord, ...]]:
    """Split records into ``{'train': ..., 'validation': ..., 'test': ...}``.

    Args:
        records: the records; each returned record has its ``split`` field set.
        fractions: train/validation/test shares for a random split; must sum to 1.
        validation_fraction: share of training records moved to validation when the data has
            train and test splits but no validation split.
        seed: seed of the random split.
        stratify_key: groups to keep proportional (e.g. ``lambda r: r.label``); ``None``: none.

    Returns:
        The three splits, each in the records' input order.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise DataFormatError(
            f"fractions must be three shares (train, validation, test) summing to 1, got {fractions}."
        )
    if not 0 <= validation_fraction < 1:
        raise DataFormatError(f"validation_fraction must be in [0, 1), got {validation_fraction}.")
    if not records:
        raise DataFormatError("No records to split.")
    with_split = [r for r in records if r.split is not None]
    if with_split and len(with_split) != len(records):
        first = next(r for r in records if r.split is None)
        raise DataFormatError(
            f"{first.where}: has no split while {len(with_split)} other records have one. Give every "
            "record a split, or none to split at random."
        )
    if with_split:
        parts = {name: [r for r in records if r.split == name] for name in SPLITS}
        if not parts["validation"] and validation_fraction > 0 and parts["train"]:
            moved = _assign(
                parts["train"],
                (1 - validation_fraction, validation_fraction, 0.0),
                seed,
                stratify_key,
            )
            parts["train"], parts["validation"] = moved["train"], moved["validation"]
            logger.info(
                "The data has no validation split: %d of %d training records (seed %d) form one.",
                len(parts["validation"]),
                len(with_split) - len(parts["test"]),
                seed,
            )
        return {name: tuple(part) for name, part in parts.items()}
    parts = _assign(list(records), fractions, seed, stratify_key)
    logger.info(
        "Random split (seed %d%s): %s.",
        seed,
        ", stratified" if stratify_key else "",
        ", ".join(f"{name} {len(part)}" for name, part in parts.items()),
    )
    return {name: tuple(part) for name, part in parts.items()}


def _assign(
    records: list[ProteinRecord],
    fractions: tuple[float, float, float],
    seed: int,
    stratify_key: Callable[[ProteinRecord], Hashable] | None,
) -> dict[str, list[ProteinRecord]]:
    rng = np.random.default_rng(seed)
    groups: dict[Hashable, list[int]] = defaultdict(list)
    for index, record in enumerate(records):
        groups[stratify_key(record) if stratify_key else None].append(index)
    chosen: dict[int, str] = {}
    for key in sorted(groups, key=repr):
        members = groups[key]
        order = rng.permutation(len(members))
        counts = _counts(len(members), fractions)
        start = 0
        for name, count in zip(SPLITS, counts, strict=False):
            for position in order[start : start + count]:
                chosen[members[position]] = name
            start += count
    parts: dict[str, list[ProteinRecord]] = {name: [] for name in SPLITS}
    for index, record in enumerate(records):
        name = chosen[index]
        parts[name].append(dataclasses.replace(record, split=name))
    return parts


def _counts(size: int, fractions: tuple[float, float, float]) -> tuple[int, int, int]:
    """Split ``size`` items by ``fractions``; training keeps at least one item."""
    validation = round(size * fractions[1])
    test = round(size * fractions[2])
    while validation + test >= size and (validation or test):
        if test >= validation and test:
            test -= 1
        else:
            validation -= 1
    return size - validation - test, validation, test
