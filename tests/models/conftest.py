"""Fixtures for the model tests: small real data sets and a clean Keras precision policy.

Real data comes from ``../shared/data`` (see ``tests/conftest.py``); each fixture keeps only short
sequences, a few dozen per split, so that a ``fit`` on the tiny preset takes seconds on 2 cores.
"""

from __future__ import annotations

import pytest

import tfprot

SHORT = 200
"""Longest sequence kept in the small data sets (residues)."""


def _short(records, limit: int, per_split: dict[str, int]):
    kept, counts = [], dict.fromkeys(per_split, 0)
    for record in records:
        split = record.split or "train"
        if len(record) <= limit and counts.get(split, 0) < per_split.get(split, 0):
            kept.append(record)
            counts[split] += 1
    return kept


@pytest.fixture(autouse=True)
def float32_policy_after_each_test():
    """Tests that set a mixed policy must not leak it into the next test."""
    yield
    from tfprot._keras import keras

    keras().mixed_precision.set_global_policy("float32")


@pytest.fixture(scope="session")
def cytosol_membrane():
    """The bundled binary data set (cytoplasmic vs plasma membrane), sequences <= 200 residues,
    its own seeded 80/10/10 split."""
    full = tfprot.ProteinDataset.example()
    records = [
        r
        for split in ("train", "validation", "test")
        for r in full.records(split)
        if len(r) <= SHORT
    ]
    return tfprot.ProteinDataset(records, "classification", name="cytosol_membrane_short")


@pytest.fixture(scope="session")
def secondary_structure(shared_data):
    """FLIP secondary structure (3 states, per residue, with the unresolved mask), short sequences:
    its own train/validation/test sets."""
    records = tfprot.read_flip(shared_data / "flip_secondary_structure", split="sampled")
    kept = _short(records, 300, {"train": 400, "validation": 60, "test": 120})
    return tfprot.ProteinDataset(kept, "token", name="flip_ss3_short")


@pytest.fixture(scope="session")
def gb1(shared_data):
    """FLIP GB1 fitness (regression), low_vs_high split, a few hundred variants."""
    records = tfprot.read_records(shared_data / "flip_gb1" / "low_vs_high.csv", format="flip")
    kept = _short(records, 400, {"train": 300, "validation": 50, "test": 100})
    return tfprot.ProteinDataset(kept, "regression", name="gb1_short")


@pytest.fixture(scope="session")
def multiloc(shared_data):
    """MultiLoc (11 locations), short sequences, seeded split."""
    records = tfprot.read_records(shared_data / "multiloc", format="fasta-dir")
    kept = [r for r in records if len(r) <= SHORT]
    return tfprot.ProteinDataset(kept, "classification", name="multiloc_short")
