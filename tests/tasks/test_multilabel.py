"""MultiLabelClassification against hand-computed values."""

from __future__ import annotations

import numpy as np

from tfprot.data import LabelEncoder, from_lists
from tfprot.tasks import task_for


def test_labels_are_multi_hot_split_at_the_separator():
    encoder = LabelEncoder("multilabel", ("Cytoplasm", "Membrane", "Nucleus"), separator="|")
    records = from_lists(["MKT", "GGS"], ["Nucleus| Cytoplasm", ("Membrane",)])
    assert encoder.encode(records[0]).tolist() == [1.0, 0.0, 1.0]
    assert encoder.encode(records[1]).tolist() == [0.0, 1.0, 0.0]
    assert encoder.encode(records[0]).dtype == np.float32


def test_decoding_keeps_the_classes_above_the_threshold():
    encoder = LabelEncoder("multilabel", ("a", "b", "c"))
    logits = np.array([2.0, -0.1, 0.3], dtype=np.float32)
    label, probabilities = task_for("multilabel").decode(logits, encoder, threshold=0.5)
    sigmoid = 1 / (1 + np.exp(-logits))  # 0.881, 0.475, 0.574
    assert label == "a;c"
    np.testing.assert_allclose(list(probabilities.values()), sigmoid, rtol=1e-6)
    assert task_for("multilabel").decode(logits, encoder, threshold=0.9)[0] == ""


def test_baseline_is_the_label_set_most_records_hold():
    task = task_for("multilabel")
    train = [np.array([1.0, 0.0]), np.array([1.0, 1.0]), np.array([1.0, 0.0])]
    test = [np.array([1.0, 0.0]), np.array([0.0, 1.0])]
    assert task.baseline(train, test, ("a", "b")) == {"exact_match": 0.5}


def test_one_class_is_enough_and_the_card_says_sigmoid():
    task = task_for("multilabel")
    assert LabelEncoder("multilabel", ("only",)).num_labels == 1
    assert task.head_config(("a", "b"))["problem_type"] == "multi_label_classification"
    assert "Each class has its own sigmoid" in "\n".join(task.card_output(("a", "b")))
    assert task.card_output(()) == []
