"""Homology-aware partitions: no sequence has a relative above ``max_identity`` in another split.

The guarantee is pairwise, as GraphPart's (Teufel et al. 2023, NAR Genomics and
Bioinformatics 5:lqad088): after partitioning, an MMseqs2 search of every validation and test
sequence against the whole set finds no pair in different splits with identity above
``max_identity`` whose alignment covers ``coverage`` of both sequences. The steps:

1. **Cluster** with MMseqs2 (``easy-cluster``; ``easy-linclust`` above ``LINEAR_ABOVE``
   sequences) at ``max_identity`` and ``coverage``; identical sequences join one cluster whatever
   MMseqs2 says (it may not align very short ones).
2. **Place clusters whole**, largest first (ties in a seeded order), each into the split where it
   brings the per-label counts (stratification) and the split sizes closest to the requested
   fractions.
3. **Search** validation and test against everything (``easy-search``, sensitivity 7.5, no
   E-value limit): each pair above the threshold in different splits is a violation. Training
   sequences only ever gain members, so their edges to one another never matter, and the search
   sees every edge that could.
4. **Resolve** violations, never silently: a validation or test sequence whose relatives all sit
   in one other split moves there (no data lost); otherwise the sequence with most relatives in
   other splits is removed; repeat until none is left. Every move and removal is returned with
   the relatives that caused it.

What the guarantee means for very short sequences: MMseqs2 finds candidates through shared
k-mers (k = 5-7) and may report no alignment for sequences shorter than about 12 residues, even
identical ones. Identical sequences are kept together by tfprot itself; near-identical very short
peptides can end up in different splits unnoticed.

>>> from tfprot.data.homology import place_clusters
>>> place_clusters([[0, 1, 2], [3], [4], [5], [6], [7], [8], [9]], [None] * 10,
...                (0.8, 0.1, 0.1), seed=0)
['train', 'train', 'train', 'validation', 'train', 'train', 'train', 'train', 'train', 'test']
"""

from __future__ import annotations

import heapq
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np

from tfprot.data.mmseqs import MMseqs
from tfprot.data.records import SPLITS

__all__ = ["LINEAR_ABOVE", "Partition", "Relocation", "partition", "place_clusters"]

logger = logging.getLogger(__name__)

LINEAR_ABOVE = 50_000
"""Above this many sequences, clusters come from ``easy-linclust`` (linear time) rather than
``easy-cluster``; the pairwise search still enforces the guarantee."""

REMOVED = "removed"


@dataclass(frozen=True)
class Relocation:
    """A sequence moved to another split, or removed, to keep the guarantee.

    Attributes:
        index: the sequence's position in the input.
        before: its split after the cluster placement.
        after: the split it moved to, or ``'removed'``.
        relatives: ``(index, identity)`` of its relatives in other splits at that moment.
    """

    index: int
    before: str
    after: str
    relatives: tuple[tuple[int, float], ...]


@dataclass(frozen=True)
class Partition:
    """The outcome of :func:`partition`.

    Attributes:
        splits: per input sequence, ``'train'``, ``'validation'``, ``'test'`` or ``'removed'``.
        representative: per input sequence, the index of its cluster's representative.
        clustering: the MMseqs2 command that made the clusters.
        relocations: the moves and removals, in the order they were made.
        violations: pairs in different splits above the threshold before they were resolved.
    """

    splits: list[str]
    representative: list[int]
    clustering: str
    relocations: tuple[Relocation, ...] = field(default=())
    violations: int = 0

    @property
    def moved(self) -> tuple[Relocation, ...]:
        return tuple(r for r in self.relocations if r.after != REMOVED)

    @property
    def removed(self) -> tuple[Relocation, ...]:
        return tuple(r for r in self.relocations if r.after == REMOVED)


