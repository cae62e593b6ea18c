"""tfprot.models.esm_fast: the fused encoder layer computes transformers' function.

The reference is a transformers twin of the same model (same class, config and weights, with
transformers' own ``TFEsmLayer``), run on the same inputs: logits, hidden states and the
gradient of every variable must agree under float32. The custom gradients are checked against
TensorFlow's automatic ones in float64, and the bfloat16 path against float32 (no less accurate
than transformers' own layer). The PyTorch models are compared with the same fused path in
``test_equivalence.py``.
"""

from __future__ import annotations

import contextlib
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf
from esm_twins import FIXES_ONLY, esm_inputs, weight_name
from esm_twins import build as build_model
from esm_twins import twin as twin_of

import tfprot
from tfprot._keras import keras
from tfprot.models import cpu_ops, esm_fast, esm_layers
from tfprot.models.protein_model import ProteinModel


def build(kind: str, **overrides):
    """A tiny ESM model with tfprot's layers, 4 layers deep."""
    return build_model(kind, num_hidden_layers=4, **overrides)


def upstream_twin(model):
    """The same model with transformers' encoder layer (tfprot's fixes kept, as before them)."""
    return twin_of(model, FIXES_ONLY)


@contextlib.contextmanager
def counting_fused_calls():
    """Records the layer calls that take the fused path: 1 where only the first token is
    computed, else 'all' (and checks the output's length where it is known)."""
    calls: list[int | str] = []
    original = esm_fast._fused_layer

    def spy(layer, hidden_states, attention_mask, training, first_only):
        out = original(layer, hidden_states, attention_mask, training, first_only)
        tokens = out.shape[1]  # known in eager calls
        assert tokens is None or tokens == (1 if first_only else hidden_states.shape[1])
        calls.append(1 if first_only else "all")
        return out

    with mock.patch.object(esm_fast, "_fused_layer", spy):
        yield calls


def outputs_and_gradients(model, inputs, *, first_only: bool = False):
    """The model's main output and the gradients (by weight name) of a fixed random projection
    of it; ``first_only``: through :func:`esm_fast.first_token_logits`."""
    with tf.GradientTape() as tape:
        if first_only:
            out = esm_fast.first_token_logits(model, **inputs, training=True)
        else:
            result = model(**inputs, training=True)
            out = result.logits if hasattr(result, "logits") else result.last_hidden_state
        out = tf.cast(out, tf.float32)
        weights = tf.random.stateless_normal(tf.shape(out), seed=(1, 2))
        loss = tf.reduce_sum(out * weights)
    variables = model.trainable_variables
    gradients = tape.gradient(loss, variables)
    # None: variables the output does not depend on (the unused contact head, absolute
    # position embeddings of a rotary model); both paths must agree on which.
    return out.numpy(), {
        weight_name(v): None if g is None else tf.convert_to_tensor(g).numpy()
        for v, g in zip(variables, gradients, strict=True)
    }


def relative_errors(got: dict, want: dict) -> np.ndarray:
    """Per variable: |got - want| / |want|. Gradients that are zero in exact arithmetic (a key
    bias without rotary positions: softmax ignores a shift shared by all keys) are rounding
    noise on both sides; they are measured against the largest gradient instead."""
    assert sorted(got) == sorted(want)
    assert [got[k] is None for k in sorted(got)] == [want[k] is None for k in sorted(got)]
    pairs = [(got[k], want[k]) for k in sorted(want) if want[k] is not None]
    floor = 1e-3 * max(np.linalg.norm(b) for _, b in pairs)
    return np.array([np.linalg.norm(a - b) / max(np.linalg.norm(b), floor) for a, b in pairs])


@pytest.mark.parametrize(
    ("kind", "first_only", "position"),
    [
        ("sequence", True, "rotary"),
        ("sequence", False, "rotary"),
        ("token", False, "rotary"),
        ("encoder", False, "rotary"),
        ("sequence", True, "absolute"),
    ],
)
def test_fused_layer_computes_transformers_function_in_float32(kind, first_only, position):
    model = build(kind, position_embedding_type=position)
    inputs = esm_inputs([300, 41, 7])  # past 256 positions, and heavy padding
    with counting_fused_calls() as calls:
        fused, fused_gradients = outputs_and_gradients(model, inputs, first_only=first_only)
    reference, reference_gradients = outputs_and_gradients(upstream_twin(model), inputs)
    assert len(calls) == 4  # every layer took the fused path
    assert calls == [*["all"] * 3, 1 if first_only else "all"]
    assert sum(g is not None for g in reference_gradients.values()) > 20
    scale = np.abs(reference).max()
    # float32 rounding: the CPU ops (layer norm, attention) sum in another order than TensorFlow's
    np.testing.assert_allclose(fused, reference, atol=4e-6 * scale, rtol=0)
    errors = relative_errors(fused_gradients, reference_gradients)
    assert errors.max() < 1e-4, errors


