"""SequenceRegression against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from tfprot.data import LabelEncoder, from_lists
from tfprot.errors import LabelError
from tfprot.tasks import task_for


def test_targets_are_finite_float32_numbers():
    encoder = LabelEncoder("regression")
    good, text, infinite = from_lists(["MKT"] * 3, ["-1.5", "high", "inf"], ids=list("abc"))
    assert encoder.encode(good) == np.float32(-1.5) and encoder.encode(good).dtype == np.float32
    for record in (text, infinite):
        with pytest.raises(LabelError, match=f"{record.id}.*not a finite number"):
            encoder.encode(record)
    with pytest.raises(LabelError, match="has no classes"):
        LabelEncoder("regression", ("a", "b"))


def test_one_output_named_target_and_the_mean_baseline():
    task = task_for("regression")
    assert task.head_config(())["id2label"] == {0: "target"}
    baseline = task.baseline([np.float32(1), np.float32(3)], [np.float32(0), np.float32(4)], ())
    assert baseline == {"mse": 4.0, "prediction": 2.0}  # ((0-2)^2 + (4-2)^2) / 2
    assert task.describe_baseline(baseline) == "predicting the mean 2 gives MSE 4.000"
    assert task.decode(np.float32(0.25), LabelEncoder("regression")) == (0.25, None)


def test_metrics_take_the_spearman_capacity():
    spearman, mae = task_for("regression").metrics(1, spearman_capacity=32)
    assert spearman.capacity == 32 and mae.name == "mae"
