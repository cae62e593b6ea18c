"""The leakage report: each test sequence's highest identity to the training set, checked
against Biopython's pairwise alignment with MMseqs2's scoring and identity definition.

Identity is defined as MMseqs2 defines it (identical columns over alignment columns, gaps
included, of a local alignment with BLOSUM62 and gap costs 11 + k). The two aligners differ in
small ways (MMseqs2 corrects scores for compositional bias), so single alignments may differ a
little; the agreement asked for is 0.03 of identity per pair.
"""

from __future__ import annotations

import numpy as np
import pytest
from planted import align, mutate, random_sequence

import tfprot
from tfprot.data.leakage import LeakageReport, leakage_report

TEST_RATES = (0.03, 0.3, 0.6)  # identities to a training base ≈ 0.97, 0.7, 0.4: far from
# the report's thresholds (0.3, 0.5, 0.9), so that no pair sits on one
PLANTED = TEST_RATES * 7


@pytest.fixture(scope="module")
def planted_sets():
    rng = np.random.default_rng(21)
    bases = [random_sequence(rng, int(rng.integers(150, 300))) for _ in range(24)]
    train = [tfprot.ProteinRecord(id=f"b{i}", sequence=s) for i, s in enumerate(bases)]
    train += [
        tfprot.ProteinRecord(id=f"t_other{i}", sequence=random_sequence(rng, 200))
        for i in range(20)
    ]
    train.append(tfprot.ProteinRecord(id="t_short", sequence="MKWVTFIS"))
    test = [
        tfprot.ProteinRecord(id=f"q{i}_{rate}", sequence=mutate(rng, bases[i], rate))
        for i, rate in enumerate(PLANTED)
    ]
    test += [
        tfprot.ProteinRecord(id=f"q_unrelated{i}", sequence=random_sequence(rng, 180))
        for i in range(8)
    ]
    test.append(tfprot.ProteinRecord(id="q_short", sequence="MKWVTFIS"))  # a copy, 8 residues
    return train, test


@pytest.fixture(scope="module")
def report(planted_sets, mmseqs):
    train, test = planted_sets
    return leakage_report(train, test, coverage=0.8, mmseqs=mmseqs)


def test_identities_agree_with_biopython(planted_sets, report):
    train, test = planted_sets
    by_id = {r.id: r for r in train}
    compared = 0
    for record in test:
        closest = report.closest.get(record.id)
        if closest is None or record.id == "q_short":
            continue
        reference = align(record.sequence, by_id[closest].sequence)
        assert report.highest[record.id] == pytest.approx(reference.identity, abs=0.03), record.id
        compared += 1
    assert compared == len(PLANTED)  # every planted relative was found


def test_each_planted_relative_is_matched_to_its_base(report):
    for i, rate in enumerate(PLANTED):
        assert report.closest[f"q{i}_{rate}"] == f"b{i}"
        assert report.highest[f"q{i}_{rate}"] == pytest.approx(1 - rate, abs=0.08)


def test_unrelated_sequences_have_no_close_relative(report):
    for i in range(8):
        assert report.highest[f"q_unrelated{i}"] < 0.3


def test_an_exact_copy_counts_even_when_too_short_for_mmseqs(report):
    assert report.highest["q_short"] == 1.0 and report.closest["q_short"] == "t_short"
    assert report.short == ("q_short",)


def test_shares_and_warning_follow_the_identities(planted_sets, report):
    train, test = planted_sets
    bases = {r.id: r.sequence for r in train}
    # by Biopython: each planted relative against its base; the short copy; 8 unrelated
    identities = [
        align(record.sequence, bases[f"b{i}"]).identity
        for i, record in enumerate(test[: len(PLANTED)])
    ]
    identities += [1.0] + [0.0] * 8
    expected = {t: sum(v > t for v in identities) for t in (0.3, 0.5, 0.9)}
    assert report.counts == expected
    assert report.test_size == len(test) == 30
    assert report.shares[0.5] == pytest.approx(expected[0.5] / 30)
    assert report.warning.startswith(f"{expected[0.5] / 30:.1%} of the test set")
    summary = report.as_dict()
    assert summary["count_above"] == {f"{t:.0%}": n for t, n in expected.items()}
    assert summary["most_related"][0]["identity"] == 1.0


def test_no_warning_for_a_test_set_without_relatives(planted_sets, mmseqs):
    train, test = planted_sets
    unrelated = [r for r in test if r.id.startswith("q_unrelated")]
    clean = leakage_report(train, unrelated, mmseqs=mmseqs)
    assert clean.counts == {0.3: 0, 0.5: 0, 0.9: 0} and clean.warning is None


def test_report_arithmetic_by_hand():
    report = LeakageReport(
        coverage=0.8,
        highest={"a": 0.95, "b": 0.5, "c": 0.51, "d": 0.0, "e": 0.31},
        closest={"a": "x", "b": "y", "c": "z", "e": "w"},
        train_size=7,
    )
    assert report.counts == {0.3: 4, 0.5: 2, 0.9: 1}  # "above" is strict: 0.5 is not above 50%
    assert report.shares == {0.3: 0.8, 0.5: 0.4, 0.9: 0.2}
    assert report.warning.startswith("40.0% of the test set (2 of 5)")
    assert "test vs train (5 vs 7 sequences" in report.describe()
    listed = report.as_dict()["most_related"]
    assert [row["test"] for row in listed] == ["a", "c", "b", "e"]  # d has no relative


def test_missing_mmseqs_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("TFPROT_MMSEQS", str(tmp_path / "no-such-mmseqs"))
    record = tfprot.ProteinRecord(id="a", sequence="MKTAYIAKQR")
    with pytest.raises(tfprot.MissingDependencyError, match="TFPROT_MMSEQS=.*no-such-mmseqs"):
        leakage_report([record], [record])
