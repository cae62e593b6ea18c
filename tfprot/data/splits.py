"""Train/validation/test splits: the data's own, a seeded stratified random one, or a
homology-aware one, with a report of what was done.

:func:`split_records` is the public entry point (``tfprot.split_records``): it makes a split —
``method="random"`` (seeded, stratified by class) or ``method="homology"`` (no validation or test
sequence has a relative above ``max_identity`` in another split; :mod:`tfprot.data.homology`) —
and returns the records with their ``split`` set and a :class:`SplitReport`: sizes against the
requested fractions, class balance, the clusters, every sequence moved or removed and why, and
the leakage report (:mod:`tfprot.data.leakage`).

:func:`resolve_splits` is what :class:`tfprot.ProteinDataset` does with records, in this order:

1. Every record carries a split (FLIP ``SET``/``VALIDATION``, a table's ``set`` column, a
   ``DatasetDict``, a split file, :func:`split_records`): use them. If there is no validation
   split, ``validation_fraction`` of the training records (stratified) become one;
   ``validation_fraction=0`` keeps none.
2. No record carries a split: a seeded random split by ``fractions``, stratified by
   ``stratify_key`` (the class for classification) so every class keeps its share.
3. Some records carry a split and others do not: an error naming the first one without.

>>> from tfprot.data.memory import from_lists
>>> records = from_lists(["MKT"] * 10, labels=["a"] * 5 + ["b"] * 5)
>>> splits = resolve_splits(records, fractions=(0.6, 0.2, 0.2), stratify_key=lambda r: r.label)
>>> {name: [r.label for r in part] for name, part in splits.items()}
{'train': ['a', 'a', 'a', 'b', 'b', 'b'], 'validation': ['a', 'b'], 'test': ['a', 'b']}
>>> records, report = split_records(records, "random", fractions=(0.6, 0.2, 0.2), leakage=False)
>>> [r.split for r in records][:5], report.sizes
(['validation', 'test', 'train', 'train', 'train'], {'train': 6, 'validation': 2, 'test': 2})
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from tfprot.data.leakage import LeakageReport
from tfprot.data.records import SPLITS, ProteinRecord
from tfprot.errors import DataFormatError, MissingDependencyError, OptionError

__all__ = [
    "METHODS",
    "Relocated",
    "SplitReport",
    "SplitResult",
    "resolve_splits",
    "split_records",
]

logger = logging.getLogger(__name__)

METHODS = ("homology", "random")
"""The ways :func:`split_records` splits."""
REMOVED = "removed"
"""The ``set`` of a record a homology split left out (in split files)."""


@dataclass(frozen=True)
class Relocated:
    """A record moved to another split, or removed, to keep the homology guarantee.

    Attributes:
        id: the record's id.
        before: its split when its cluster was placed.
        after: where it went: a split, or ``'removed'``.
        relatives: ``(id, identity)`` of its relatives in other splits that made it go, closest
            first.
    """

    id: str
    before: str
    after: str
    relatives: tuple[tuple[str, float], ...] = ()

    def describe(self) -> str:
        """``'P12345 (test -> train: 62% identical to Q67890 and 2 more)'``."""
        reason = ""
        if self.relatives:
            closest, identity = self.relatives[0]
            more = len(self.relatives) - 1
            reason = f": {identity:.0%} identical to {closest}" + (
                f" and {more} more" if more else ""
            )
        return f"{self.id} ({self.before} -> {self.after}{reason})"


@dataclass(frozen=True)
class SplitReport:
    """What :func:`split_records` did, and how close it came to what was asked.

    Attributes:
        method: ``'homology'`` or ``'random'``.
        seed: the seed.
        fractions: the requested train/validation/test shares.
        sizes: records per split.
        label_counts: per split, records per class (``{}`` when not stratified).
        max_identity, coverage: the homology threshold and coverage (``None`` for random).
        clustering: the MMseqs2 command of the clusters, and ``tool`` its version.
        clusters: the number of clusters; ``largest_cluster`` its size.
        cluster_of: record id → its cluster's representative id (homology only).
        violations: pairs across splits above ``max_identity`` after placing clusters, all
            resolved by ``moved`` and ``removed``.
        moved, removed: the records moved to another split or left out, with the relatives
            that made them go.
        leakage: the leakage report of the split, or ``None`` (``leakage_note`` says why).
    """

    method: str
    seed: int
    fractions: tuple[float, float, float]
    sizes: dict[str, int]
    label_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    max_identity: float | None = None
    coverage: float | None = None
    clustering: str | None = None
    tool: str | None = None
    clusters: int | None = None
    largest_cluster: int | None = None
    cluster_of: dict[str, str] = field(default_factory=dict, repr=False)
    violations: int = 0
    moved: tuple[Relocated, ...] = ()
    removed: tuple[Relocated, ...] = ()
    leakage: LeakageReport | None = None
    leakage_note: str | None = None

    @property
    def achieved(self) -> dict[str, float]:
        """The share of the kept records in each split."""
        total = max(sum(self.sizes.values()), 1)
        return {name: self.sizes[name] / total for name in SPLITS}

    @property
    def fraction_gap(self) -> float:
        """The largest distance, in share, of a split's size from the request."""
        return max(abs(self.achieved[n] - f) for n, f in zip(SPLITS, self.fractions, strict=True))

    def label_gaps(self) -> dict[str, tuple[str, float, float]]:
        """Per non-empty split, its class furthest from the whole set's class shares:
        ``{split: (class, share in split, share overall)}`` (``{}`` when not stratified)."""
        if not self.label_counts:
            return {}
        overall: Counter = Counter()
        for counts in self.label_counts.values():
            overall.update(counts)
        total = sum(overall.values())
        gaps = {}
        for name in SPLITS:
            counts = self.label_counts.get(name, {})
            size = sum(counts.values())
            if not size:
                continue
            label = max(
                sorted(overall), key=lambda k: abs(counts.get(k, 0) / size - overall[k] / total)
            )
            gaps[name] = (label, counts.get(label, 0) / size, overall[label] / total)
        return gaps

    def describe(self) -> list[str]:
        """The report in a few lines, for people."""
        requested = "/".join(f"{f * 100:g}" for f in self.fractions)
        if self.method == "homology":
            lines = [
                f"homology split ({self.tool}, {self.clustering}, seed {self.seed}): no validation "
                f"or test sequence has a relative in another split above {self.max_identity:.0%} "
                f"identity over {self.coverage:.0%} coverage",
                f"{self.clusters:,} clusters placed whole (the largest: {self.largest_cluster:,} "
                "sequences)",
            ]
        else:
            lines = [
                f"random split (seed {self.seed}" + (", stratified)" if self.label_counts else ")")
            ]
        lines.append(
            "sizes: "
            + ", ".join(
                f"{name} {self.sizes[name]:,} ({self.achieved[name]:.1%})" for name in SPLITS
            )
            + f"; requested {requested}"
        )
        if self.method == "homology":
            pairs = "pair" if self.violations == 1 else "pairs"
            line = f"{self.violations:,} {pairs} across splits resolved: {len(self.moved):,} moved"
            if self.moved:
                line += " (" + ", ".join(r.describe() for r in self.moved[:3])
                line += ", ...)" if len(self.moved) > 3 else ")"
            line += f", {len(self.removed):,} removed"
            if self.removed:
                line += " (" + ", ".join(r.describe() for r in self.removed[:3])
                line += ", ...)" if len(self.removed) > 3 else ")"
            lines.append(line)
        gaps = self.label_gaps()
        if gaps:
            split, (label, share, overall) = max(
                gaps.items(), key=lambda item: abs(item[1][1] - item[1][2])
            )
            lines.append(
                f"class balance: at most {abs(share - overall) * 100:.1f} points from the whole "
                f"set ({split}: {label} {share:.1%} vs {overall:.1%})"
            )
        if self.leakage is not None:
            lines.append("leakage: " + self.leakage.describe())
            if self.leakage.warning:
                lines.append("warning: " + self.leakage.warning)
        elif self.leakage_note:
            lines.append(f"leakage: not measured ({self.leakage_note})")
        return lines

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: everything but the cluster of each record (see the split file)."""
        out: dict[str, Any] = {
            "method": self.method,
            "seed": self.seed,
            "fractions": {n: f for n, f in zip(SPLITS, self.fractions, strict=True)},
            "sizes": dict(self.sizes),
            "achieved": {n: round(v, 6) for n, v in self.achieved.items()},
        }
        if self.label_counts:
            out["label_counts"] = self.label_counts
            out["label_gaps"] = {
                split: {"class": label, "share": round(share, 6), "overall": round(overall, 6)}
                for split, (label, share, overall) in self.label_gaps().items()
            }
        if self.method == "homology":
            out.update(
                max_identity=self.max_identity,
                coverage=self.coverage,
                tool=self.tool,
                clustering=self.clustering,
                clusters=self.clusters,
                largest_cluster=self.largest_cluster,
                violations_resolved=self.violations,
                moved=[_relocated_dict(r) for r in self.moved],
                removed=[_relocated_dict(r) for r in self.removed],
            )
        if self.leakage is not None:
            out["leakage"] = self.leakage.as_dict()
        elif self.leakage_note:
            out["leakage"] = {"measured": False, "why": self.leakage_note}
        return out


class SplitResult(NamedTuple):
    """What :func:`split_records` returns: ``records, report = split_records(...)``."""

    records: list[ProteinRecord]
    """The kept records in input order, each with its ``split`` set."""
    report: SplitReport


def split_records(
    records: Iterable[ProteinRecord],
    method: str = "homology",
    *,
    max_identity: float = 0.3,
    coverage: float = 0.8,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    task: Any = None,
    separator: str = ";",
    leakage: bool | None = None,
    threads: int | None = None,
) -> SplitResult:
    """Split records into train, validation and test, and report how.

    Args:
        records: the records (ids must be unique); splits they carry are replaced.
        method: ``'homology'``: clusters placed whole, then no validation or test record has a
            relative above ``max_identity`` in another split (MMseqs2; see
            :mod:`tfprot.data.homology`); ``'random'``: a seeded random split.
        max_identity: homology: the largest identity allowed across splits (0-1).
        coverage: the share of both sequences an alignment must cover to count as related
            (homology and the leakage report).
        fractions: requested train/validation/test shares, summing to 1.
        seed: the same seed gives the same split of the same records.
        task: what stratification keeps in proportion: a task name or
            :class:`~tfprot.tasks.ProteinTask` (classes for classification, label sets for
            multi-label, nothing for regression); default: inferred from the labels, if any.
        separator: splits multi-label strings.
        leakage: measure the leakage report (needs MMseqs2); ``None``: always for homology, for
            random when MMseqs2 is found (else ``report.leakage_note`` says why not).
        threads: MMseqs2's threads (default: the CPUs this process may use).

    Returns:
        ``SplitResult(records, report)``: the kept records with ``split`` set, input order; the
        :class:`SplitReport` (removed records are listed there, never dropped silently).

    Raises:
        OptionError: an unknown method or a value out of range.
        DataFormatError: no records, or an id repeated.
        MissingDependencyError: MMseqs2 is needed and not found.
    """
    records = list(records)
    _check_options(method, max_identity, coverage, fractions)
    _check_records(records)
    if any(r.split is not None for r in records):
        logger.info("The records' own splits are replaced by a %s split.", method)
    key = _stratify_key(records, task, separator)
    groups = [key(r) if key else None for r in records]
    tool, missing = _find_tool(method, leakage, threads)
    report_fields: dict[str, Any] = {}
    if method == "homology":
        chosen, report_fields = _homology_splits(
            records, groups, fractions, max_identity, coverage, seed, tool
        )
    else:
        chosen = _random_splits(groups, fractions, seed)
    kept = [
        dataclasses.replace(r, split=name)
        for r, name in zip(records, chosen, strict=True)
        if name != REMOVED
    ]
    leakage_found, note = _measure_leakage(kept, tool, leakage, coverage, missing)
    report = SplitReport(
        method=method,
        seed=seed,
        fractions=tuple(fractions),
        sizes={name: sum(r.split == name for r in kept) for name in SPLITS},
        label_counts=_label_counts(kept, key),
        leakage=leakage_found,
        leakage_note=note,
        **report_fields,
    )
    logger.info("Split: %s", "; ".join(report.describe()[:3]))
    return SplitResult(kept, report)


def _check_records(records: list[ProteinRecord]) -> None:
    """Something to split, and ids a split file can name one by one."""
    if not records:
        raise DataFormatError("No records to split.")
    repeated = [name for name, n in Counter(r.id for r in records).items() if n > 1]
    if repeated:
        raise DataFormatError(
            f"{len(repeated)} ids appear more than once ({repeated[:5]}); a split is written by "
            "id, so ids must be unique (read the data with duplicates='first' or 'last')."
        )


def _find_tool(method: str, leakage: bool | None, threads: int | None) -> tuple[Any, str]:
    """MMseqs2 where the split or the leakage report needs it, and why it is missing when the
    report is only wanted if possible (``leakage=None`` with a random split)."""
    from tfprot.data.mmseqs import find_mmseqs

    if method == "homology" or leakage:
        return find_mmseqs(threads), ""
    if leakage is None:
        try:
            return find_mmseqs(threads), ""
        except MissingDependencyError as error:
            missing = " ".join(str(error).split())
            logger.warning("Leakage report skipped: %s", missing)
            return None, missing
    return None, ""


def _homology_splits(
    records: list[ProteinRecord],
    groups: list[Any],
    fractions: tuple[float, float, float],
    max_identity: float,
    coverage: float,
    seed: int,
    tool: Any,
) -> tuple[list[str], dict[str, Any]]:
    """Each record's split from :func:`tfprot.data.homology.partition`, and the report's
    homology fields (clusters, moved and removed records by id)."""
    from tfprot.data.homology import partition

    found = partition(
        [r.sequence for r in records],
        groups,
        fractions=fractions,
        max_identity=max_identity,
        coverage=coverage,
        seed=seed,
        mmseqs=tool,
    )
    members = Counter(found.representative)
    ids = [r.id for r in records]

    def relocated(r) -> Relocated:
        relatives = tuple((ids[j], round(v, 4)) for j, v in r.relatives)
        return Relocated(ids[r.index], r.before, r.after, relatives)

    fields = {
        "max_identity": max_identity,
        "coverage": coverage,
        "clustering": found.clustering,
        "tool": f"MMseqs2 {tool.version}",
        "clusters": len(members),
        "largest_cluster": max(members.values()),
        "cluster_of": {ids[i]: ids[rep] for i, rep in enumerate(found.representative)},
        "violations": found.violations,
        "moved": tuple(relocated(r) for r in found.moved),
        "removed": tuple(relocated(r) for r in found.removed),
    }
    for removed in fields["removed"]:
        logger.warning("Homology split: removed %s", removed.describe())
    return list(found.splits), fields


def _label_counts(kept: list[ProteinRecord], key: Any) -> dict[str, dict[str, int]]:
    """Each split's records per stratification key (none without a key)."""
    if key is None:
        return {}
    return {
        name: dict(sorted(Counter(str(key(r)) for r in kept if r.split == name).items()))
        for name in SPLITS
    }