def test_first_token_only_applies_to_esm_sequence_heads_only():
    """Only through first_token_logits, only for ESM sequence heads with tfprot's layers;
    transformers' own call chain on the same model computes every token."""
    inputs = esm_inputs([50, 20])
    for kind, applies in (("sequence", True), ("token", False), ("encoder", False)):
        model = build(kind)
        assert esm_fast.reads_first_token_only(model) is applies
        with counting_fused_calls() as calls:
            model(**inputs)
        assert calls == ["all"] * 4
        if applies:
            with counting_fused_calls() as calls:
                esm_fast.first_token_logits(model, **inputs)
            assert calls == ["all", "all", "all", 1]
            assert not esm_fast.reads_first_token_only(upstream_twin(model))
        else:
            with pytest.raises(TypeError, match="ESM sequence classifier"):
                esm_fast.first_token_logits(model, **inputs)


def test_protein_model_classifier_uses_it_and_embeddings_see_every_token(cytosol_membrane):
    model = tfprot.sequence_classifier("tiny-esm", cytosol_membrane, precision="float32")
    assert model.first_token_only
    sequences = [r.sequence for r in cytosol_membrane.records("test")[:3]]
    with counting_fused_calls() as calls:
        logits = model.predict_logits(sequences, progress=False)
    assert calls and calls[-1] == 1
    with counting_fused_calls() as calls:
        vectors = model.embed(sequences, per_residue=True, progress=False)
    assert calls and set(calls) == {"all"}
    assert [len(v) for v in vectors.vectors] == [len(s) for s in sequences]
    # The same weights in transformers' own layers, through the same ProteinModel code.
    upstream = ProteinModel(
        upstream_twin(model.transformer), model.task, model.label_encoder, model.tokenizer
    )
    assert not upstream.first_token_only
    reference = upstream.predict_logits(sequences, progress=False)
    np.testing.assert_allclose(np.stack(logits), np.stack(reference), atol=1e-5)
    with pytest.raises(ValueError, match="first_token_only=True needs"):
        ProteinModel(
            upstream.transformer,
            model.task,
            model.label_encoder,
            model.tokenizer,
            first_token_only=True,
        )


def test_unusual_calls_fall_back_to_transformers_layer():
    model = build("encoder")
    inputs = esm_inputs([30, 12])
    with counting_fused_calls() as calls:
        result = model(**inputs, output_attentions=True)
    assert not calls and len(result.attentions) == 4
    reference = upstream_twin(model)(**inputs, output_attentions=True)
    np.testing.assert_array_equal(
        result.last_hidden_state.numpy(), reference.last_hidden_state.numpy()
    )
    dropping = build("encoder", attention_probs_dropout_prob=0.1)
    with counting_fused_calls() as calls:
        dropping(**inputs, training=True)
        assert not calls  # attention dropout in training: transformers' layer
        dropping(**inputs, training=False)
        assert len(calls) == 4


def test_hidden_dropout_is_applied_in_training_only():
    model = build("encoder", hidden_dropout_prob=0.3)
    inputs = esm_inputs([30, 12])
    trained = model(**inputs, training=True).last_hidden_state.numpy()
    evaluated = model(**inputs, training=False).last_hidden_state.numpy()
    reference = upstream_twin(model)(**inputs, training=False).last_hidden_state.numpy()
    np.testing.assert_allclose(evaluated, reference, atol=1e-5)
    assert np.abs(trained - evaluated).max() > 1e-2


def test_attention_gradient_equals_the_automatic_one_in_float64():
    rng = np.random.default_rng(0)
    query, key, value = (tf.constant(rng.normal(size=(2, 3, 9, 4))) for _ in range(3))
    lengths = np.array([9, 5])
    mask = tf.constant(np.where(np.arange(9) < lengths[:, None], 0.0, -1e4)[:, None, None, :])
    upstream = tf.constant(rng.normal(size=(2, 3, 9, 4)))

    def automatic(q, k, v, m):
        return tf.matmul(tf.nn.softmax(tf.matmul(q, k, transpose_b=True) + m), v)

    results = []
    for function in (cpu_ops.attention, automatic):  # float64: TensorFlow's kernels
        with tf.GradientTape() as tape:
            tape.watch([query, key, value])
            out = function(query, key, value, mask)
        results.append((out, *tape.gradient(out, [query, key, value], output_gradients=upstream)))
    for got, want in zip(*results, strict=True):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.cpu_ops
