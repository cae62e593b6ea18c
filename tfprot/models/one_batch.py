"""Keras' one-batch calls (``train_on_batch``, ``test_on_batch``, ``predict_on_batch``) without
tf.data's autotuner.

Keras runs each of these calls on a one-batch ``tf.data`` iterator with the default options, so
tf.data's autotuner starts a thread for it. That thread sleeps in periods that double (10 ms,
20 ms, ... up to a minute), and the call's iterator is not released until the thread wakes: a
call that computes for 6 s took 10.2 s (TensorFlow 2.21, 2-core AMD EPYC), and every training
step of an esm2_t30_150M-sized model took 40.97 s (``10 ms × (2¹² − 1)``) whatever it computed
(full fine-tuning, LoRA, LoRA with recomputation, with or without tfprot's CPU ops). A one-batch
iterator has nothing to tune; :class:`OneBatchCalls` builds it with the autotuner off and
otherwise does what Keras' methods do (same arguments, same results).

>>> import numpy as np, tfprot
>>> model = tfprot.sequence_classifier("tiny-esm", ["a", "b"], precision="float32")
>>> batch = {"input_ids": np.array([[0, 5, 6, 7, 2]]), "attention_mask": np.ones((1, 5), int)}
>>> loss = model.train_on_batch(batch, np.array([1]), return_dict=True)["loss"]
>>> model.predict_on_batch(batch).shape
(1, 2)
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf
from tf_keras.src.engine import training_utils
from tf_keras.src.engine.training import flatten_metrics_in_order
from tf_keras.src.utils.tf_utils import sync_to_numpy_or_python_type

__all__ = ["OneBatchCalls", "one_batch_dataset"]


def one_batch_dataset(x: Any, y: Any = None, sample_weight: Any = None) -> tf.data.Dataset:
    """``(x, y, sample_weight)`` (the ``None`` ones left out, as Keras does) as a dataset of one
    element, tf.data's autotuner off.

    >>> dataset = one_batch_dataset({"input_ids": [[1, 2]]}, [0])
    >>> dataset.options().autotune.enabled, len(dataset)
    (False, 1)
    """
    if y is None:
        data = (x,)
    elif sample_weight is None:
        data = (x, y)
    else:
        data = (x, y, sample_weight)
    options = tf.data.Options()
    options.autotune.enabled = False
    return tf.data.Dataset.from_tensors(data).with_options(options)


class OneBatchCalls:
    """Mixin for a ``keras.Model``: its ``*_on_batch`` methods on a one-batch iterator without
    tf.data's autotuner. A ``class_weight`` (which Keras maps over the dataset with its own
    code) goes to Keras' method as it is."""

    def train_on_batch(
        self,
        x: Any,
        y: Any = None,
        sample_weight: Any = None,
        class_weight: Any = None,
        reset_metrics: bool = True,
        return_dict: bool = False,
    ):
        """``keras.Model.train_on_batch``: one gradient step on one batch."""
        if class_weight is not None:
            return super().train_on_batch(
                x, y, sample_weight, class_weight, reset_metrics, return_dict
            )
        self._assert_compile_was_called()
        if reset_metrics:
            self.reset_metrics()
        with self.distribute_strategy.scope(), _compiled_trainable_state(self):
            iterator = self._one_batch_iterator(x, y, sample_weight)
            self.train_function = self.make_train_function()
            logs = self.train_function(iterator)
        return self._one_batch_logs(logs, return_dict)

    def test_on_batch(
        self,
        x: Any,
        y: Any = None,
        sample_weight: Any = None,
        reset_metrics: bool = True,
        return_dict: bool = False,
    ):
        """``keras.Model.test_on_batch``: loss and metrics on one batch."""
        self._assert_compile_was_called()
        if reset_metrics:
            self.reset_metrics()
        with self.distribute_strategy.scope():
            iterator = self._one_batch_iterator(x, y, sample_weight)
            self.test_function = self.make_test_function()
            logs = self.test_function(iterator)
        return self._one_batch_logs(logs, return_dict)

    def predict_on_batch(self, x: Any):
        """``keras.Model.predict_on_batch``: the outputs for one batch, as numpy."""
        with self.distribute_strategy.scope():
            iterator = self._one_batch_iterator(x)
            self.predict_function = self.make_predict_function()
            outputs = self.predict_function(iterator)
        return sync_to_numpy_or_python_type(outputs)

    def _one_batch_iterator(self, x, y=None, sample_weight=None):
        dataset = one_batch_dataset(x, y, sample_weight)
        return iter(self.distribute_strategy.experimental_distribute_dataset(dataset))

    def _one_batch_logs(self, logs, return_dict: bool):
        logs = sync_to_numpy_or_python_type(logs)
        return logs if return_dict else flatten_metrics_in_order(logs, self.metrics_names)


def _compiled_trainable_state(model):
    """Keras' guard that trains with the trainable flags the model was compiled with."""
    return training_utils.RespectCompiledTrainableState(model)