def _measure_leakage(
    kept: list[ProteinRecord], tool: Any, leakage: bool | None, coverage: float, missing: str
) -> tuple[Any, str | None]:
    """The leakage report of test against train, or ``None`` and why it was not measured."""
    train = [r for r in kept if r.split == "train"]
    test = [r for r in kept if r.split == "test"]
    if leakage is False:
        return None, None
    if not (train and test):
        return None, "no training or no test records"
    if tool is None:
        return None, missing
    from tfprot.data.leakage import leakage_report

    return leakage_report(train, test, coverage=coverage, mmseqs=tool), None


def _check_options(
    method: str, max_identity: float, coverage: float, fractions: Sequence[float]
) -> None:
    if method not in METHODS:
        raise OptionError(f"Unknown split method {method!r}. Expect one of {METHODS}.")
    if not 0 < max_identity < 1:
        raise OptionError(
            f"max_identity must be between 0 and 1 (e.g. 0.3 for 30% identity), got {max_identity}."
        )
    if not 0 <= coverage <= 1:
        raise OptionError(f"coverage must be between 0 and 1 (e.g. 0.8), got {coverage}.")
    if (
        len(fractions) != 3
        or any(f < 0 for f in fractions)
        or abs(sum(fractions) - 1) > 1e-6
        or fractions[0] <= 0
    ):
        raise OptionError(
            "fractions must be three shares (train, validation, test) summing to 1, with some "
            f"training, got {tuple(fractions)}."
        )


