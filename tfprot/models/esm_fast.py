"""A faster encoder layer for transformers' TF ESM: the same weights and the same function.

Profiling a training step of an ``esm2_t6_8M``-sized classifier on a 2-core CPU
(``benchmarks/profile_step.py``) shows where transformers' ``TFEsmLayer`` spends time that the
model's function does not need:

- three query/key/value matmuls of width ``hidden`` where one of width ``3 × hidden`` does the
  same work with better kernel efficiency; the query's scale is folded into its weights, and
  queries and keys get their rotary embedding in one pass;
- ``stable_softmax`` adds ``1e-9`` to every attention score before the softmax: a full pass over
  the ``[batch, heads, length, length]`` scores, the model's largest tensor, that changes nothing
  (softmax is shift-invariant; it was an XLA workaround);
- attention itself is separate kernels, each a pass through memory over those scores: on CPUs
  :mod:`tfprot.models.cpu_ops` computes it as one op that keeps the scores in cache
  (elsewhere TensorFlow's kernels, with a gradient that uses ``rowsum(dP ∘ P) = rowsum(dO ∘ O)``
  as FlashAttention does, two passes over the scores fewer than the automatic derivative);
- layer norms are casts, moments and products, a pass through memory each: :func:`_layer_norm` is
  one op each way on CPUs (float32 arithmetic, as Keras');
- GELU under bfloat16 runs scalar ``erfc`` kernels: :func:`_gelu` is one op each way on CPUs
  (float32 arithmetic, one pass through memory), elsewhere float32 (vectorised) TensorFlow ops with
  a hand-written derivative;
- splitting the QKV projection into heads is a split, a reshape, the rotary embedding's slices,
  negation, concat and products, and transposes, each a pass (and as many for the gradient): on
  CPUs :func:`_split_heads` is one op each way;
- the feed-forward network on ``[batch, length, hidden]`` tensors through ``tensordot``, which
  hides ``MatMul + BiasAdd`` from oneDNN's fusion; here the matmuls see 2-D tensors;
- for a sequence-level task (classification, regression), the last layer computes every token's
  output although the head reads only the first (``<cls>``) token: :func:`first_token_logits`
  calls the last layer with ``first_token_only=True``, which restricts its queries, attention
  output and feed-forward network to that token (keys and values still come from every token),
  which saves almost one layer in six at the ``esm2_t6_8M`` size, with exactly the same logits
  and gradients.

:class:`TfprotEsmLayer` is a subclass of transformers' ``TFEsmLayer`` whose ``call`` takes this
path when the layer is an ordinary encoder layer (no decoder, cache, cross-attention, head mask,
attention weights requested, relative positions, or attention dropout in training) and
otherwise calls transformers' own. Under float32 the outputs equal transformers' within float
rounding (about 1e-6); the tests compare it with a transformers model holding the same weights,
and with the PyTorch model. It belongs to the models tfprot builds only
(:mod:`tfprot.models.esm_layers` swaps it into those instances); transformers' ``TFEsmLayer``
itself is never changed. Through transformers' own call chain (``model(...)``,
``model.esm(...)``) every token is computed, as upstream; only :func:`first_token_logits`, which
:class:`~tfprot.models.protein_model.ProteinModel` calls for an ESM sequence-level head, asks
for the first token alone.
"""

from __future__ import annotations

import itertools

import tensorflow as tf
from transformers.models.esm.modeling_tf_esm import TFEsmForSequenceClassification, TFEsmLayer

from tfprot.models import cpu_ops
from tfprot.models.esm_fixes import stored_float32
from tfprot.models.lora import fused_delta

__all__ = ["TfprotEsmLayer", "first_token_logits", "reads_first_token_only"]


class TfprotEsmLayer(TFEsmLayer):
    """``TFEsmLayer`` computed by the fused path (see the module doc), with the same weights.

    ``call`` takes transformers' arguments and one more, ``first_token_only``: compute the
    output of the first token only (``[batch, 1, hidden]``), for a head that reads nothing else.
    """

    def call(
        self,
        hidden_states,
        attention_mask=None,
        head_mask=None,
        encoder_hidden_states=None,
        encoder_attention_mask=None,
        past_key_value=None,
        output_attentions=False,
        training=False,
        first_token_only=False,
    ):
        if not _fast_path_applies(
            self, head_mask, encoder_hidden_states, past_key_value, output_attentions, training
        ):
            outputs = super().call(
                hidden_states,
                attention_mask,
                head_mask,
                encoder_hidden_states,
                encoder_attention_mask,
                past_key_value,
                output_attentions,
                training,
            )
            return (outputs[0][:, :1, :], *outputs[1:]) if first_token_only else outputs
        return (_fused_layer(self, hidden_states, attention_mask, training, first_token_only),)