@pytest.mark.parametrize(
    ("dtype", "path"),
    [(tf.float64, "tensorflow")]
    + [(dtype, path) for dtype in (tf.float32, tf.bfloat16) for path in ("op", "tensorflow")],
)
def test_gelu_and_its_derivative_are_exact_gelu(dtype, path):
    """Both GELU paths (the CPU op, TensorFlow's ops) against TensorFlow's exact GELU in float64
    (the op takes float32 and bfloat16)."""
    if path == "op" and not cpu_ops.status().available:
        pytest.skip(cpu_ops.status().reason)
    gelu = esm_fast._gelu_op if path == "op" else esm_fast._gelu_tensorflow
    x = tf.cast(tf.constant(np.linspace(-8, 8, 1001)), dtype)
    x64 = tf.cast(x, tf.float64)  # the reference at the same (rounded) points
    with tf.GradientTape() as tape:
        tape.watch(x64)
        want = tf.nn.gelu(x64, approximate=False)
    want_derivative = tape.gradient(want, x64)
    with tf.GradientTape() as tape:
        tape.watch(x)
        got = gelu(x)
    derivative = tape.gradient(got, x)
    assert got.dtype == derivative.dtype == dtype
    # float32 arithmetic inside: float32 accuracy, then one rounding to the output type
    tolerance = {tf.float64: 1e-6, tf.float32: 1e-6, tf.bfloat16: 2**-8}[dtype]
    for value, reference in ((got, want), (derivative, want_derivative)):
        error = np.abs(tf.cast(value, tf.float64).numpy() - reference.numpy())
        assert (error <= tolerance * np.maximum(1, np.abs(reference.numpy()))).all()


@pytest.mark.cpu_ops
def test_the_layer_uses_the_gelu_and_layer_norm_ops_where_they_are_enabled():
    model = build("encoder")
    inputs = esm_inputs([30, 12])
    graph = tf.function(lambda: model(**inputs)).get_concrete_function().graph
    types = {op.type for op in graph.get_operations()}
    assert ("TfprotGelu" in types) == cpu_ops.is_enabled()
    assert ("TfprotLayerNorm" in types) == cpu_ops.is_enabled()
    with cpu_ops.disabled():
        graph = tf.function(lambda: model(**inputs)).get_concrete_function().graph
    types = {op.type for op in graph.get_operations()}
    assert "TfprotGelu" not in types and "TfprotLayerNorm" not in types


@pytest.mark.cpu_ops
@pytest.mark.parametrize("dtype", [tf.float32, tf.bfloat16])
def test_layer_norm_op_and_its_gradients_equal_float64_numpy(dtype):
    """The op (x, gamma, beta and their gradients) against layer normalisation by hand in
    float64, on the same (rounded) inputs; Keras' own layer under the same policy for scale."""
    if not cpu_ops.status().available:
        pytest.skip(cpu_ops.status().reason)
    rng = np.random.default_rng(0)
    x = tf.cast(tf.constant(rng.normal(2.0, 3.0, size=(3, 7, 320))), dtype)
    gamma = tf.constant(rng.normal(1.0, 0.2, size=320), tf.float32)
    beta = tf.constant(rng.normal(0.0, 0.2, size=320), tf.float32)
    dy = tf.cast(tf.constant(rng.normal(size=(3, 7, 320))), dtype)
    with tf.GradientTape() as tape:
        tape.watch([x, gamma, beta])
        y = esm_fast._layer_norm_op(x, gamma, beta, 1e-5)
    grads = tape.gradient(y, [x, gamma, beta], output_gradients=dy)
    assert y.dtype == grads[0].dtype == dtype

    x64, g64, b64, dy64 = (tf.cast(t, tf.float64).numpy() for t in (x, gamma, beta, dy))
    mean = x64.mean(-1, keepdims=True)
    rstd = 1 / np.sqrt(x64.var(-1, keepdims=True) + 1e-5)
    normed = (x64 - mean) * rstd
    want_y = normed * g64 + b64
    g = dy64 * g64
    want_dx = rstd * (g - g.mean(-1, keepdims=True) - normed * (g * normed).mean(-1, keepdims=True))
    want = [want_y, want_dx, (dy64 * normed).sum((0, 1)), dy64.sum((0, 1))]
    got = [tf.cast(t, tf.float64).numpy() for t in (y, *grads)]
    # float32 arithmetic, then one rounding to bfloat16 for y and dx
    rounding = {tf.float32: 1e-5, tf.bfloat16: 2**-8}[dtype]
    for name, g, w in zip(("y", "dx", "d_gamma", "d_beta"), got, want, strict=True):
        tolerance = rounding if name in ("y", "dx") else 1e-5
        np.testing.assert_allclose(
            g, w, rtol=tolerance, atol=tolerance * np.abs(w).max(), err_msg=name
        )


