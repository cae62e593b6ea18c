"""Sequence regression: one finite number per protein (e.g. fitness, melting point).

>>> from tfprot.data import LabelEncoder, from_lists
>>> records = from_lists(["MKT", "GGS"], labels=["0.5", 2])
>>> [float(LabelEncoder("regression").encode(r)) for r in records]
[0.5, 2.0]
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tfprot.errors import LabelError
from tfprot.tasks.base import ProteinTask

__all__ = ["SequenceRegression", "as_number"]


class SequenceRegression(ProteinTask):
    """One number per sequence: a single output, mean squared error, Spearman correlation and
    mean absolute error; the baseline always predicts the training set's mean."""

    name = "regression"
    description = "sequence regressor (one number per protein)"
    baseline_what = "always the training set's mean target"
    factory = "sequence_regressor"
    problem_type = "regression"
    min_classes = 0
    label_padding = np.float32(0)
    hub_tags = ("regression",)

    def check_classes(self, classes: tuple[str, ...]) -> None:
        if classes:
            raise LabelError("A regression task has no classes.")

    def class_names(self, record, separator):
        return ()

    def encode(self, record, vocabulary) -> np.ndarray:
        if record.label is None:
            raise LabelError(f"{record.where}: no target value. Every regression record needs one.")
        value = as_number(record.label)
        if value is None or not math.isfinite(value):
            raise LabelError(
                f"{record.where}: regression target {record.label!r} is not a finite number. "
                "Fix or remove the record."
            )
        return np.float32(value)

    def target_summary(self, targets, classes) -> dict[str, float]:
        values = np.asarray(targets)
        return {"mean": float(values.mean()), "std": float(values.std())}

    def baseline(self, train, test, classes) -> dict[str, Any]:
        mean = float(np.mean(train))
        return {"mse": float(np.mean((np.asarray(test) - mean) ** 2)), "prediction": mean}

    def describe_baseline(self, baseline: dict[str, Any]) -> str:
        return f"predicting the mean {baseline['prediction']:.3g} gives MSE {baseline['mse']:.3f}"

    def output_names(self, classes: tuple[str, ...]) -> tuple[str, ...]:
        return ("target",)

    def loss(self):
        from tfprot.tasks.losses import WeightedMeanSquaredError

        return WeightedMeanSquaredError()

    def metrics(self, num_labels: int, *, spearman_capacity: int | None = None) -> list:
        """Spearman correlation (holding ``spearman_capacity`` pairs, default
        :data:`~tfprot.tasks.metrics.SPEARMAN_CAPACITY`) and mean absolute error."""
        from tfprot.tasks.metrics import SPEARMAN_CAPACITY, MeanAbsoluteError, SpearmanCorrelation

        return [SpearmanCorrelation(spearman_capacity or SPEARMAN_CAPACITY), MeanAbsoluteError()]

    def outputs(self, logits):
        import tensorflow as tf

        return tf.squeeze(logits, axis=-1)

    def probabilities(self, logits):
        return logits

    def decode(self, logits, vocabulary, *, threshold: float = 0.5) -> tuple[float, None]:
        return float(logits), None

    def card_output(self, classes: tuple[str, ...]) -> list[str]:
        return ["## Output", "", "One real number per sequence (the regression target).", ""]

    def prediction_columns(self, classes: tuple[str, ...]) -> list[str]:
        return ["prediction"]

    def prediction_cells(self, prediction, classes, text) -> list[str]:
        return [f"{prediction.label:.6g}"]

    def show(self, label: Any) -> str:
        return f"{label:.4g}"

    def api_record(self, prediction) -> dict[str, Any]:
        return {"id": prediction.id, "value": float(prediction.label)}


def as_number(value: Any) -> float | None:
    """``value`` as a float, or ``None`` if it is not a number.

    >>> as_number("2.5"), as_number("a"), as_number(None)
    (2.5, None, None)
    """
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
