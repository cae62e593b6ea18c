"""XLA (``jit_compile=True``): one compilation per static batch shape, and every task's metrics
compiled inside the step, equal to scipy/scikit-learn."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from scipy.stats import spearmanr
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

import tfprot
from tfprot.data.labels import IGNORE_INDEX
from tfprot.models.factories import compile_model

# Runs in a fresh process: XLA's compilation log (TF_CPP_VMODULE) must be set before TensorFlow
# loads, and it is the only honest count: run_step is a tf.function with reduce_retracing=True,
# so its trace count stays at 2 while XLA compiles once per concrete input shape.
COUNT_SCRIPT = r"""
import json, sys
import tfprot
from tfprot._keras import keras

full = tfprot.ProteinDataset.example()
train = full.records("train")
records = []
for label in ("cytoplasmic", "plasma_membrane"):  # real labels, both classes, two length ranges
    mine = [r for r in train if r.label == label]
    records += [r for r in mine if len(r) <= 60][:4] + [r for r in mine if 60 < len(r) <= 250][:12]
data = tfprot.ProteinDataset(records, "classification", name="short")
model = tfprot.sequence_classifier(
    "tiny-esm", data, precision="float32", jit_compile=True, num_hidden_layers=1,
)
options = dict(static_shapes=True, bucket_lengths=(64, 128), batch_tokens=512)
dataset = data.tf_dataset("train", model.tokenizer, **options)
static = [tuple(f["input_ids"].shape) for f, _, _ in dataset]
bucketed = data.tf_dataset("train", model.tokenizer, batch_tokens=512, max_length=128)
bucketed = [tuple(f["input_ids"].shape) for f, _ in bucketed]

