from collections import Counter

import pytest

import tfprot
from tfprot.data import from_lists, resolve_splits, split_records
from tfprot.errors import DataFormatError, OptionError


def labelled(n_a=50, n_b=30, n_c=3):
    labels = ["a"] * n_a + ["b"] * n_b + ["c"] * n_c
    return from_lists([("MKT" * (i % 5 + 1)) for i in range(len(labels))], labels)


def test_random_split_is_seeded_stratified_and_complete():
    records = labelled()
    splits = resolve_splits(records, seed=1, stratify_key=lambda r: r.label)
    again = resolve_splits(records, seed=1, stratify_key=lambda r: r.label)
    other = resolve_splits(records, seed=2, stratify_key=lambda r: r.label)
    assert splits == again and splits != other
    ids = [r.id for part in splits.values() for r in part]
    assert sorted(ids) == sorted(r.id for r in records)  # nothing lost, nothing doubled
    assert Counter(r.label for r in splits["train"]) == {"a": 40, "b": 24, "c": 3}
    assert Counter(r.label for r in splits["test"]) == {"a": 5, "b": 3}
    assert all(r.split == name for name, part in splits.items() for r in part)


def test_input_order_is_kept_within_splits():
    records = labelled()
    order = {r.id: i for i, r in enumerate(records)}
    for part in resolve_splits(records).values():
        positions = [order[r.id] for r in part]
        assert positions == sorted(positions)


def test_carried_splits_are_used_and_validation_carved_from_train():
    records = from_lists(["MKT"] * 20, ["a", "b"] * 10, splits=["train"] * 16 + ["test"] * 4)
    splits = resolve_splits(records, validation_fraction=0.25, stratify_key=lambda r: r.label)
    assert (len(splits["train"]), len(splits["validation"]), len(splits["test"])) == (12, 4, 4)
    kept = resolve_splits(records, validation_fraction=0)
    assert (len(kept["train"]), len(kept["validation"])) == (16, 0)


def test_mixed_split_information_is_an_error():
    records = from_lists(["MKT", "GGG"], ["a", "b"], splits=["train", None])
    with pytest.raises(
        DataFormatError, match="id 'seq1': has no split while 1 other records have one"
    ):
        resolve_splits(records)


def test_bad_fractions():
    with pytest.raises(DataFormatError, match="summing to 1"):
        resolve_splits(labelled(), fractions=(0.5, 0.2, 0.2))


# -- split_records: a split made on purpose, with its report -----------------------------------


def test_a_random_split_keeps_every_record_and_reports_sizes_and_classes():
    records = labelled()
    kept, report = split_records(records, "random", seed=1, leakage=False)
    assert sorted(r.id for r in kept) == sorted(r.id for r in records)
    assert [r.id for r in kept] == [r.id for r in records]  # input order
    assert report.sizes == {name: sum(r.split == name for r in kept) for name in report.sizes}
    assert report.label_counts["train"] == {"a": 40, "b": 24, "c": 3}  # stratified
    assert report.method == "random" and report.removed == () and report.leakage is None
    # the same records and seed as the data set's own random split
    assert {r.id: r.split for r in kept} == {
        r.id: r.split
        for part in resolve_splits(records, seed=1, stratify_key=lambda r: r.label).values()
        for r in part
    }


def test_split_records_replaces_carried_splits_and_needs_unique_ids():
    carried = from_lists(["MKT"] * 40, ["a", "b"] * 20, splits=["test"] * 40)
    kept, _ = split_records(carried, "random", leakage=False)
    assert {r.split for r in kept} == {"train", "validation", "test"}
    repeated = [tfprot.ProteinRecord(id="x", sequence=s, label="a") for s in ("MKT", "GGS")]
    with pytest.raises(DataFormatError, match="ids must be unique"):
        split_records(repeated, "random", leakage=False)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"method": "cluster"}, "Unknown split method 'cluster'. Expect one of"),
        ({"max_identity": 30}, "max_identity must be between 0 and 1 .e.g. 0.3"),
        ({"coverage": 1.5}, "coverage must be between 0 and 1"),
        ({"fractions": (0.0, 0.5, 0.5)}, "with some training"),
        ({"fractions": (0.8, 0.1)}, "three shares"),
    ],
)
def test_split_records_refuses_bad_options_by_name(options, message):
    with pytest.raises(OptionError, match=message):
        split_records(labelled(), **options)


def test_the_split_report_describes_itself():
    _, report = split_records(labelled(), "random", fractions=(0.6, 0.2, 0.2), leakage=False)
    lines = report.describe()
    assert lines[0] == "random split (seed 0, stratified)"
    assert lines[1].startswith("sizes: train 49 (59.0%), validation 17 (20.5%), test 17")
    assert lines[1].endswith("requested 60/20/20")
    assert report.as_dict()["sizes"] == report.sizes


def test_a_random_split_without_mmseqs_says_why_there_is_no_leakage_report(monkeypatch, tmp_path):
    monkeypatch.setenv("TFPROT_MMSEQS", str(tmp_path / "no-mmseqs"))
    _, report = split_records(labelled(), "random")
    assert report.leakage is None and "TFPROT_MMSEQS=" in report.leakage_note
    assert report.describe()[-1].startswith("leakage: not measured (TFPROT_MMSEQS=")
    assert report.as_dict()["leakage"]["measured"] is False
    with pytest.raises(tfprot.MissingDependencyError, match="TFPROT_MMSEQS="):
        split_records(labelled(), "random", leakage=True)
    with pytest.raises(tfprot.MissingDependencyError, match="TFPROT_MMSEQS="):
        split_records(labelled(), "homology")