def reads_first_token_only(transformer) -> bool:
    """Whether ``transformer`` is an ESM sequence-level model (``TFEsmForSequenceClassification``:
    its head reads only ``<cls>``) with tfprot's encoder layers, so that
    :func:`first_token_logits` applies.

    >>> import tfprot
    >>> model = tfprot.sequence_regressor("tiny-esm", precision="float32", compile=False)
    >>> reads_first_token_only(model.transformer)
    True
    """
    if not isinstance(transformer, TFEsmForSequenceClassification):
        return False
    main = getattr(transformer, "esm", None)
    layers = list(getattr(getattr(main, "encoder", None), "layer", None) or [])
    return bool(layers) and all(isinstance(layer, TfprotEsmLayer) for layer in layers)


def first_token_logits(transformer, input_ids, attention_mask, *, training=False) -> tf.Tensor:
    """The logits of an ESM sequence-level model (:func:`reads_first_token_only`) whose last
    encoder layer computes only the first token, which is all its head reads: the same logits
    and gradients as ``transformer(input_ids=..., attention_mask=...).logits``, with almost one
    layer's work less.

    The steps are transformers' own for an encoder (``TFEsmMainLayer.call``, ``TFEsmEncoder.call``,
    ``TFEsmForSequenceClassification.call``): embeddings, the additive attention mask, the
    layers, the final layer norm, the head.
    """
    if not reads_first_token_only(transformer):
        raise TypeError(
            f"first_token_logits needs an ESM sequence classifier with tfprot's layers, got "
            f"{type(transformer).__name__}."
        )
    main = transformer.esm
    if attention_mask is None:
        attention_mask = tf.ones_like(input_ids)
    if main.is_decoder:
        raise TypeError("first_token_logits computes encoders only (config.is_decoder is set).")
    with tf.name_scope(main.name):
        hidden = main.embeddings(
            input_ids=input_ids, attention_mask=attention_mask, training=training
        )
        # [batch, 1, 1, length]: 0 where attended, -10000 for padding (in the compute dtype)
        mask = tf.cast(attention_mask[:, None, None, :], hidden.dtype)
        mask = tf.multiply(
            tf.subtract(tf.constant(1.0, hidden.dtype), mask), tf.constant(-10000.0, hidden.dtype)
        )
        encoder = main.encoder
        with tf.name_scope(encoder.name):
            *layers, last = encoder.layer
            for layer in layers:
                hidden = layer(hidden, mask, training=training)[0]
            hidden = last(hidden, mask, training=training, first_token_only=True)[0]
            if encoder.emb_layer_norm_after:
                hidden = encoder.emb_layer_norm_after(hidden)
    return transformer.classifier(hidden, training=training)


def _fast_path_applies(
    layer, head_mask, encoder_hidden_states, past_key_value, output_attentions, training
) -> bool:
    attention = layer.attention.self
    config = layer.config
    return (
        layer.built
        and not layer.is_decoder
        and not layer.add_cross_attention
        and head_mask is None
        and encoder_hidden_states is None
        and past_key_value is None
        and not output_attentions
        and attention.position_embedding_type in ("rotary", "absolute")
        and all(
            dense.use_bias
            for dense in (
                attention.query,
                attention.key,
                attention.value,
                layer.attention.output_layer.dense,
                layer.intermediate.dense,
                layer.output_layer.dense,
            )
        )
        and not (training and config.attention_probs_dropout_prob > 0)
    )


