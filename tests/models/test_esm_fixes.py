"""tfprot.models.esm_fixes: the two upstream defects of transformers' TF ESM under mixed
precision exist (with the upstream methods from ``esm_fixes.ORIGINALS`` restored for the length
of a test), tfprot's replacements fix them, and under float32 they are bit-identical to upstream.

The rotary position table is checked against a float64 numpy reference computed by hand:
``cos(p·f)``, ``sin(p·f)`` with ``f = 10000^(-2i/dim)``.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import tensorflow as tf
from transformers.models.esm import modeling_tf_esm as esm

import tfprot
from tfprot._keras import keras
from tfprot.models import esm_fast, esm_fixes
from tfprot.models.checkpoints import tiny_config

MASK_ID, CLS_ID, EOS_ID, PAD_ID = 32, 0, 2, 1
ROTARY_DIM = 16  # head size of tiny-esm (64 / 4 heads) and of every ESM-2 checkpoint
_TARGETS = {
    "embeddings_call": (esm.TFEsmEmbeddings, "call"),
    "rotary_build": (esm.TFRotaryEmbedding, "build"),
    "rotary_cos_sin": (esm.TFRotaryEmbedding, "_compute_cos_sin"),
    "rotary_call": (esm.TFRotaryEmbedding, "call"),
}


@contextlib.contextmanager
def upstream_methods():
    """transformers' own methods for the length of the block (the fixed ones, and the encoder
    layer that tfprot's fused layer replaces, which calls them); tfprot's are put back after."""
    assert esm_fixes.is_applied() and set(esm_fixes.ORIGINALS) == set(_TARGETS)
    targets = {**_TARGETS, "layer_call": (esm.TFEsmLayer, "call")}
    originals = {**esm_fixes.ORIGINALS, "layer_call": esm_fast.ORIGINALS["layer_call"]}
    patched = {key: getattr(owner, name) for key, (owner, name) in targets.items()}
    try:
        for key, (owner, name) in targets.items():
            setattr(owner, name, originals[key])
        yield
    finally:
        for key, (owner, name) in targets.items():
            setattr(owner, name, patched[key])


@contextlib.contextmanager
def upstream_layer():
    """transformers' encoder layer instead of tfprot's fused one, with tfprot's fixes kept."""
    patched = esm.TFEsmLayer.call
    esm.TFEsmLayer.call = esm_fast.ORIGINALS["layer_call"]
    try:
        yield
    finally:
        esm.TFEsmLayer.call = patched


@contextlib.contextmanager
def policy(name: str):
    k = keras()
    previous = k.mixed_precision.global_policy()
    k.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        k.mixed_precision.set_global_policy(previous)


