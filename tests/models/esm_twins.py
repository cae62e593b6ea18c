"""Helpers for the tests that compare tfprot's ESM layers with transformers' own: tiny ESM
models with or without tfprot's layers, a transformers twin holding the same weights, inputs.

The reference is always a plain transformers instance (its classes untouched by tfprot) with
the same weights, so no test has to change transformers' classes and restore them.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from transformers.models.esm import modeling_tf_esm as esm

import tfprot
from tfprot.models.checkpoints import tiny_config
from tfprot.models.esm_layers import SUBCLASSES, use_tfprot_layers

MASK_ID, CLS_ID, EOS_ID, PAD_ID = 32, 0, 2, 1

KINDS = {
    "sequence": esm.TFEsmForSequenceClassification,
    "token": esm.TFEsmForTokenClassification,
    "encoder": esm.TFEsmModel,
}

FIXES_ONLY = {
    upstream: subclass
    for upstream, subclass in SUBCLASSES.items()
    if upstream is not esm.TFEsmLayer
}
"""tfprot's mixed-precision fixes without its fused layer (which rounds differently)."""


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


def build(kind: str, subclasses=SUBCLASSES, num_hidden_layers: int = 2, **overrides):
    """A tiny ESM model (16-wide heads like every ESM-2, 3 labels) with random weights, given
    tfprot's layers (``subclasses``; ``{}``: transformers' own) before its first call."""
    config = tiny_config(
        tfprot.PRESETS["tiny-esm"], num_hidden_layers=num_hidden_layers, **overrides
    )
    config.num_labels = 3
    model = KINDS[kind](config)
    use_tfprot_layers(model, subclasses)
    model(model.dummy_inputs, training=False)
    return model


def weight_name(variable) -> str:
    """A variable's name below the model's own (``esm/encoder/layer_._0/...``)."""
    return variable.name.split("/", 1)[1]


def twin(model, subclasses=None):
    """A new transformers model of ``model``'s class and config with the same weights, and
    transformers' own layers (or ``subclasses`` of tfprot's), built under the current policy."""
    other = type(model)(model.config)
    use_tfprot_layers(other, subclasses or {})
    other(other.dummy_inputs, training=False)
    values = {weight_name(v): v for v in model.variables}
    assert sorted(values) == sorted(weight_name(v) for v in other.variables)
    for variable in other.variables:
        variable.assign(values[weight_name(variable)])
    return other


def only_transformers_layers(model) -> bool:
    """Whether every layer of ``model`` is of a transformers or Keras class (none of tfprot's)."""
    return all(
        type(layer).__module__.startswith(("transformers.", "tf_keras.", "keras."))
        for layer in [model, *model.submodules]
    )
