"""Export a :class:`ProteinModel` as a TensorFlow SavedModel for serving.

Inputs are ``input_ids`` and ``attention_mask`` of shape ``[batch, tokens]``, as the model's
tokenizer makes them (special tokens included; encode with the ``tokenizer/`` folder beside the
model: ``ProteinTokenizer.from_pretrained(folder / "tokenizer")``). Signatures:

- ``serving_default``: int32 inputs (what TF Serving and ``saved_model_cli`` show);
- ``serving_int64``: int64 inputs, for clients holding numpy's default integers or 🤗 datasets
  columns; cast to int32 inside.

Calling the loaded object itself (``loaded(input_ids, attention_mask)``) accepts either dtype:
both traces are saved. Every path returns ``logits`` and ``probabilities`` in float32: softmax,
sigmoid for multilabel, the value itself for regression; ``[batch, classes]`` for sequence
tasks, ``[batch, tokens, classes]`` for token tasks (residue ``i`` at token
``residue_offset + i``). ``labels.json`` beside the model holds the task, ``id2label``, the
tokenizer's ``residue_offset``, ``pad_id`` and ``max_length``.

A model with LoRA adapters is exported with its merged weights (``W + (α/r)·A·B``, see
:mod:`tfprot.models.lora`): the adapters are neither computed nor saved.

Only the serving functions and the model's variables are saved, not the Keras object graph. They
use TensorFlow's own attention, not :mod:`tfprot.models.cpu_ops`'s op: the export loads
where tfprot is not installed.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import tensorflow as tf

from tfprot._io import atomic_folder, ensure_replaceable, final_path, write_text_atomic
from tfprot.models import cpu_ops

__all__ = ["LABELS_FILE", "TOKENIZER_FOLDER", "export_saved_model"]

logger = logging.getLogger(__name__)

LABELS_FILE = "labels.json"
TOKENIZER_FOLDER = "tokenizer"


def _specs(dtype: tf.DType) -> tuple[tf.TensorSpec, tf.TensorSpec]:
    return (
        tf.TensorSpec([None, None], dtype, name="input_ids"),
        tf.TensorSpec([None, None], dtype, name="attention_mask"),
    )


class _Serving(tf.Module):
    """The serving functions; tracks the model's variables only (not its Keras object graph)."""

    def __init__(self, model):
        super().__init__(name="tfprot_serving")
        adapters = model.lora.variable_ids if getattr(model, "lora", None) is not None else ()
        self.weights = [v for v in model.variables if id(v) not in adapters]
        # Not tracked: saving it would save the Keras object graph and its own traces too.
        object.__setattr__(self, "_model", model)
        object.__setattr__(self, "_task", model.task)

    @tf.function
    def __call__(self, input_ids, attention_mask):
        logits = self._model(
            {
                "input_ids": tf.cast(input_ids, tf.int32),
                "attention_mask": tf.cast(attention_mask, tf.int32),
            },
            training=False,
        )
        return {"logits": logits, "probabilities": self._task.probabilities(logits)}


def export_saved_model(model, folder: str | os.PathLike) -> Path:
    """Write the SavedModel, ``labels.json`` and the tokenizer to ``folder`` atomically.

    A previous export in ``folder`` is replaced; any other non-empty folder is refused.

    Returns:
        The folder; load it with ``tf.saved_model.load``.
    """
    folder = Path(folder)
    ensure_replaceable(folder, "saved_model.pb", "a SavedModel")
    with model.merged_weights():  # traced and saved within: merged kernels, no adapters
        return _export(model, folder)


def _export(model, folder: Path) -> Path:
    module = _Serving(model)
    with cpu_ops.disabled():  # the export must load without tfprot's custom op
        signatures = {
            "serving_default": module.__call__.get_concrete_function(*_specs(tf.int32)),
            "serving_int64": module.__call__.get_concrete_function(*_specs(tf.int64)),
        }
    tokenizer = model.tokenizer
    labels = {
        "task": model.task.name,
        "id2label": {str(k): v for k, v in model.label_encoder.id2label.items()},
        "residue_offset": tokenizer.residue_offset,
        "pad_id": int(tokenizer.pad_id),
        "max_length": tokenizer.max_length,
    }
    with atomic_folder(folder) as staging, cpu_ops.disabled():
        tf.saved_model.save(module, str(staging), signatures=signatures)
        tokenizer.save_pretrained(staging / TOKENIZER_FOLDER)
        write_text_atomic(staging / LABELS_FILE, json.dumps(labels, indent=2) + "\n")
    logger.info("Exported a SavedModel to %s.", final_path(folder))
    return folder
