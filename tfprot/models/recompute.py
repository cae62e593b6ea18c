"""Activation recomputation: encoder layers that keep only their input for the backward pass.

With ``recompute=True`` (:func:`tfprot.models.build_model`) each encoder layer of the model runs
under ``tf.recompute_grad`` in training: the forward pass keeps the layer's input and output, not
its intermediate activations (queries, keys, attention scores, the feed-forward's 4× wide
hidden state...), and the backward pass runs the layer again to get them. Activation memory
falls from about a layer's worth of intermediates per layer to one hidden state per layer, for
about one more forward pass of compute; the gradients are the same (the recomputation is the
same function of the same weights and input).

Dropout inside the layers would draw new masks when recomputed, so recomputation refuses models
with dropout in their layers (:func:`check_recompute`). Inference (``training=False``) runs the
layers as they are.

How: each encoder layer instance gets a subclass of its own class (made once per class) whose
``call`` wraps the original's; transformers' classes are never changed (as
:mod:`tfprot.models.esm_layers` does).

>>> import tfprot
>>> model = tfprot.sequence_regressor("tiny-esm", precision="float32", recompute=True)
>>> type(model.transformer.esm.encoder.layer[0]).__name__
'RecomputedTfprotEsmLayer'
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import tensorflow as tf

from tfprot.errors import CheckpointError, OptionError

__all__ = ["check_recompute", "is_recomputed", "use_recompute"]

logger = logging.getLogger(__name__)

_DROPOUT_SETTINGS = ("hidden_dropout_prob", "attention_probs_dropout_prob")


class _Recomputed:
    """Mixin: ``call`` under ``tf.recompute_grad`` in training (one output: no attentions,
    no cache)."""

    def call(self, hidden_states, *args: Any, **kwargs: Any):
        plain = super().call  # type: ignore[misc]
        if (
            kwargs.get("training") is not True
            or kwargs.get("output_attentions")
            or getattr(self, "is_decoder", False)
        ):
            return plain(hidden_states, *args, **kwargs)

        @tf.recompute_grad
        def layer(hidden):
            return plain(hidden, *args, **kwargs)[0]

        return (layer(hidden_states),)


@functools.cache
def _recomputed_class(cls: type) -> type:
    return type(f"Recomputed{cls.__name__}", (_Recomputed, cls), {"__module__": __name__})


def is_recomputed(layer) -> bool:
    return isinstance(layer, _Recomputed)


def check_recompute(transformer, lora_dropout: float = 0.0) -> None:
    """Refuse recomputation where it would not give the same gradients: dropout in the layers.

    Raises:
        OptionError: the config's ``hidden_dropout_prob`` or ``attention_probs_dropout_prob``
            is above 0, or ``lora_dropout`` is.
    """
    config = getattr(transformer, "config", None)
    for name in _DROPOUT_SETTINGS:
        rate = float(getattr(config, name, 0.0) or 0.0)
        if rate > 0:
            raise OptionError(
                f"recompute=True needs layers without dropout ({name} is {rate}): recomputed "
                f"dropout would draw other masks. Pass {name}=0.0, or leave recompute off."
            )
    if lora_dropout > 0:
        raise OptionError(
            f"recompute=True needs lora_dropout=0 (got {lora_dropout}): recomputed dropout "
            "would draw other masks."
        )


def use_recompute(transformer) -> int:
    """Recompute every encoder layer of ``transformer`` in the backward pass; returns how many.

    Raises:
        CheckpointError: a model without encoder layers.
    """
    prefix = getattr(transformer, "base_model_prefix", "")
    main = getattr(transformer, prefix, None) or transformer
    layers = list(getattr(getattr(main, "encoder", None), "layer", None) or [])
    if not layers:
        raise CheckpointError(
            f"Cannot find the encoder layers of {type(transformer).__name__} to recompute."
        )
    for layer in layers:
        if not is_recomputed(layer):
            layer.__class__ = _recomputed_class(type(layer))
    logger.info("Recomputing the %d encoder layers in the backward pass.", len(layers))
    return len(layers)
