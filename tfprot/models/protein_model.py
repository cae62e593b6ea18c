"""``ProteinModel``: a transformers TF model with a tfprot task, as a ``tf_keras.Model``.

It wraps the transformers model (``TFEsmForSequenceClassification``...), returns float32 logits
under every precision policy (transformers returns float16/bfloat16 logits under a mixed policy),
carries its label vocabulary and tokenizer, and adds what a user needs around ``fit``: prediction
from raw sequences to label names, embeddings, ``save_pretrained``/``load_model`` and SavedModel
export.

Inference from raw sequences (:meth:`ProteinModel.predict_sequences`, :meth:`ProteinModel.embed`)
runs in length-sorted batches under a token budget and returns results in input order.
Sequences longer than the model's ``max_length``:

- per-residue outputs (token tasks, per-residue and per-sequence embeddings) are computed in
  overlapping windows of ``max_length`` tokens (each with the checkpoint's special tokens) and
  stitched back, each residue taken from the window where it lies farthest from an edge: every
  residue gets an output, and the output length equals the sequence length;
- sequence-level predictions (classification, multilabel, regression) see the first
  ``max_residues`` residues, as in training (:mod:`tfprot.data.encoding` truncates); a warning
  says how many sequences were cut.

Progress: ``progress=None`` (the default) shows a ``tqdm`` bar on stderr, as Keras'
``verbose='auto'`` does, in an interactive session (stderr is a terminal, or a Jupyter kernel's
stream) when the work spans several batches; it stays off when stderr is redirected (a log file,
a batch job, CI), where a bar only fills the log with carriage returns. ``progress=True`` or
``False`` forces it.

Outputs are checked: NaN or infinite logits or embeddings (corrupt or mismatched weights) and a
NaN ``evaluate`` loss (a diverged training run) raise a
:class:`~tfprot.errors.NonFiniteOutputError` naming the model, instead of returning NaN results.

``fit`` and ``evaluate`` take ``(features, labels)`` batches, as tfprot's data sets give, and also
transformers-style batches whose feature dict holds the labels under ``"labels"`` (what
transformers' TF models accept): the labels are taken out of the features.
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

from tfprot._io import atomic_folder, ensure_replaceable, final_path, write_text_atomic
from tfprot._keras import keras
from tfprot._version import __version__
from tfprot.data.labels import LabelEncoder
from tfprot.data.readers import as_records
from tfprot.data.tokenizer import ProteinTokenizer
from tfprot.errors import LabelError, OptionError
from tfprot.models.esm_fast import first_token_logits, reads_first_token_only
from tfprot.models.inference import (
    BATCH_SIGNATURE,
    non_finite_error,
    residue_outputs,
    sequence_outputs,
)
from tfprot.models.lora import ADAPTER_FOLDER, LoraAdapters, merged_weights, save_adapters
from tfprot.models.one_batch import OneBatchCalls
from tfprot.models.optimization import ScheduleSteps, build_optimizer_state, warmup_schedule
from tfprot.tasks import ProteinTask, Task, task_for

__all__ = ["METADATA_FILE", "Prediction", "ProteinModel"]

logger = logging.getLogger(__name__)
_keras = keras()

METADATA_FILE = "tfprot.json"
FORMAT_VERSION = 1

LABELS_KEY = "labels"
"""The feature-dict key of labels in transformers-style batches (``{"input_ids", ...,
"labels"}``)."""


@dataclass(frozen=True)
class Prediction:
    """The prediction for one sequence.

    Attributes:
        id, sequence: the input.
        label: the predicted class (classification), the classes above the threshold joined by
            the separator (multilabel; ``''`` when none is), the value (regression), or one label
            per residue (token: a string when every label is one character, else a tuple), as
            long as the sequence.
        probabilities: ``{class: probability}`` (classification/multilabel), ``None`` for
            regression, a ``[residues, classes]`` array for token tasks.

    The model's task decodes them (:meth:`tfprot.tasks.ProteinTask.decode`).
    """

    id: str
    sequence: str
    label: Any
    probabilities: Any


class ProteinModel(OneBatchCalls, _keras.Model):
    """A transformers TF model for one tfprot task. Its ``*_on_batch`` calls run without
    tf.data's autotuner (:mod:`tfprot.models.one_batch`).

    Build one with :func:`tfprot.sequence_classifier`, :func:`tfprot.sequence_regressor` or
    :func:`tfprot.token_classifier`; reload one with :func:`tfprot.load_model`.

    Args:
        transformer: the transformers TF model (with its head).
        task: the task (a :class:`~tfprot.tasks.ProteinTask` or its name): it decodes the
            logits, picks the loss and metrics, and names the outputs.
        label_encoder: the label vocabulary (kept in the config as ``id2label``).
        tokenizer: the checkpoint's :class:`ProteinTokenizer`.
        info: metadata saved with the model (base checkpoint, precision, data summary...).
        adapters: the model's LoRA adapters (:func:`tfprot.models.lora.apply_lora`), tracked
            and trained with it; ``None``: no adapters.
        first_token_only: compute only the first token in the last encoder layer, all that a
            sequence-level ESM head reads (same logits, less work:
            :func:`~tfprot.models.esm_fast.first_token_logits`); ``None``: wherever that applies
            (:func:`~tfprot.models.esm_fast.reads_first_token_only`). Embeddings see every token
            either way.
    """

    def __init__(
        self,
        transformer,
        task: ProteinTask | Task | str,
        label_encoder: LabelEncoder,
        tokenizer: ProteinTokenizer,
        *,
        info: dict[str, Any] | None = None,
        adapters: LoraAdapters | None = None,
        first_token_only: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=kwargs.pop("name", "protein_model"), **kwargs)
        self.transformer = transformer
        self.lora = adapters
        applies = reads_first_token_only(transformer)
        if first_token_only and not applies:
            raise OptionError(
                f"first_token_only=True needs an ESM sequence-level model with tfprot's layers; "
                f"{type(transformer).__name__} computes every token (leave it None)."
            )
        self.first_token_only = applies if first_token_only is None else bool(first_token_only)
        self.task = task_for(task)
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

    @tf.autograph.experimental.do_not_convert
    def call(self, inputs, training=False):
        # Not converted by AutoGraph: transformers' TF models need no graph control flow, and
        # converting their Python source took about 16 s of the first training step's trace.
        # Ids from numpy or 🤗 datasets are int64: accept them, the model computes in int32.
        input_ids = tf.cast(inputs["input_ids"], tf.int32)
        attention_mask = tf.cast(inputs["attention_mask"], tf.int32)
        if self.first_token_only:
            logits = first_token_logits(
                self.transformer, input_ids, attention_mask, training=training
            )
        else:
            logits = self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, training=training
            ).logits
        logits = tf.cast(logits, tf.float32)
        return self.task.outputs(logits)

    def fit(self, *args, callbacks=None, **kwargs):
        """``keras.Model.fit``; sets the default learning-rate schedule (of tfprot's optimizer,
        :class:`~tfprot.models.optimization.FusedAdamW`) to the run's length."""
        callbacks = list(callbacks or [])
        schedule = warmup_schedule(getattr(self, "optimizer", None))
        if schedule is not None:
            callbacks.append(ScheduleSteps(schedule))
        return super().fit(*args, callbacks=callbacks, **kwargs)

    def make_train_function(self, force=False):
        """Keras' ``make_train_function``, with the optimizer's variables created first, so that
        the training step is traced once (:func:`~tfprot.models.optimization.build_optimizer_state`)."""
        build_optimizer_state(self)
        return super().make_train_function(force)

    def train_step(self, data):
        return super().train_step(_labels_out_of_features(data))

    def test_step(self, data):
        return super().test_step(_labels_out_of_features(data))

    def evaluate(self, *args, **kwargs):
        """``keras.Model.evaluate``; a NaN or infinite loss raises
        :class:`~tfprot.errors.NonFiniteOutputError` (corrupt weights, or training diverged)."""
        result = super().evaluate(*args, **kwargs)
        if isinstance(result, dict):
            loss = result.get("loss")
        elif isinstance(result, (list, tuple)):
            loss = dict(zip(self.metrics_names, result, strict=False)).get("loss")
        else:
            loss = result if self.metrics_names[:1] == ["loss"] else None
        if loss is not None and not np.isfinite(loss):
            raise non_finite_error(self.describe(), f"a non-finite evaluation loss ({loss})")
        return result

    def describe(self) -> str:
        """The model in words, for messages: where it was loaded from, or what it was built from.

        >>> import tfprot
        >>> tfprot.sequence_regressor("tiny-esm", precision="float32", compile=False).describe()
        'the model built from tiny-esm'
        """
        info = self.info
        if "loaded_from" in info:
            return f"the model in {info['loaded_from']}"
        return f"the model built from {info.get('base_checkpoint', self.name)}"

    # -- prediction --------------------------------------------------------------------------
    def predict_sequences(
        self,
        inputs: Any,
        *,
        batch_tokens: int = 16384,
        threshold: float = 0.5,
        progress: bool | None = None,
        window_overlap: int | None = None,
    ) -> list[Prediction]:
        """Predict label names (and probabilities) for raw sequences.

        Args:
            inputs: a FASTA/table path, a list of sequences, or a list of ``ProteinRecord``.
            batch_tokens: token budget of an inference batch.
            threshold: multilabel: a class is predicted when its probability is above this.
            progress: progress bar; ``None``: in a terminal or notebook (see the module doc).
            window_overlap: token tasks, sequences longer than ``max_length``: residues shared
                by consecutive windows (default a quarter of the window).

        Returns:
            One :class:`Prediction` per input, in input order. For token tasks one label per
            residue, as many as the sequence has (special tokens removed; long sequences in
            windows).

        >>> import tfprot
        >>> model = tfprot.sequence_classifier("tiny-esm", ["cytosol", "membrane"], precision="float32")
        >>> [p.label in ("cytosol", "membrane") for p in model.predict_sequences(["MKTAYIAK", "GGSW"])]
        [True, True]
        """
        if not 0.0 <= threshold <= 1.0:
            raise LabelError(f"threshold must be a probability in [0, 1], got {threshold!r}.")
        records = as_records(inputs)
        logits = self.predict_logits(
            records, batch_tokens=batch_tokens, progress=progress, window_overlap=window_overlap
        )
        return [
            self._prediction(record, values, threshold)
            for record, values in zip(records, logits, strict=True)
        ]

    def predict_logits(
        self,
        inputs: Any,
        *,
        batch_tokens: int = 16384,
        progress: bool | None = None,
        window_overlap: int | None = None,
    ) -> list[np.ndarray]:
        """Float32 logits per input, in input order: ``[classes]`` (a scalar for regression), or
        ``[residues, classes]`` for token tasks (every residue; see the module doc).

        Raises:
            NonFiniteOutputError: the model gives NaN or infinite logits (corrupt or mismatched
                weights, a diverged training run); the message names the model.
        """
        records = as_records(inputs)

        def forward(batch: dict[str, np.ndarray]) -> np.ndarray:
            return self._forward(batch).numpy()

        options = {
            "batch_tokens": batch_tokens,
            "progress": progress,
            "desc": "predict",
            "source": self.describe(),
        }
        if self.task.per_residue:
            return residue_outputs(
                records, self.tokenizer, forward, overlap=window_overlap, **options
            )
        return sequence_outputs(records, self.tokenizer, forward, **options)

    @tf.function(input_signature=BATCH_SIGNATURE, autograph=False)
    def _forward(self, batch):
        return self(batch, training=False)

    def _prediction(self, record, logits: np.ndarray, threshold: float) -> Prediction:
        label, probabilities = self.task.decode(logits, self.label_encoder, threshold=threshold)
        return Prediction(record.id, record.sequence, label, probabilities)

    # -- embeddings --------------------------------------------------------------------------
    def embed(self, inputs: Any, **options: Any):
        """Embeddings from this model's encoder: :func:`tfprot.models.embeddings.embed_with`
        with its options (``per_residue``, ``batch_tokens``, ``progress``, ``window_overlap``).

        >>> import tfprot
        >>> model = tfprot.token_classifier("tiny-esm", ["C", "E", "H"], precision="float32")
        >>> [v.shape for v in model.embed(["MKTAY", "GG"], per_residue=True).vectors]
        [(5, 64), (2, 64)]
        """
        from tfprot.models.embeddings import check_embed_options, embed_with

        check_embed_options(options)
        return embed_with(
            self.transformer, self.tokenizer, inputs, source=self.describe(), **options
        )

    # -- save, reload, export ----------------------------------------------------------------
    def save_pretrained(
        self, folder: str | os.PathLike, *, extra_info: dict[str, Any] | None = None
    ) -> Path:
        """Save weights (``model.safetensors``), config (with ``id2label``/``label2id``),
        tokenizer and tfprot's metadata (``tfprot.json``: task, labels, precision, data summary).

        A model with LoRA adapters saves its merged weights (``W + (α/r)·A·B``) there, in the
        plain transformers layout (``TFAutoModelFor...`` loads it without tfprot), and the
        adapters alone with the head in ``adapters/`` (see :meth:`save_adapters`).

        The folder is written beside its final place and renamed into it, so a crash never
        leaves a half-written model. A previous save in ``folder`` is replaced; any other
        non-empty folder is refused (it is never deleted). Reload with :func:`tfprot.load_model`.

        Raises:
            CheckpointError: ``folder`` is a non-empty folder that is not a tfprot model.
        """
        folder = Path(folder)
        ensure_replaceable(folder, METADATA_FILE, "a tfprot model folder")
        with atomic_folder(folder) as staging:
            with self.merged_weights():
                self.transformer.save_pretrained(str(staging), safe_serialization=True)
            self._save_pieces(staging, extra_info)
            if self.lora is not None:
                self._write_adapters(staging / ADAPTER_FOLDER, extra_info)
        logger.info("Saved the model to %s.", final_path(folder))
        return folder

    def save_adapters(
        self, folder: str | os.PathLike, *, extra_info: dict[str, Any] | None = None
    ) -> Path:
        """Save the LoRA adapters and the head alone (``adapter_model.safetensors``, a few MB),
        ``adapter_config.json`` (rank, alpha, dropout, targets, base checkpoint and revision),
        the tokenizer and ``tfprot.json``; :func:`tfprot.load_model` reloads them onto their
        base checkpoint. Written atomically, as :meth:`save_pretrained`.

        Raises:
            OptionError: the model has no adapters (build it with ``lora_rank``).
        """
        if self.lora is None:
            raise OptionError(
                f"{self.describe()} has no LoRA adapters to save (build it with lora_rank=...); "
                "save_pretrained saves the whole model."
            )
        folder = Path(folder)
        ensure_replaceable(folder, METADATA_FILE, "a tfprot model folder")
        with atomic_folder(folder) as staging:
            self._write_adapters(staging, extra_info)
        logger.info("Saved the LoRA adapters to %s.", final_path(folder))
        return folder

    def _write_adapters(self, folder: Path, extra_info: dict[str, Any] | None) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        lora = self.info.get("lora", {})
        base = {"checkpoint": lora.get("base_checkpoint"), "revision": lora.get("base_revision")}
        save_adapters(self, folder, base)
        self._save_pieces(folder, extra_info)

    def _save_pieces(self, folder: Path, extra_info: dict[str, Any] | None) -> None:
        self.tokenizer.save_pretrained(folder)
        write_text_atomic(
            folder / METADATA_FILE,
            json.dumps(self._metadata(extra_info), indent=2, sort_keys=True) + "\n",
        )

    def merged_weights(self):
        """A context in which the transformers model holds the merged weights of the LoRA
        adapters and computes without them (nothing changes for a model without adapters):
        :func:`tfprot.models.lora.merged_weights`."""
        return merged_weights(self.lora)

    def _metadata(self, extra_info: dict[str, Any] | None) -> dict[str, Any]:
        return {
            **self.info,
            **(extra_info or {}),
            "format_version": FORMAT_VERSION,
            "tfprot_version": __version__,
            "task": self.task.name,
            "labels": self.label_encoder.to_dict(),
        }

    def export_saved_model(self, folder: str | os.PathLike) -> Path:
        """Export a TensorFlow SavedModel for serving: see :mod:`tfprot.models.export`."""
        from tfprot.models.export import export_saved_model

        return export_saved_model(self, folder)

    def get_config(self) -> dict[str, Any]:
        return {"task": self.task.name, "labels": self.label_encoder.to_dict(), "info": self.info}


def _labels_out_of_features(data):
    """A transformers-style batch (``features`` with ``"labels"`` inside, and no separate
    labels) as Keras' ``(features, labels[, sample_weight])``; other batches as they are.

    >>> features, labels = _labels_out_of_features({"input_ids": [[0, 5, 2]], "labels": [1]})
    >>> sorted(features), labels
    (['input_ids'], [1])
    """
    x, y, sample_weight = _keras.utils.unpack_x_y_sample_weight(data)
    if y is not None or not isinstance(x, dict) or LABELS_KEY not in x:
        return data
    features = {key: value for key, value in x.items() if key != LABELS_KEY}
    return _keras.utils.pack_x_y_sample_weight(features, x[LABELS_KEY], sample_weight)
