"""tfprot.models.recompute: encoder layers recomputed in the backward pass give the same
gradients as the plain layers (the reference: the same model, same weights, without
recomputation), with and without LoRA, and in a compiled training step."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from esm_twins import esm_inputs

import tfprot
from tfprot.errors import OptionError
from tfprot.models.recompute import is_recomputed, use_recompute

TOLERANCE = 1e-5


def _gradients(model, inputs, labels):
    with tf.GradientTape() as tape:
        loss = model.compiled_loss(labels, model(inputs, training=True))
    gradients = tape.gradient(loss, model.trainable_weights)
    return float(loss), [np.asarray(tf.convert_to_tensor(g)) for g in gradients]


def _twin_without_recompute(model):
    """The same layers without recomputation: the original class of each recomputed layer."""
    layers = model.transformer.esm.encoder.layer
    originals = [type(layer) for layer in layers]
    for layer in layers:
        layer.__class__ = type(layer).__mro__[2]  # Recomputed<cls> → (_Recomputed, <cls>)
    return layers, originals


@pytest.mark.parametrize(
    ("kind", "lora"), [("sequence", None), ("token", None), ("sequence", 4), ("token", 4)]
)
def test_recomputed_gradients_equal_plain_gradients(kind, lora):
    options = {"precision": "float32", "recompute": True}
    if lora:
        options.update(lora_rank=lora, lora_targets="all-linear")
    if kind == "sequence":
        model = tfprot.sequence_classifier("tiny-esm", ["a", "b"], **options)
        labels = tf.constant([0, 1, 1])
    else:
        model = tfprot.token_classifier("tiny-esm", ["C", "E", "H"], **options)
        labels = tf.constant(np.random.default_rng(0).integers(0, 3, (3, 35)), tf.int32)
    if lora:
        rng = np.random.default_rng(1)
        for adapter in model.lora.adapters:
            adapter.lora_b.assign(rng.normal(0, 0.1, adapter.lora_b.shape).astype(np.float32))
    layers = model.transformer.esm.encoder.layer
    assert all(is_recomputed(layer) for layer in layers)
    inputs = esm_inputs([33, 12, 20])
    loss, recomputed = _gradients(model, inputs, labels)
    _, originals = _twin_without_recompute(model)
    assert not any(is_recomputed(layer) for layer in layers)
    plain_loss, plain = _gradients(model, inputs, labels)
    for layer, cls in zip(layers, originals, strict=True):
        layer.__class__ = cls
    assert loss == plain_loss
    assert len(recomputed) == len(plain) > 0
    for a, b in zip(recomputed, plain, strict=True):
        assert np.abs(a - b).max() <= TOLERANCE * max(1.0, float(np.abs(b).max()))
    assert any(np.abs(g).max() > 0 for g in plain)


def test_recomputed_gradients_under_xla_equal_plain_gradients():
    model = tfprot.sequence_classifier("tiny-esm", ["a", "b"], precision="float32", recompute=True)
    inputs, labels = esm_inputs([30, 9]), tf.constant([1, 0])

    @tf.function(jit_compile=True)
    def compiled(inputs, labels):
        with tf.GradientTape() as tape:
            loss = model.compiled_loss(labels, model(inputs, training=True))
        return tape.gradient(loss, model.trainable_weights)

    recomputed = [np.asarray(tf.convert_to_tensor(g)) for g in compiled(inputs, labels)]
    layers, originals = _twin_without_recompute(model)
    _, plain = _gradients(model, inputs, labels)
    for layer, cls in zip(layers, originals, strict=True):
        layer.__class__ = cls
    for a, b in zip(recomputed, plain, strict=True):
        assert np.abs(a - b).max() <= TOLERANCE * max(1.0, float(np.abs(b).max()))


def test_inference_runs_the_layers_as_they_are():
    model = tfprot.sequence_regressor("tiny-esm", precision="float32", compile=False)
    inputs = esm_inputs([10, 22])
    before = model(inputs, training=False).numpy()
    assert use_recompute(model.transformer) == 2
    np.testing.assert_array_equal(model(inputs, training=False).numpy(), before)


@pytest.mark.parametrize(
    "options",
    [
        {"hidden_dropout_prob": 0.1},
        {"attention_probs_dropout_prob": 0.1},
        {"lora_rank": 2, "lora_dropout": 0.1},
    ],
)
def test_recompute_with_dropout_is_refused(options):
    with pytest.raises(OptionError, match="recompute=True needs"):
        tfprot.sequence_regressor("tiny-esm", precision="float32", recompute=True, **options)


def test_the_backward_pass_runs_each_layer_again(monkeypatch):
    """Each layer's forward runs twice per training step: once forward, once in the backward
    pass (counted through tf.recompute_grad, restored after the test)."""
    from tfprot.models import recompute

    runs = []
    real = tf.recompute_grad

    def counting(function):
        def counted(*args):
            runs.append(1)
            return function(*args)

        return real(counted)

    monkeypatch.setattr(recompute.tf, "recompute_grad", counting)
    model = tfprot.sequence_regressor("tiny-esm", precision="float32", recompute=True)
    inputs = esm_inputs([15, 8])
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(inputs, training=True))
    assert len(runs) == 2  # forward: one per layer
    tape.gradient(loss, model.trainable_weights)
    assert len(runs) == 4  # and again in the backward pass
