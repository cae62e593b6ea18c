"""tfprot's masked-LM head for transformers' TensorFlow ESM under mixed precision (seen with
transformers 4.57.6).

``TFEsmLMHead`` ties its projection onto the vocabulary to the word embeddings (every ESM-2
checkpoint: ``tie_word_embeddings``) and multiplies them with the features. Keras' ``Embedding``
keeps its table a plain float32 variable, never auto-cast, so under a mixed policy the product is
bfloat16/float16 features × float32 table and fails (``cannot compute BatchMatMulV2 as input #1
was expected to be a bfloat16 tensor but is a float tensor``): ``TFEsmForMaskedLM`` cannot run
under ``mixed_bfloat16`` or ``mixed_float16`` at all.

:class:`TfprotEsmLMHead` computes the head's dense layer, GELU and layer norm as transformers does,
then the projection onto the vocabulary in float32 (a ``hidden × 33`` product: negligible work),
from the weights as stored: the logits are float32 under every policy, so log-probabilities keep
their digits. Under float32 it is transformers' computation. It belongs to the models tfprot
builds only (:mod:`tfprot.models.esm_layers` swaps it into those instances).

>>> import tfprot
>>> model = tfprot.zeroshot.load_masked_lm("tiny-esm", precision="mixed_bfloat16")
>>> type(model.transformer.lm_head).__name__
'TfprotEsmLMHead'
>>> ids = model.tokenizer.encode("MKTAYIAK")[None]
>>> model.transformer(input_ids=ids).logits.dtype.name
'float32'
"""

from __future__ import annotations

import tensorflow as tf
from transformers.models.esm.modeling_tf_esm import TFEsmLMHead

from tfprot.models.esm_fixes import stored_float32

__all__ = ["TfprotEsmLMHead"]


class TfprotEsmLMHead(TFEsmLMHead):
    """``TFEsmLMHead`` whose vocabulary projection is float32 (works under mixed precision)."""

    def call(self, features):
        x = self.dense(features)
        x = tf.nn.gelu(x)
        x = self.layer_norm(x)
        x = tf.cast(x, tf.float32)
        if self.config.tie_word_embeddings:
            x = tf.matmul(x, stored_float32(self.decoder), transpose_b=True)
        else:
            x = tf.matmul(x, stored_float32(self.decoder.kernel))
        return x + stored_float32(self.bias)
