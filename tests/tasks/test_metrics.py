"""Streaming metrics against scikit-learn and scipy, accumulated over several batches."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from scipy.stats import spearmanr
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

import tfprot
from tfprot._keras import keras
from tfprot.errors import TfprotError
from tfprot.tasks import IGNORE_INDEX, metrics_for_task
from tfprot.tasks.metrics import (
    MacroF1,
    MaskedAccuracy,
    MaskedCrossEntropy,
    MatthewsCorrelation,
    MeanAbsoluteError,
    SpearmanCorrelation,
)

_keras = keras()


def _feed(metrics, batches):
    for metric in metrics:
        metric.reset_state()
        for y_true, y_pred, weight in batches:
            metric.update_state(y_true, y_pred, sample_weight=weight)
    return [float(metric.result()) for metric in metrics]


def _batches(arrays, sizes):
    """Split aligned arrays into consecutive batches of the given sizes."""
    out, start = [], 0
    for size in sizes:
        out.append(tuple(a[start : start + size] for a in arrays))
        start += size
    return out


def _onehot_logits(decisions, classes, rng):
    """Logits whose argmax is ``decisions`` (with noise, so the test exercises argmax)."""
    logits = rng.normal(size=(*decisions.shape, classes)).astype("float32")
    np.put_along_axis(logits, decisions[..., None], 10.0, axis=-1)
    return logits


@pytest.mark.parametrize("seed", [0, 1])
def test_classification_metrics_match_sklearn_over_batches(seed):
    rng = np.random.default_rng(seed)
    n, classes = 90, 6
    truth = rng.integers(0, 4, size=n)  # classes 4 and 5 never true...
    decisions = np.where(rng.random(n) < 0.6, truth, rng.integers(0, 5, size=n))  # ...4 predicted
    weights = (rng.random(n) > 0.2).astype("float32")  # zero-weight rows must be ignored
    logits = _onehot_logits(decisions, classes, rng)
    batches = _batches((truth, logits, weights), (32, 32, 26))
    metrics = [MaskedAccuracy(), MacroF1(classes), MatthewsCorrelation(classes)]
    got = _feed(metrics, batches)
    keep = weights > 0
    t, d = truth[keep], decisions[keep]
    want = [accuracy_score(t, d), f1_score(t, d, average="macro"), matthews_corrcoef(t, d)]
    np.testing.assert_allclose(got, want, rtol=1e-5)
    # The classes sklearn averages over (labels=None): those in truth or predictions.
    assert set(np.unique(np.concatenate([t, d]))) == {0, 1, 2, 3, 4}


def test_single_class_edge_cases_match_sklearn():
    rng = np.random.default_rng(5)
    truth = np.zeros(10, int)
    logits = _onehot_logits(np.zeros(10, int), 3, rng)
    got = _feed([MacroF1(3), MatthewsCorrelation(3)], [(truth, logits, None)])
    assert got == [f1_score(truth, truth, average="macro"), matthews_corrcoef(truth, truth)]
    assert got == [1.0, 0.0]


def test_token_metrics_skip_ignored_positions_like_sklearn_on_the_counted_ones():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 3, size=(9, 12))
    for row, counted in enumerate(rng.integers(0, 13, size=9)):
        labels[row, counted:] = IGNORE_INDEX
    labels[3] = IGNORE_INDEX  # a row with nothing counted
    labels[1, 2] = IGNORE_INDEX
    decisions = np.where(rng.random(labels.shape) < 0.7, np.maximum(labels, 0), 2)
    logits = _onehot_logits(decisions, 3, rng)
    weights = np.ones(9, "float32")
    weights[7] = 0.0  # a filler-like row with real labels: must not count
    batches = _batches((labels, logits, weights), (4, 5))
    got = _feed([MaskedAccuracy(), MacroF1(3)], batches)
    counted = (labels != IGNORE_INDEX) & (weights[:, None] > 0)
    t, d = labels[counted], decisions[counted]
    np.testing.assert_allclose(
        got, [accuracy_score(t, d), f1_score(t, d, average="macro")], rtol=1e-5
    )


def test_masked_cross_entropy_is_the_token_mean_over_all_batches():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 3, size=(6, 8))
    labels[0, 3:] = labels[2, 1:] = labels[4] = IGNORE_INDEX
    logits = rng.normal(size=(6, 8, 3)).astype("float32")
    logits[5] = np.nan  # a filler row (all-padding input) may hold NaN logits; weight 0
    labels[5] = IGNORE_INDEX
    weights = np.array([1, 1, 1, 1, 1, 0], "float32")
    (got,) = _feed([MaskedCrossEntropy()], _batches((labels, logits, weights), (2, 4)))
    counted = labels != IGNORE_INDEX
    shifted = logits[:5] - logits[:5].max(-1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    picked = np.take_along_axis(log_p, np.maximum(labels[:5], 0)[..., None], -1)[..., 0]
    assert got == pytest.approx(-picked[counted[:5]].mean(), rel=1e-5)


def test_multilabel_metrics_match_sklearn():
    rng = np.random.default_rng(4)
    n, labels = 40, 5
    truth = (rng.random((n, labels)) < 0.3).astype("float32")
    truth[:, 4] = 0  # label 4: never true...
    decisions = np.where(rng.random((n, labels)) < 0.75, truth, 1 - truth)
    decisions[:, 4] = 0  # ...and never predicted: sklearn counts it as F1 0
    logits = (
        np.where(decisions > 0, 2.0, -2.0).astype("float32") + rng.normal(size=truth.shape) * 0.1
    )
    weights = (rng.random(n) > 0.15).astype("float32")
    batches = _batches((truth, logits.astype("float32"), weights), (16, 24))
    metrics = [
        MaskedAccuracy(multilabel=True),
        MacroF1(labels, multilabel=True),
        MatthewsCorrelation(labels, multilabel=True),
    ]
    got = _feed(metrics, batches)
    keep = weights > 0
    t, d = truth[keep].astype(int), decisions[keep].astype(int)
    want = [
        accuracy_score(t.ravel(), d.ravel()),
        f1_score(t, d, average="macro", zero_division=0),
        matthews_corrcoef(t.ravel(), d.ravel()),
    ]
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_spearman_matches_scipy_with_ties_and_zero_weights():
    rng = np.random.default_rng(6)
    targets = rng.integers(0, 8, size=70).astype("float32")  # many ties
    predictions = (targets + rng.integers(-3, 4, size=70)).astype("float32")  # ties too
    predictions[10] = np.nan  # a zero-weight filler row may carry NaN
    weights = np.ones(70, "float32")
    weights[[3, 10, 40, 41]] = 0
    batches = _batches((targets, predictions, weights), (20, 20, 30))
    got = _feed([SpearmanCorrelation(capacity=128), MeanAbsoluteError()], batches)
    keep = weights > 0
    want = [
        spearmanr(targets[keep], predictions[keep]).statistic,
        np.abs(targets[keep] - predictions[keep]).mean(),
    ]
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_spearman_is_zero_for_constant_input_and_nan_after_overflow():
    metric = SpearmanCorrelation(capacity=4)
    metric.update_state(np.ones(3), np.arange(3.0))
    assert float(metric.result()) == 0.0  # scipy: nan (undefined)
    metric.update_state(np.arange(2.0), np.arange(2.0))
    with pytest.raises(tf.errors.InvalidArgumentError, match="larger capacity"):
        metric.result()
    with pytest.raises(TfprotError):
        SpearmanCorrelation(capacity=1)


def test_spearman_compiles_with_xla_and_matches_scipy():
    rng = np.random.default_rng(7)
    metric = SpearmanCorrelation(capacity=256)
    targets = rng.normal(size=(3, 16)).astype("float32")
    targets[:, :4] = 1.0  # ties
    predictions = targets + rng.normal(size=targets.shape).astype("float32")
    weights = np.ones((3, 16), "float32")
    weights[2, 10:] = 0

    @tf.function(jit_compile=True)
    def step(y_true, y_pred, weight):
        metric.update_state(y_true, y_pred, sample_weight=weight)
        return metric.result()

    for row in range(3):
        value = step(targets[row], predictions[row], weights[row])
    keep = weights.ravel() > 0
    want = spearmanr(targets.ravel()[keep], predictions.ravel()[keep]).statistic
    assert float(value) == pytest.approx(want, rel=1e-5)
    assert step.experimental_get_tracing_count() == 1


@pytest.mark.parametrize("task", ["classification", "multilabel", "regression", "token"])
def test_metrics_round_trip_through_config(task):
    for metric in metrics_for_task(task, 4):
        rebuilt = type(metric).from_config(metric.get_config())
        assert rebuilt.get_config() == metric.get_config()


def test_factory_metrics_ignore_static_shape_filler_rows(cytosol_membrane):
    """The factory compiles the metrics as weighted metrics: filler rows (weight 0) do not count."""
    model = tfprot.sequence_classifier(
        "tiny-esm", cytosol_membrane, precision="float32", num_hidden_layers=1, token_dropout=False
    )
    data = cytosol_membrane.tf_dataset(
        "test", model.tokenizer, static_shapes=True, bucket_lengths=(64,), batch_tokens=1024
    )
    truth, decisions, filler = [], [], 0
    for features, labels, weights in data:
        keep = weights.numpy() > 0
        filler += int((~keep).sum())
        truth.append(labels.numpy()[keep])
        decisions.append(model(features).numpy().argmax(-1)[keep])
    truth, decisions = np.concatenate(truth), np.concatenate(decisions)
    assert filler > 0
    results = model.evaluate(data, verbose=0, return_dict=True)
    assert results["accuracy"] == pytest.approx(accuracy_score(truth, decisions), rel=1e-5)
    assert results["mcc"] == pytest.approx(matthews_corrcoef(truth, decisions), rel=1e-5, abs=1e-6)
