"""``ProteinModel``: a transformers TF model with a tfprot task, as a ``tf_keras.Model``.

It wraps the transformers model (``TFEsmForSequenceClassification``...), returns float32 logits
under every precision policy (transformers returns float16/bfloat16 logits under a mixed policy),
carries its label vocabulary and tokenizer, and adds what a user needs around ``fit``: prediction
from raw sequences to label names, embeddings, ``save_pretrained``/``load_model`` and SavedModel
export.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from tfprot._io import atomic_folder, write_text_atomic
from tfprot._keras import keras
from tfprot.data.batching import length_sorted_batches, pad_batch
from tfprot.data.encoding import encode_records
from tfprot.data.labels import LabelEncoder, Task
from tfprot.data.readers import as_records
from tfprot.data.tokenizer import ProteinTokenizer
from tfprot.models.optimization import ScheduleSteps, WarmupLinearDecay

__all__ = ["METADATA_FILE", "Prediction", "ProteinModel"]

logger = logging.getLogger(__name__)
_keras = keras()

METADATA_FILE = "tfprot.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Prediction:
    """The prediction for one sequence.

    Attributes:
        id, sequence: the input.
        label: the predicted class (classification), the classes above 0.5 joined by the
            separator (multilabel), the value (regression), or one label per residue (token:
            a string when every label is one character, else a tuple).
        probabilities: ``{class: probability}`` (classification/multilabel), ``None`` for
            regression, ``[residues, classes]`` for token tasks.
    """

    id: str
    sequence: str
    label: Any
    probabilities: Any


class ProteinModel(_keras.Model):
    """A transformers TF model for one tfprot task.

    Build one with :func:`tfprot.sequence_classifier`, :func:`tfprot.sequence_regressor` or
    :func:`tfprot.token_classifier`; reload one with :func:`tfprot.load_model`.

    Args:
        transformer: the transformers TF model (with its head).
        task: the task.
        label_encoder: the label vocabulary (kept in the config as ``id2label``).
        tokenizer: the checkpoint's :class:`ProteinTokenizer`.
        info: metadata saved with the model (base checkpoint, precision, data summary...).
    """

    def __init__(
        self,
        transformer,
        task: Task | str,
        label_encoder: LabelEncoder,
        tokenizer: ProteinTokenizer,
        *,
        info: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=kwargs.pop("name", "protein_model"), **kwargs)
        self.transformer = transformer
        self.task = Task.parse(task)
        self.label_encoder = label_encoder
        self.tokenizer = tokenizer
        # Kept as JSON text: Keras would wrap a dict attribute into a tracked structure.
        self._info_json = json.dumps(info or {}, sort_keys=True)

    @property
    def info(self) -> dict[str, Any]:
        """Metadata saved with the model: task, base checkpoint, precision, data summary..."""
        return json.loads(self._info_json)

    def update_info(self, **values: Any) -> None:
        """Add or replace metadata entries (saved by :meth:`save_pretrained`)."""
        self._info_json = json.dumps({**self.info, **values}, sort_keys=True)

    def call(self, inputs, training=False):
        outputs = self.transformer(
            input_ids=inputs["input_ids"],
            attention_mask=inputs["attention_mask"],
            training=training,
        )
        logits = tf.cast(outputs.logits, tf.float32)
        return tf.squeeze(logits, axis=-1) if self.task is Task.REGRESSION else logits

    def fit(self, *args, callbacks=None, **kwargs):
        """``keras.Model.fit``; sets the default learning-rate schedule to the run's length."""
        callbacks = list(callbacks or [])
        optimizer = getattr(self, "optimizer", None)
        optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # under loss scaling
        schedule = getattr(optimizer, "_learning_rate", None)
        if isinstance(schedule, WarmupLinearDecay):
            callbacks.append(ScheduleSteps(schedule))
        return super().fit(*args, callbacks=callbacks, **kwargs)

    # -- prediction --------------------------------------------------------------------------
    def predict_sequences(self, inputs: Any, *, batch_tokens: int = 16384) -> list[Prediction]:
        """Predict label names (and probabilities) for raw sequences.

        Args:
            inputs: a FASTA/table path, a list of sequences, or a list of ``ProteinRecord``.
            batch_tokens: token budget of an inference batch.

        Returns:
            One :class:`Prediction` per input, in input order. For token tasks the labels cover
            every residue kept by the tokenizer (special tokens removed).

        >>> import tfprot
        >>> model = tfprot.sequence_classifier("tiny-esm", ["cytosol", "membrane"], precision="float32")
        >>> [p.label in ("cytosol", "membrane") for p in model.predict_sequences(["MKTAYIAK", "GGSW"])]
        [True, True]
        """
        records = as_records(inputs)
        logits = self.predict_logits(records, batch_tokens=batch_tokens)
        return [self._prediction(record, values) for record, values in zip(records, logits, strict=False)]

    def predict_logits(self, inputs: Any, *, batch_tokens: int = 16384) -> list[np.ndarray]:
        """Float32 logits per input, in input order (token tasks: ``[residues, classes]``)."""
        records = as_records(inputs)
        examples = encode_records(records, self.tokenizer)
        offset = self.tokenizer.residue_offset
        out: list[np.ndarray | None] = [None] * len(records)
        for indices in length_sorted_batches(examples.lengths, batch_tokens):
            batch = pad_batch(examples.input_ids, indices, examples.pad_id)
            logits = self._forward(batch).numpy()
            for row, index in enumerate(indices):
                if self.task is Task.TOKEN:
                    residues = len(examples.input_ids[index]) - offset - len(self.tokenizer.suffix)
                    out[index] = logits[row, offset : offset + residues]
                else:
                    out[index] = logits[row]
        return out  # type: ignore[return-value]

    @tf.function(reduce_retracing=True)
    def _forward(self, batch):
        return self(batch, training=False)

    def _prediction(self, record, logits: np.ndarray) -> Prediction:
        classes = self.label_encoder.classes
        if self.task is Task.REGRESSION:
            return Prediction(record.id, record.sequence, float(logits), None)
        if self.task is Task.MULTILABEL:
            probabilities = 1.0 / (1.0 + np.exp(-logits))
            chosen = [name for name, p in zip(classes, probabilities, strict=False) if p > 0.5]
            return Prediction(
                record.id,
                record.sequence,
                self.label_encoder.separator.join(chosen),
                dict(zip(classes, probabilities.tolist(), strict=False)),
            )
        probabilities = _softmax(logits)
        if self.task is Task.TOKEN:
            names = [classes[i] for i in probabilities.argmax(axis=-1)]
            labels = "".join(names) if all(len(n) == 1 for n in classes) else tuple(names)
            return Prediction(record.id, record.sequence, labels, probabilities)
        return Prediction(
            record.id,
            record.sequence,
            classes[int(probabilities.argmax())],
            dict(zip(classes, probabilities.tolist(), strict=False)),
        )

    # -- embeddings --------------------------------------------------------------------------
    def embed(self, inputs: Any, *, per_residue: bool = False, batch_tokens: int = 16384):
        """Embeddings from this model's encoder: see :func:`tfprot.models.embeddings.embed`."""
        from tfprot.models.embeddings import embed_with

        return embed_with(
            self.transformer,
            self.tokenizer,
            inputs,
            per_residue=per_residue,
            batch_tokens=batch_tokens,
        )

    # -- save, reload, export ----------------------------------------------------------------
    def save_pretrained(
        self, folder: str | os.PathLike, *, extra_info: dict[str, Any] | None = None
    ) -> Path:
        """Save weights (safetensors), config (with ``id2label``), tokenizer and tfprot metadata.

        The folder is written beside its final place and renamed into it, so a crash never
        leaves a half-written model; an existing folder is replaced.
        """
        folder = Path(folder)
        with atomic_folder(folder) as staging:
            self.transformer.save_pretrained(str(staging), safe_serialization=True)
            self.tokenizer.save_pretrained(staging)
            metadata = {
                "format_version": FORMAT_VERSION,
                "task": self.task.value,
                "labels": self.label_encoder.to_dict(),
                **self.info,
                **(extra_info or {}),
            }
            write_text_atomic(
                staging / METADATA_FILE, json.dumps(metadata, indent=2, sort_keys=True) + "\n"
            )
        return folder

    def export_saved_model(self, folder: str | os.PathLike) -> Path:
        """Export a TensorFlow SavedModel for serving: see :mod:`tfprot.models.export`."""
        from tfprot.models.export import export_saved_model

        return export_saved_model(self, folder)

    def get_config(self) -> dict[str, Any]:
        return {"task": self.task.value, "labels": self.label_encoder.to_dict(), "info": self.info}


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)