def test_mixed_bfloat16_is_as_accurate_as_transformers_layer():
    """bfloat16 logits and gradients against float32: the fused layer's errors are no larger
    than those of transformers' layer under the same policy (same weights, same batch)."""
    inputs = esm_inputs([280, 150, 90, 60, 200, 120, 33, 260])
    reference_model = build("sequence")
    reference, reference_gradients = outputs_and_gradients(reference_model, inputs)
    previous = keras().mixed_precision.global_policy()
    keras().mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        mixed = twin_of(reference_model, esm_layers.SUBCLASSES)
        fused, fused_gradients = outputs_and_gradients(mixed, inputs, first_only=True)
        upstream, upstream_gradients = outputs_and_gradients(upstream_twin(mixed), inputs)
    finally:
        keras().mixed_precision.set_global_policy(previous)
    fused_errors = relative_errors(fused_gradients, reference_gradients)
    upstream_errors = relative_errors(upstream_gradients, reference_gradients)
    assert np.median(fused_errors) <= 1.25 * np.median(upstream_errors)
    assert np.median(fused_errors) < 0.05
    fused_logits, upstream_logits = np.abs(fused - reference), np.abs(upstream - reference)
    assert fused_logits.mean() <= 1.5 * upstream_logits.mean()
    assert fused_logits.max() <= 2 * upstream_logits.max()


@pytest.mark.cpu_ops
@pytest.mark.parametrize("dtype", [tf.float32, tf.bfloat16])
@pytest.mark.parametrize("head_size", [16, 24, 6, 40, 64])  # halves of 8, 12, 3, 20, 32 lanes
def test_heads_op_equals_tensorflows_split_rotate_and_transpose(dtype, head_size):
    """The QKV rows → rotated query and key heads, value heads (and the gradient back) against
    the TensorFlow ops it replaces, float32 arithmetic on the same inputs."""
    if not cpu_ops.status().available:
        pytest.skip(cpu_ops.status().reason)
    rng = np.random.default_rng(0)
    batch, length, heads = 2, 11, 3
    width = heads * head_size
    qkv = tf.cast(tf.constant(rng.normal(size=(batch, length, 3 * width))), dtype)
    upstream = [
        tf.cast(tf.constant(rng.normal(size=(batch, heads, length, head_size))), dtype)
        for _ in range(3)
    ]
    inv_freq = 1.0 / (10000 ** (np.arange(0, head_size, 2) / head_size))
    angles = np.arange(length)[:, None] * inv_freq[None, :]
    angles = np.concatenate([angles, angles], axis=-1)
    cos, sin = (tf.constant(f(angles), tf.float32) for f in (np.cos, np.sin))

    def reference(rows):
        wide = tf.cast(rows, tf.float32)
        q, k, v = tf.split(tf.reshape(wide, [batch, length, 3, heads, head_size]), 3, axis=2)
        q, k, v = (x[:, :, 0] for x in (q, k, v))  # [batch, length, heads, head_size]
        rotated = [esm_fast._rotate(x, cos[:, None, :], sin[:, None, :]) for x in (q, k)]
        heads_first = [tf.transpose(x, [0, 2, 1, 3]) for x in (*rotated, v)]
        return [tf.cast(x, dtype) for x in heads_first]

    results = []
    for function in (lambda rows: esm_fast._split_heads(rows, cos, sin, heads), reference):
        with tf.GradientTape() as tape:
            tape.watch(qkv)
            outputs = function(qkv)
        gradient = tape.gradient(outputs, qkv, output_gradients=upstream)
        results.append([tf.cast(x, tf.float64).numpy() for x in (*outputs, gradient)])
    tolerance = {tf.float32: 1e-6, tf.bfloat16: 2**-8}[dtype]
    for got, want in zip(*results, strict=True):
        np.testing.assert_allclose(got, want, rtol=tolerance, atol=tolerance * np.abs(want).max())
