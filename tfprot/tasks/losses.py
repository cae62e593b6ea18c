"""The tasks' losses: weighted means that zero-weight rows do not dilute, in float32.

Each loss is ``sum(weight × element loss) / sum(weight)`` over the batch: the elements are
residues with a label (token tasks, positions labelled ``IGNORE_INDEX`` = -100 do not count) or
sequences (the other tasks), and an element's weight is its row's ``sample_weight`` (1 without
one). So with weights 0/1 the loss is the plain mean over the weight-1 elements: what PyTorch's
``CrossEntropyLoss(ignore_index=-100)`` gives for tokens, and the filler rows the static-shape
mode adds (weight 0) change nothing. (Keras' own losses divide by the number of rows instead,
counting the filler rows.)

What ``fit``/``evaluate`` report as ``loss`` is Keras' mean of these per-batch values weighted by
each batch's number of rows (filler rows included). For token tasks that is not the token mean
of the whole set, because batches hold different numbers of residues: the
``token_cross_entropy`` metric (:class:`tfprot.tasks.metrics.MaskedCrossEntropy`) is.

Each task picks its loss (:meth:`tfprot.tasks.ProteinTask.loss`).
"""

from __future__ import annotations

import tensorflow as tf

from tfprot._keras import keras
from tfprot.tasks.base import IGNORE_INDEX

__all__ = [
    "MaskedSparseCategoricalCrossentropy",
    "WeightedBinaryCrossentropy",
    "WeightedMeanSquaredError",
    "WeightedSparseCategoricalCrossentropy",
]

_keras = keras()
_Reduction = _keras.losses.Reduction


class _WeightedMeanLoss(_keras.losses.Loss):
    """Base: ``elements(y_true, y_pred)`` gives element losses and a 0/1 mask of counted ones,
    both ``[batch]`` or ``[batch, tokens]``; the loss is their ``sample_weight``-weighted mean.

    With ``reduction="none"`` the per-row values are returned as Keras' losses do (each row's
    mean over its counted elements, times its weight).
    """

    def elements(self, y_true, y_pred):  # pragma: no cover - abstract
        raise NotImplementedError

    def call(self, y_true, y_pred):
        losses, counted = self.elements(y_true, y_pred)
        losses = tf.where(counted > 0, losses, 0.0)
        if losses.shape.rank == 1:
            return losses
        return tf.math.divide_no_nan(
            tf.reduce_sum(losses, axis=-1), tf.reduce_sum(counted, axis=-1)
        )

    def __call__(self, y_true, y_pred, sample_weight=None):
        if self.reduction == _Reduction.NONE:
            return super().__call__(y_true, y_pred, sample_weight=sample_weight)
        with tf.name_scope(self.name):
            losses, counted = self.elements(y_true, y_pred)
            weights = counted
            if sample_weight is not None:
                row = tf.cast(sample_weight, tf.float32)
                row = tf.reshape(row, tf.concat([tf.shape(row)[:1], [-1]], axis=0))
                if losses.shape.rank == 1:
                    row = tf.reshape(row, [-1])
                weights = weights * row
            # tf.where, not a product: a zero-weight row may hold NaN logits (an all-padding
            # filler row), and NaN × 0 is NaN.
            total = tf.reduce_sum(tf.where(weights > 0, losses * weights, 0.0))
            if self.reduction == _Reduction.SUM:
                return total
            return tf.math.divide_no_nan(total, tf.reduce_sum(weights))


