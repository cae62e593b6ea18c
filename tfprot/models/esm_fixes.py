"""tfprot's embedding and rotary layers for transformers' TensorFlow ESM under mixed precision
(seen with transformers 4.57.6).

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

:class:`TfprotEsmEmbeddings` and :class:`TfprotRotaryEmbedding` are subclasses that compute in
float32 and cast only the finished tensors to the compute dtype; under float32 their results are
bit-identical to transformers'. They belong to the models tfprot builds only
(:mod:`tfprot.models.esm_layers` swaps them into those instances): transformers' own classes are
never changed, so a user's transformers models in the same process behave as upstream.

The rotary layer keeps transformers' ``build`` (the same ``inv_freq`` weight, loaded from the
checkpoint, which holds the float16-rounded frequencies the ESM-2 checkpoints were trained
with) and reads it as stored, in float32, whether or not transformers created it as an
auto-cast variable (a model built under a mixed policy, then given tfprot's layers).
"""

from __future__ import annotations

import tensorflow as tf
from transformers.models.esm.modeling_tf_esm import (
    TFEsmEmbeddings,
    TFRotaryEmbedding,
    apply_rotary_pos_emb,
    create_position_ids_from_input_ids,
)
from transformers.tf_utils import check_embeddings_within_bounds

__all__ = ["TfprotEsmEmbeddings", "TfprotRotaryEmbedding", "stored_float32"]


def stored_float32(variable) -> tf.Tensor:
    """A variable's value as stored, as float32: never rounded first by Keras' auto-cast (which,
    inside a layer under a mixed policy, hands out the compute dtype).

    >>> variable = tf.Variable([1 + 2**-12])
    >>> float(stored_float32(variable)[0]) == 1 + 2**-12
    True
    """
    # The resource handle reads the variable itself: an auto-cast variable passes ``handle`` and
    # ``true_dtype`` on from the variable it wraps.
    dtype = getattr(variable, "true_dtype", variable.dtype)
    try:
        handle = variable.handle
    except ValueError:
        # A distributed variable outside a replica context (a model's first call under
        # ``strategy.scope()``) has no one handle; its local copies hold the same value, and
        # ``experimental_local_results`` gives them unwrapped (no auto-cast).
        local = tf.distribute.get_strategy().experimental_local_results(variable)[0]
        handle, dtype = local.handle, local.dtype
    stored = tf.raw_ops.ReadVariableOp(resource=handle, dtype=dtype)
    return tf.cast(stored, tf.float32)


class TfprotEsmEmbeddings(TFEsmEmbeddings):
    """``TFEsmEmbeddings`` whose token-dropout rescaling works under mixed precision (defect 1)
    and whose all-padding rows (the static-shape mode's filler) stay finite."""

    def call(
        self,
        input_ids=None,
        attention_mask=None,
        position_ids=None,
        inputs_embeds=None,
        past_key_values_length=0,
    ):
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
            # divide_no_nan: an all-padding row (the static-shape mode's filler) has no tokens,
            # and 0/0 would make its logits NaN and, through the batch, every gradient NaN. Rows
            # with tokens get exactly upstream's value.
            mask_ratio_observed = tf.math.divide_no_nan(
                tf.math.count_nonzero(masked, dtype=tf.float32, axis=-1), src_lengths
            )
            # Upstream's order of operations (bit-identical under float32); the float32 ratio
            # is cast to the compute dtype instead of being divided into bfloat16/float16
            # embeddings.
            unmasked = tf.cast(1 - mask_ratio_observed, embeddings.dtype)
            embeddings = embeddings * (1 - mask_ratio_train) / unmasked[:, None, None]
        if self.position_embedding_type == "absolute":
            embeddings += self.position_embeddings(position_ids)
        if self.layer_norm is not None:
            embeddings = self.layer_norm(embeddings)
        if attention_mask is not None:
            embeddings = embeddings * tf.cast(tf.expand_dims(attention_mask, -1), embeddings.dtype)
        return embeddings


class TfprotRotaryEmbedding(TFRotaryEmbedding):
    """``TFRotaryEmbedding`` whose positions and angles are float32 whatever the policy
    (defect 2); the finished cos/sin tables are cast to the queries' dtype."""

    def inverse_frequencies(self) -> tf.Tensor:
        """The ``[dim / 2]`` float32 frequencies, as stored in ``inv_freq``."""
        return stored_float32(self.inv_freq)

    def _compute_cos_sin(self, x, seq_dimension=2):
        positions = tf.range(tf.shape(x)[seq_dimension], dtype=tf.float32)
        freqs = tf.einsum("i, j -> ij", positions, self.inverse_frequencies())
        emb = tf.concat((freqs, freqs), axis=-1)[None, None, :, :]
        return tf.cos(emb), tf.sin(emb)

    def call(self, q, k):
        cos, sin = self._compute_cos_sin(k, seq_dimension=-2)
        cos, sin = tf.cast(cos, q.dtype), tf.cast(sin, q.dtype)
        return apply_rotary_pos_emb(q, cos, sin), apply_rotary_pos_emb(k, cos, sin)
