from collections import Counter

import pytest

from tfprot.data import from_lists, split_records
from tfprot.errors import DataFormatError


def labelled(n_a=50, n_b=30, n_c=3):
    labels = ["a"] * n_a + ["b"] * n_b + ["c"] * n_c
    return from_lists([("MKT" * (i % 5 + 1)) for i in range(len(labels))], labels)


def test_random_split_is_seeded_stratified_and_complete():
    records = labelled()
    splits = split_records(records, seed=1, stratify_key=lambda r: r.label)
    again = split_records(records, seed=1, stratify_key=lambda r: r.label)
    other = split_records(records, seed=2, stratify_key=lambda r: r.label)
    assert splits == again and splits != other
    ids = [r.id for part in splits.values() for r in part]
    assert sorted(ids) == sorted(r.id for r in records)  # nothing lost, nothing doubled
    assert Counter(r.label for r in splits["train"]) == {"a": 40, "b": 24, "c": 3}
    assert Counter(r.label for r in splits["test"]) == {"a": 5, "b": 3}
    assert all(r.split == name for name, part in splits.items() for r in part)


def test_input_order_is_kept_within_splits():
    records = labelled()
    order = {r.id: i for i, r in enumerate(records)}
    for part in split_records(records).values():
        positions = [order[r.id] for r in part]
        assert positions == sorted(positions)


def test_carried_splits_are_used_and_validation_carved_from_train():
    records = from_lists(["MKT"] * 20, ["a", "b"] * 10, splits=["train"] * 16 + ["test"] * 4)
    splits = split_records(records, validation_fraction=0.25, stratify_key=lambda r: r.label)
    assert (len(splits["train"]), len(splits["validation"]), len(splits["test"])) == (12, 4, 4)
    kept = split_records(records, validation_fraction=0)
    assert (len(kept["train"]), len(kept["validation"])) == (16, 0)


def test_mixed_split_information_is_an_error():
    records = from_lists(["MKT", "GGG"], ["a", "b"], splits=["train", None])
    with pytest.raises(
        DataFormatError, match="id 'seq1': has no split while 1 other records have one"
    ):
        split_records(records)


def test_bad_fractions():
    with pytest.raises(DataFormatError, match="summing to 1"):
        split_records(labelled(), fractions=(0.5, 0.2, 0.2))
