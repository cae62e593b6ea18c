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
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
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
from tfprot.data.records import ProteinRecord
from tfprot.data.tokenizer import ProteinTokenizer
from tfprot.errors import CheckpointError, DataFormatError, LabelError
from tfprot.models.optimization import ScheduleSteps, WarmupLinearDecay

__all__ = [
    "METADATA_FILE",
    "Prediction",
    "ProteinModel",
    "residue_outputs",
    "residue_windows",
    "sequence_outputs",
]

logger = logging.getLogger(__name__)
_keras = keras()

METADATA_FILE = "tfprot.json"
FORMAT_VERSION = 1

BATCH_SIGNATURE = [
    {
        "input_ids": tf.TensorSpec([None, None], tf.int32, name="input_ids"),
        "attention_mask": tf.TensorSpec([None, None], tf.int32, name="attention_mask"),
    }
]
"""The inference batch every compiled forward pass takes: one trace serves every batch shape."""

Forward = Callable[[dict[str, np.ndarray]], np.ndarray]


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
        # Ids from numpy or 🤗 datasets are int64: accept them, the model computes in int32.
        outputs = self.transformer(
            input_ids=tf.cast(inputs["input_ids"], tf.int32),
            attention_mask=tf.cast(inputs["attention_mask"], tf.int32),
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
        ``[residues, classes]`` for token tasks (every residue; see the module doc)."""
        records = as_records(inputs)

        def forward(batch: dict[str, np.ndarray]) -> np.ndarray:
            return self._forward(batch).numpy()

        options = {"batch_tokens": batch_tokens, "progress": progress, "desc": "predict"}
        if self.task is Task.TOKEN:
            return residue_outputs(
                records, self.tokenizer, forward, overlap=window_overlap, **options
            )
        return sequence_outputs(records, self.tokenizer, forward, **options)

    @tf.function(input_signature=BATCH_SIGNATURE, autograph=False)
    def _forward(self, batch):
        return self(batch, training=False)

    @tf.function(input_signature=BATCH_SIGNATURE, autograph=False)
    def _hidden_states(self, batch):
        return hidden_states(self.transformer, batch)

    def _prediction(self, record, logits: np.ndarray, threshold: float) -> Prediction:
        classes = self.label_encoder.classes
        if self.task is Task.REGRESSION:
            return Prediction(record.id, record.sequence, float(logits), None)
        if self.task is Task.MULTILABEL:
            probabilities = 1.0 / (1.0 + np.exp(-logits))
            chosen = [name for name, p in zip(classes, probabilities, strict=True) if p > threshold]
            return Prediction(
                record.id,
                record.sequence,
                self.label_encoder.separator.join(chosen),
                dict(zip(classes, probabilities.tolist(), strict=True)),
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
            dict(zip(classes, probabilities.tolist(), strict=True)),
        )

    # -- embeddings --------------------------------------------------------------------------
    def embed(
        self,
        inputs: Any,
        *,
        per_residue: bool = False,
        batch_tokens: int = 16384,
        progress: bool | None = None,
        window_overlap: int | None = None,
    ):
        """Embeddings from this model's encoder: see :func:`tfprot.models.embeddings.embed`.

        >>> import tfprot
        >>> model = tfprot.token_classifier("tiny-esm", ["C", "E", "H"], precision="float32")
        >>> [v.shape for v in model.embed(["MKTAY", "GG"], per_residue=True).vectors]
        [(5, 64), (2, 64)]
        """
        from tfprot.models.embeddings import embed_records

        def forward(batch: dict[str, np.ndarray]) -> np.ndarray:
            return self._hidden_states(batch).numpy()

        return embed_records(
            forward,
            self.tokenizer,
            inputs,
            per_residue=per_residue,
            batch_tokens=batch_tokens,
            progress=progress,
            window_overlap=window_overlap,
        )

    # -- save, reload, export ----------------------------------------------------------------
    def save_pretrained(
        self, folder: str | os.PathLike, *, extra_info: dict[str, Any] | None = None
    ) -> Path:
        """Save weights (``model.safetensors``), config (with ``id2label``/``label2id``),
        tokenizer and tfprot's metadata (``tfprot.json``: task, labels, precision, data summary).

        The folder is written beside its final place and renamed into it, so a crash never
        leaves a half-written model. A previous save in ``folder`` is replaced; any other
        non-empty folder is refused (it is never deleted). Reload with :func:`tfprot.load_model`.

        Raises:
            CheckpointError: ``folder`` is a non-empty folder that is not a tfprot model.
        """
        folder = Path(folder)
        ensure_replaceable(folder, METADATA_FILE, "a tfprot model folder")
        with atomic_folder(folder) as staging:
            self.transformer.save_pretrained(str(staging), safe_serialization=True)
            self.tokenizer.save_pretrained(staging)
            write_text_atomic(
                staging / METADATA_FILE,
                json.dumps(self._metadata(extra_info), indent=2, sort_keys=True) + "\n",
            )
        logger.info("Saved the model to %s.", folder)
        return folder

    def _metadata(self, extra_info: dict[str, Any] | None) -> dict[str, Any]:
        from tfprot import __version__

        return {
            **self.info,
            **(extra_info or {}),
            "format_version": FORMAT_VERSION,
            "tfprot_version": __version__,
            "task": self.task.value,
            "labels": self.label_encoder.to_dict(),
        }

    def export_saved_model(self, folder: str | os.PathLike) -> Path:
        """Export a TensorFlow SavedModel for serving: see :mod:`tfprot.models.export`."""
        from tfprot.models.export import export_saved_model

        return export_saved_model(self, folder)

    def get_config(self) -> dict[str, Any]:
        return {"task": self.task.value, "labels": self.label_encoder.to_dict(), "info": self.info}


# -- inference plumbing, shared with tfprot.models.embeddings -----------------------------------
def hidden_states(transformer, batch) -> tf.Tensor:
    """The float32 last hidden states ``[batch, tokens, hidden]`` of a transformers model's
    encoder (any head: its main layer is used)."""
    prefix = getattr(transformer, "base_model_prefix", "")
    main = getattr(transformer, prefix, None) or transformer
    outputs = main(
        input_ids=tf.cast(batch["input_ids"], tf.int32),
        attention_mask=tf.cast(batch["attention_mask"], tf.int32),
        return_dict=True,
        training=False,
    )
    return tf.cast(outputs.last_hidden_state, tf.float32)


def residue_windows(length: int, size: int, overlap: int) -> list[tuple[int, int, int]]:
    """Overlapping windows of ``size`` residues that cover a sequence of ``length`` residues.

    Returns one ``(start, keep_from, keep_to)`` per window: the window holds residues
    ``[start, start + size)`` and supplies the outputs of residues ``[keep_from, keep_to)``.
    Consecutive windows share ``overlap`` residues (more for the last one, which ends with the
    sequence); the shared residues are split at their middle, so each residue's output comes
    from the window where it is farthest from an edge.

    >>> residue_windows(5, 8, 2)
    [(0, 0, 5)]
    >>> residue_windows(10, 6, 2)
    [(0, 0, 5), (4, 5, 10)]
    """
    if size < 1 or not 0 <= overlap < size:
        raise DataFormatError(
            f"window overlap must be between 0 and {size - 1} residues (the window holds {size}), "
            f"got {overlap}."
        )
    if length <= size:
        return [(0, 0, length)]
    starts = [*range(0, length - size, size - overlap), length - size]
    cuts = [(after + before + size) // 2 for before, after in itertools.pairwise(starts)]
    bounds = [0, *cuts, length]
    return [(start, bounds[k], bounds[k + 1]) for k, start in enumerate(starts)]


def residue_outputs(
    records: Sequence[ProteinRecord],
    tokenizer: ProteinTokenizer,
    forward: Forward,
    *,
    batch_tokens: int,
    overlap: int | None = None,
    progress: bool | None = None,
    desc: str = "predict",
) -> list[np.ndarray]:
    """Per-residue outputs ``[len(sequence), ...]`` of each record, in record order.

    ``forward`` maps a padded batch (``input_ids``, ``attention_mask``) to per-token outputs
    ``[batch, tokens, ...]``. Special tokens and padding are dropped; sequences longer than
    ``tokenizer.max_residues`` run in windows (:func:`residue_windows`) stitched back.
    """
    size = tokenizer.max_residues
    overlap = size // 4 if overlap is None else int(overlap)
    chunks: list[np.ndarray] = []
    owners: list[tuple[int, int, int, int]] = []
    for number, record in enumerate(records):
        ids = tokenizer.encode(record.sequence, add_special_tokens=False)
        for start, keep_from, keep_to in residue_windows(len(ids), size, overlap):
            window = ids[start : start + size]
            chunks.append(np.concatenate([tokenizer.prefix, window, tokenizer.suffix]))
            owners.append((number, start, keep_from, keep_to))
    windowed = len(chunks) - len(records)
    if windowed:
        logger.info(
            "Sequences longer than %d residues run in overlapping windows (%d extra windows).",
            size,
            windowed,
        )
    out: list[np.ndarray | None] = [None] * len(records)
    offset = tokenizer.residue_offset
    for index, row in run_batches(
        chunks,
        int(tokenizer.pad_id),
        forward,
        batch_tokens=batch_tokens,
        progress=progress,
        desc=desc,
    ):
        number, start, keep_from, keep_to = owners[index]
        part = row[offset + keep_from - start : offset + keep_to - start]
        if out[number] is None:
            out[number] = np.empty((len(records[number]), *part.shape[1:]), dtype=part.dtype)
        out[number][keep_from:keep_to] = part  # type: ignore[index]
    return out  # type: ignore[return-value]


def sequence_outputs(
    records: Sequence[ProteinRecord],
    tokenizer: ProteinTokenizer,
    forward: Forward,
    *,
    batch_tokens: int,
    progress: bool | None = None,
    desc: str = "predict",
) -> list[np.ndarray]:
    """One output row per record (``forward`` gives ``[batch, ...]``), in record order; sequences
    longer than ``max_length`` are truncated as in training (logged)."""
    examples = encode_records(records, tokenizer)
    out: list[np.ndarray | None] = [None] * len(records)
    for index, row in run_batches(
        examples.input_ids,
        examples.pad_id,
        forward,
        batch_tokens=batch_tokens,
        progress=progress,
        desc=desc,
    ):
        out[index] = row
    return out  # type: ignore[return-value]


def run_batches(
    input_ids: Sequence[np.ndarray],
    pad_id: int,
    forward: Forward,
    *,
    batch_tokens: int,
    progress: bool | None = None,
    desc: str = "predict",
) -> Iterator[tuple[int, np.ndarray]]:
    """Run ``forward`` over length-sorted, padded batches under ``batch_tokens``; yield
    ``(example index, output row)`` pairs."""
    if batch_tokens < 1:
        raise DataFormatError(f"batch_tokens must be positive, got {batch_tokens}.")
    lengths = np.fromiter((len(ids) for ids in input_ids), dtype=np.int64, count=len(input_ids))
    batches = length_sorted_batches(lengths, batch_tokens)
    for indices in progress_bar(batches, progress, desc):
        outputs = forward(pad_batch(input_ids, indices, pad_id))
        for row, index in enumerate(indices):
            yield int(index), outputs[row]


def progress_bar(items: Sequence[Any], progress: bool | None, desc: str) -> Iterable[Any]:
    """``items`` wrapped in a ``tqdm`` bar on stderr when ``progress`` says so (``None``: when
    there is more than one item and stderr is interactive: a terminal or a Jupyter kernel).

    >>> progress_bar([1, 2], False, "predict")
    [1, 2]
    """
    if progress is None:
        progress = len(items) > 1 and _interactive(sys.stderr)
    if not progress:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit="batch", file=sys.stderr)


def _interactive(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        if isatty is not None and isatty():
            return True
    except ValueError:  # a closed stream
        return False
    return type(stream).__module__.startswith("ipykernel")  # a notebook's stderr


def ensure_replaceable(folder: Path, marker: str, what: str) -> None:
    """Refuse to replace an existing non-empty folder unless it holds ``marker`` (a previous
    save of the same kind): an atomic save removes the folder it replaces."""
    if folder.exists() and not folder.is_dir():
        raise CheckpointError(f"{folder} is a file, not a folder; choose another output path.")
    if not folder.is_dir() or not any(folder.iterdir()) or (folder / marker).is_file():
        return
    raise CheckpointError(
        f"{folder} exists, is not empty and is not {what} (no {marker}); saving would replace "
        "it. Choose a new or empty folder."
    )


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)
