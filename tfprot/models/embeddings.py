"""Embeddings from a protein language model's encoder, per sequence or per residue.

Per-sequence embeddings are the mean of the last hidden state over the residues (special tokens
and padding excluded), as fair-esm's ``extract`` does; per-residue embeddings are the hidden states
of the residue tokens. Inference runs in length-sorted batches under a token budget; the outputs
come back in input order with their ids.

>>> import tfprot
>>> result = tfprot.embed("tiny-esm", ["MKTAYIAK", "GGSW"], precision="float32")
>>> result.ids, result.vectors.shape
(('seq0', 'seq1'), (2, 64))
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from tfprot._io import atomic_path
from tfprot.data.batching import length_sorted_batches, pad_batch
from tfprot.data.encoding import encode_records
from tfprot.data.readers import as_records
from tfprot.data.tokenizer import ProteinTokenizer

__all__ = ["Embeddings", "embed", "embed_with"]


@dataclass(frozen=True)
class Embeddings:
    """Embeddings in input order.

    Attributes:
        ids: the sequence ids.
        vectors: ``[sequences, hidden]`` float32 (per sequence), or a tuple of ``[residues, hidden]``
            arrays (per residue).
        per_residue: which of the two.
    """

    ids: tuple[str, ...]
    vectors: Any
    per_residue: bool

    def save(self, path: str | os.PathLike) -> None:
        """Write an ``.npz`` atomically: ``ids`` and ``embeddings`` (per sequence), or one array
        per id (per residue, keyed by id)."""
        with atomic_path(path) as temporary, open(temporary, "wb") as handle:
            if self.per_residue:
                np.savez(
                    handle,
                    ids=np.array(self.ids),
                    **{f"residues/{i}": v for i, v in zip(self.ids, self.vectors, strict=False)},
                )
            else:
                np.savez(handle, ids=np.array(self.ids), embeddings=self.vectors)


def embed(
    checkpoint: str | os.PathLike,
    inputs: Any,
    *,
    per_residue: bool = False,
    batch_tokens: int = 16384,
    precision: str = "auto",
) -> Embeddings:
    """Embed sequences with the encoder of a checkpoint (preset, Hub id or local folder).

    Args:
        checkpoint: e.g. ``'esm2_t6_8M'``, a folder, or ``'tiny-esm'`` (untrained, offline).
        inputs: a FASTA/table path, a list of sequences, or ``ProteinRecord``s.
        per_residue: per-residue instead of per-sequence (mean) embeddings.
        batch_tokens: token budget of an inference batch.
        precision: as for the model factories.
    """
    from tfprot._keras import keras
    from tfprot.models.checkpoints import load_transformer
    from tfprot.models.precision import resolve_precision
    from tfprot.presets import resolve_preset

    preset = resolve_preset(os.fspath(checkpoint))
    choice = resolve_precision(precision, hidden_size=preset.hidden_size if preset else 320)
    keras_module = keras()
    previous = keras_module.mixed_precision.global_policy()
    keras_module.mixed_precision.set_global_policy(choice.policy)
    try:
        encoder = load_transformer(checkpoint, None).model
    finally:
        keras_module.mixed_precision.set_global_policy(previous)
    tokenizer = ProteinTokenizer.from_pretrained(checkpoint)
    return embed_with(
        encoder, tokenizer, inputs, per_residue=per_residue, batch_tokens=batch_tokens
    )


def embed_with(
    transformer,
    tokenizer: ProteinTokenizer,
    inputs: Any,
    *,
    per_residue: bool = False,
    batch_tokens: int = 16384,
) -> Embeddings:
    """Embed with an already built transformers TF model (any head: its encoder is used)."""
    import tensorflow as tf

    main = getattr(transformer, getattr(transformer, "base_model_prefix", ""), None) or transformer
    records = as_records(inputs)
    examples = encode_records(records, tokenizer)

    @tf.function(reduce_retracing=True)
    def hidden(batch):
        outputs = main(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            return_dict=True,
            training=False,
        )
        return tf.cast(outputs.last_hidden_state, tf.float32)

    start, end_special = tokenizer.residue_offset, len(tokenizer.suffix)
    out: list[np.ndarray | None] = [None] * len(records)
    for indices in length_sorted_batches(examples.lengths, batch_tokens):
        states = hidden(pad_batch(examples.input_ids, indices, examples.pad_id)).numpy()
        for row, index in enumerate(indices):
            residues = states[row, start : len(examples.input_ids[index]) - end_special]
            out[index] = residues if per_residue else residues.mean(axis=0)
    vectors = tuple(out) if per_residue else np.stack(out).astype(np.float32)
    return Embeddings(examples.ids, vectors, per_residue)
