"""The metrics the field reports, as streaming Keras metrics that take logits.

Each task picks its metrics (:meth:`tfprot.tasks.ProteinTask.metrics`):

- classification: accuracy, macro-F1, Matthews correlation (multi-class: Gorodkin's R_K);
- multilabel: per-decision accuracy, macro-F1 over labels, MCC over all decisions;
- token: masked per-residue accuracy (Q3 for 3-state secondary structure), macro-F1 and the
  exact token-level cross-entropy over the whole evaluated set; positions labelled
  ``IGNORE_INDEX`` (-100) are excluded;
- regression: Spearman rank correlation (ties get average ranks, as in ``scipy.stats.spearmanr``)
  and mean absolute error.

Each metric accumulates over batches and equals the scikit-learn/scipy value on everything seen
since the last reset. All honour ``sample_weight``; a weight of 0 removes an example (the
filler rows of the static-shape mode), but Keras only passes the data's sample weights to metrics
given to ``compile`` as ``weighted_metrics`` (``metrics=`` get none). All compile with XLA
(``jit_compile=True``): their state has a fixed shape.
"""

from __future__ import annotations

import tensorflow as tf

from tfprot._keras import keras
from tfprot.errors import TfprotError
from tfprot.tasks.base import IGNORE_INDEX

__all__ = [
    "ConfusionMatrixMetric",
    "MacroF1",
    "MaskedAccuracy",
    "MaskedCrossEntropy",
    "MatthewsCorrelation",
    "MeanAbsoluteError",
    "SpearmanCorrelation",
]

_keras = keras()

# The metrics' update and result code has no Python control flow on tensors: AutoGraph would
# only rewrite it, once per metric and trace (about 1 s of a tiny model's first ``fit`` on a
# 2-core AMD EPYC), into the same graph.
_graph_only = tf.autograph.experimental.do_not_convert

SPEARMAN_CAPACITY = 65536
"""Default number of (target, prediction) pairs :class:`SpearmanCorrelation` can hold."""


def _row_weights(sample_weight, like):
    """``sample_weight`` ([B], [B, 1] or [B, T]) as a float32 tensor broadcastable to ``like``."""
    if sample_weight is None:
        return tf.ones_like(like, dtype=tf.float32)
    weights = tf.cast(sample_weight, tf.float32)
    weights = tf.reshape(weights, tf.concat([tf.shape(weights)[:1], [-1]], axis=0))
    if like.shape.rank == 1:
        weights = tf.reshape(weights, [-1])
    return tf.ones_like(like, dtype=tf.float32) * weights


def _flatten_predictions(multilabel: bool, y_true, y_pred, sample_weight):
    """Class decisions as flat int vectors and their weights; ignored positions get weight 0.

    Single-label decisions are the argmax of the last axis (per sequence or per residue);
    multilabel ones each label's logit above 0 (probability above 0.5).
    """
    y_pred = tf.cast(y_pred, tf.float32)
    if multilabel:
        truth = tf.cast(tf.cast(y_true, tf.float32) > 0.5, tf.int32)
        decision = tf.cast(y_pred > 0.0, tf.int32)
        weights = _row_weights(sample_weight, decision)
        return tf.reshape(truth, [-1]), tf.reshape(decision, [-1]), tf.reshape(weights, [-1])
    decision = tf.argmax(y_pred, axis=-1, output_type=tf.int32)
    truth = tf.reshape(tf.cast(y_true, tf.int32), tf.shape(decision))
    weights = _row_weights(sample_weight, decision)
    counted = tf.not_equal(truth, IGNORE_INDEX)
    weights = weights * tf.cast(counted, tf.float32)
    truth = tf.where(counted, truth, tf.zeros_like(truth))
    return tf.reshape(truth, [-1]), tf.reshape(decision, [-1]), tf.reshape(weights, [-1])


