"""tfprot.models.esm_fast: the fused encoder layer computes transformers' function.

The reference is transformers' own ``TFEsmLayer.call`` (``esm_fast.ORIGINALS``), run on the same
model with the same weights and inputs: logits, hidden states and the gradient of every variable
must agree under float32. The custom gradients are checked against TensorFlow's automatic ones in
float64, and the bfloat16 path against float32 (no less accurate than transformers' own layer).
The PyTorch models are compared with the same fused path in ``test_equivalence.py``.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import tensorflow as tf
from transformers.models.esm import modeling_tf_esm as esm

import tfprot
from tfprot._keras import keras
from tfprot.models import cpu_ops, esm_fast
from tfprot.models.checkpoints import tiny_config

MASK_ID, CLS_ID, EOS_ID, PAD_ID = 32, 0, 2, 1


@contextlib.contextmanager
def upstream_layer():
    """transformers' encoder layer for the length of the block."""
    patched = esm.TFEsmLayer.call
    esm.TFEsmLayer.call = esm_fast.ORIGINALS["layer_call"]
    try:
        yield
    finally:
        esm.TFEsmLayer.call = patched


@contextlib.contextmanager
def counting_fused_calls():
    """Records the layer calls that take the fused path: 1 where only the first token is
    computed, else 'all' (and checks the output's length where it is known)."""
    calls: list[int | None] = []
    original = esm_fast._fused_layer

    def spy(layer, hidden_states, attention_mask, training, first_only):
        out = original(layer, hidden_states, attention_mask, training, first_only)
        tokens = out.shape[1]  # known in eager calls
        assert tokens is None or tokens == (1 if first_only else hidden_states.shape[1])
        calls.append(1 if first_only else "all")
        return out

    esm_fast._fused_layer = spy
    try:
        yield calls
    finally:
        esm_fast._fused_layer = original


def esm_inputs(lengths: list[int], seed: int = 0) -> dict[str, tf.Tensor]:
    """``<cls> residues <eos>`` rows padded to the longest; a tenth of the residues ``<mask>``."""
    rng = np.random.default_rng(seed)
    width = max(lengths) + 2
    ids = np.full((len(lengths), width), PAD_ID, dtype=np.int32)
    for row, length in enumerate(lengths):
        residues = rng.integers(4, 24, size=length)
        residues[rng.choice(length, size=max(1, length // 10), replace=False)] = MASK_ID
        ids[row, : length + 2] = [CLS_ID, *residues, EOS_ID]
    return {
        "input_ids": tf.constant(ids),
        "attention_mask": tf.constant((ids != PAD_ID).astype(np.int32)),
    }


def build(kind: str, **overrides):
    """A tiny ESM model (4 layers, 16-wide heads like every ESM-2) with random weights."""
    config = tiny_config(tfprot.PRESETS["tiny-esm"], num_hidden_layers=4, **overrides)
    config.num_labels = 3
    model = {
        "sequence": esm.TFEsmForSequenceClassification,
        "token": esm.TFEsmForTokenClassification,
        "encoder": esm.TFEsmModel,
    }[kind](config)
    model(model.dummy_inputs, training=False)
    return model


def outputs_and_gradients(model, inputs, *, first_only: bool = False):
    """The model's main output and the gradient of a fixed random projection of it."""
    restrict = esm_fast.first_token_only if first_only else lambda _: contextlib.nullcontext()
    with tf.GradientTape() as tape, restrict(model):
        result = model(**inputs, training=True)
        out = result.logits if hasattr(result, "logits") else result.last_hidden_state
        out = tf.cast(out, tf.float32)
        weights = tf.random.stateless_normal(tf.shape(out), seed=(1, 2))
        loss = tf.reduce_sum(out * weights)
    gradients = tape.gradient(loss, model.trainable_variables)
    # None: variables the output does not depend on (the unused contact head, absolute
    # position embeddings of a rotary model); both paths must agree on which.
    return out.numpy(), [None if g is None else tf.convert_to_tensor(g).numpy() for g in gradients]


def relative_errors(got: list, want: list) -> np.ndarray:
    """Per variable: |got - want| / |want|. Gradients that are zero in exact arithmetic (a key
    bias without rotary positions: softmax ignores a shift shared by all keys) are rounding
    noise on both sides; they are measured against the largest gradient instead."""
    assert [g is None for g in got] == [w is None for w in want]
    pairs = [(a, b) for a, b in zip(got, want, strict=True) if b is not None]
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
    with upstream_layer():
        reference, reference_gradients = outputs_and_gradients(model, inputs)
    assert len(calls) == 4  # every layer took the fused path
    assert calls == [*["all"] * 3, 1 if first_only else "all"]
    assert sum(g is not None for g in reference_gradients) > 20
    scale = np.abs(reference).max()
    # float32 rounding: the CPU ops (layer norm, attention) sum in another order than TensorFlow's
    np.testing.assert_allclose(fused, reference, atol=4e-6 * scale, rtol=0)
    errors = relative_errors(fused_gradients, reference_gradients)
    assert errors.max() < 1e-4, errors


def test_first_token_only_applies_to_esm_sequence_heads_only():
    inputs = esm_inputs([50, 20])
    for kind, applies in (("sequence", True), ("token", False), ("encoder", False)):
        model = build(kind)
        with esm_fast.first_token_only(model) as applied, counting_fused_calls() as calls:
            model(**inputs)
        assert applied is applies
        assert calls == ["all", "all", "all", 1 if applies else "all"]
        assert not getattr(model.layers[0].encoder.layer[-1], "_tfprot_first_token_only", False)


def test_protein_model_classifier_uses_it_and_embeddings_see_every_token(cytosol_membrane):
    model = tfprot.sequence_classifier("tiny-esm", cytosol_membrane, precision="float32")
    sequences = [r.sequence for r in cytosol_membrane.records("test")[:3]]
    with counting_fused_calls() as calls:
        logits = model.predict_logits(sequences, progress=False)
    assert calls and calls[-1] == 1
    with counting_fused_calls() as calls:
        vectors = model.embed(sequences, per_residue=True, progress=False)
    assert calls and set(calls) == {"all"}
    assert [len(v) for v in vectors.vectors] == [len(s) for s in sequences]
    with upstream_layer():
        reference = model.predict_logits(sequences, progress=False)
    np.testing.assert_allclose(np.stack(logits), np.stack(reference), atol=1e-5)


def test_unusual_calls_fall_back_to_transformers_layer():
    model = build("encoder")
    inputs = esm_inputs([30, 12])
    with counting_fused_calls() as calls:
        result = model(**inputs, output_attentions=True)
    assert not calls and len(result.attentions) == 4
    with upstream_layer():
        reference = model(**inputs, output_attentions=True)
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
    with upstream_layer():
        reference = model(**inputs, training=False).last_hidden_state.numpy()
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
    weights = reference_model.get_weights()
    reference, reference_gradients = outputs_and_gradients(reference_model, inputs)
    previous = keras().mixed_precision.global_policy()
    keras().mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        mixed = build("sequence")
        mixed.set_weights(weights)
        fused, fused_gradients = outputs_and_gradients(mixed, inputs, first_only=True)
        with upstream_layer():
            upstream, upstream_gradients = outputs_and_gradients(mixed, inputs)
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
@pytest.mark.parametrize("head_size", [16, 24, 6])
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