def _stratify_key(
    records: Sequence[ProteinRecord], task: Any, separator: str
) -> Callable[[ProteinRecord], Hashable] | None:
    """The task's stratification key; the task inferred from the labels when not given."""
    from tfprot.data.labels import infer_task
    from tfprot.tasks import task_for

    if task is None:
        if not any(r.label is not None or r.residue_labels is not None for r in records):
            return None
        task = infer_task(records, separator)
    return task_for(task).stratify_key(separator)


def _relocated_dict(r: Relocated) -> dict[str, Any]:
    return {
        "id": r.id,
        "from": r.before,
        "to": r.after,
        "relatives": [{"id": name, "identity": value} for name, value in r.relatives[:5]],
        "relatives_count": len(r.relatives),
    }


def resolve_splits(
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
    groups = [stratify_key(record) if stratify_key else None for record in records]
    parts: dict[str, list[ProteinRecord]] = {name: [] for name in SPLITS}
    for record, name in zip(records, _random_splits(groups, fractions, seed), strict=True):
        parts[name].append(dataclasses.replace(record, split=name))
    return parts


def _random_splits(
    groups: Sequence[Hashable], fractions: tuple[float, float, float], seed: int
) -> list[str]:
    """A seeded random split name per position; each group is split by ``fractions``."""
    rng = np.random.default_rng(seed)
    members: dict[Hashable, list[int]] = defaultdict(list)
    for index, group in enumerate(groups):
        members[group].append(index)
    chosen = [""] * len(groups)
    for key in sorted(members, key=repr):
        indices = members[key]
        order = rng.permutation(len(indices))
        counts = _counts(len(indices), fractions)
        start = 0
        for name, count in zip(SPLITS, counts, strict=False):
            for position in order[start : start + count]:
                chosen[indices[position]] = name
            start += count
    return chosen


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
