"""A masked language model ready to score: the transformers TF model, its tokenizer, its passes.

:func:`load_masked_lm` builds the model with its masked-LM head through
:func:`tfprot.models.checkpoints.load_transformer` (presets, Hub ids, local folders, PyTorch-only
folders converted; ``tiny-esm`` built offline with random weights, and flagged), under the
precision policy asked for. :meth:`MaskedLanguageModel.run` runs forward passes, each a window of
a sequence with at most one residue masked, in length-sorted batches under a token budget (one
compiled forward pass serves every batch shape); each pass gives float32 log-probabilities
``[tokens, vocabulary]`` (:class:`~tfprot.tasks.masked_lm.MaskedLMScoring`), checked finite.
Passes are encoded batch by batch, so millions of them (pseudo-likelihoods) need memory for one
batch only.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tfprot.data.tokenizer import ProteinTokenizer
from tfprot.errors import CheckpointError
from tfprot.tasks.masked_lm import MaskedLMScoring

__all__ = ["MaskedLanguageModel", "Pass", "load_masked_lm"]

logger = logging.getLogger(__name__)

TASK = MaskedLMScoring()


@dataclass(frozen=True)
class Pass:
    """One forward pass: residues ``start:end`` of ``sequence``, the residue at 0-based
    ``masked`` (if any) replaced by ``<mask>``."""

    sequence: str
    start: int
    end: int
    masked: int | None = None


@dataclass
class MaskedLanguageModel:
    """A transformers TF masked-LM model (``TFEsmForMaskedLM``...) and its tokenizer.

    Attributes:
        transformer: the transformers model.
        tokenizer: its :class:`~tfprot.data.ProteinTokenizer`.
        name: where it came from, for messages.
        pretrained: loaded from trained weights (``False`` for an offline ``tiny-*`` preset).
        new_weights: weights the checkpoint lacked, freshly initialised (e.g. its contact head).
    """

    transformer: Any
    tokenizer: ProteinTokenizer
    name: str = "the model"
    pretrained: bool = True
    new_weights: tuple[str, ...] = ()
    _forward: Any = field(default=None, init=False, repr=False)

    @property
    def window(self) -> int:
        """The most residues one pass holds (the tokenizer's ``max_length`` less special
        tokens)."""
        return self.tokenizer.max_residues

    @property
    def mask_id(self) -> int:
        return TASK.mask_id(self.tokenizer)

    def token_id(self, residue: str) -> int:
        """The token id of a one-letter residue."""
        return int(self.tokenizer.encode(residue, add_special_tokens=False)[0])

    def encode(self, one: Pass) -> np.ndarray:
        ids = self.tokenizer.encode(one.sequence[one.start : one.end])
        if one.masked is not None:
            ids[self.tokenizer.residue_offset + one.masked - one.start] = self.mask_id
        return ids

    def run(
        self,
        passes: Sequence[Pass],
        *,
        batch_tokens: int = 16384,
        progress: bool | None = None,
        desc: str = "score",
    ) -> Iterator[tuple[int, np.ndarray]]:
        """``(pass index, float32 log-probabilities [tokens, vocabulary])`` for each pass, in
        batch order (length-sorted), under a ``batch_tokens`` budget.

        Raises:
            DataFormatError: ``batch_tokens`` is not positive.
            NonFiniteOutputError: a batch's log-probabilities hold NaN or infinity.
        """
        from tfprot.data.batching import length_sorted_batches, pad_batch
        from tfprot.errors import DataFormatError
        from tfprot.models.inference import MAX_LENGTH_RATIO, check_finite, progress_bar

        if batch_tokens < 1:
            raise DataFormatError(f"batch_tokens must be positive, got {batch_tokens}.")
        special = len(self.tokenizer.prefix) + len(self.tokenizer.suffix)
        lengths = np.fromiter(
            (one.end - one.start + special for one in passes), dtype=np.int64, count=len(passes)
        )
        batches = length_sorted_batches(lengths, batch_tokens, max_length_ratio=MAX_LENGTH_RATIO)
        source = f"the checkpoint {self.name}"
        for indices in progress_bar(batches, progress, desc):
            ids = [self.encode(passes[index]) for index in indices]
            batch = pad_batch(ids, np.arange(len(ids)), int(self.tokenizer.pad_id))
            outputs = self.forward(batch).numpy()
            check_finite(outputs, batch["attention_mask"], source)
            for row, index in enumerate(indices):
                yield int(index), outputs[row, : len(ids[row])]

    @property
    def forward(self):
        """The compiled forward pass: a padded batch → float32 log-probabilities."""
        if self._forward is None:
            import tensorflow as tf

            from tfprot.models.inference import BATCH_SIGNATURE

            transformer = self.transformer

            @tf.function(input_signature=BATCH_SIGNATURE, autograph=False)
            def forward(batch):
                logits = transformer(
                    input_ids=batch["input_ids"],
                    attention_mask=batch["attention_mask"],
                    training=False,
                ).logits
                return TASK.log_probabilities(logits)

            self._forward = forward
        return self._forward


def load_masked_lm(
    checkpoint: str | os.PathLike | MaskedLanguageModel, *, precision: str = "auto"
) -> MaskedLanguageModel:
    """The masked language model of ``checkpoint`` (a preset such as ``'esm2_t33_650M'`` or the
    offline, untrained ``'tiny-esm'``, a Hub id, or a local folder, PyTorch-only ones included);
    a :class:`MaskedLanguageModel` is returned as it is.

    Args:
        checkpoint: where the model comes from.
        precision: ``'auto'``, ``'float32'``, ``'mixed_float16'`` or ``'mixed_bfloat16'`` (the
            log-softmax is float32 under every policy).

    Raises:
        CheckpointError: the checkpoint has no masked-LM head (its head would be random), or its
            tokenizer no ``<mask>`` token.

    >>> model = load_masked_lm("tiny-esm", precision="float32")
    >>> type(model.transformer).__name__, model.window, model.pretrained
    ('TFEsmForMaskedLM', 1022, False)
    """
    if isinstance(checkpoint, MaskedLanguageModel):
        return checkpoint
    from tfprot._keras import keras
    from tfprot.models.checkpoints import hidden_size_of, load_transformer
    from tfprot.models.precision import resolve_precision

    choice = resolve_precision(precision, hidden_size=hidden_size_of(checkpoint))
    keras_module = keras()
    previous = keras_module.mixed_precision.global_policy()
    keras_module.mixed_precision.set_global_policy(choice.policy)
    try:
        loaded = load_transformer(checkpoint, TASK)
    finally:
        keras_module.mixed_precision.set_global_policy(previous)
    untrained_head = [name for name in loaded.new_weights if "lm_head" in name]
    if untrained_head:
        raise CheckpointError(
            f"{os.fspath(checkpoint)} has no masked-LM head weights (missing: "
            f"{', '.join(untrained_head[:3])}): it is not a masked language model checkpoint (a "
            "fine-tuned classifier or a bare encoder?), and a random head's scores mean nothing. "
            "Use an ESM-2 checkpoint such as facebook/esm2_t33_650M_UR50D."
        )
    tokenizer = ProteinTokenizer.from_pretrained(checkpoint)
    TASK.mask_id(tokenizer)  # refuse a tokenizer without <mask> before any work
    return MaskedLanguageModel(
        loaded.model,
        tokenizer,
        name=os.fspath(checkpoint),
        pretrained=loaded.pretrained,
        new_weights=loaded.new_weights,
    )
