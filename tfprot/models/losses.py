"""Losses for the four tasks, always computed in float32.

Token classification uses :class:`MaskedSparseCategoricalCrossentropy`: the mean cross-entropy over
the positions whose label is not ``IGNORE_INDEX`` (-100) in the batch, the same number PyTorch's
``CrossEntropyLoss(ignore_index=-100)`` gives.
"""

from __future__ import annotations

import tensorflow as tf

from tfprot._keras import keras
from tfprot.data.labels import IGNORE_INDEX, Task

__all__ = ["MaskedSparseCategoricalCrossentropy", "loss_for_task"]

_keras = keras()


@_keras.utils.register_keras_serializable(package="tfprot")
class MaskedSparseCategoricalCrossentropy(_keras.losses.Loss):
    """Cross-entropy over the non-ignored positions of ``[batch, tokens]`` labels.

    Keras reduces a loss by averaging per-example values over the batch. To make that average the
    token-level mean (``sum of token losses / number of counted tokens``), each example's value
    is its summed token loss scaled by ``batch size / counted tokens in the batch``. Zero-weight
    rows (the static-shape filler) hold no counted tokens and add nothing.

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

    def call(self, y_true, y_pred):
        y_pred = tf.cast(y_pred, tf.float32)
        y_true = tf.cast(y_true, tf.int32)
        counted = tf.not_equal(y_true, self.ignore_index)
        safe_labels = tf.where(counted, y_true, tf.zeros_like(y_true))
        token_losses = tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=safe_labels, logits=y_pred
        )
        counted = tf.cast(counted, tf.float32)
        per_example = tf.reduce_sum(token_losses * counted, axis=-1)
        batch = tf.cast(tf.shape(y_true)[0], tf.float32)
        return per_example * batch / tf.maximum(tf.reduce_sum(counted), 1.0)

    def get_config(self):
        return {**super().get_config(), "ignore_index": self.ignore_index}


def loss_for_task(task: Task):
    """The default loss of a task (all take logits, never probabilities).

    classification: sparse categorical cross-entropy; multilabel: binary cross-entropy;
    regression: mean squared error; token: :class:`MaskedSparseCategoricalCrossentropy`.
    """
    task = Task.parse(task)
    if task is Task.CLASSIFICATION:
        return _keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    if task is Task.MULTILABEL:
        return _keras.losses.BinaryCrossentropy(from_logits=True)
    if task is Task.REGRESSION:
        return _keras.losses.MeanSquaredError()
    return MaskedSparseCategoricalCrossentropy()
