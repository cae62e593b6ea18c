"""The metrics the field reports, as streaming Keras metrics that take logits.

- classification: accuracy, macro-F1, Matthews correlation (multi-class, Gorodkin's R_K);
- multilabel: per-decision accuracy, macro-F1 over labels, MCC over all decisions;
- token: masked per-residue accuracy (Q3 for 3-state secondary structure) and macro-F1, positions
  labelled ``IGNORE_INDEX`` excluded;
- regression: Spearman rank correlation (ties get average ranks, as in ``scipy.stats.spearmanr``)
  and mean absolute error.

All honour ``sample_weight`` (zero-weight filler rows of the static-shape mode do not count).
"""

from __future__ import annotations

import tensorflow as tf

from tfprot._keras import keras
from tfprot.data.labels import IGNORE_INDEX, Task

__all__ = [
    "ConfusionMatrixMetric",
    "MacroF1",
    "MaskedAccuracy",
    "MatthewsCorrelation",
    "SpearmanCorrelation",
    "metrics_for_task",
]

_keras = keras()


def _flatten_predictions(task: Task, y_true, y_pred, sample_weight):
    """Class decisions as flat int vectors and their weights, padding positions removed."""
    y_pred = tf.cast(y_pred, tf.float32)
    if task is Task.MULTILABEL:
        truth = tf.reshape(tf.cast(y_true > 0.5, tf.int32), [-1])
        decision = tf.reshape(tf.cast(y_pred > 0.0, tf.int32), [-1])
        weights = tf.ones_like(y_pred)
        if sample_weight is not None:
            weights = weights * tf.reshape(tf.cast(sample_weight, tf.float32), [-1, 1])
        return truth, decision, tf.reshape(weights, [-1])
    truth = tf.cast(y_true, tf.int32)
    decision = tf.argmax(y_pred, axis=-1, output_type=tf.int32)
    weights = tf.ones_like(truth, dtype=tf.float32)
    if sample_weight is not None:
        sample_weight = tf.cast(sample_weight, tf.float32)
        if task is Task.TOKEN:
            sample_weight = tf.reshape(sample_weight, [-1, 1])
        weights = weights * sample_weight
    weights = weights * tf.cast(tf.not_equal(truth, IGNORE_INDEX), tf.float32)
    truth = tf.where(tf.equal(truth, IGNORE_INDEX), tf.zeros_like(truth), truth)
    return tf.reshape(truth, [-1]), tf.reshape(decision, [-1]), tf.reshape(weights, [-1])


class ConfusionMatrixMetric(_keras.metrics.Metric):
    """Accumulates a weighted confusion matrix (rows: truth, columns: prediction)."""

    def __init__(
        self,
        num_classes: int,
        task: Task | str = Task.CLASSIFICATION,
        name: str = "confusion",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        self.task = Task.parse(task)
        self.num_classes = int(num_classes)
        size = 2 if self.task is Task.MULTILABEL else self.num_classes
        self.matrix = self.add_weight(
            "matrix", shape=(size, size), initializer="zeros", dtype=tf.float32
        )

    @property
    def size(self) -> int:
        return 2 if self.task is Task.MULTILABEL else self.num_classes

    def update_state(self, y_true, y_pred, sample_weight=None):
        truth, decision, weights = _flatten_predictions(self.task, y_true, y_pred, sample_weight)
        counts = tf.math.confusion_matrix(
            truth, decision, num_classes=self.size, weights=weights, dtype=tf.float32
        )
        self.matrix.assign_add(counts)

    def reset_state(self):
        self.matrix.assign(tf.zeros_like(self.matrix))

    def result(self):
        return self.matrix

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "task": self.task.value}


@_keras.utils.register_keras_serializable(package="tfprot")
class MacroF1(ConfusionMatrixMetric):
    """Unweighted mean of per-class F1 over the classes that occur in truth or prediction.

    For multilabel tasks the F1 of each label's yes/no decision, averaged over labels.
    """

    def __init__(
        self,
        num_classes: int,
        task: Task | str = Task.CLASSIFICATION,
        name: str = "macro_f1",
        **kwargs,
    ):
        super().__init__(num_classes, task, name=name, **kwargs)
        if self.task is Task.MULTILABEL:
            self.per_label = self.add_weight(
                "per_label", shape=(self.num_classes, 3), initializer="zeros"
            )

    def update_state(self, y_true, y_pred, sample_weight=None):
        if self.task is not Task.MULTILABEL:
            return super().update_state(y_true, y_pred, sample_weight)
        truth = tf.cast(y_true > 0.5, tf.float32)
        decision = tf.cast(tf.cast(y_pred, tf.float32) > 0.0, tf.float32)
        weights = tf.ones_like(truth)
        if sample_weight is not None:
            weights = weights * tf.reshape(tf.cast(sample_weight, tf.float32), [-1, 1])
        tp = tf.reduce_sum(truth * decision * weights, axis=0)
        fp = tf.reduce_sum((1 - truth) * decision * weights, axis=0)
        fn = tf.reduce_sum(truth * (1 - decision) * weights, axis=0)
        self.per_label.assign_add(tf.stack([tp, fp, fn], axis=1))

    def reset_state(self):
        super().reset_state()
        if self.task is Task.MULTILABEL:
            self.per_label.assign(tf.zeros_like(self.per_label))

    def result(self):
        if self.task is Task.MULTILABEL:
            tp, fp, fn = tf.unstack(self.per_label, axis=1)
        else:
            tp = tf.linalg.diag_part(self.matrix)
            fp = tf.reduce_sum(self.matrix, axis=0) - tp
            fn = tf.reduce_sum(self.matrix, axis=1) - tp
        denominator = 2 * tp + fp + fn
        present = denominator > 0
        f1 = tf.where(present, 2 * tp / tf.maximum(denominator, 1e-12), 0.0)
        return tf.math.divide_no_nan(tf.reduce_sum(f1), tf.reduce_sum(tf.cast(present, tf.float32)))