class Mark(keras().callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        print(f"@@EPOCH {epoch}", file=sys.stderr, flush=True)

history = model.fit(dataset, epochs=2, verbose=0, callbacks=[Mark()])
print("@@RESULT " + json.dumps({
    "static": static, "bucketed": bucketed, "history": history.history,
    "tracing": model.train_function.experimental_get_tracing_count(),
}), file=sys.stderr, flush=True)
"""


@pytest.mark.slow
def test_static_shapes_compile_once_per_bucket_shape_and_not_again():
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "0", "TF_CPP_VMODULE": "device_compiler=1"}
    run = subprocess.run(
        [sys.executable, "-c", COUNT_SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    log = run.stderr
    assert run.returncode == 0, log[-3000:]
    result = json.loads(log.split("@@RESULT ", 1)[1].splitlines()[0])
    _, epoch0, epoch1 = re.split(r"@@EPOCH \d", log.split("@@RESULT", 1)[0])
    compiled = [len(re.findall("Compilation of XLA executable", part)) for part in (epoch0, epoch1)]

    shapes = {tuple(s) for s in result["static"]}
    assert len(shapes) == 2 and len(result["static"]) > len(shapes)  # more batches than shapes
    # Epoch 1 compiles each distinct shape once (+1 at most: Keras' run_step is first traced
    # for the exact first shape, then relaxed); epoch 2, on the same shapes, compiles nothing.
    assert len(shapes) <= compiled[0] <= len(shapes) + 1, compiled
    assert compiled[0] < len(result["static"])
    assert compiled[1] == 0, compiled
    assert np.isfinite(result["history"]["loss"]).all()
    assert np.isfinite(result["history"]["mcc"]).all()  # compiled inside the train step
    # The check can fail: the bucketed mode yields more distinct shapes than static buckets,
    # and each would be a compilation.
    assert len({tuple(s) for s in result["bucketed"]}) > len(shapes)


def _real_rows(model, dataset):
    """Eager predictions and labels of the rows with a non-zero weight, batch by batch."""
    truth, logits = [], []
    for features, labels, weights in dataset:
        keep = weights.numpy() > 0
        truth.append(labels.numpy()[keep])
        logits.append(model(features).numpy()[keep])
    return np.concatenate(truth), np.concatenate(logits)


def _static(data, model, split, **options):
    options = {"static_shapes": True, "batch_tokens": 1024, **options}
    return data.tf_dataset(split, model.tokenizer, shuffle=False, **options)


def test_regression_metrics_under_xla_match_scipy(gb1):
    model = tfprot.sequence_regressor(
        "tiny-esm", gb1, precision="float32", jit_compile=True, num_hidden_layers=1
    )
    validation = _static(gb1, model, "validation", bucket_lengths=(64,))
    results = model.evaluate(validation, verbose=0, return_dict=True)
    targets, predictions = _real_rows(model, validation)
    assert len(targets) == 50  # filler rows excluded
    assert results["spearman"] == pytest.approx(
        spearmanr(targets, predictions).statistic, rel=1e-4, abs=1e-5
    )
    assert results["mae"] == pytest.approx(np.abs(targets - predictions).mean(), rel=1e-4)


def test_token_metrics_under_xla_match_sklearn(secondary_structure):
    model = tfprot.token_classifier(
        "tiny-esm", secondary_structure, precision="float32", jit_compile=True, num_hidden_layers=1
    )
    data = _static(secondary_structure, model, "validation", bucket_lengths=(64, 128))
    results = model.evaluate(data, verbose=0, return_dict=True)
    labels, logits = [], []
    for features, batch_labels, weights in data:
        counted = (batch_labels.numpy() != IGNORE_INDEX) & (weights.numpy()[:, None] > 0)
        labels.append(batch_labels.numpy()[counted])
        logits.append(model(features).numpy()[counted])
    labels, logits = np.concatenate(labels), np.concatenate(logits)
    counted = labels != IGNORE_INDEX
    truth, decisions = labels, logits.argmax(-1)
    shifted = logits - logits.max(-1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    picked = np.take_along_axis(log_p, labels[:, None], -1)[:, 0]
    assert counted.all() and len(labels) > 1000
    assert results["accuracy"] == pytest.approx(accuracy_score(truth, decisions), rel=1e-5)
    assert results["macro_f1"] == pytest.approx(
        f1_score(truth, decisions, average="macro"), rel=1e-4
    )
    assert results["token_cross_entropy"] == pytest.approx(-picked.mean(), rel=1e-4)


def test_multilabel_and_classification_metrics_under_xla_match_sklearn():
    rng = np.random.default_rng(0)
    classes = ["a", "b", "c"]
    ids = rng.integers(4, 24, size=(12, 16)).astype("int32")
    ids[:, 0], ids[:, -1] = 0, 2
    mask = np.ones_like(ids)
    ids[10:], mask[10:] = 1, 0  # two filler rows (all padding, weight 0)
    features = {"input_ids": ids, "attention_mask": mask}
    weights = np.array([1.0] * 10 + [0.0] * 2, "float32")
    keep = weights > 0

    multilabel = tfprot.sequence_classifier(
        "tiny-esm", classes, multi_label=True, precision="float32", num_hidden_layers=1
    )
    compile_model(multilabel, jit_compile=True)
    targets = (rng.random((12, 3)) < 0.5).astype("float32")
    dataset = tf.data.Dataset.from_tensors((features, targets, weights))
    results = multilabel.evaluate(dataset, verbose=0, return_dict=True)
    decisions = (multilabel(features).numpy()[keep] > 0).astype(int)
    truth = targets[keep].astype(int)
    assert results["accuracy"] == pytest.approx(accuracy_score(truth.ravel(), decisions.ravel()))
    assert results["macro_f1"] == pytest.approx(
        f1_score(truth, decisions, average="macro", zero_division=0), rel=1e-5
    )
    assert results["mcc"] == pytest.approx(
        matthews_corrcoef(truth.ravel(), decisions.ravel()), rel=1e-5, abs=1e-6
    )

    single = tfprot.sequence_classifier(
        "tiny-esm", classes, precision="float32", num_hidden_layers=1
    )
    compile_model(single, jit_compile=True)
    labels = rng.integers(0, 3, size=12).astype("int32")
    dataset = tf.data.Dataset.from_tensors((features, labels, weights))
    results = single.evaluate(dataset, verbose=0, return_dict=True)
    decisions = single(features).numpy()[keep].argmax(-1)
    assert results["accuracy"] == pytest.approx(accuracy_score(labels[keep], decisions))
    assert results["macro_f1"] == pytest.approx(
        f1_score(labels[keep], decisions, average="macro"), rel=1e-5
    )
    assert results["mcc"] == pytest.approx(
        matthews_corrcoef(labels[keep], decisions), rel=1e-5, abs=1e-6
    )
