"""TokenClassification against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from tfprot.data import LabelEncoder, from_lists
from tfprot.errors import LabelError
from tfprot.tasks import IGNORE_INDEX, task_for


def test_masked_residues_add_no_class_and_count_nowhere():
    records = from_lists(
        ["MKTA", "GG"], residue_labels=["HEXC", "CC"], masks=[[1, 1, 0, 1], [1, 1]]
    )
    encoder = LabelEncoder.fit(records, "token")
    assert encoder.classes == ("C", "E", "H")  # 'X' only where the mask is 0
    assert encoder.encode(records[0]).tolist() == [2, 1, IGNORE_INDEX, 0]
    (unmasked,) = from_lists(["MKT"], residue_labels=["HXC"], ids=["p"])
    with pytest.raises(LabelError, match="p.*unknown label 'X' at residue 2"):
        encoder.encode(unmasked)


def test_decoding_gives_one_label_per_residue():
    task = task_for("token")
    logits = np.log(np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], dtype=np.float32))
    labels, probabilities = task.decode(logits, LabelEncoder("token", ("C", "E", "H")))
    assert labels == "CH"
    np.testing.assert_allclose(probabilities, [[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], rtol=1e-5)
    long_names, _ = task.decode(logits, LabelEncoder("token", ("coil", "strand", "helix")))
    assert long_names == ("coil", "helix") and task.show(long_names) == "coil helix"


def test_baseline_and_summary_skip_ignored_positions():
    task = task_for("token")
    train = [np.array([IGNORE_INDEX, 0, 0, 1, IGNORE_INDEX])]
    test = [np.array([IGNORE_INDEX, 0, 1, 1]), np.array([0])]
    assert task.baseline(train, test, ("C", "H")) == {"accuracy": 0.5, "prediction": "C"}
    assert task.target_summary(test, ("C", "H")) == {"C": 2, "H": 2, "ignored": 1}
    assert task.label_padding == IGNORE_INDEX and task.per_residue
    assert task.head_config(("C", "H"))["num_labels"] == 2 and task.head == "TokenClassification"
