"""Export a :class:`ProteinModel` as a TensorFlow SavedModel for serving.

The SavedModel has two signatures, both taking ``input_ids`` and ``attention_mask`` of shape
``[batch, tokens]``: ``serving_default`` in int32 (what the model was traced with: exporting
through a concrete function with an explicit int32 spec, so that int64 arrays seen while tracing
cannot change the signature), and ``serving_int64`` for clients that hold int64 ids (numpy,
🤗 datasets), cast to int32 inside. Both return ``logits`` and ``probabilities`` (softmax, sigmoid
for multilabel, the value itself for regression) in float32. ``labels.json`` beside the model maps
output index to class name.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import tensorflow as tf

from tfprot._io import atomic_folder, write_text_atomic
from tfprot.data.labels import Task

__all__ = ["export_saved_model"]


class _Serving(tf.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model
        self.task = model.task

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None], tf.int32, name="input_ids"),
            tf.TensorSpec([None, None], tf.int32, name="attention_mask"),
        ]
    )
    def serve(self, input_ids, attention_mask):
        logits = self.model(
            {"input_ids": input_ids, "attention_mask": attention_mask}, training=False
        )
        if self.task is Task.REGRESSION:
            probabilities = logits
        elif self.task is Task.MULTILABEL:
            probabilities = tf.sigmoid(logits)
        else:
            probabilities = tf.nn.softmax(logits, axis=-1)
        return {"logits": logits, "probabilities": probabilities}

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None], tf.int64, name="input_ids"),
            tf.TensorSpec([None, None], tf.int64, name="attention_mask"),
        ]
    )
    def serve_int64(self, input_ids, attention_mask):
        return self.serve(tf.cast(input_ids, tf.int32), tf.cast(attention_mask, tf.int32))


def export_saved_model(model, folder: str | os.PathLike) -> Path:
    """Write the SavedModel (and ``labels.json``) to ``folder`` atomically; return the folder."""
    folder = Path(folder)
    module = _Serving(model)
    with atomic_folder(folder) as staging:
        tf.saved_model.save(
            module,
            str(staging),
            signatures={
                "serving_default": module.serve.get_concrete_function(),
                "serving_int64": module.serve_int64.get_concrete_function(),
            },
        )
        labels = {
            "task": model.task.value,
            "id2label": {str(k): v for k, v in model.label_encoder.id2label.items()},
        }
        write_text_atomic(staging / "labels.json", json.dumps(labels, indent=2) + "\n")
    return folder
