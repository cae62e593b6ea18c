"""Sequence classification: one class per protein (e.g. cytosol or membrane).

>>> from tfprot.data import LabelEncoder, from_lists
>>> records = from_lists(["MKT", "GGS", "AAA"], labels=["membrane", "cytosol", "membrane"])
>>> encoder = LabelEncoder.fit(records, "classification")
>>> [int(encoder.encode(r)) for r in records]
[1, 0, 1]
>>> import numpy as np
>>> SequenceClassification().decode(np.array([2.0, 0.0]), encoder)[0]
'cytosol'
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from tfprot.errors import LabelError
from tfprot.tasks.base import (
    ProteinTask,
    class_probabilities,
    label_names,
    probability_chart_rows,
    softmax,
)

__all__ = ["SequenceClassification"]


class SequenceClassification(ProteinTask):
    """One class per sequence: softmax over the classes, cross-entropy, accuracy, macro-F1 and
    MCC; the baseline always predicts the training set's most common class."""

    name = "classification"
    description = "sequence classifier (one class per protein)"
    baseline_what = "always the training set's most common class"
    factory = "sequence_classifier"
    confusion_matrix = True
    shows_chart = True

    def class_names(self, record, separator):
        return self._names(record)

    def encode(self, record, vocabulary) -> np.ndarray:
        return np.int32(vocabulary.class_index(self._names(record)[0], record))

    def _names(self, record) -> tuple[str, ...]:
        names = label_names(record, None)
        if len(names) != 1:
            raise LabelError(
                f"{record.where}: {len(names)} labels {list(names)} for a single-label task; use "
                "task='multilabel' for several labels per sequence."
            )
        return names

    def stratify_key(self, separator):
        return lambda record: str(record.label)

    def target_summary(self, targets, classes) -> dict[str, int]:
        counts = np.bincount(np.asarray(targets, dtype=np.int64), minlength=len(classes))
        return {name: int(count) for name, count in zip(classes, counts, strict=False)}

    def baseline(self, train, test, classes) -> dict[str, Any]:
        majority = Counter(int(t) for t in train).most_common(1)[0][0]
        return {
            "accuracy": float(np.mean(np.asarray(test) == majority)),
            "prediction": classes[majority],
        }

    def describe_baseline(self, baseline: dict[str, Any]) -> str:
        return f"always {baseline['prediction']!r} scores accuracy {baseline['accuracy']:.1%}"

    def loss(self):
        from tfprot.tasks.losses import WeightedSparseCategoricalCrossentropy

        return WeightedSparseCategoricalCrossentropy()

    def metrics(self, num_labels: int) -> list:
        from tfprot.tasks.metrics import MacroF1, MaskedAccuracy, MatthewsCorrelation

        return [MaskedAccuracy(), MacroF1(num_labels), MatthewsCorrelation(num_labels)]

    def decode(self, logits, vocabulary, *, threshold: float = 0.5) -> tuple[str, dict]:
        probabilities = softmax(logits)
        classes: Sequence[str] = vocabulary.classes
        return (
            classes[int(probabilities.argmax())],
            dict(zip(classes, probabilities.tolist(), strict=True)),
        )

    def answer(self, prediction) -> str:
        return f"{prediction.label} ({prediction.probabilities[prediction.label]:.0%})"

    def api_record(self, prediction) -> dict[str, Any]:
        return {
            "id": prediction.id,
            "label": prediction.label,
            "probabilities": class_probabilities(prediction),
        }

    def chart_rows(self, predictions) -> list[dict[str, Any]]:
        return probability_chart_rows(predictions)
