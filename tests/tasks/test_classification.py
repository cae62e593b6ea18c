"""SequenceClassification against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from tfprot.data import LabelEncoder, from_lists
from tfprot.errors import LabelError
from tfprot.tasks import SequenceClassification, task_for


@pytest.fixture
def encoder():
    return LabelEncoder("classification", ("cytosol", "membrane", "nucleus"))


def test_a_label_is_one_class_index_and_two_labels_are_refused(encoder):
    records = from_lists(
        ["MKT", "GGS", "AAA"], ["nucleus", 1.0, "cytosol;membrane"], ids=list("abc")
    )
    assert encoder.encode(records[0]).dtype == np.int32 and int(encoder.encode(records[0])) == 2
    with pytest.raises(LabelError, match="unknown label '1'"):  # an integral float reads '1'
        encoder.encode(records[1])
    with pytest.raises(LabelError, match="id 'c': unknown label 'cytosol;membrane'"):  # not split
        encoder.encode(records[2])
    (pair,) = from_lists(["MKT"], [("cytosol", "membrane")])
    with pytest.raises(LabelError, match="2 labels .* use task='multilabel'"):
        encoder.encode(pair)


def test_decoding_is_the_softmax_argmax(encoder):
    logits = np.array([0.5, 2.0, -1.0], dtype=np.float32)
    label, probabilities = task_for("classification").decode(logits, encoder)
    expected = np.exp(logits) / np.exp(logits).sum()
    assert label == "membrane"
    assert list(probabilities) == ["cytosol", "membrane", "nucleus"]
    np.testing.assert_allclose(list(probabilities.values()), expected, rtol=1e-6)


def test_baseline_is_the_training_majority(encoder):
    task = SequenceClassification()
    baseline = task.baseline(
        [np.int32(1), np.int32(1), np.int32(0)], [np.int32(1), np.int32(2)], encoder.classes
    )
    assert baseline == {"accuracy": 0.5, "prediction": "membrane"}
    assert task.describe_baseline(baseline) == "always 'membrane' scores accuracy 50.0%"


def test_head_metrics_and_words(encoder):
    task = task_for("classification")
    assert task.head_config(encoder.classes) == {
        "num_labels": 3,
        "id2label": {0: "cytosol", 1: "membrane", 2: "nucleus"},
        "label2id": {"cytosol": 0, "membrane": 1, "nucleus": 2},
    }
    assert [m.name for m in task.metrics(3)] == ["accuracy", "macro_f1", "mcc"]
    assert type(task.loss()).__name__ == "WeightedSparseCategoricalCrossentropy"
    assert task.card_output(("a", "b"))[:3] == [
        "## Labels",
        "",
        "2 classes, predicted per sequence:",
    ]
    assert task.confusion_matrix and task.pipeline_tag == "text-classification"
