"""Homology-aware splits: clusters placed whole, no relatives across splits (checked against
Biopython's pairwise alignment), moves and removals reported, deterministic for a seed.

The MMseqs2 tests need MMseqs2 (the ``mmseqs`` fixture: skipped without it, failed under
``TFPROT_REQUIRE_MMSEQS=1``); the placement and resolution tests do not.
"""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest
from planted import align, families, random_sequence

import tfprot
from tfprot.data import homology
from tfprot.data.homology import _join_identical, _resolve, place_clusters

MAX_IDENTITY = 0.3


# -- placing clusters (no MMseqs2) ------------------------------------------------------------


def test_clusters_are_placed_whole_near_the_requested_fractions_and_class_shares():
    rng = np.random.default_rng(5)
    sizes = [12, 9, 7, 5, 5, 4, 3, 3, 2, 2] + [1] * 148
    clusters, start = [], 0
    for size in sizes:
        clusters.append(list(range(start, start + size)))
        start += size
    groups = [str(rng.choice(["a", "a", "a", "b"])) for _ in range(start)]
    splits = place_clusters(clusters, groups, (0.8, 0.1, 0.1), seed=0)
    for cluster in clusters:
        assert len({splits[i] for i in cluster}) == 1  # whole
    counts = Counter(splits)
    assert counts == {"train": 160, "validation": 20, "test": 20}  # 200 × (0.8, 0.1, 0.1)
    for name in ("validation", "test"):
        members = [g for g, s in zip(groups, splits, strict=True) if s == name]
        share_a = members.count("a") / len(members)
        assert share_a == pytest.approx(groups.count("a") / len(groups), abs=0.05)


def test_placement_is_seeded_and_a_zero_fraction_split_stays_empty():
    clusters = [[i] for i in range(50)]
    groups = [None] * 50
    first = place_clusters(clusters, groups, (0.8, 0.2, 0.0), seed=3)
    assert first == place_clusters(clusters, groups, (0.8, 0.2, 0.0), seed=3)
    assert first != place_clusters(clusters, groups, (0.8, 0.2, 0.0), seed=4)
    assert Counter(first) == {"train": 40, "validation": 10}


def test_a_class_reaches_validation_or_test_only_after_training_has_it():
    """A class of one cluster goes to training: in validation or test only, no model could
    learn it (and ProteinDataset refuses labels that training lacks)."""
    clusters = [list(range(24))] + [[i] for i in range(24, 30)]  # training is full at once
    groups = ["a"] * 29 + ["rare"]
    for seed in range(10):
        assert place_clusters(clusters, groups, (0.8, 0.1, 0.1), seed=seed)[29] == "train"


def test_identical_sequences_join_one_cluster_whatever_mmseqs_said():
    sequences = ["MKTAYIAK", "GGSWRRQQ", "MKTAYIAK", "PPLLKKEE", "GGSWRRQQ"]
    assert _join_identical(sequences, [0, 1, 2, 3, 4]) == [0, 1, 0, 3, 1]


def test_violations_are_resolved_by_moves_first_then_removals_all_reported():
    """A hand-made graph. 2 (test) is related only to 0 (train): it moves to train. 4
    (validation) is related only to 3 (test): it moves to test. 3 (test) is related to 0 and 1
    (train) and to 4: its relatives sit in two splits, so it cannot move and is removed."""
    splits = ["train", "train", "test", "test", "validation", "test"]
    edges = {(2, 0): 0.5, (3, 0): 0.4, (3, 1): 0.35, (3, 4): 0.6}
    relatives: dict[int, dict[int, float]] = {}
    for (a, b), value in edges.items():
        relatives.setdefault(a, {})[b] = value
        relatives.setdefault(b, {})[a] = value
    for seed in range(5):  # the outcome does not depend on the tie-breaking order
        placed = list(splits)
        relocations, violations = _resolve(
            placed, relatives, searched={2, 3, 4, 5}, fractions=(0.8, 0.1, 0.1), seed=seed
        )
        assert violations == 4
        assert placed == ["train", "train", "train", "removed", "test", "test"]
        assert {(r.index, r.before, r.after) for r in relocations} == {
            (2, "test", "train"),
            (4, "validation", "test"),
            (3, "test", "removed"),
        }
        removed = next(r for r in relocations if r.after == "removed")
        assert dict(removed.relatives) == {0: 0.4, 1: 0.35}  # its relatives across splits then


