"""Losses against hand-computed numpy values and PyTorch; what ``evaluate`` reports for tokens."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import tfprot
from tfprot._keras import keras
from tfprot.tasks import IGNORE_INDEX, loss_for_task
from tfprot.tasks.losses import (
    MaskedSparseCategoricalCrossentropy,
    WeightedBinaryCrossentropy,
    WeightedMeanSquaredError,
    WeightedSparseCategoricalCrossentropy,
)

_keras = keras()


def _log_softmax(logits):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _token_batch(seed=0):
    """6 rows × 7 positions, 3 classes: rows hold 5, 2, 7, 0 (all ignored) and 3 counted tokens,
    and a static-mode filler row (all ignored, weight 0)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(6, 7, 3)).astype("float32") * 2
    labels = rng.integers(0, 3, size=(6, 7))
    for row, counted in enumerate((5, 2, 7, 0, 3, 0)):
        labels[row, counted:] = IGNORE_INDEX
    labels[0, 1] = IGNORE_INDEX  # a hole inside a row (an unresolved residue)
    weights = np.array([1, 1, 1, 1, 1, 0], dtype="float32")
    return labels, logits, weights


def _numpy_token_loss(labels, logits, token_weights):
    counted = (labels != IGNORE_INDEX) & (token_weights > 0)
    log_p = _log_softmax(logits.astype("float64"))
    picked = np.take_along_axis(log_p, np.where(counted, labels, 0)[..., None], -1)[..., 0]
    picked = np.where(counted, picked, 0.0)  # filler rows may hold NaN logits
    total = (token_weights * counted).sum()
    return float(-(picked * token_weights * counted).sum() / total) if total else 0.0


def test_masked_token_loss_equals_numpy_and_torch_cross_entropy():
    import torch

    labels, logits, weights = _token_batch()
    loss = MaskedSparseCategoricalCrossentropy()
    ones = np.ones_like(labels, dtype="float64")
    expected = _numpy_token_loss(labels, logits, ones)
    reference = torch.nn.CrossEntropyLoss(ignore_index=IGNORE_INDEX)(
        torch.from_numpy(logits.reshape(-1, 3)), torch.from_numpy(labels.reshape(-1))
    ).item()
    assert expected == pytest.approx(reference, rel=1e-6)
    # A mean over the 16 counted tokens, not a mean of per-row means.
    row_means = [
        _numpy_token_loss(labels[r : r + 1], logits[r : r + 1], ones[:1]) for r in (0, 1, 2, 4)
    ]
    assert expected != pytest.approx(np.mean(row_means), rel=1e-3)

    assert float(loss(labels, logits)) == pytest.approx(expected, rel=1e-5)
    # The filler row (weight 0, no counted token) changes nothing.
    assert float(loss(labels, logits, sample_weight=weights)) == pytest.approx(expected, rel=1e-5)


def test_masked_token_loss_with_weights_is_the_weighted_token_mean():
    labels, logits, _ = _token_batch(seed=1)
    weights = np.array([1, 0, 2, 1, 0.5, 1], dtype="float32")  # row 1 has real labels, weight 0
    token_weights = np.broadcast_to(weights[:, None], labels.shape).astype("float64")
    expected = _numpy_token_loss(labels, logits, token_weights)
    got = MaskedSparseCategoricalCrossentropy()(labels, logits, sample_weight=weights)
    assert float(got) == pytest.approx(expected, rel=1e-5)
    # Dropping the weight-0 row gives the same value as PyTorch on the remaining rows.
    keep = weights > 0
    unweighted = MaskedSparseCategoricalCrossentropy()(
        labels, logits, sample_weight=keep.astype("float32")
    )
    assert float(unweighted) == pytest.approx(
        _numpy_token_loss(labels[keep], logits[keep], np.ones_like(labels[keep], "float64")),
        rel=1e-5,
    )


def test_all_ignored_batch_gives_zero_not_nan():
    labels = np.full((2, 4), IGNORE_INDEX)
    logits = np.zeros((2, 4, 3), "float32")
    assert float(MaskedSparseCategoricalCrossentropy()(labels, logits)) == 0.0


def test_binary_cross_entropy_for_multilabel_equals_numpy():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(5, 4)).astype("float32") * 3
    targets = rng.integers(0, 2, size=(5, 4)).astype("float32")
    weights = np.array([1, 1, 0, 1, 0], "float32")
    p = 1 / (1 + np.exp(-logits.astype("float64")))
    per_row = -(targets * np.log(p) + (1 - targets) * np.log(1 - p)).mean(axis=1)
    expected = per_row[weights > 0].mean()
    got = WeightedBinaryCrossentropy()(targets, logits, sample_weight=weights)
    assert float(got) == pytest.approx(expected, rel=1e-5)
    assert isinstance(loss_for_task("multilabel"), WeightedBinaryCrossentropy)


