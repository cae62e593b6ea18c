"""The fused CPU attention op against float64 numpy, TensorFlow's kernels and transformers' layer."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import tfprot
from tfprot.models import fused_attention

pytestmark = pytest.mark.skipif(
    not fused_attention.status().available,
    reason=f"fused attention unavailable: {fused_attention.status().reason}",
)


def numpy_attention(query, key, value, mask, d_out):
    """softmax(q·kᵀ + mask)·v and its gradient, by hand in float64."""
    q, k, v, m, g = (np.asarray(x, np.float64) for x in (query, key, value, mask, d_out))
    scores = q @ np.swapaxes(k, -1, -2) + m
    scores -= scores.max(-1, keepdims=True)
    p = np.exp(scores)
    p /= p.sum(-1, keepdims=True)
    out = p @ v
    d_p = g @ np.swapaxes(v, -1, -2)
    d_s = p * (d_p - (d_p * p).sum(-1, keepdims=True))
    return out, d_s @ k, np.swapaxes(d_s, -1, -2) @ q, np.swapaxes(p, -1, -2) @ g


def inputs(batch, heads, queries, keys, depth, seed=0):
    rng = np.random.default_rng(seed)
    query = rng.normal(size=(batch, heads, queries, depth)) * 0.5
    key = rng.normal(size=(batch, heads, keys, depth)) * 0.5
    value = rng.normal(size=(batch, heads, keys, depth))
    lengths = rng.integers(1, keys + 1, size=batch)
    lengths[0] = keys
    mask = np.where(np.arange(keys) < lengths[:, None], 0.0, -1e4)[:, None, None, :]
    d_out = rng.normal(size=(batch, heads, queries, depth))
    return query, key, value, mask, d_out


def fused_with_gradient(query, key, value, mask, d_out, dtype):
    q, k, v, g = (tf.constant(x, dtype) for x in (query, key, value, d_out))
    with tf.GradientTape() as tape:
        tape.watch([q, k, v])
        out = fused_attention.fused(q, k, v, tf.constant(mask, dtype))
    grads = tape.gradient(out, [q, k, v], output_gradients=g)
    return [tf.cast(x, tf.float64).numpy() for x in (out, *grads)]


@pytest.mark.parametrize(
    ("batch", "heads", "queries", "keys", "depth"),
    [
        (2, 3, 37, 37, 16),  # ESM-2 8M's head size; 37 = 4 blocks of 8 rows + 5 single rows
        (3, 2, 40, 40, 24),  # ESM-2 35M's; keys padded to 48
        (1, 2, 33, 33, 32),
        (2, 1, 17, 17, 64),
        (2, 2, 1, 21, 16),  # the first token only (a classifier's last layer)
        (1, 1, 5, 1, 16),  # a single key
        (2, 2, 9, 9, 8),  # depth padded to 16
        (1, 2, 11, 19, 80),  # beyond the vectorised depths: the portable loops
    ],
)
def test_float32_forward_and_gradients_equal_float64_numpy(batch, heads, queries, keys, depth):
    data = inputs(batch, heads, queries, keys, depth)
    got = fused_with_gradient(*data, tf.float32)
    want = numpy_attention(*data)
    for name, g, w in zip(("output", "d_query", "d_key", "d_value"), got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=2e-5, err_msg=name)


@pytest.mark.parametrize(
    ("batch", "heads", "queries", "keys", "depth"),
    [
        (2, 4, 50, 50, 16),
        (2, 2, 37, 37, 24),  # 32 + 5 query rows; keys padded to 48 (64 on AMX)
        (1, 2, 1, 21, 16),
        (1, 1, 5, 1, 16),
        (2, 2, 9, 9, 8),
        (1, 2, 20, 20, 40),  # depth padded to 48 (64 on AMX)
        (1, 2, 33, 33, 64),
        (1, 1, 11, 19, 80),  # portable loops
    ],
)
def test_bfloat16_is_as_accurate_as_tensorflows_bfloat16_kernels(
    batch, heads, queries, keys, depth
):
    """bfloat16 in and out (on AMX the forward's products are bfloat16 tile products with float32
    sums, the probabilities rounded to bfloat16 as TensorFlow's matmul takes them): errors against
    float64 no larger than those of TensorFlow's kernels on the same bfloat16 inputs."""
    data = inputs(batch, heads, queries, keys, depth, seed=1)
    rounded = [tf.cast(tf.cast(x, tf.bfloat16), tf.float64).numpy() for x in data]
    want = numpy_attention(*rounded)
    got = fused_with_gradient(*rounded, tf.bfloat16)
    q, k, v, mask, g = (tf.constant(x, tf.bfloat16) for x in rounded)
    with tf.GradientTape() as tape:
        tape.watch([q, k, v])
        with fused_attention.disabled():
            out = fused_attention.attention(q, k, v, mask)
    grads = tape.gradient(out, [q, k, v], output_gradients=g)
    tensorflow = [tf.cast(x, tf.float64).numpy() for x in (out, *grads)]
    for name, g, t, w in zip(
        ("output", "d_query", "d_key", "d_value"), got, tensorflow, want, strict=True
    ):
        scale = np.abs(w).max()
        assert np.abs(g - w).max() <= max(np.abs(t - w).max(), 2**-8 * scale), name


def test_padded_keys_get_no_weight_and_no_gradient():
    query, key, value, mask, d_out = inputs(1, 2, 6, 20, 16)
    mask[:, :, :, 12:] = -1e4
    out, _, d_key, d_value = fused_with_gradient(query, key, value, mask, d_out, tf.float32)
    key[:, :, 12:], value[:, :, 12:] = 100.0, -100.0  # what padding holds does not matter
    moved, *_ = fused_with_gradient(query, key, value, mask, d_out, tf.float32)
    np.testing.assert_allclose(moved, out, atol=1e-6)
    assert np.abs(d_key[:, :, 12:]).max() < 1e-6 and np.abs(d_value[:, :, 12:]).max() < 1e-6


def test_the_op_is_in_the_graph_only_where_it_can_run():
    q = k = v = tf.zeros([1, 2, 8, 16])
    mask = tf.zeros([1, 1, 1, 8])

    def op_types(function):
        graph = function.get_concrete_function(q, k, v, mask).graph
        return {op.type for op in graph.get_operations()}

    assert "TfprotAttention" in op_types(tf.function(fused_attention.attention))
    assert "TfprotAttention" not in op_types(
        tf.function(fused_attention.attention, jit_compile=True)
    )
    with fused_attention.disabled():
        assert "TfprotAttention" not in op_types(tf.function(fused_attention.attention))
    # a mask of another shape (per query): TensorFlow's kernels
    per_query = tf.zeros([1, 1, 8, 8])
    graph = tf.function(fused_attention.attention).get_concrete_function(q, k, v, per_query).graph
    assert "TfprotAttention" not in {op.type for op in graph.get_operations()}


def test_the_op_is_used_for_the_head_sizes_where_it_is_faster():
    def uses_op(depth, training, dtype=tf.float32):
        q = k = v = tf.zeros([1, 2, 8, depth], dtype)
        function = tf.function(
            lambda q, k, v: fused_attention.attention(
                q, k, v, tf.zeros([1, 1, 1, 8], dtype), training=training
            )
        )
        graph = function.get_concrete_function(q, k, v).graph
        return "TfprotAttention" in {op.type for op in graph.get_operations()}

    assert fused_attention.MAX_DEPTH_TRAINING == 16 and fused_attention.MAX_DEPTH_INFERENCE == 64
    assert uses_op(16, True) and uses_op(16, False)
    assert not uses_op(24, True) and uses_op(24, False)
    assert uses_op(64, False) and not uses_op(80, False)
    # bfloat16 training on AMX: the gradient's products are tile products too
    amx = fused_attention.status().amx
    assert uses_op(64, True, tf.bfloat16) == amx and not uses_op(80, True, tf.bfloat16)


def test_the_switch_turns_it_off(monkeypatch):
    assert fused_attention.is_enabled()
    monkeypatch.setenv(fused_attention.ENV_SWITCH, "0")
    assert not fused_attention.is_enabled()


def test_a_failed_build_says_why_and_falls_back(monkeypatch, tmp_path):
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
    monkeypatch.setenv("TFPROT_CACHE_DIR", str(tmp_path / "cache"))
    found = fused_attention._load()
    assert not found.available and "no C++ compiler" in found.reason
    broken = tmp_path / "broken-g++"
    broken.write_text("#!/bin/sh\necho 'fatal: compiler is broken' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setenv("CXX", str(broken))
    found = fused_attention._load()
    assert not found.available and "compiler is broken" in found.reason
    assert not list((tmp_path / "cache").rglob("*.so"))
    monkeypatch.delenv("CXX")
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("TFPROT_CACHE_DIR", str(blocked))
    found = fused_attention._load()
    assert not found.available and "TFPROT_CACHE_DIR" in found.reason


def dense(value) -> np.ndarray:
    return tf.convert_to_tensor(value).numpy()  # embedding gradients are IndexedSlices


def test_a_classifier_trains_the_same_with_and_without_the_op():
    """The ESM layer's fused path (esm_fast) with the op against TensorFlow's kernels, float32:
    same logits and gradients, and the op is in the training function's graph."""
    model = tfprot.sequence_classifier("tiny-esm", ["a", "b"], precision="float32")
    rows = [model.tokenizer.encode(s) for s in ("MKTAYIAKQRQISFVKSHFSRQ", "GGSWLLK")]
    ids = np.full((2, 24), model.tokenizer.pad_id, np.int32)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row
    batch = {
        "input_ids": tf.constant(ids),
        "attention_mask": tf.constant((ids != model.tokenizer.pad_id).astype(np.int32)),
    }

    def logits_and_gradients():
        with tf.GradientTape() as tape:
            logits = model(batch, training=True)
            loss = tf.reduce_sum(logits * [[1.0, -2.0]])
        return [logits, *tape.gradient(loss, model.trainable_variables)]

    fused = logits_and_gradients()
    with fused_attention.disabled():
        reference = logits_and_gradients()
    for got, want in zip(fused, reference, strict=True):
        np.testing.assert_allclose(dense(got), dense(want), rtol=1e-4, atol=1e-5)
    graph = tf.function(model.__call__).get_concrete_function(batch, training=True).graph
    assert "TfprotAttention" in {op.type for op in graph.get_operations()}