def partition(
    sequences: Sequence[str],
    groups: Sequence[Hashable],
    *,
    fractions: tuple[float, float, float],
    max_identity: float,
    coverage: float,
    seed: int,
    mmseqs: MMseqs,
) -> Partition:
    """Split ``sequences`` so that no two in different splits are related above ``max_identity``.

    Args:
        sequences: the amino-acid sequences.
        groups: per sequence, its stratification group (its class), or all ``None``.
        fractions: requested train/validation/test shares.
        max_identity: the largest identity allowed between splits (0-1).
        coverage: the share of both sequences an alignment must cover to count.
        seed: seed of the cluster order's ties.
        mmseqs: the MMseqs2 to run (:func:`tfprot.data.mmseqs.find_mmseqs`).
    """
    started = time.perf_counter()
    linear = len(sequences) > LINEAR_ABOVE
    representative = mmseqs.cluster(
        sequences, min_identity=max_identity, coverage=coverage, linear=linear
    )
    representative = _join_identical(sequences, representative)
    members: dict[int, list[int]] = defaultdict(list)
    for index, rep in enumerate(representative):
        members[rep].append(index)
    splits = place_clusters(list(members.values()), groups, fractions, seed=seed)
    logger.info(
        "Placed %d clusters whole: %s.",
        len(members),
        ", ".join(f"{name} {splits.count(name)}" for name in SPLITS),
    )
    queries = [i for i, name in enumerate(splits) if name != "train"]
    hits = mmseqs.search(
        sequences,
        queries,
        range(len(sequences)),
        min_identity=max(max_identity - 0.01, 0.0),
        coverage=coverage,
    )
    relatives = _relatives(hits, max_identity)
    _add_identical(sequences, queries, relatives)
    relocations, violations = _resolve(splits, relatives, set(queries), fractions, seed)
    logger.info(
        "Homology split: %d pairs across splits above %.0f%% identity resolved (%d moved, %d "
        "removed) in %.1f s.",
        violations,
        max_identity * 100,
        sum(r.after != REMOVED for r in relocations),
        sum(r.after == REMOVED for r in relocations),
        time.perf_counter() - started,
    )
    return Partition(
        splits=splits,
        representative=representative,
        clustering="easy-linclust" if linear else "easy-cluster",
        relocations=tuple(relocations),
        violations=violations,
    )


def place_clusters(
    clusters: Sequence[Sequence[int]],
    groups: Sequence[Hashable],
    fractions: tuple[float, float, float],
    *,
    seed: int,
) -> list[str]:
    """Each cluster's members go to one split; the split per sequence.

    Clusters are placed largest first (equal sizes in a seeded order), each into the split
    (among those with a non-zero fraction) where it most reduces the squared distance of the
    per-group counts and of the split sizes from their targets (``fraction × count``). A cluster
    holding a group that training does not have yet goes to training, so that no class is seen
    in validation or test only.
    """
    total = sum(len(c) for c in clusters)
    group_sizes = Counter(groups)
    allowed = [s for s, f in enumerate(fractions) if f > 0]
    target_size = [f * total for f in fractions]
    target = [{g: f * n for g, n in group_sizes.items()} for f in fractions]
    size = [0] * 3
    count: list[Counter] = [Counter() for _ in range(3)]
    rng = np.random.default_rng(seed)
    shuffled = [clusters[i] for i in rng.permutation(len(clusters))]
    ordered = sorted(shuffled, key=len, reverse=True)  # stable: ties keep the seeded order
    chosen = [""] * total
    for cluster in ordered:
        composition = Counter(groups[i] for i in cluster)
        m = len(cluster)

        def cost(s: int, composition=composition, m=m) -> float:
            change = sum(
                (count[s][g] + n - target[s][g]) ** 2 - (count[s][g] - target[s][g]) ** 2
                for g, n in composition.items()
            )
            return change + (size[s] + m - target_size[s]) ** 2 - (size[s] - target_size[s]) ** 2

        # a class reaches validation or test only once training has it (else it cannot be learned)
        places = [s for s in allowed if s == 0 or all(count[0][g] for g in composition)]
        best = min(places or allowed, key=cost)
        size[best] += m
        count[best].update(composition)
        for i in cluster:
            chosen[i] = SPLITS[best]
    return chosen


