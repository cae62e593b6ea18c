"""ProteinModel's ``*_on_batch`` calls (tfprot.models.one_batch) against Keras' own methods on a
twin model with the same weights: the same losses, metrics, outputs and updated weights; and the
one-batch data they run on has tf.data's autotuner off (with it on, each call waited for the
autotuner's thread: a model's 150M-sized step took 40.97 s whatever it computed)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import tfprot
from tfprot._keras import keras
from tfprot.models import one_batch

KERAS_MODEL = keras().Model  # Keras' own methods, called on the twin


@pytest.fixture(scope="module")
def twins():
    """Two tiny classifiers with the same weights and a batch with labels."""
    models = [
        tfprot.sequence_classifier("tiny-esm", ["a", "b", "c"], precision="float32")
        for _ in range(2)
    ]
    rng = np.random.default_rng(0)
    ids = rng.integers(4, 24, size=(4, 12))
    ids[:, 0], ids[:, -1] = 0, 2
    features = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
    labels = np.array([0, 2, 1, 2])
    for model in models:
        model.predict_on_batch(features)  # built
    models[1].set_weights(models[0].get_weights())
    return models, features, labels


def test_train_on_batch_is_keras_train_on_batch(twins):
    (ours, theirs), features, labels = twins
    before = ours.get_weights()
    weights = np.array([1.0, 0.5, 2.0, 1.0])
    got = ours.train_on_batch(features, labels, sample_weight=weights, return_dict=True)
    want = KERAS_MODEL.train_on_batch(
        theirs, features, labels, sample_weight=weights, return_dict=True
    )
    assert got.keys() == want.keys() and "loss" in got
    for name in got:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-6, err_msg=name)
    for mine, reference in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(mine, reference, rtol=1e-6, atol=1e-7)
    changed = [not np.array_equal(a, b) for a, b in zip(before, ours.get_weights(), strict=True)]
    assert sum(changed) > len(changed) // 2  # it trained
    # the list form, in Keras' order
    listed = ours.train_on_batch(features, labels)
    assert isinstance(listed, list) and len(listed) == len(ours.metrics_names)
    assert isinstance(listed[0], float)


def test_test_and_predict_on_batch_are_keras(twins):
    (ours, theirs), features, labels = twins
    theirs.set_weights(ours.get_weights())
    got = ours.test_on_batch(features, labels, return_dict=True)
    want = KERAS_MODEL.test_on_batch(theirs, features, labels, return_dict=True)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-6, err_msg=name)
    outputs = ours.predict_on_batch(features)
    reference = KERAS_MODEL.predict_on_batch(theirs, features)
    assert tf.nest.is_nested(outputs) == tf.nest.is_nested(reference)
    for mine, keras_own in zip(tf.nest.flatten(outputs), tf.nest.flatten(reference), strict=True):
        assert isinstance(mine, np.ndarray) and mine.shape == (4, 3)
        np.testing.assert_allclose(mine, keras_own, rtol=1e-6)


def test_the_one_batch_iterators_have_no_autotuner(twins, monkeypatch):
    (ours, _), features, labels = twins
    made = []
    original = one_batch.one_batch_dataset

    def recording(*args, **kwargs):
        made.append(original(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(one_batch, "one_batch_dataset", recording)
    ours.train_on_batch(features, labels)
    ours.test_on_batch(features, labels)
    ours.predict_on_batch(features)
    assert len(made) == 3
    assert [dataset.options().autotune.enabled for dataset in made] == [False] * 3
    assert all(len(dataset) == 1 for dataset in made)


def test_class_weight_goes_to_keras(twins):
    (ours, theirs), features, labels = twins
    theirs.set_weights(ours.get_weights())
    class_weight = {0: 1.0, 1: 3.0, 2: 0.5}
    got = ours.train_on_batch(features, labels, class_weight=class_weight, return_dict=True)
    want = KERAS_MODEL.train_on_batch(
        theirs, features, labels, class_weight=class_weight, return_dict=True
    )
    np.testing.assert_allclose(got["loss"], want["loss"], rtol=1e-6)


def test_one_batch_under_a_distribution_strategy():
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    with strategy.scope():
        model = tfprot.sequence_classifier("tiny-esm", ["a", "b"], precision="float32")
    ids = np.array([[0, 5, 6, 7, 2], [0, 8, 9, 2, 1]])
    features = {"input_ids": ids, "attention_mask": (ids != 1).astype(int)}
    loss = model.train_on_batch(features, np.array([0, 1]), return_dict=True)["loss"]
    assert np.isfinite(loss)