class ConfusionMatrixMetric(_keras.metrics.Metric):
    """Accumulates a weighted confusion matrix (rows: truth, columns: prediction).

    With ``multilabel=True`` one 2 × 2 matrix per label (``[labels, 2, 2]``).
    """

    def __init__(
        self, num_classes: int, *, multilabel: bool = False, name: str = "confusion", **kwargs
    ):
        super().__init__(name=name, **kwargs)
        self.multilabel = bool(multilabel)
        self.num_classes = int(num_classes)
        shape = (self.num_classes, 2, 2) if self.multilabel else (self.size, self.size)
        self.matrix = self.add_weight("matrix", shape=shape, initializer="zeros", dtype=tf.float32)

    @property
    def size(self) -> int:
        return 2 if self.multilabel else self.num_classes

    @_graph_only
    def update_state(self, y_true, y_pred, sample_weight=None):
        truth, decision, weights = _flatten_predictions(
            self.multilabel, y_true, y_pred, sample_weight
        )
        if self.multilabel:  # cell index label * 4 + truth * 2 + decision
            label = tf.tile(tf.range(self.num_classes), [tf.size(truth) // self.num_classes])
            cell = label * 4 + truth * 2 + decision
            counts = tf.math.unsorted_segment_sum(weights, cell, 4 * self.num_classes)
            self.matrix.assign_add(tf.reshape(counts, (self.num_classes, 2, 2)))
            return
        counts = tf.math.confusion_matrix(
            truth, decision, num_classes=self.size, weights=weights, dtype=tf.float32
        )
        self.matrix.assign_add(counts)

    def reset_state(self):
        self.matrix.assign(tf.zeros_like(self.matrix))

    @_graph_only
    def result(self):
        return self.matrix

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "multilabel": self.multilabel,
        }


@_keras.utils.register_keras_serializable(package="tfprot")
class MacroF1(ConfusionMatrixMetric):
    """Unweighted mean of per-class F1, with scikit-learn's choice of classes
    (``f1_score(average="macro")`` with ``labels=None``).

    Single-label and token tasks average over the classes that occur (with a non-zero weight) in
    the truth or the predictions. Multilabel tasks (``multilabel=True``) average the F1 of each
    label's yes/no decision over *all* labels; a label never true nor predicted scores 0 (scikit-learn's default
    ``zero_division``).

    >>> import numpy as np
    >>> metric = MacroF1(3)
    >>> metric.update_state(np.array([0, 1, 1]), np.eye(3, dtype="float32")[[0, 1, 0]])
    >>> round(float(metric.result()), 4)  # class 2 absent: mean of 2/3 and 2/3
    0.6667
    """

    def __init__(
        self, num_classes: int, *, multilabel: bool = False, name: str = "macro_f1", **kwargs
    ):
        super().__init__(num_classes, multilabel=multilabel, name=name, **kwargs)

    @_graph_only
    def result(self):
        if self.multilabel:
            tp, fp = self.matrix[:, 1, 1], self.matrix[:, 0, 1]
            fn = self.matrix[:, 1, 0]
        else:
            tp = tf.linalg.diag_part(self.matrix)
            fp = tf.reduce_sum(self.matrix, axis=0) - tp
            fn = tf.reduce_sum(self.matrix, axis=1) - tp
        denominator = 2 * tp + fp + fn
        f1 = tf.math.divide_no_nan(2 * tp, denominator)
        if self.multilabel:
            return tf.reduce_mean(f1)
        present = tf.cast(denominator > 0, tf.float32)
        return tf.math.divide_no_nan(tf.reduce_sum(f1), tf.reduce_sum(present))


@_keras.utils.register_keras_serializable(package="tfprot")
class MatthewsCorrelation(ConfusionMatrixMetric):
    """Matthews correlation coefficient as scikit-learn's ``matthews_corrcoef``: Gorodkin's R_K
    for several classes; for multilabel tasks over all yes/no decisions pooled. 0 when undefined
    (one class only in the truth or in the predictions).

    >>> import numpy as np
    >>> metric = MatthewsCorrelation(2)
    >>> metric.update_state(np.array([0, 1, 1, 0]), np.eye(2, dtype="float32")[[0, 1, 1, 1]])
    >>> round(float(metric.result()), 4)
    0.5774
    """

    def __init__(self, num_classes: int, *, multilabel: bool = False, name: str = "mcc", **kwargs):
        super().__init__(num_classes, multilabel=multilabel, name=name, **kwargs)

    @_graph_only
    def result(self):
        matrix = self.matrix
        if self.multilabel:
            matrix = tf.reduce_sum(matrix, axis=0)
        matrix = tf.cast(matrix, tf.float64)
        correct = tf.linalg.trace(matrix)
        total = tf.reduce_sum(matrix)
        predicted = tf.reduce_sum(matrix, axis=0)
        true = tf.reduce_sum(matrix, axis=1)
        covariance = correct * total - tf.reduce_sum(predicted * true)
        denominator = tf.sqrt(
            (total**2 - tf.reduce_sum(predicted**2)) * (total**2 - tf.reduce_sum(true**2))
        )
        return tf.cast(tf.math.divide_no_nan(covariance, denominator), tf.float32)


class _WeightedMean(_keras.metrics.Metric):
    """Base: the weighted mean of per-element values over everything seen since the last reset.

    Subclasses give ``values_and_weights(y_true, y_pred, sample_weight)``; elements of weight 0
    never count, even when their value is NaN (an all-padding filler row), which a plain
    ``value × weight`` would turn into NaN.
    """

    def __init__(self, name: str, **kwargs):
        super().__init__(name=name, **kwargs)
        self.total = self.add_weight("total", initializer="zeros")
        self.counted = self.add_weight("counted", initializer="zeros")

    def values_and_weights(self, y_true, y_pred, sample_weight):  # pragma: no cover - abstract
        raise NotImplementedError

    @_graph_only
    def update_state(self, y_true, y_pred, sample_weight=None):
        values, weights = self.values_and_weights(y_true, y_pred, sample_weight)
        self.total.assign_add(tf.reduce_sum(tf.where(weights > 0, values * weights, 0.0)))
        self.counted.assign_add(tf.reduce_sum(weights))

    def reset_state(self):
        self.total.assign(0.0)
        self.counted.assign(0.0)

    @_graph_only
    def result(self):
        return tf.math.divide_no_nan(self.total, self.counted)


@_keras.utils.register_keras_serializable(package="tfprot")
class MaskedAccuracy(_WeightedMean):
    """Fraction of counted decisions that are right: sequences (classification), residues with a
    label (token; Q3 for 3-state secondary structure) or every label's yes/no (``multilabel=True``).

    >>> import numpy as np
    >>> metric = MaskedAccuracy()
    >>> metric.update_state(np.array([[1, 0, -100]]), np.eye(2, dtype="float32")[[[1, 1, 0]]])
    >>> float(metric.result())
    0.5
    """

    def __init__(self, *, multilabel: bool = False, name: str = "accuracy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.multilabel = bool(multilabel)

    def values_and_weights(self, y_true, y_pred, sample_weight):
        truth, decision, weights = _flatten_predictions(
            self.multilabel, y_true, y_pred, sample_weight
        )
        return tf.cast(tf.equal(truth, decision), tf.float32), weights

    def get_config(self):
        return {**super().get_config(), "multilabel": self.multilabel}


@_keras.utils.register_keras_serializable(package="tfprot")
class MaskedCrossEntropy(_WeightedMean):
    """Token cross-entropy over every counted position seen since the last reset: the summed
    loss of all non-ignored positions divided by their number (weighted by ``sample_weight``).

    Keras reports as ``loss`` the mean of per-batch losses weighted by each batch's number of
    rows, which is not the token mean of the set when batches hold different numbers of
    residues; this metric is (it is what PyTorch's ``CrossEntropyLoss(ignore_index=-100)`` gives
    on the whole set at once).

    >>> import numpy as np
    >>> metric = MaskedCrossEntropy()
    >>> logits = np.log(np.array([[[.5, .5], [.2, .8], [.9, .1]]], dtype="float32"))
    >>> metric.update_state(np.array([[-100, 1, 0]]), logits)
    >>> bool(np.isclose(float(metric.result()), -(np.log(.8) + np.log(.9)) / 2))
    True
    """

    def __init__(self, name: str = "token_cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)

    def values_and_weights(self, y_true, y_pred, sample_weight):
        y_true = tf.cast(y_true, tf.int32)
        counted = tf.not_equal(y_true, IGNORE_INDEX)
        token_losses = tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=tf.where(counted, y_true, tf.zeros_like(y_true)),
            logits=tf.cast(y_pred, tf.float32),
        )
        weights = _row_weights(sample_weight, token_losses) * tf.cast(counted, tf.float32)
        return token_losses, weights


@_keras.utils.register_keras_serializable(package="tfprot")
class MeanAbsoluteError(_WeightedMean):
    """Weighted mean absolute error of one value per row; rows of weight 0 never count, even
    with a NaN prediction (Keras' own multiplies by the weight, and NaN × 0 is NaN).

    >>> import numpy as np
    >>> metric = MeanAbsoluteError()
    >>> metric.update_state(np.array([1.0, 2.0]), np.array([0.0, np.nan]), np.array([1.0, 0.0]))
    >>> float(metric.result())
    1.0
    """

    def __init__(self, name: str = "mae", **kwargs):
        super().__init__(name=name, **kwargs)

    def values_and_weights(self, y_true, y_pred, sample_weight):
        y_pred = tf.reshape(tf.cast(y_pred, tf.float32), [-1])
        errors = tf.abs(tf.reshape(tf.cast(y_true, tf.float32), [-1]) - y_pred)
        return errors, _row_weights(sample_weight, errors)


@_keras.utils.register_keras_serializable(package="tfprot")
class SpearmanCorrelation(_keras.metrics.Metric):
    """Spearman rank correlation over every (target, prediction) pair seen since the last reset,
    as ``scipy.stats.spearmanr`` (ties share their average rank); 0 when either side is constant
    (scipy: nan).

    Rank correlation does not decompose over batches, so the pairs are kept: in a buffer of
    ``capacity`` pairs, of fixed shape so that ``fit(jit_compile=True)`` compiles it. Rows with
    ``sample_weight`` 0 are not stored. Once more than ``capacity`` pairs have been seen the
    result is NaN (and, outside XLA, an ``InvalidArgumentError`` names the capacity to raise).

    >>> import numpy as np
    >>> metric = SpearmanCorrelation(capacity=8)
    >>> metric.update_state(np.array([1.0, 2.0, 2.0]), np.array([0.1, 0.3, 0.2]))
    >>> metric.update_state(np.array([4.0]), np.array([0.9]))
    >>> round(float(metric.result()), 4)  # scipy.stats.spearmanr([1, 2, 2, 4], [.1, .3, .2, .9])
    0.9487
    """

    def __init__(self, capacity: int = SPEARMAN_CAPACITY, name: str = "spearman", **kwargs):
        super().__init__(name=name, **kwargs)
        if int(capacity) < 2:
            raise TfprotError(
                f"SpearmanCorrelation needs a capacity of at least 2, got {capacity}."
            )
        self.capacity = int(capacity)
        # One spare slot at the end receives the rows that are not kept.
        self.targets = self.add_weight("targets", shape=(self.capacity + 1,), initializer="zeros")
        self.predictions = self.add_weight(
            "predictions", shape=(self.capacity + 1,), initializer="zeros"
        )
        self.seen = self.add_weight("seen", shape=(), initializer="zeros", dtype=tf.int32)

    @_graph_only
    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = tf.reshape(tf.cast(y_true, tf.float32), [-1])
        y_pred = tf.reshape(tf.cast(y_pred, tf.float32), [-1])
        keep = tf.ones_like(y_true, dtype=tf.bool)
        if sample_weight is not None:
            keep = tf.reshape(tf.cast(sample_weight, tf.float32), [-1]) > 0
        keep_int = tf.cast(keep, tf.int32)
        slot = tf.minimum(self.seen + tf.cumsum(keep_int) - 1, self.capacity)
        slot = tf.where(keep, slot, self.capacity)[:, None]
        self.targets.scatter_nd_update(slot, y_true)
        self.predictions.scatter_nd_update(slot, y_pred)
        self.seen.assign_add(tf.reduce_sum(keep_int))

    def reset_state(self):
        self.targets.assign(tf.zeros_like(self.targets))
        self.predictions.assign(tf.zeros_like(self.predictions))
        self.seen.assign(0)

    @_graph_only
    def result(self):
        overflow = self.seen > self.capacity
        check = tf.debugging.Assert(
            tf.logical_not(overflow),
            [
                f"SpearmanCorrelation holds {self.capacity} pairs and has seen more; build it "
                "with a larger capacity. Seen:",
                self.seen,
            ],
        )
        with tf.control_dependencies([check]):
            valid = tf.range(self.capacity) < tf.minimum(self.seen, self.capacity)
        rho = _masked_spearman(
            self.targets[: self.capacity], self.predictions[: self.capacity], valid
        )
        return tf.where(overflow, tf.constant(float("nan")), rho)

    def get_config(self):
        return {**super().get_config(), "capacity": self.capacity}


def _masked_spearman(x, y, valid):
    """Spearman correlation of the ``valid`` entries of ``x`` and ``y`` (fixed shapes only)."""
    weights = tf.cast(valid, tf.float32)
    count = tf.maximum(tf.reduce_sum(weights), 1.0)
    x_rank = _average_ranks(tf.where(valid, x, float("inf")))
    y_rank = _average_ranks(tf.where(valid, y, float("inf")))
    x_rank = (x_rank - tf.reduce_sum(x_rank * weights) / count) * weights
    y_rank = (y_rank - tf.reduce_sum(y_rank * weights) / count) * weights
    covariance = tf.reduce_sum(x_rank * y_rank)
    return tf.math.divide_no_nan(
        covariance, tf.sqrt(tf.reduce_sum(x_rank**2) * tf.reduce_sum(y_rank**2))
    )


def _average_ranks(values):
    """1-based ranks of a fixed-length vector; tied values share the mean of their ranks.

    >>> _average_ranks(tf.constant([3.0, 1.0, 3.0, 2.0])).numpy().tolist()
    [3.5, 1.0, 3.5, 2.0]
    """
    count = values.shape[0]
    order = tf.argsort(values, stable=True)
    ordered = tf.gather(values, order)
    starts = tf.concat([[True], ordered[1:] != ordered[:-1]], axis=0)
    group = tf.cumsum(tf.cast(starts, tf.int32)) - 1
    position = tf.range(count)
    first = tf.math.unsorted_segment_min(position, group, count)
    last = tf.math.unsorted_segment_max(position, group, count)
    mean_rank = tf.cast(tf.gather(first, group) + tf.gather(last, group), tf.float32) / 2 + 1
    return tf.scatter_nd(order[:, None], mean_rank, [count])