def test_mean_squared_error_for_regression_equals_numpy():
    rng = np.random.default_rng(3)
    targets, predictions = rng.normal(size=9), rng.normal(size=9).astype("float32")
    weights = np.array([1, 1, 1, 0, 1, 1, 0, 0, 1], "float32")
    expected = ((targets - predictions) ** 2)[weights > 0].mean()
    loss = loss_for_task("regression")
    assert isinstance(loss, WeightedMeanSquaredError)
    assert float(loss(targets, predictions, sample_weight=weights)) == pytest.approx(
        expected, rel=1e-5
    )
    # Keras' compile passes regression targets as [B] or [B, 1]: same value.
    assert float(loss(targets[:, None], predictions, sample_weight=weights)) == pytest.approx(
        expected, rel=1e-5
    )


def test_sparse_cross_entropy_for_classes_equals_numpy():
    rng = np.random.default_rng(4)
    logits = rng.normal(size=(6, 3)).astype("float32")
    labels = rng.integers(0, 3, size=6)
    weights = np.array([1, 0, 1, 1, 0, 1], "float32")
    picked = -_log_softmax(logits.astype("float64"))[np.arange(6), labels]
    got = WeightedSparseCategoricalCrossentropy()(labels[:, None], logits, sample_weight=weights)
    assert float(got) == pytest.approx(picked[weights > 0].mean(), rel=1e-5)


@pytest.mark.parametrize("task", ["classification", "multilabel", "regression", "token"])
def test_losses_round_trip_through_config(task):
    loss = loss_for_task(task)
    rebuilt = _keras.losses.deserialize(_keras.losses.serialize(loss))
    assert type(rebuilt) is type(loss) and rebuilt.get_config() == loss.get_config()


def test_evaluate_reports_keras_row_weighted_loss_and_the_exact_token_mean(secondary_structure):
    """What ``model.evaluate`` reports for a token model, against a hand computation over the
    same static-shape batches (filler rows included)."""
    model = tfprot.token_classifier(
        "tiny-esm", secondary_structure, precision="float32", num_hidden_layers=1
    )
    data = secondary_structure.tf_dataset(
        "validation",
        model.tokenizer,
        static_shapes=True,
        bucket_lengths=(64, 128),
        batch_tokens=1024,
    )
    batch_means, batch_rows, all_losses = [], [], []
    for features, labels, weights in data:
        logits = model(features).numpy()
        labels, weights = labels.numpy(), weights.numpy()
        token_weights = np.broadcast_to(weights[:, None], labels.shape).astype("float64")
        batch_means.append(_numpy_token_loss(labels, logits, token_weights))
        batch_rows.append(len(labels))  # Keras weights each batch by its rows, filler included
        counted = (labels != IGNORE_INDEX) & (token_weights > 0)
        log_p = _log_softmax(logits.astype("float64"))
        all_losses.append(
            -np.take_along_axis(log_p, np.where(counted, labels, 0)[..., None], -1)[..., 0][counted]
        )
    keras_loss = np.average(batch_means, weights=batch_rows)
    token_mean = float(np.concatenate(all_losses).mean())
    assert len(batch_means) > 1 and keras_loss != pytest.approx(token_mean, rel=1e-4)

    results = model.evaluate(data, verbose=0, return_dict=True)
    assert results["loss"] == pytest.approx(keras_loss, rel=1e-4)
    assert results["token_cross_entropy"] == pytest.approx(token_mean, rel=1e-4)


def test_loss_is_float32_under_mixed_precision():
    labels, logits, _ = _token_batch()
    value = MaskedSparseCategoricalCrossentropy()(labels, tf.cast(logits, tf.float16))
    assert value.dtype == tf.float32


def test_a_filler_row_keeps_gradients_finite():
    # An all-padding row with token_dropout=True (every ESM-2 checkpoint) once gave 0/0 in the
    # mask-ratio rescaling: NaN logits, and NaN gradients for every variable.
    model = tfprot.token_classifier(
        "tiny-esm", ["H", "E", "C"], precision="float32", num_hidden_layers=1
    )
    features = {
        "input_ids": tf.constant([[0, 5, 6, 2], [1, 1, 1, 1]]),
        "attention_mask": tf.constant([[1, 1, 1, 1], [0, 0, 0, 0]]),
    }
    labels = np.array([[IGNORE_INDEX, 1, 2, IGNORE_INDEX], [IGNORE_INDEX] * 4])
    with tf.GradientTape() as tape:
        loss = model.loss(
            labels, model(features, training=True), sample_weight=np.array([1.0, 0.0])
        )
    assert np.isfinite(float(loss))
    gradients = tape.gradient(loss, model.trainable_variables)
    assert all(np.isfinite(tf.convert_to_tensor(g).numpy()).all() for g in gradients)


def test_reduction_none_gives_each_rows_mean_over_its_counted_tokens():
    labels, logits, _ = _token_batch()
    per_row = MaskedSparseCategoricalCrossentropy(reduction="none")(labels, logits).numpy()
    log_p = _log_softmax(logits.astype("float64"))
    expected = []
    for row in range(len(labels)):
        counted = labels[row] != IGNORE_INDEX
        picked = np.take_along_axis(log_p[row], np.where(counted, labels[row], 0)[:, None], -1)
        expected.append(-picked[counted, 0].mean() if counted.any() else 0.0)
    np.testing.assert_allclose(per_row, expected, rtol=1e-5, atol=1e-6)
