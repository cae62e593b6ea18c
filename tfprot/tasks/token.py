"""Token classification: one class per residue (e.g. secondary structure, binding sites).

Residues whose mask is 0 (unresolved in the structure) are targets of :data:`IGNORE_INDEX`: they
add no class to the vocabulary and count in no loss or metric.

>>> from tfprot.data import LabelEncoder, from_lists
>>> records = from_lists(["MKT"], residue_labels=["HEC"], masks=[[1, 0, 1]])
>>> LabelEncoder("token", ("C", "E", "H")).encode(records[0]).tolist()
[2, -100, 0]
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from tfprot.errors import LabelError
from tfprot.tasks.base import IGNORE_INDEX, ProteinTask, softmax

__all__ = ["TokenClassification"]


class TokenClassification(ProteinTask):
    """One class per residue: a per-token head, cross-entropy over labelled residues, masked
    accuracy (Q3 for 3-state secondary structure), macro-F1 and the token cross-entropy of the
    whole set; the baseline labels every residue with the training set's most common class."""

    name = "token"
    description = "per-residue classifier (one label per amino acid)"
    baseline_what = "every residue the training set's most common residue class"
    factory = "token_classifier"
    head = "TokenClassification"
    per_residue = True
    shows_residues = True
    label_padding = np.int32(IGNORE_INDEX)
    pipeline_tag = "token-classification"

    def class_names(self, record, separator):
        labels = _residue_labels(record)
        keep = record.mask or (True,) * len(labels)
        return (label for label, counted in zip(labels, keep, strict=False) if counted)

    def encode(self, record, vocabulary) -> np.ndarray:
        """``int32 [residues]``: class indices, :data:`IGNORE_INDEX` where the mask is 0 (an
        unknown class there is no error)."""
        labels = np.asarray(list(_residue_labels(record)), dtype=str)
        names, inverse = np.unique(labels, return_inverse=True)
        keep = np.ones(len(labels), bool) if record.mask is None else np.asarray(record.mask, bool)
        lookup = np.full(len(names), IGNORE_INDEX, dtype=np.int32)
        for k, name in enumerate(names):
            counted = (inverse == k) & keep
            if counted.any():  # a name only at masked residues needs no index
                position = int(np.flatnonzero(counted)[0])
                lookup[k] = vocabulary.class_index(str(name), record, f" at residue {position + 1}")
        return np.where(keep, lookup[inverse], IGNORE_INDEX).astype(np.int32)

    def target_summary(self, targets, classes) -> dict[str, int]:
        flat = np.concatenate(targets)
        counts = np.bincount(flat[flat != IGNORE_INDEX], minlength=len(classes))
        return {name: int(c) for name, c in zip(classes, counts, strict=False)} | {
            "ignored": int((flat == IGNORE_INDEX).sum())
        }

    def baseline(self, train, test, classes) -> dict[str, Any]:
        flat = np.concatenate(train)
        majority = int(np.bincount(flat[flat != IGNORE_INDEX]).argmax())
        test = np.concatenate(test)
        test = test[test != IGNORE_INDEX]
        return {"accuracy": float(np.mean(test == majority)), "prediction": classes[majority]}

    def describe_baseline(self, baseline: dict[str, Any]) -> str:
        return f"always {baseline['prediction']!r} scores accuracy {baseline['accuracy']:.1%}"

    def loss(self):
        from tfprot.tasks.losses import MaskedSparseCategoricalCrossentropy

        return MaskedSparseCategoricalCrossentropy()

    def metrics(self, num_labels: int) -> list:
        from tfprot.tasks.metrics import MacroF1, MaskedAccuracy, MaskedCrossEntropy

        return [MaskedAccuracy(), MacroF1(num_labels), MaskedCrossEntropy()]

    def decode(self, logits, vocabulary, *, threshold: float = 0.5) -> tuple[Any, np.ndarray]:
        """One label per residue (a string when every class is one character, else a tuple)
        and the ``[residues, classes]`` probabilities."""
        classes = vocabulary.classes
        probabilities = softmax(logits)
        names = [classes[i] for i in probabilities.argmax(axis=-1)]
        labels = "".join(names) if all(len(n) == 1 for n in classes) else tuple(names)
        return labels, probabilities

    def prediction_columns(self, classes: tuple[str, ...]) -> list[str]:
        return ["sequence", "residue_labels"]

    def prediction_cells(self, prediction, classes, text) -> list[str]:
        return [prediction.sequence, self.show(prediction.label)]

    def answer(self, prediction) -> str:
        labels = list(prediction.label)
        shares = ", ".join(
            f"{name} {count / len(labels):.0%}" for name, count in Counter(labels).most_common()
        )
        return f"{len(labels)} residues: {shares}"

    def api_record(self, prediction) -> dict[str, Any]:
        return {
            "id": prediction.id,
            "sequence": prediction.sequence,
            "residue_labels": [str(label) for label in prediction.label],
        }


def _residue_labels(record):
    if record.residue_labels is None:
        raise LabelError(
            f"{record.where}: no per-residue labels, but the task is token classification."
        )
    return record.residue_labels
