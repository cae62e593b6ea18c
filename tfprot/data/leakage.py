"""The leakage report: how closely each test sequence is related to the training set.

A test protein with a 90%-identical relative in training is close to a memorised answer; a test
set full of them measures recall, not generalisation. For each test sequence the report gives
its highest identity to any training sequence (MMseqs2 ``easy-search`` at its default
sensitivity, no E-value limit, the alignment covering ``coverage`` of both sequences), and the shares of the test
set above 30, 50 and 90% identity. More than ``WARN_SHARE`` of the test set above
``WARN_IDENTITY`` gives a warning (logged, and in the report).

Identity is MMseqs2's: identical positions over the alignment length, gaps included. A test
sequence with no alignment reported counts as 0 (no relative found at that coverage); an exact
copy of a training sequence counts as 1 even when MMseqs2 does not align it (very short
sequences, below about 12 residues, often are not).

>>> report = LeakageReport(coverage=0.8, highest={"t1": 0.95, "t2": 0.4, "t3": 0.0},
...                        closest={"t1": "a", "t2": "b"}, train_size=10)
>>> report.shares
{0.3: 0.6666666666666666, 0.5: 0.3333333333333333, 0.9: 0.3333333333333333}
>>> report.warning
'33.3% of the test set (1 of 3) has a training relative above 50% identity: test scores measure recall of near-copies more than generalisation. A homology-aware split (tfprot split --method homology, or tfprot train --split homology) keeps relatives out of the test set.'
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tfprot.data.mmseqs import MMseqs, find_mmseqs
from tfprot.data.records import ProteinRecord

__all__ = ["THRESHOLDS", "WARN_IDENTITY", "WARN_SHARE", "LeakageReport", "leakage_report"]

logger = logging.getLogger(__name__)

THRESHOLDS = (0.3, 0.5, 0.9)
"""Identities whose exceedance shares the report gives."""
WARN_IDENTITY = 0.5
WARN_SHARE = 0.1
"""A warning when more than ``WARN_SHARE`` of the test set has a relative above
``WARN_IDENTITY``."""
SHORT = 20
"""Test sequences shorter than this are counted apart: MMseqs2 may not align them."""
SENSITIVITY = 5.7
"""MMseqs2's default sensitivity: on MultiLoc it finds 398 of the 400 test sequences with a
training relative above 30% that ``-s 7.5`` finds (all of those above 50%), in a third of the
time. The homology split's own search uses 7.5."""
LISTED = 10
"""The most related test sequences listed by :meth:`LeakageReport.as_dict`."""