def _fused_layer(layer, hidden_states, attention_mask, training, first_only: bool):
    attention = layer.attention
    projections = attention.self
    dtype = layer.compute_dtype
    heads, head_size = projections.num_attention_heads, projections.attention_head_size
    width = heads * head_size
    batch, length = tf.shape(hidden_states)[0], tf.shape(hidden_states)[1]

    def heads_first(rows, count):  # [batch × count, width] → [batch, heads, count, head_size]
        return tf.transpose(tf.reshape(rows, [batch, count, heads, head_size]), [0, 2, 1, 3])

    normed = _layer_norm(attention.LayerNorm, hidden_states)
    rows = tf.reshape(normed, [-1, width])
    # ESM scales the query by head_size^-0.5 before the rotary embedding; folding the scale into
    # the query's kernel and bias saves a pass over the queries (exact when it is a power of 2).
    scale = head_size**-0.5
    query_dense = (projections.query, scale)
    key_value = ((projections.key, 1.0), (projections.value, 1.0))
    rotary = projections.position_embedding_type == "rotary"
    if rotary:
        cos32, sin32 = _rotary_tables(projections.rotary_embeddings, length, tf.float32)
        cos, sin = tf.cast(cos32, dtype), tf.cast(sin32, dtype)
    residual = hidden_states
    if first_only:
        # Only the first token's query (position 0: its rotation is the identity); keys and
        # values of every token.
        residual = hidden_states[:, :1, :]
        query = heads_first(
            _fused_dense(normed[:, 0, :], [query_dense], dtype, training=training)[0], 1
        )
        key, value = _fused_dense(rows, key_value, dtype, training=training)
        key = tf.reshape(key, [batch, length, heads, head_size])
        if rotary:
            key = _rotate(key, cos, sin)
        key = tf.transpose(key, [0, 2, 1, 3])
        queries = 1
    elif rotary and head_size % 2 == 0 and _ops_apply(dtype):
        # One op: the rows of the QKV projection → rotated query and key heads, value heads.
        qkv = _fused_dense(rows, [query_dense, *key_value], dtype, split=(3,), training=training)[0]
        qkv = tf.reshape(qkv, [batch, length, 3 * width])
        tables = [tf.reshape(t, [length, head_size]) for t in (cos32, sin32)]
        query, key, value = _split_heads(qkv, *tables, heads)
        queries = length
    else:
        query_key, value = _fused_dense(
            rows, [query_dense, *key_value], dtype, split=(2, 1), training=training
        )
        # Queries and keys rotate together: [batch, length, 2 × heads, head_size].
        query_key = tf.reshape(query_key, [batch, length, 2 * heads, head_size])
        if rotary:
            query_key = _rotate(query_key, cos, sin)
        query, key = tf.split(tf.transpose(query_key, [0, 2, 1, 3]), 2, axis=1)
        queries = length
    if value.shape.rank != 4:
        value = heads_first(value, length)
    if attention_mask is None:
        attention_mask = tf.zeros([batch, 1, 1, length], dtype=dtype)
    mask = tf.cast(attention_mask, dtype)
    context = cpu_ops.attention(query, key, value, mask, training=training is not False)
    context = tf.reshape(tf.transpose(context, [0, 2, 1, 3]), [-1, width])

    output = attention.output_layer
    attended = output.dropout(_dense_2d(output.dense, context, dtype, training), training=training)
    attended = tf.reshape(attended, [batch, queries, width]) + residual

    normed = _layer_norm(layer.LayerNorm, attended)
    hidden = _gelu(
        _dense_2d(layer.intermediate.dense, tf.reshape(normed, [-1, width]), dtype, training)
    )
    out = layer.output_layer
    hidden = out.dropout(_dense_2d(out.dense, hidden, dtype, training), training=training)
    return tf.reshape(hidden, [batch, queries, width]) + attended


def _dense_2d(dense, rows, dtype, training=False):
    """A Keras ``Dense`` on a 2-D input: ``MatMul`` + ``BiasAdd`` (fused by oneDNN)."""
    return _fused_dense(rows, [(dense, 1.0)], dtype, training=training)[0]


def _fused_dense(rows, denses, dtype, split=None, training=False) -> list:
    """Keras ``Dense`` layers (each with a scale for its outputs) on the same 2-D input as one
    matmul; the outputs are split back per layer, or into groups of ``split`` layers. LoRA
    adapters of these layers (:mod:`tfprot.models.lora`) add their outputs, scaled alike."""

    def scaled(variable, factor):
        value = tf.cast(variable, dtype)
        return value if factor == 1.0 else value * tf.constant(factor, dtype=dtype)

    kernel = tf.concat([scaled(d.kernel, f) for d, f in denses], axis=1)
    bias = tf.concat([scaled(d.bias, f) for d, f in denses], axis=0)
    outputs = tf.nn.bias_add(tf.matmul(rows, kernel), bias)
    delta = fused_delta(rows, denses, dtype, training)
    if delta is not None:
        outputs = outputs + delta
    units = [d.units for d, _ in denses]
    if split is not None:
        bounds = [0, *itertools.accumulate(split)]
        units = [sum(units[a:b]) for a, b in itertools.pairwise(bounds)]
    return tf.split(outputs, units, axis=-1) if len(units) > 1 else [outputs]


