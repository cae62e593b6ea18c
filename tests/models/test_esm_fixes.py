"""tfprot.models.esm_fixes: the two upstream defects of transformers' TF ESM under mixed
precision exist (in plain transformers models), tfprot's layers fix them, and under float32
they are bit-identical to transformers' (a transformers twin with the same weights).

The rotary position table is checked against a float64 numpy reference computed by hand:
``cos(p·f)``, ``sin(p·f)`` with ``f = 10000^(-2i/dim)``.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import tensorflow as tf
from esm_twins import FIXES_ONLY, build, esm_inputs, twin
from transformers.models.esm import modeling_tf_esm as esm

from tfprot._keras import keras
from tfprot.models.esm_fixes import TfprotRotaryEmbedding

ROTARY_DIM = 16  # head size of tiny-esm (64 / 4 heads) and of every ESM-2 checkpoint


@contextlib.contextmanager
def policy(name: str):
    k = keras()
    previous = k.mixed_precision.global_policy()
    k.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        k.mixed_precision.set_global_policy(previous)


def encoder(token_dropout: bool = True, subclasses=FIXES_ONLY):
    """A tiny ``TFEsmModel`` with tfprot's fixes (``{}``: transformers' own layers)."""
    return build("encoder", subclasses, token_dropout=token_dropout)


def rotary_table(policy_name: str, length: int, tfprot_layer: bool = True) -> np.ndarray:
    """The ``[length, dim]`` cos|sin table a rotary embedding applies under a policy: built by
    transformers (under a mixed policy its ``inv_freq`` is an auto-cast variable), then given
    tfprot's class, as tfprot does with every model it builds (or left as transformers').

    With ``q = [1]*dim/2 + [0]*dim/2``, ``q·cos + rotate_half(q)·sin`` is ``cos`` on the first half
    and ``sin`` on the second; the layer is called through Keras (so auto-cast applies)."""
    with policy(policy_name):
        layer = esm.TFRotaryEmbedding(dim=ROTARY_DIM)
        layer.build(None)
        assert (type(layer.inv_freq).__name__ == "AutoCastVariable") == (policy_name != "float32")
        if tfprot_layer:
            layer.__class__ = TfprotRotaryEmbedding
        half = np.concatenate([np.ones(ROTARY_DIM // 2), np.zeros(ROTARY_DIM // 2)])
        q = tf.cast(np.broadcast_to(half, (1, 1, length, ROTARY_DIM)), layer.compute_dtype)
        rotated, _ = layer(q, q)
    return tf.cast(rotated, tf.float32).numpy()[0, 0]


def reference_table(length: int) -> np.ndarray:
    frequencies = 1.0 / 10000 ** (np.arange(0, ROTARY_DIM, 2) / ROTARY_DIM)
    angles = np.arange(length)[:, None] * frequencies[None, :]
    return np.concatenate([np.cos(angles), np.sin(angles)], axis=-1)


def test_float32_results_are_bit_identical_to_upstream():
    """Same weights, same inputs (600 and padded 50 residues, with <mask> tokens): the hidden
    states and rotary tables of tfprot's fixes and of transformers' layers are equal to the last
    bit under float32. (Both run transformers' encoder layer: tfprot's fused layer, which rounds
    differently, is compared with it in test_esm_fast.py.)"""
    model = encoder(token_dropout=True)
    upstream = twin(model)
    inputs = esm_inputs([600, 50])
    fixed = model(**inputs).last_hidden_state.numpy()
    original = upstream(**inputs).last_hidden_state.numpy()
    assert type(model.esm.embeddings) is not esm.TFEsmEmbeddings
    assert type(upstream.esm.embeddings) is esm.TFEsmEmbeddings
    assert fixed.dtype == original.dtype == np.float32
    np.testing.assert_array_equal(fixed, original)
    fixed_table = rotary_table("float32", 602)
    np.testing.assert_array_equal(fixed_table, rotary_table("float32", 602, tfprot_layer=False))
    # ...and that table is right (float32 angles up to 601 rad: within 1e-4).
    np.testing.assert_allclose(fixed_table, reference_table(602), atol=1e-4)


@pytest.mark.parametrize("name", ["mixed_bfloat16", "mixed_float16"])
def test_defect1_token_dropout_fails_upstream_under_a_mixed_policy(name):
    inputs = esm_inputs([50])
    # Even the first call on dummy inputs, which creates the weights, fails.
    with policy(name), pytest.raises(TypeError, match="must have the same dtype"):
        encoder(token_dropout=True, subclasses={})
    with policy(name):
        model = encoder(token_dropout=True)
        hidden = model(**inputs).last_hidden_state
    assert hidden.dtype == tf.as_dtype(name.removeprefix("mixed_"))
    assert np.isfinite(tf.cast(hidden, tf.float32).numpy()).all()


def test_defect2_bfloat16_rotary_table_has_wrong_length_upstream():
    """600 residues + <cls>/<eos> = 602 tokens: 602 is no bfloat16 number, so upstream's
    ``tf.range(602, dtype=bfloat16)`` gives a 600-row table; tfprot's has 602 rows."""
    inputs = esm_inputs([600])
    with policy("mixed_bfloat16"):
        model = encoder(token_dropout=False, subclasses={})  # defect 2 alone
        with pytest.raises(tf.errors.InvalidArgumentError, match="Incompatible shapes"):
            model(**inputs)
        model = encoder(token_dropout=False)
        hidden = model(**inputs).last_hidden_state
    assert hidden.shape == (1, 602, 64)


@pytest.mark.parametrize(
    "name, fixed_atol, upstream_min_error",
    # Fixed: cos/sin exact in float32, then rounded once: half an ulp of a number <= 1.
    # Upstream: the frequencies and angles rounded to bfloat16 (8-bit mantissa: steps of 2-4 rad
    # at 257-600 rad) or float16 (11 bits: inv_freq off by up to 2^-12, times 600 positions).
    [("mixed_bfloat16", 2.0**-9, 0.5), ("mixed_float16", 2.0**-11, 0.05)],
)
def test_defect2_rotary_positions_upstream_wrong_fixed_right(name, fixed_atol, upstream_min_error):
    """A 600-row table (600 is a bfloat16 number, so no shape error: silently wrong values).
    Both layers were built by transformers, with an auto-cast ``inv_freq``: tfprot's reads it
    as stored."""
    reference = reference_table(600)
    upstream = rotary_table(name, 600, tfprot_layer=False)
    fixed = rotary_table(name, 600)
    upstream_error = np.abs(upstream - reference).max(axis=-1)
    fixed_error = np.abs(fixed - reference).max(axis=-1)
    assert fixed_error.max() <= fixed_atol * 1.01
    assert upstream_error[256:].max() > upstream_min_error
    if name == "mixed_bfloat16":
        # bfloat16 cannot count past 256: upstream's position 257 is 256 (same table row).
        np.testing.assert_array_equal(upstream[257], upstream[256])
        assert upstream_error[256:].mean() > 0.5