def reference_resolve(splits, relatives, searched, allowed, rank):
    """The resolution rule written the plain way (every step re-sorts everything): the sequence
    with most relatives across splits (ties by rank) that can move moves; else the first is
    removed. The heap-based _resolve must make exactly the same steps."""
    splits = list(splits)

    def across(i):
        return [j for j in relatives.get(i, ()) if splits[j] not in ("removed", splits[i])]

    steps = []
    while True:
        order = sorted(
            (i for i in relatives if splits[i] != "removed" and across(i)),
            key=lambda i: (-len(across(i)), rank[i]),
        )
        if not order:
            return splits, steps
        step = None
        for i in order:
            places = {splits[j] for j in relatives[i] if splits[j] != "removed"}
            if i in searched and len(places) == 1 and places <= allowed:
                step = (i, places.pop())
                break
        step = step or (order[0], "removed")
        steps.append((step[0], splits[step[0]], step[1]))
        splits[step[0]] = step[1]


def test_resolution_matches_the_plain_rule_on_random_graphs():
    import numpy as np

    for trial in range(30):
        rng = np.random.default_rng(trial)
        n = 60
        splits = [str(rng.choice(["train"] * 8 + ["validation", "test"])) for _ in range(n)]
        searched = {i for i in range(n) if splits[i] != "train"}
        relatives: dict[int, dict[int, float]] = {}
        for _ in range(50):  # edges touch at least one searched sequence, as the search's do
            a = int(rng.choice(sorted(searched)))
            b = int(rng.integers(n))
            if a != b:
                value = float(rng.uniform(0.31, 1))
                relatives.setdefault(a, {})[b] = relatives.setdefault(b, {})[a] = value
        rank = np.random.default_rng(trial + 1).permutation(n).tolist()
        expected_splits, expected_steps = reference_resolve(
            splits, relatives, searched, {"train", "validation", "test"}, rank
        )
        placed = list(splits)
        relocations, _ = _resolve(placed, relatives, searched, (0.8, 0.1, 0.1), seed=trial)
        assert placed == expected_splits
        assert [(r.index, r.before, r.after) for r in relocations] == expected_steps
        for a, others in relatives.items():  # nothing crosses now
            for b in others:
                assert "removed" in (placed[a], placed[b]) or placed[a] == placed[b]


# -- with MMseqs2 -------------------------------------------------------------------------------

RATES = (0.1, 0.3, 0.5)  # identities to the base ≈ 0.9, 0.7, 0.5


def planted_records(count: int = 40, unrelated: int = 60, seed: int = 1):
    rows = families(seed, count=count, rates=RATES)
    rng = np.random.default_rng(seed + 100)
    rows += [
        (
            f"u{i}",
            random_sequence(rng, int(rng.integers(120, 260))),
            ("cytosol", "membrane")[i % 2],
            -1,
        )
        for i in range(unrelated)
    ]
    # identical short peptides: MMseqs2 may not align them; they must stay together anyway
    rows += [
        (f"short{i}{k}", "MKWVTFIS"[i:] + "GHL"[:i], "cytosol", -2 - i)
        for i in range(3)
        for k in "ab"
    ]
    records = [tfprot.ProteinRecord(id=i, sequence=s, label=label) for i, s, label, _ in rows]
    family = {i: f for i, _, _, f in rows}
    return records, family


@pytest.fixture(scope="module")
def planted():
    return planted_records()


@pytest.fixture(scope="module")
def homology_split(planted, mmseqs):
    records, _ = planted
    return tfprot.split_records(
        records, "homology", max_identity=MAX_IDENTITY, fractions=(0.7, 0.15, 0.15), seed=0
    )


def related_pairs_across(records, family):
    """Planted relatives (same family) in different splits."""
    by_family: dict[int, list] = {}
    for record in records:
        if family[record.id] >= 0:
            by_family.setdefault(family[record.id], []).append(record)
    return [
        (a, b)
        for members in by_family.values()
        for a, b in itertools.combinations(members, 2)
        if a.split != b.split
    ]