def esm_inputs(lengths: list[int], seed: int = 0) -> dict[str, np.ndarray]:
    """``<cls> residues <eos>`` rows, padded to the longest; a tenth of the residues ``<mask>``."""
    rng = np.random.default_rng(seed)
    width = max(lengths) + 2
    ids = np.full((len(lengths), width), PAD_ID, dtype=np.int32)
    for row, length in enumerate(lengths):
        residues = rng.integers(4, 24, size=length)
        residues[rng.choice(length, size=max(1, length // 10), replace=False)] = MASK_ID
        ids[row, : length + 2] = [CLS_ID, *residues, EOS_ID]
    return {"input_ids": ids, "attention_mask": (ids != PAD_ID).astype(np.int32)}


def encoder(token_dropout: bool = True):
    model = esm.TFEsmModel(tiny_config(tfprot.PRESETS["tiny-esm"], token_dropout=token_dropout))
    model(model.dummy_inputs, training=False)
    return model


def rotary_table(policy_name: str, length: int) -> np.ndarray:
    """The ``[length, dim]`` cos|sin table a ``TFRotaryEmbedding`` applies under a policy.

    With ``q = [1]*dim/2 + [0]*dim/2``, ``q·cos + rotate_half(q)·sin`` is ``cos`` on the first half
    and ``sin`` on the second; the layer is called through Keras (so auto-cast applies)."""
    with policy(policy_name):
        layer = esm.TFRotaryEmbedding(dim=ROTARY_DIM)
        half = np.concatenate([np.ones(ROTARY_DIM // 2), np.zeros(ROTARY_DIM // 2)])
        q = tf.cast(np.broadcast_to(half, (1, 1, length, ROTARY_DIM)), layer.compute_dtype)
        rotated, _ = layer(q, q)
    return tf.cast(rotated, tf.float32).numpy()[0, 0]


def reference_table(length: int) -> np.ndarray:
    frequencies = 1.0 / 10000 ** (np.arange(0, ROTARY_DIM, 2) / ROTARY_DIM)
    angles = np.arange(length)[:, None] * frequencies[None, :]
    return np.concatenate([np.cos(angles), np.sin(angles)], axis=-1)


def test_apply_is_idempotent_and_keeps_the_upstream_methods():
    esm_fixes.apply()
    esm_fixes.apply()
    for key, (owner, name) in _TARGETS.items():
        upstream = esm_fixes.ORIGINALS[key]
        assert getattr(owner, name) is not upstream
        assert upstream.__module__ == "transformers.models.esm.modeling_tf_esm"
        assert getattr(owner, name).__module__ == "tfprot.models.esm_fixes"


def test_float32_results_are_bit_identical_to_upstream():
    """Same model, same inputs (600 and padded 50 residues, with <mask> tokens): upstream and
    patched hidden states and rotary tables are equal to the last bit under float32. (Both run
    transformers' encoder layer: tfprot's fused layer, which rounds differently, is compared with
    it in test_esm_fast.py.)"""
    model = encoder(token_dropout=True)
    inputs = esm_inputs([600, 50])
    with upstream_layer():
        patched = model(**inputs).last_hidden_state.numpy()
        patched_table = rotary_table("float32", 602)
    with upstream_methods():
        original = model(**inputs).last_hidden_state.numpy()
        original_table = rotary_table("float32", 602)
    assert patched.dtype == original.dtype == np.float32
    np.testing.assert_array_equal(patched, original)
    np.testing.assert_array_equal(patched_table, original_table)
    # ...and that table is right (float32 angles up to 601 rad: within 1e-4).
    np.testing.assert_allclose(patched_table, reference_table(602), atol=1e-4)


@pytest.mark.parametrize("name", ["mixed_bfloat16", "mixed_float16"])
def test_defect1_token_dropout_fails_upstream_under_a_mixed_policy(name):
    inputs = esm_inputs([50])
    # Even the first call on dummy inputs, which creates the weights, fails.
    with (
        upstream_methods(),
        policy(name),
        pytest.raises(TypeError, match="must have the same dtype"),
    ):
        encoder(token_dropout=True)
    with policy(name):
        model = encoder(token_dropout=True)
        hidden = model(**inputs).last_hidden_state
    assert hidden.dtype == tf.as_dtype(name.removeprefix("mixed_"))
    assert np.isfinite(tf.cast(hidden, tf.float32).numpy()).all()


def test_defect2_bfloat16_rotary_table_has_wrong_length_upstream():
    """600 residues + <cls>/<eos> = 602 tokens: 602 is no bfloat16 number, so upstream's
    ``tf.range(602, dtype=bfloat16)`` gives a 600-row table; tfprot's has 602 rows."""
    inputs = esm_inputs([600])
    with upstream_methods(), policy("mixed_bfloat16"):
        model = encoder(token_dropout=False)  # defect 2 alone
        with pytest.raises(tf.errors.InvalidArgumentError, match="Incompatible shapes"):
            model(**inputs)
    with policy("mixed_bfloat16"):
        model = encoder(token_dropout=False)
        hidden = model(**inputs).last_hidden_state
    assert hidden.shape == (1, 602, 64)


@pytest.mark.parametrize(
    "name, patched_atol, upstream_min_error",
    # Patched: cos/sin exact in float32, then rounded once: half an ulp of a number <= 1.
    # Upstream: the frequencies and angles rounded to bfloat16 (8-bit mantissa: steps of 2-4 rad
    # at 257-600 rad) or float16 (11 bits: inv_freq off by up to 2^-12, times 600 positions).
    [("mixed_bfloat16", 2.0**-9, 0.5), ("mixed_float16", 2.0**-11, 0.05)],
)
def test_defect2_rotary_positions_upstream_wrong_patched_right(
    name, patched_atol, upstream_min_error
):
    """A 600-row table (600 is a bfloat16 number, so no shape error: silently wrong values)."""
    reference = reference_table(600)
    with upstream_methods():
        upstream = rotary_table(name, 600)
    patched = rotary_table(name, 600)
    upstream_error = np.abs(upstream - reference).max(axis=-1)
    patched_error = np.abs(patched - reference).max(axis=-1)
    assert patched_error.max() <= patched_atol * 1.01
    assert upstream_error[256:].max() > upstream_min_error
    if name == "mixed_bfloat16":
        # bfloat16 cannot count past 256: upstream's position 257 is 256 (same table row).
        np.testing.assert_array_equal(upstream[257], upstream[256])
        assert upstream_error[256:].mean() > 0.5
