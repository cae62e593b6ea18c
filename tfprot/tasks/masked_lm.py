"""Masked-LM scoring: a checkpoint's own masked-language-model head, used zero-shot.

ESM-2's pre-training head predicts a residue from its context. Without any fine-tuning its
log-probabilities score mutations (:func:`tfprot.score_variants`: masked marginals, wild-type
marginals, pseudo-likelihoods) and its attention maps predict contacts (:func:`tfprot.contacts`).
This task is the one home of what that means on the model side: the head
(``TFAutoModelForMaskedLM``), the float32 log-softmax of its logits, and the mask token. It has no
labels, loss or metrics of its own, so it is not a choice of ``tfprot train --task``; the methods
of :class:`~tfprot.tasks.ProteinTask` that only training uses say so.

>>> task = MaskedLMScoring()
>>> task.head, task.name
('MaskedLM', 'masked-lm')
>>> import numpy as np
>>> logp = task.log_probabilities(np.log([[0.25, 0.75]]))
>>> np.round(np.exp(logp), 2).tolist()
[[0.25, 0.75]]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tfprot.errors import CheckpointError, OptionError
from tfprot.tasks.base import ProteinTask

__all__ = ["MaskedLMScoring"]


class MaskedLMScoring(ProteinTask):
    """The pre-trained masked-LM head, scored zero-shot (no labels, not trained by tfprot)."""

    name = "masked-lm"
    description = "masked language model (log-probabilities of every residue, zero-shot)"
    baseline_what = "none: zero-shot scores are compared with measurements by rank correlation"
    head = "MaskedLM"
    factory = "tfprot.score_variants / tfprot.contacts"
    min_classes = 0
    pipeline_tag = "fill-mask"
    hub_tags = ("zero-shot", "variant-effect")

    # -- the model side ------------------------------------------------------------------------
    def log_probabilities(self, logits: Any) -> Any:
        """Float32 log-softmax over the vocabulary of the head's logits (a tensor or array),
        whatever the precision policy: bfloat16 or float16 logits are widened first."""
        if isinstance(logits, np.ndarray):
            wide = logits.astype(np.float32)
            shifted = wide - wide.max(axis=-1, keepdims=True)
            return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        import tensorflow as tf

        return tf.nn.log_softmax(tf.cast(logits, tf.float32), axis=-1)

    def outputs(self, logits):
        return self.log_probabilities(logits)

    def probabilities(self, logits):
        import tensorflow as tf

        return tf.exp(self.log_probabilities(logits))

    @staticmethod
    def mask_id(tokenizer: Any) -> int:
        """The ``<mask>`` token id of a :class:`~tfprot.data.ProteinTokenizer`'s 🤗 tokenizer.

        Raises:
            CheckpointError: the tokenizer has no mask token (not a masked language model).
        """
        mask = getattr(tokenizer.tokenizer, "mask_token_id", None)
        if mask is None:
            raise CheckpointError(
                f"{type(tokenizer.tokenizer).__name__} has no mask token: masked-LM scoring needs "
                "a masked language model checkpoint such as facebook/esm2_t33_650M_UR50D."
            )
        return int(mask)

    # -- training only: not this task's ------------------------------------------------------
    def _not_trained(self, what: str):
        return OptionError(
            f"The {self.name} task is used zero-shot (tfprot.score_variants, tfprot.contacts): it "
            f"has no {what}. Fine-tune a task of tfprot train --task instead."
        )

    def class_names(self, record, separator):
        raise self._not_trained("labels")

    def encode(self, record, vocabulary) -> np.ndarray:
        raise self._not_trained("labels")

    def target_summary(self, targets, classes) -> dict:
        raise self._not_trained("targets")

    def baseline(self, train, test, classes) -> dict[str, Any]:
        raise self._not_trained("baseline")

    def describe_baseline(self, baseline) -> str:
        raise self._not_trained("baseline")

    def loss(self):
        raise self._not_trained("loss")

    def metrics(self, num_labels: int) -> list:
        raise self._not_trained("metrics")

    def decode(self, logits, vocabulary, *, threshold: float = 0.5):
        raise self._not_trained("label decoding")

    def head_config(self, classes: tuple[str, ...]) -> dict[str, Any]:
        return {}