def test_planted_relatives_are_never_split_across_train_and_test(planted, homology_split):
    records, family = planted
    kept, _ = homology_split
    # the construction holds: every relative is > 40% identical to its base over most of it
    by_id = {r.id: r for r in records}
    for f in range(5):
        for k in range(len(RATES)):
            found = align(by_id[f"f{f}_base"].sequence, by_id[f"f{f}_r{k}"].sequence)
            assert found.identity > 0.4 and min(found.coverage) > 0.8
    # no kept pair of one family in different splits, unless Biopython finds them unrelated
    for a, b in related_pairs_across(kept, family):
        found = align(a.sequence, b.sequence)
        assert found.identity <= MAX_IDENTITY + 0.02 or min(found.coverage) < 0.8, (a.id, b.id)
    # the bases and their closest relatives always end up together
    where = {r.id: r.split for r in kept}
    for f in range(40):
        if f"f{f}_base" in where and f"f{f}_r0" in where:
            assert where[f"f{f}_base"] == where[f"f{f}_r0"]
    # identical short peptides stay together
    for i in range(3):
        assert where.get(f"short{i}a") == where.get(f"short{i}b")


def test_unrelated_pairs_across_splits_are_unrelated_for_biopython_too(homology_split, planted):
    """The check above covers only families; the random sequences are unrelated (a sample)."""
    kept, _ = homology_split
    _, family = planted
    rng = np.random.default_rng(0)
    train = [r for r in kept if r.split == "train" and family[r.id] != -2]
    test = [r for r in kept if r.split == "test" and family[r.id] != -2]
    for _ in range(60):
        a, b = train[rng.integers(len(train))], test[rng.integers(len(test))]
        found = align(a.sequence, b.sequence)
        assert found.identity <= MAX_IDENTITY or min(found.coverage) < 0.8, (a.id, b.id)


def test_the_report_accounts_for_every_record(planted, homology_split):
    records, _ = planted
    kept, report = homology_split
    assert report.method == "homology" and report.max_identity == MAX_IDENTITY
    removed = {r.id for r in report.removed}
    assert len(kept) + len(removed) == len(records)  # nothing dropped silently
    assert removed.isdisjoint(r.id for r in kept)
    where = {r.id: r.split for r in kept}
    for moved in report.moved:
        assert where[moved.id] == moved.after and moved.before != moved.after
        assert moved.relatives and all(v > MAX_IDENTITY for _, v in moved.relatives)
    assert sum(report.sizes.values()) == len(kept)
    assert report.fraction_gap < 0.06  # 0.7/0.15/0.15 asked
    for _, share, overall in report.label_gaps().values():
        assert abs(share - overall) < 0.1
    assert set(report.cluster_of) == {r.id for r in records}
    assert report.clusters == len(set(report.cluster_of.values()))
    # the leakage report of the split: nothing above the threshold
    assert report.leakage is not None and report.leakage.counts[0.3] == 0
    text = "\n".join(report.describe())
    assert "homology split" in text and f"{report.clusters:,} clusters" in text


def test_a_random_split_of_the_same_records_leaks(planted, mmseqs):
    """The planted set is a real test: a random split puts relatives across splits."""
    records, family = planted
    kept, report = tfprot.split_records(records, "random", seed=0)
    assert related_pairs_across(kept, family)
    assert report.leakage.shares[0.5] > 0.3
    assert report.leakage.warning and "homology" in report.leakage.warning


def test_the_same_seed_gives_the_same_split(mmseqs):
    records, _ = planted_records(count=12, unrelated=20, seed=7)
    first = tfprot.split_records(records, seed=3, leakage=False)
    again = tfprot.split_records(records, seed=3, leakage=False)
    other = tfprot.split_records(records, seed=4, leakage=False)
    assert first.records == again.records
    assert first.report.cluster_of == again.report.cluster_of
    assert first.report.moved == again.report.moved and first.report.removed == again.report.removed
    assert [r.split for r in first.records] != [r.split for r in other.records]


def test_linclust_clusters_then_the_search_still_keeps_the_guarantee(monkeypatch, mmseqs):
    """Large sets cluster with easy-linclust, which misses distant relatives; the pairwise
    search then moves or removes what crosses splits (here forced on a small set)."""
    monkeypatch.setattr(homology, "LINEAR_ABOVE", 0)
    records, family = planted_records(count=20, unrelated=10, seed=11)
    kept, report = tfprot.split_records(records, seed=0, leakage=False)
    assert report.clustering == "easy-linclust"
    for a, b in related_pairs_across(kept, family):
        found = align(a.sequence, b.sequence)
        assert found.identity <= MAX_IDENTITY + 0.02 or min(found.coverage) < 0.8, (a.id, b.id)
    assert len(kept) + len(report.removed) == len(records)
    assert report.violations >= len(report.moved) + len(report.removed) > 0