def _join_identical(sequences: Sequence[str], representative: list[int]) -> list[int]:
    """Representatives with identical sequences' clusters merged (union-find on clusters)."""
    parent = {rep: rep for rep in set(representative)}

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    first: dict[str, int] = {}
    for index, sequence in enumerate(sequences):
        other = first.setdefault(sequence, index)
        a, b = root(representative[index]), root(representative[other])
        if a != b:
            parent[max(a, b)] = min(a, b)
    return [root(rep) for rep in representative]


def _relatives(hits, max_identity: float) -> dict[int, dict[int, float]]:
    """Symmetric adjacency of pairs above ``max_identity`` (the higher identity of the two
    directions when both were aligned)."""
    relatives: dict[int, dict[int, float]] = defaultdict(dict)
    identity = hits.identity
    for q, t, value in zip(
        hits.query.tolist(), hits.target.tolist(), identity.tolist(), strict=True
    ):
        if value > max_identity:
            relatives[q][t] = max(value, relatives[q].get(t, 0.0))
            relatives[t][q] = max(value, relatives[t].get(q, 0.0))
    return relatives


def _add_identical(
    sequences: Sequence[str], queries: Sequence[int], relatives: dict[int, dict[int, float]]
) -> None:
    """Identical sequences are relatives (identity 1) even where MMseqs2 reports nothing."""
    where: dict[str, list[int]] = defaultdict(list)
    for index, sequence in enumerate(sequences):
        where[sequence].append(index)
    for q in queries:
        for other in where[sequences[q]]:
            if other != q:
                relatives[q][other] = relatives[other][q] = 1.0


def _resolve(
    splits: list[str],
    relatives: dict[int, dict[int, float]],
    searched: set[int],
    fractions: tuple[float, float, float],
    seed: int,
) -> tuple[list[Relocation], int]:
    """Move or remove sequences until no relatives sit in different splits (in place).

    Each step takes, among the sequences with relatives in other splits, the one with most of
    them (ties in a seeded order) that can move, i.e. a searched (validation or test) sequence
    whose relatives all sit in one other split; when none can, the first of them is removed.
    Two heaps keep the steps cheap; entries are checked against the current state when popped.
    """
    allowed = {name for name, f in zip(SPLITS, fractions, strict=True) if f > 0}
    rank = np.random.default_rng(seed + 1).permutation(len(splits)).tolist()

    def across(i: int) -> list[int]:
        return [j for j in relatives.get(i, ()) if splits[j] not in (REMOVED, splits[i])]

    def destination(i: int) -> str | None:
        """The split ``i`` can move to without breaking the guarantee, if any."""
        if i not in searched:  # a training sequence: its relatives in train are unknown
            return None
        places = {splits[j] for j in relatives[i] if splits[j] != REMOVED}
        if len(places) == 1:
            place = next(iter(places))
            if place != splits[i] and place in allowed:
                return place
        return None

    crossing = {i: len(across(i)) for i in relatives if splits[i] != REMOVED}
    violations = sum(crossing.values()) // 2
    everyone: list[tuple[int, int, int]] = []
    movers: list[tuple[int, int, int]] = []

    def push(i: int) -> None:
        if splits[i] != REMOVED and crossing[i]:
            entry = (-crossing[i], rank[i], i)
            heapq.heappush(everyone, entry)
            if destination(i) is not None:
                heapq.heappush(movers, entry)

    def current(heap: list[tuple[int, int, int]], moving: bool) -> int | None:
        while heap:
            count, _, i = heap[0]
            live = splits[i] != REMOVED and crossing[i] == -count and count < 0
            if live and (not moving or destination(i) is not None):
                return i
            heapq.heappop(heap)
        return None

    for i in crossing:
        push(i)
    relocations: list[Relocation] = []
    while True:
        i = current(movers, moving=True)
        after = destination(i) if i is not None else REMOVED
        if i is None:
            i = current(everyone, moving=False)
            if i is None:
                break
        others = tuple(sorted(((j, relatives[i][j]) for j in across(i)), key=lambda x: -x[1]))
        relocations.append(Relocation(i, splits[i], after, others))
        splits[i] = after
        for j in (i, *relatives[i]):
            crossing[j] = len(across(j)) if splits[j] != REMOVED else 0
            push(j)
    return relocations, violations