def _rotary_tables(rotary, length, dtype):
    """cos and sin ``[length, 1, head_size]`` of the rotary embedding (for ``[batch, length,
    heads, head_size]``), computed in float32 from the stored frequencies (see
    :mod:`tfprot.models.esm_fixes`)."""
    positions = tf.range(length, dtype=tf.float32)
    angles = positions[:, None] * stored_float32(rotary.inv_freq)[None, :]
    angles = tf.concat([angles, angles], axis=-1)[:, None, :]
    return tf.cast(tf.cos(angles), dtype), tf.cast(tf.sin(angles), dtype)


def _ops_apply(dtype) -> bool:
    """Whether tfprot's CPU ops (:mod:`tfprot.models.cpu_ops`) serve this trace."""
    return dtype in (tf.float32, tf.bfloat16) and cpu_ops.is_enabled()


def _split_heads(qkv, cos, sin, heads: int):
    """``[batch, length, 3 × width]`` QKV rows → query and key heads rotated by ``cos``/``sin``
    (``[length, head_size]`` float32), value heads: ``[batch, heads, length, head_size]`` each,
    as one op each way (``TfprotHeads``)."""
    ops = cpu_ops.custom_ops()

    @tf.custom_gradient
    def split(qkv):
        query, key, value = ops.tfprot_heads(qkv, cos, sin, heads=heads)

        def gradient(d_query, d_key, d_value):
            return ops.tfprot_heads_grad(d_query, d_key, d_value, cos, sin)

        return (query, key, value), gradient

    return split(qkv)


def _layer_norm(norm, x):
    """A Keras ``LayerNormalization`` over the last axis: on CPUs one op each way
    (``TfprotLayerNorm``, float32 arithmetic as Keras' own under mixed precision), otherwise the
    layer itself."""
    x = tf.cast(x, norm.compute_dtype)  # as Keras does first
    plain = (
        norm.built
        and norm.center
        and norm.scale
        and list(norm.axis) == [x.shape.rank - 1]
        and norm.gamma.dtype == tf.float32
    )
    if not (plain and _ops_apply(x.dtype)):
        return norm(x)
    return _layer_norm_op(
        x, tf.convert_to_tensor(norm.gamma), tf.convert_to_tensor(norm.beta), float(norm.epsilon)
    )


def _layer_norm_op(x, gamma, beta, epsilon: float):
    ops = cpu_ops.custom_ops()

    @tf.custom_gradient
    def normalise(x, gamma, beta):
        y, mean, rstd = ops.tfprot_layer_norm(x, gamma, beta, epsilon=epsilon)

        def gradient(dy):
            return ops.tfprot_layer_norm_grad(x, gamma, mean, rstd, dy)

        return y, gradient

    return normalise(x, gamma, beta)


def _gelu(x):
    """ESM's exact GELU, ``x·Φ(x)``: on CPUs one op each way (``TfprotGelu`` and its gradient,
    see :mod:`tfprot.models.cpu_ops`), otherwise :func:`_gelu_tensorflow`."""
    if _ops_apply(x.dtype):
        return _gelu_op(x)
    return _gelu_tensorflow(x)


@tf.custom_gradient
def _gelu_op(x):
    ops = cpu_ops.custom_ops()

    def gradient(dy):
        return ops.tfprot_gelu_grad(x, dy)

    return ops.tfprot_gelu(x), gradient


@tf.custom_gradient
def _gelu_tensorflow(x):
    """ESM's exact GELU, ``x·Φ(x)``, computed in float32 (or wider) whatever the input's type
    (bfloat16 element-wise kernels are scalar on CPUs; float32 ones are vectorised), with a
    hand-written derivative ``Φ(x) + x·φ(x)`` that recomputes from ``x`` rather than keeping
    float32 copies for the backward pass: fewer passes than the automatic derivative, no extra
    memory."""
    wide = _at_least_float32(x.dtype)

    def cdf_of(x_wide):
        return 0.5 * tf.math.erfc(x_wide * -0.7071067811865476)

    def gradient(dy):
        with tf.name_scope("gelu_gradient"):  # named, for profiles
            x_wide = tf.cast(x, wide)
            density = tf.exp(-0.5 * tf.square(x_wide)) * 0.3989422804014327
            return tf.cast(tf.cast(dy, wide) * (cdf_of(x_wide) + x_wide * density), x.dtype)

    x_wide = tf.cast(x, wide)
    return tf.cast(x_wide * cdf_of(x_wide), x.dtype), gradient


def _at_least_float32(dtype):
    return tf.float64 if dtype == tf.float64 else tf.float32


def _rotate(x, cos, sin):
    """Rotary position embedding (``x·cos + rotate_half(x)·sin``, as transformers computes it)."""
    first, second = tf.split(x, 2, axis=-1)
    return x * cos + tf.concat([-second, first], axis=-1) * sin