@_keras.utils.register_keras_serializable(package="tfprot")
class MaskedSparseCategoricalCrossentropy(_WeightedMeanLoss):
    """Cross-entropy from logits over the residues of ``[batch, tokens]`` labels that are not
    ``ignore_index``: the mean over all counted residues of the batch (not a mean of per-row
    means), as PyTorch's ``CrossEntropyLoss(ignore_index=-100)``.

    >>> import numpy as np
    >>> loss = MaskedSparseCategoricalCrossentropy()
    >>> labels = np.array([[-100, 1, 0, -100]])
    >>> logits = np.log(np.array([[[.5, .5], [.2, .8], [.9, .1], [.5, .5]]], dtype="float32"))
    >>> round(float(loss(labels, logits)), 5) == round(float(-(np.log(.8) + np.log(.9)) / 2), 5)
    True
    """

    def __init__(
        self,
        ignore_index: int = IGNORE_INDEX,
        name: str = "masked_sparse_categorical_crossentropy",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        self.ignore_index = ignore_index

    def elements(self, y_true, y_pred):
        y_true = tf.cast(y_true, tf.int32)
        counted = tf.not_equal(y_true, self.ignore_index)
        losses = tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=tf.where(counted, y_true, tf.zeros_like(y_true)),
            logits=tf.cast(y_pred, tf.float32),
        )
        return losses, tf.cast(counted, tf.float32)

    def get_config(self):
        return {**super().get_config(), "ignore_index": self.ignore_index}


@_keras.utils.register_keras_serializable(package="tfprot")
class WeightedSparseCategoricalCrossentropy(_WeightedMeanLoss):
    """Cross-entropy from logits of ``[batch, classes]`` against integer labels ``[batch]``.

    >>> import numpy as np
    >>> loss = WeightedSparseCategoricalCrossentropy()
    >>> logits = np.log(np.array([[.2, .8], [.6, .4], [.5, .5]], dtype="float32"))
    >>> value = loss(np.array([1, 0, 0]), logits, sample_weight=np.array([1.0, 1.0, 0.0]))
    >>> bool(np.isclose(float(value), -(np.log(.8) + np.log(.6)) / 2))
    True
    """

    def __init__(self, name: str = "sparse_categorical_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)

    def elements(self, y_true, y_pred):
        y_pred = tf.cast(y_pred, tf.float32)
        labels = tf.reshape(tf.cast(y_true, tf.int32), tf.shape(y_pred)[:-1])
        losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=y_pred)
        return losses, tf.ones_like(losses)


@_keras.utils.register_keras_serializable(package="tfprot")
class WeightedBinaryCrossentropy(_WeightedMeanLoss):
    """Binary cross-entropy from logits ``[batch, labels]``: each row's mean over its labels.

    >>> import numpy as np
    >>> loss = WeightedBinaryCrossentropy()
    >>> value = loss(np.array([[1.0, 0.0]]), np.array([[0.0, 0.0]], dtype="float32"))
    >>> bool(np.isclose(float(value), np.log(2)))
    True
    """

    def __init__(self, name: str = "binary_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)

    def elements(self, y_true, y_pred):
        y_pred = tf.cast(y_pred, tf.float32)
        y_true = tf.cast(tf.reshape(y_true, tf.shape(y_pred)), tf.float32)
        losses = tf.nn.sigmoid_cross_entropy_with_logits(labels=y_true, logits=y_pred)
        losses = tf.reduce_mean(losses, axis=-1)
        return losses, tf.ones_like(losses)


@_keras.utils.register_keras_serializable(package="tfprot")
class WeightedMeanSquaredError(_WeightedMeanLoss):
    """Squared error of one value per row (``[batch]`` or ``[batch, 1]``).

    >>> import numpy as np
    >>> loss = WeightedMeanSquaredError()
    >>> float(loss(np.array([1.0, 2.0, 9.0]), np.array([0.0, 4.0, 0.0]), np.array([1, 1, 0])))
    2.5
    """

    def __init__(self, name: str = "mean_squared_error", **kwargs):
        super().__init__(name=name, **kwargs)

    def elements(self, y_true, y_pred):
        y_pred = tf.reshape(tf.cast(y_pred, tf.float32), [-1])
        y_true = tf.reshape(tf.cast(y_true, tf.float32), [-1])
        losses = tf.math.squared_difference(y_true, y_pred)
        return losses, tf.ones_like(losses)
