"""Model factories: a checkpoint name and labels in, a compiled Keras model out.

>>> import tfprot
>>> data = tfprot.ProteinDataset.example()
>>> model = tfprot.sequence_classifier("tiny-esm", data, precision="float32")
>>> model.label_encoder.classes
('cytoplasmic', 'plasma_membrane')
>>> train = data.tf_dataset("train", model.tokenizer, batch_tokens=4096)

Then ``model.fit(train.take(2))``. Checkpoints: a preset (``'tiny-esm'`` offline and untrained;
``'esm2_t6_8M'`` ... ``'esm2_t36_3B'``, ``'prot_bert'``), a Hub id (``'facebook/esm2_t6_8M_UR50D'``,
``'Rostlab/prot_bert'``) or a local folder.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

from tfprot._keras import keras
from tfprot.data.dataset import ProteinDataset
from tfprot.data.labels import LabelEncoder, Task
from tfprot.data.tokenizer import ProteinTokenizer
from tfprot.errors import CheckpointError, LabelError
from tfprot.models.checkpoints import load_transformer
from tfprot.models.losses import loss_for_task
from tfprot.models.metrics import metrics_for_task
from tfprot.models.optimization import default_learning_rate, make_optimizer
from tfprot.models.precision import resolve_precision
from tfprot.models.protein_model import METADATA_FILE, ProteinModel
from tfprot.presets import resolve_preset

__all__ = [
    "compile_model",
    "load_model",
    "sequence_classifier",
    "sequence_regressor",
    "token_classifier",
]

logger = logging.getLogger(__name__)
_keras = keras()

Labels = LabelEncoder | ProteinDataset | Sequence[str]


def sequence_classifier(
    checkpoint: str | os.PathLike,
    labels: Labels,
    *,
    multi_label: bool = False,
    **options: Any,
) -> ProteinModel:
    """A compiled sequence classifier (one class, or several with ``multi_label=True``).

    Args:
        checkpoint: preset, Hub id or local folder.
        labels: the class names, a :class:`LabelEncoder`, or the :class:`ProteinDataset` to train
            on (its vocabulary and summary are kept with the model).
        multi_label: several classes per sequence (sigmoid outputs, binary cross-entropy).
        **options: see :func:`build_model` (precision, jit_compile, learning_rate...).
    """
    task = Task.MULTILABEL if multi_label else Task.CLASSIFICATION
    return build_model(checkpoint, task, labels, **options)


def sequence_regressor(
    checkpoint: str | os.PathLike, data: ProteinDataset | None = None, **options: Any
) -> ProteinModel:
    """A compiled sequence regressor (one number per sequence, mean squared error)."""
    labels = data if data is not None else LabelEncoder(Task.REGRESSION)
    return build_model(checkpoint, Task.REGRESSION, labels, **options)


def token_classifier(checkpoint: str | os.PathLike, labels: Labels, **options: Any) -> ProteinModel:
    """A compiled per-residue classifier (masked cross-entropy; -100 positions do not count)."""
    return build_model(checkpoint, Task.TOKEN, labels, **options)


def build_model(
    checkpoint: str | os.PathLike,
    task: Task | str,
    labels: Labels,
    *,
    precision: str = "auto",
    jit_compile: bool = False,
    learning_rate: float | None = None,
    weight_decay: float = 0.01,
    warmup_fraction: float = 0.06,
    total_steps: int = 0,
    clipnorm: float | None = 1.0,
    trainable_layers: int | None = None,
    tokenizer: ProteinTokenizer | None = None,
    compile: bool = True,
    **config: Any,
) -> ProteinModel:
    """Build (and compile) a :class:`ProteinModel` for ``task`` from ``checkpoint``.

    Args:
        checkpoint: preset, Hub id or local folder.
        task: the task.
        labels: class names, a :class:`LabelEncoder` or a :class:`ProteinDataset`.
        precision: ``'auto'``, ``'float32'``, ``'mixed_float16'`` or ``'mixed_bfloat16'``.
        jit_compile: compile train and predict steps with XLA (pair with static-shape data).
        learning_rate: peak learning rate; default 5e-5 for pretrained weights, 1e-3 for the
            randomly initialised ``tiny-*`` presets (logged).
        weight_decay, warmup_fraction, total_steps, clipnorm: the AdamW schedule (see
            :mod:`tfprot.models.optimization`); ``total_steps=0`` learns it from ``fit``.
        trainable_layers: ``None`` trains everything; ``0`` freezes the backbone (head only);
            ``N`` trains the top N encoder layers and the head.
        tokenizer: override the checkpoint's tokenizer.
        compile: compile with the defaults (a user can recompile).
        **config: extra transformers config values (e.g. ``hidden_dropout_prob``).
    """
    task = Task.parse(task)
    encoder, data_summary = _label_encoder(task, labels)
    hidden_size = _hidden_size(checkpoint)
    choice = resolve_precision(precision, hidden_size=hidden_size)
    previous = _keras.mixed_precision.global_policy()
    _keras.mixed_precision.set_global_policy(choice.policy)
    try:
        head = {
            "num_labels": encoder.num_labels,
            "id2label": encoder.id2label,
            "label2id": encoder.label2id,
        }
        if task is Task.MULTILABEL:
            head["problem_type"] = "multi_label_classification"
        elif task is Task.REGRESSION:
            head["problem_type"] = "regression"
        loaded = load_transformer(checkpoint, task, **head, **config)
        tokenizer = tokenizer or ProteinTokenizer.from_pretrained(checkpoint)
        _silence_unused_weights(loaded.model)
        _set_trainable_layers(loaded.model, trainable_layers)
        info = {
            "base_checkpoint": loaded.checkpoint,
            "pretrained": loaded.pretrained,
            "precision": choice.policy,
            "precision_reason": choice.reason,
            "max_length": tokenizer.max_length,
            "trainable_layers": trainable_layers,
        }
        if data_summary:
            info["data"] = data_summary
        model = ProteinModel(loaded.model, task, encoder, tokenizer, info=info)
    finally:
        _keras.mixed_precision.set_global_policy(previous)
    if compile:
        if learning_rate is None:
            learning_rate = default_learning_rate(loaded.pretrained)
            logger.info(
                "Learning rate %.0e (%s weights).",
                learning_rate,
                "pretrained" if loaded.pretrained else "random",
            )
        compile_model(
            model,
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            warmup_fraction=warmup_fraction,
            total_steps=total_steps,
            clipnorm=clipnorm,
            jit_compile=jit_compile,
        )
    return model


def compile_model(
    model: ProteinModel,
    *,
    learning_rate: float = 1e-3,
    weight_decay: float = 0.01,
    warmup_fraction: float = 0.06,
    total_steps: int = 0,
    clipnorm: float | None = 1.0,
    jit_compile: bool = False,
    **compile_options: Any,
) -> ProteinModel:
    """Compile with tfprot's defaults for the model's task (override any through
    ``compile_options``: ``optimizer``, ``loss``, ``metrics``...)."""
    options = {
        "optimizer": make_optimizer(
            learning_rate,
            weight_decay=weight_decay,
            warmup_fraction=warmup_fraction,
            total_steps=total_steps,
            clipnorm=clipnorm,
        ),
        "loss": loss_for_task(model.task),
        "metrics": metrics_for_task(model.task, model.label_encoder.num_labels),
        "jit_compile": jit_compile,
        **compile_options,
    }
    model.compile(**options)
    return model


def load_model(
    folder: str | os.PathLike,
    *,
    precision: str | None = None,
    compile: bool = True,
    jit_compile: bool = False,
) -> ProteinModel:
    """Reload a model saved with :meth:`ProteinModel.save_pretrained`.

    Args:
        folder: the saved folder.
        precision: default: the precision it was trained with.
        compile: compile with the defaults, ready for more ``fit`` or ``evaluate``.
    """
    import json
    from pathlib import Path

    path = Path(folder)
    metadata_path = path / METADATA_FILE
    if not metadata_path.is_file():
        if not path.exists():
            raise CheckpointError(f"{path}: no such model folder.")
        raise CheckpointError(
            f"{path}: not a tfprot model folder (no {METADATA_FILE}). To fine-tune a plain checkpoint "
            "use sequence_classifier/sequence_regressor/token_classifier."
        )
    metadata = json.loads(metadata_path.read_text())
    encoder = LabelEncoder.from_dict(metadata["labels"])
    options = {
        "precision": precision or metadata.get("precision", "float32"),
        "compile": compile,
        "jit_compile": jit_compile,
        "learning_rate": 1e-4 if compile else None,
    }
    model = build_model(path, Task.parse(metadata["task"]), encoder, **options)
    current = model.info
    stored = {
        key: value
        for key, value in metadata.items()
        if key not in ("labels", "format_version", "task")
    }
    stored.update(precision=current["precision"], precision_reason=current["precision_reason"])
    stored["loaded_from"] = str(path)
    model.update_info(**stored)
    return model


def _label_encoder(task: Task, labels: Labels) -> tuple[LabelEncoder, dict[str, Any] | None]:
    if isinstance(labels, ProteinDataset):
        if labels.task is not task:
            raise LabelError(
                f"The data set is for a {labels.task.value!r} task, the model for {task.value!r}."
            )
        return labels.label_encoder, labels.summary()
    if isinstance(labels, LabelEncoder):
        if labels.task is not task:
            raise LabelError(
                f"The label encoder is for a {labels.task.value!r} task, the model for {task.value!r}."
            )
        return labels, None
    if isinstance(labels, str):
        raise LabelError(f"labels must be a list of class names, got the string {labels!r}.")
    return LabelEncoder(task, tuple(str(name) for name in labels)), None


def _hidden_size(checkpoint: str | os.PathLike) -> int:
    """The hidden size of a checkpoint, for the precision probe (best effort, no download)."""
    preset = resolve_preset(os.fspath(checkpoint))
    if preset is not None:
        return preset.hidden_size
    import json
    from pathlib import Path

    config = Path(checkpoint) / "config.json"
    if config.is_file():
        return int(json.loads(config.read_text()).get("hidden_size", 320))
    return 320


def _main_layer(transformer):
    return getattr(transformer, getattr(transformer, "base_model_prefix", ""), None) or transformer


def _silence_unused_weights(transformer) -> None:
    """Make weights the task never uses non-trainable, so ``fit`` does not warn about missing
    gradients on every step: ESM's contact head, and the absolute position table of rotary models."""
    main = _main_layer(transformer)
    contact_head = getattr(main, "contact_head", None)
    if contact_head is not None:
        contact_head.trainable = False
    embeddings = getattr(main, "embeddings", None)
    config = getattr(transformer, "config", None)
    if (
        embeddings is not None
        and getattr(config, "position_embedding_type", "absolute") != "absolute"
    ):
        table = getattr(embeddings, "position_embeddings", None)
        if table is not None:
            table.trainable = False


def _set_trainable_layers(transformer, trainable_layers: int | None) -> None:
    """Freeze the backbone except the top ``trainable_layers`` encoder layers (``None``: all)."""
    if trainable_layers is None:
        return
    main = _main_layer(transformer)
    layers = list(getattr(getattr(main, "encoder", None), "layer", []))
    if not layers:
        raise CheckpointError(
            f"Cannot find the encoder layers of {type(transformer).__name__} to freeze."
        )
    if not 0 <= trainable_layers <= len(layers):
        raise CheckpointError(
            f"trainable_layers must be between 0 and {len(layers)}, got {trainable_layers}."
        )
    main.embeddings.trainable = False
    for index, layer in enumerate(layers):
        layer.trainable = index >= len(layers) - trainable_layers
    final_norm = getattr(main.encoder, "emb_layer_norm_after", None)
    if final_norm is not None:
        final_norm.trainable = trainable_layers > 0
    logger.info(
        "Training the head and the top %d of %d encoder layers.", trainable_layers, len(layers)
    )
