"""Fixes for transformers' TensorFlow ESM under mixed precision (seen with transformers 4.57.6).

The TF port of ESM was never exercised under a mixed policy, and two defects follow:

1. ``TFEsmEmbeddings`` with ``token_dropout=True`` (every real ESM-2 checkpoint) fails under any
   mixed policy: the mask-ratio rescaling divides the float16/bfloat16 embeddings by a float32
   tensor (``TypeError: x and y must have the same dtype``).
2. ``TFRotaryEmbedding`` reads its ``inv_freq`` weight through Keras' auto-cast, so the frequencies
   and the position counter ``tf.range(seq_len)`` are built in the compute dtype. bfloat16 has an
   8-bit mantissa: it cannot count past 256, so for longer sequences the positions are silently
   wrong (position 257 becomes 256), and where the length itself is not a bfloat16 number the
   table has the wrong number of rows (``Incompatible shapes: [8,20,501,16] vs. [1,1,500,16]``).
   Under float16 the positions count right up to 2048, but the angles ``position × frequency``
   are rounded to float16 (0.25 rad steps past 512).

:func:`apply` replaces the three affected methods with versions that compute in float32 and cast
only the finished tensors to the compute dtype. Under float32 the results are bit-identical to the
originals. It is applied when :mod:`tfprot.models` is imported, and is idempotent.
"""

from __future__ import annotations

import tensorflow as tf

__all__ = ["ORIGINALS", "apply", "is_applied"]

_APPLIED = False
ORIGINALS: dict = {}
"""The replaced upstream methods (filled by :func:`apply`), kept for comparison in tests."""


def is_applied() -> bool:
    """Whether :func:`apply` has patched transformers' TF ESM in this process.

    >>> import tfprot.models
    >>> is_applied(), sorted(ORIGINALS)
    (True, ['embeddings_call', 'rotary_build', 'rotary_call', 'rotary_cos_sin'])
    """
    return _APPLIED


def apply() -> None:
    """Patch ``TFEsmEmbeddings.call`` and ``TFRotaryEmbedding.build/_compute_cos_sin/call``."""
    global _APPLIED
    if _APPLIED:
        return
    from transformers.models.esm import modeling_tf_esm as esm

    ORIGINALS.update(
        embeddings_call=esm.TFEsmEmbeddings.call,
        rotary_build=esm.TFRotaryEmbedding.build,
        rotary_cos_sin=esm.TFRotaryEmbedding._compute_cos_sin,
        rotary_call=esm.TFRotaryEmbedding.call,
    )
    esm.TFEsmEmbeddings.call = _embeddings_call
    esm.TFRotaryEmbedding.build = _rotary_build
    esm.TFRotaryEmbedding._compute_cos_sin = _rotary_cos_sin
    esm.TFRotaryEmbedding.call = _rotary_call
    _APPLIED = True


def _embeddings_call(
    self,
    input_ids=None,
    attention_mask=None,
    position_ids=None,
    inputs_embeds=None,
    past_key_values_length=0,
):
    from transformers.models.esm.modeling_tf_esm import create_position_ids_from_input_ids
    from transformers.tf_utils import check_embeddings_within_bounds

    if position_ids is None:
        if input_ids is not None:
            position_ids = create_position_ids_from_input_ids(
                input_ids, self.padding_idx, past_key_values_length
            )
        else:
            position_ids = self.create_position_ids_from_inputs_embeds(inputs_embeds)
    if inputs_embeds is None:
        check_embeddings_within_bounds(input_ids, self.config.vocab_size)
        inputs_embeds = self.word_embeddings(input_ids)
    embeddings = inputs_embeds
    if self.token_dropout:
        # ESM's "mask dropout": zero <mask> embeddings, rescale by the observed mask ratio.
        masked = input_ids == self.mask_token_id
        embeddings = tf.where(masked[:, :, None], tf.zeros_like(embeddings), embeddings)
        mask_ratio_train = 0.15 * 0.8
        if attention_mask is None:
            attention_mask = tf.ones_like(input_ids)
        src_lengths = tf.cast(tf.reduce_sum(attention_mask, axis=-1), tf.float32)
        # divide_no_nan: an all-padding row (the static-shape mode's filler) has no tokens, and
        # 0/0 would make its logits NaN and, through the batch, every gradient NaN. Rows with
        # tokens get exactly upstream's value.
        mask_ratio_observed = tf.math.divide_no_nan(
            tf.math.count_nonzero(masked, dtype=tf.float32, axis=-1), src_lengths
        )
        # Upstream's order of operations (bit-identical under float32); the float32 ratio is
        # cast to the compute dtype instead of being divided into bfloat16/float16 embeddings.
        unmasked = tf.cast(1 - mask_ratio_observed, embeddings.dtype)
        embeddings = embeddings * (1 - mask_ratio_train) / unmasked[:, None, None]
    if self.position_embedding_type == "absolute":
        embeddings += self.position_embeddings(position_ids)
    if self.layer_norm is not None:
        embeddings = self.layer_norm(embeddings)
    if attention_mask is not None:
        embeddings = embeddings * tf.cast(tf.expand_dims(attention_mask, -1), embeddings.dtype)
    return embeddings


def _rotary_build(self, input_shape):
    from transformers.modeling_tf_utils import get_initializer, keras

    keras.layers.Layer.build(self, input_shape)
    # experimental_autocast=False: read the frequencies in float32 even under a mixed policy.
    self.inv_freq = self.add_weight(
        "inv_freq",
        shape=(self.dim // 2,),
        dtype=tf.float32,
        initializer=get_initializer(1.0),
        trainable=False,
        experimental_autocast=False,
    )
    self.inv_freq.assign(
        1.0 / (10000 ** (tf.range(start=0, limit=self.dim, delta=2, dtype=tf.float32) / self.dim))
    )


def _rotary_cos_sin(self, x, seq_dimension=2):
    positions = tf.range(tf.shape(x)[seq_dimension], dtype=tf.float32)
    freqs = tf.einsum("i, j -> ij", positions, tf.cast(self.inv_freq, tf.float32))
    emb = tf.concat((freqs, freqs), axis=-1)[None, None, :, :]
    return tf.cos(emb), tf.sin(emb)


def _rotary_call(self, q, k):
    from transformers.models.esm.modeling_tf_esm import apply_rotary_pos_emb

    cos, sin = self._compute_cos_sin(k, seq_dimension=-2)
    cos, sin = tf.cast(cos, q.dtype), tf.cast(sin, q.dtype)
    return apply_rotary_pos_emb(q, cos, sin), apply_rotary_pos_emb(k, cos, sin)