@dataclass(frozen=True)
class LeakageReport:
    """Highest identity of each test sequence to the training set, and what it adds up to.

    Attributes:
        coverage: the alignment's least coverage of both sequences for a pair to count.
        highest: test id → its highest identity to a training sequence (0 when none found).
        closest: test id → the training id of that identity (absent when none found).
        train_size: the number of training sequences searched.
        short: test ids shorter than ``SHORT`` residues (MMseqs2 may miss their relatives).
        tool: the MMseqs2 that searched (e.g. ``'MMseqs2 14-7e284'``).
    """

    coverage: float
    highest: dict[str, float]
    closest: dict[str, str] = field(default_factory=dict)
    train_size: int = 0
    short: tuple[str, ...] = ()
    tool: str = ""

    @property
    def test_size(self) -> int:
        return len(self.highest)

    @property
    def counts(self) -> dict[float, int]:
        """Test sequences above each of ``THRESHOLDS``."""
        values = list(self.highest.values())
        return {t: sum(v > t for v in values) for t in THRESHOLDS}

    @property
    def shares(self) -> dict[float, float]:
        """Shares of the test set above each of ``THRESHOLDS``."""
        size = max(self.test_size, 1)
        return {t: n / size for t, n in self.counts.items()}

    @property
    def warning(self) -> str | None:
        """The warning when too much of the test set has close training relatives, else None."""
        count = sum(v > WARN_IDENTITY for v in self.highest.values())
        share = count / max(self.test_size, 1)
        if share <= WARN_SHARE:
            return None
        return (
            f"{share:.1%} of the test set ({count} of {self.test_size}) has a training relative "
            f"above {WARN_IDENTITY:.0%} identity: test scores measure recall of near-copies more "
            "than generalisation. A homology-aware split (tfprot split --method homology, or "
            "tfprot train --split homology) keeps relatives out of the test set."
        )

    def describe(self) -> str:
        """One line: ``'test vs train: 12.0% above 30% identity, 5.0% above 50%, ...'``."""
        parts = [
            f"{share:.1%} above {t:.0%}" + (" identity" if i == 0 else "")
            for i, (t, share) in enumerate(self.shares.items())
        ]
        line = (
            f"test vs train ({self.test_size} vs {self.train_size} sequences, alignments "
            f"covering {self.coverage:.0%} of both): " + ", ".join(parts)
        )
        if self.short:
            count = len(self.short)
            line += f"; {count} test sequence{'s' if count > 1 else ''} under {SHORT} residues"
            line += " (MMseqs2 may miss their relatives)"
        return line

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (for ``metrics.json``): shares, counts, the most related test
        sequences, the warning."""
        ranked = sorted(self.highest.items(), key=lambda item: (-item[1], item[0]))[:LISTED]
        return {
            "what": "per test sequence, its highest identity to any training sequence "
            "(MMseqs2: identical positions / alignment length)",
            "tool": self.tool,
            "coverage": self.coverage,
            "test_sequences": self.test_size,
            "train_sequences": self.train_size,
            "share_above": {f"{t:.0%}": round(s, 6) for t, s in self.shares.items()},
            "count_above": {f"{t:.0%}": n for t, n in self.counts.items()},
            "most_related": [
                {"test": name, "train": self.closest.get(name), "identity": round(value, 4)}
                for name, value in ranked
                if value > 0
            ],
            "short_test_sequences": len(self.short),
            "warning": self.warning,
        }


def leakage_report(
    train: Sequence[ProteinRecord],
    test: Sequence[ProteinRecord],
    *,
    coverage: float = 0.8,
    mmseqs: MMseqs | None = None,
) -> LeakageReport:
    """For each test record, its highest identity to any training record.

    Args:
        train, test: the records of the two splits.
        coverage: the share of both sequences an alignment must cover to count.
        mmseqs: the MMseqs2 to run (default: :func:`tfprot.data.mmseqs.find_mmseqs`).

    Raises:
        MissingDependencyError: MMseqs2 is not found.
    """
    mmseqs = mmseqs or find_mmseqs()
    sequences = [r.sequence for r in train] + [r.sequence for r in test]
    offset = len(train)
    hits = mmseqs.search(
        sequences,
        range(offset, len(sequences)),
        range(offset),
        min_identity=0.0,
        coverage=coverage,
        max_hits=300,
        sensitivity=SENSITIVITY,
    )
    highest = {r.id: 0.0 for r in test}
    closest: dict[str, str] = {}
    for q, t, value in zip(
        hits.query.tolist(), hits.target.tolist(), hits.identity.tolist(), strict=True
    ):
        name = test[q - offset].id
        if value > highest[name]:
            highest[name], closest[name] = value, train[t].id
    copies = {r.sequence: r.id for r in reversed(train)}
    for record in test:
        if record.sequence in copies:
            highest[record.id], closest[record.id] = 1.0, copies[record.sequence]
    report = LeakageReport(
        coverage=coverage,
        highest=highest,
        closest=closest,
        train_size=len(train),
        short=tuple(r.id for r in test if len(r) < SHORT),
        tool=f"MMseqs2 {mmseqs.version}",
    )
    logger.info("Leakage: %s.", report.describe())
    if report.warning:
        logger.warning("Leakage: %s", report.warning)
    return report