@_keras.utils.register_keras_serializable(package="tfprot")
class MatthewsCorrelation(ConfusionMatrixMetric):
    """Matthews correlation coefficient; for several classes Gorodkin's R_K (as sklearn's
    ``matthews_corrcoef``); for multilabel tasks over all yes/no decisions."""

    def __init__(
        self, num_classes: int, task: Task | str = Task.CLASSIFICATION, name: str = "mcc", **kwargs
    ):
        super().__init__(num_classes, task, name=name, **kwargs)

    def result(self):
        matrix = tf.cast(self.matrix, tf.float64)
        correct = tf.linalg.trace(matrix)
        total = tf.reduce_sum(matrix)
        predicted = tf.reduce_sum(matrix, axis=0)
        true = tf.reduce_sum(matrix, axis=1)
        covariance = correct * total - tf.reduce_sum(predicted * true)
        denominator = tf.sqrt(
            (total**2 - tf.reduce_sum(predicted**2)) * (total**2 - tf.reduce_sum(true**2))
        )
        return tf.cast(tf.math.divide_no_nan(covariance, denominator), tf.float32)


@_keras.utils.register_keras_serializable(package="tfprot")
class MaskedAccuracy(_keras.metrics.Metric):
    """Fraction of counted positions predicted right (Q3 for 3-state secondary structure)."""

    def __init__(self, task: Task | str = Task.TOKEN, name: str = "accuracy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.task = Task.parse(task)
        self.correct = self.add_weight("correct", initializer="zeros")
        self.counted = self.add_weight("counted", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        truth, decision, weights = _flatten_predictions(self.task, y_true, y_pred, sample_weight)
        self.correct.assign_add(
            tf.reduce_sum(tf.cast(tf.equal(truth, decision), tf.float32) * weights)
        )
        self.counted.assign_add(tf.reduce_sum(weights))

    def reset_state(self):
        self.correct.assign(0.0)
        self.counted.assign(0.0)

    def result(self):
        return tf.math.divide_no_nan(self.correct, self.counted)

    def get_config(self):
        return {**super().get_config(), "task": self.task.value}


@_keras.utils.register_keras_serializable(package="tfprot")
class SpearmanCorrelation(_keras.metrics.Metric):
    """Spearman rank correlation over every (target, prediction) pair seen since the last reset.

    Rank correlation does not decompose over batches, so the pairs are kept (two floats per
    example) and ranked when the result is read.
    """

    def __init__(self, name: str = "spearman", **kwargs):
        super().__init__(name=name, **kwargs)
        self.targets = tf.Variable(
            tf.zeros([0]), shape=tf.TensorShape([None]), trainable=False, name="targets"
        )
        self.predictions = tf.Variable(
            tf.zeros([0]), shape=tf.TensorShape([None]), trainable=False, name="predictions"
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = tf.reshape(tf.cast(y_true, tf.float32), [-1])
        y_pred = tf.reshape(tf.cast(y_pred, tf.float32), [-1])
        if sample_weight is not None:
            keep = tf.reshape(tf.cast(sample_weight, tf.float32), [-1]) > 0
            y_true, y_pred = tf.boolean_mask(y_true, keep), tf.boolean_mask(y_pred, keep)
        self.targets.assign(tf.concat([self.targets, y_true], axis=0))
        self.predictions.assign(tf.concat([self.predictions, y_pred], axis=0))

    def reset_state(self):
        self.targets.assign(tf.zeros([0]))
        self.predictions.assign(tf.zeros([0]))

    def result(self):
        x = _average_ranks(self.targets)
        y = _average_ranks(self.predictions)
        x, y = x - tf.reduce_mean(x), y - tf.reduce_mean(y)
        return tf.math.divide_no_nan(
            tf.reduce_sum(x * y), tf.sqrt(tf.reduce_sum(x * x) * tf.reduce_sum(y * y))
        )


def _average_ranks(values):
    """1-based ranks; tied values share the mean of their ranks."""
    values = tf.convert_to_tensor(values)
    count = tf.shape(values)[0]
    order = tf.argsort(values, stable=True)
    _, group = tf.unique(tf.gather(values, order))
    ordinal = tf.cast(tf.range(1, count + 1), tf.float32)
    mean_rank = tf.math.segment_mean(ordinal, group)
    return tf.scatter_nd(order[:, None], tf.gather(mean_rank, group), [count])


def metrics_for_task(task: Task | str, num_labels: int) -> list:
    """The default metrics of a task."""
    task = Task.parse(task)
    if task is Task.REGRESSION:
        return [SpearmanCorrelation(), _keras.metrics.MeanAbsoluteError(name="mae")]
    if task is Task.TOKEN:
        return [MaskedAccuracy(Task.TOKEN, name="accuracy"), MacroF1(num_labels, Task.TOKEN)]
    if task is Task.MULTILABEL:
        return [
            MaskedAccuracy(Task.MULTILABEL, name="accuracy"),
            MacroF1(num_labels, Task.MULTILABEL),
            MatthewsCorrelation(num_labels, Task.MULTILABEL),
        ]
    return [
        MaskedAccuracy(Task.CLASSIFICATION, name="accuracy"),
        MacroF1(num_labels, Task.CLASSIFICATION),
        MatthewsCorrelation(num_labels, Task.CLASSIFICATION),
    ]
