"""Multi-label classification: any number of classes per protein (``'Cytoplasm;Nucleus'``).

>>> from tfprot.data import LabelEncoder, from_lists
>>> records = from_lists(["MKT", "GGS"], labels=["Cytoplasm;Nucleus", "Nucleus"])
>>> encoder = LabelEncoder.fit(records, "multilabel")
>>> encoder.classes, encoder.encode(records[0]).tolist()
(('Cytoplasm', 'Nucleus'), [1.0, 1.0])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tfprot.tasks.base import ProteinTask, class_probabilities, label_names, probability_chart_rows

__all__ = ["MultiLabelClassification"]


class MultiLabelClassification(ProteinTask):
    """Any number of classes per sequence: one sigmoid per class, binary cross-entropy; a class
    is predicted above a probability threshold (0.5 by default); the baseline always predicts the
    label set of the classes most training records hold."""

    name = "multilabel"
    description = "multi-label sequence classifier (any number of classes per protein)"
    baseline_what = "always the label set of classes held by most training records"
    factory = "sequence_classifier(..., multi_label=True)"
    problem_type = "multi_label_classification"
    min_classes = 1
    label_padding = np.float32(0)
    hub_tags = ("multi-label-classification",)
    shows_chart = True
    chart_x = "bar"  # the probabilities of a sequence's classes need not add up to 1

    def class_names(self, record, separator):
        return label_names(record, separator)

    def encode(self, record, vocabulary) -> np.ndarray:
        hot = np.zeros(len(vocabulary.classes), dtype=np.float32)
        for name in label_names(record, vocabulary.separator):
            hot[vocabulary.class_index(name, record)] = 1.0
        return hot

    def stratify_key(self, separator):
        # The label combination: keeps each combination's share; rare ones fall back to train.
        return lambda record: (
            record.label
            if isinstance(record.label, tuple)
            else tuple(
                sorted(part.strip() for part in str(record.label).split(separator) if part.strip())
            )
        )

    def target_summary(self, targets, classes) -> dict[str, int]:
        counts = np.sum(targets, axis=0)
        return {name: int(count) for name, count in zip(classes, counts, strict=False)}

    def baseline(self, train, test, classes) -> dict[str, Any]:
        prior = np.mean(train, axis=0) >= 0.5
        return {"exact_match": float(np.mean([(t > 0.5).tolist() == prior.tolist() for t in test]))}

    def describe_baseline(self, baseline: dict[str, Any]) -> str:
        return f"the majority label set matches exactly {baseline['exact_match']:.1%}"

    def loss(self):
        from tfprot.tasks.losses import WeightedBinaryCrossentropy

        return WeightedBinaryCrossentropy()

    def metrics(self, num_labels: int) -> list:
        from tfprot.tasks.metrics import MacroF1, MaskedAccuracy, MatthewsCorrelation

        return [
            MaskedAccuracy(multilabel=True),
            MacroF1(num_labels, multilabel=True),
            MatthewsCorrelation(num_labels, multilabel=True),
        ]

    def probabilities(self, logits):
        import tensorflow as tf

        return tf.sigmoid(logits)

    def decode(self, logits, vocabulary, *, threshold: float = 0.5) -> tuple[str, dict]:
        classes = vocabulary.classes
        probabilities = 1.0 / (1.0 + np.exp(-logits))
        chosen = [name for name, p in zip(classes, probabilities, strict=True) if p > threshold]
        return (
            vocabulary.separator.join(chosen),
            dict(zip(classes, probabilities.tolist(), strict=True)),
        )

    def card_output(self, classes: tuple[str, ...]) -> list[str]:
        lines = super().card_output(classes)
        if not lines:
            return lines
        return [
            *lines[:-1],
            "",
            "Each class has its own sigmoid; a class is predicted above probability 0.5.",
            "",
        ]

    def answer(self, prediction) -> str:
        return str(prediction.label) or "no class above the threshold"

    def api_record(self, prediction) -> dict[str, Any]:
        return {
            "id": prediction.id,
            "label": prediction.label,
            "probabilities": class_probabilities(prediction),
        }

    def chart_rows(self, predictions) -> list[dict[str, Any]]:
        return probability_chart_rows(predictions)
