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

import contextlib
import logging
import numbers
import os
from collections.abc import Iterable, Sequence
from typing import Any

from tfprot._keras import keras
from tfprot.data.dataset import ProteinDataset
from tfprot.data.labels import LabelEncoder
from tfprot.data.tokenizer import ProteinTokenizer
from tfprot.errors import CheckpointError, LabelError, OptionError
from tfprot.models.checkpoints import check_config_overrides, hidden_size_of, load_transformer
from tfprot.models.lora import DEFAULT_TARGETS, LoraConfig, apply_lora
from tfprot.models.optimization import default_learning_rate, make_optimizer
from tfprot.models.precision import resolve_precision
from tfprot.models.protein_model import METADATA_FILE, ProteinModel
from tfprot.models.recompute import check_recompute, use_recompute
from tfprot.tasks import ProteinTask, Task, task_for

__all__ = [
    "OptionError",
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
    task: ProteinTask | Task | str,
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
    strategy: Any = None,
    lora_rank: int | None = None,
    lora_alpha: float | None = None,
    lora_dropout: float = 0.0,
    lora_targets: str | Sequence[str] = DEFAULT_TARGETS,
    recompute: bool = False,
    **config: Any,
) -> ProteinModel:
    """Build (and compile) a :class:`ProteinModel` for ``task`` from ``checkpoint``.

    Args:
        checkpoint: preset, Hub id or local folder.
        task: the task: a name (:func:`tfprot.tasks.task_names`), a :class:`Task` or a
            :class:`~tfprot.tasks.ProteinTask`; it picks the head, loss and metrics.
        labels: class names, a :class:`LabelEncoder` or a :class:`ProteinDataset`.
        precision: ``'auto'``, ``'float32'``, ``'mixed_float16'`` or ``'mixed_bfloat16'``.
        jit_compile: compile train and predict steps with XLA (pair with static-shape data).
        learning_rate: peak learning rate; default 5e-5 for pretrained weights, 1e-3 for the
            randomly initialised ``tiny-*`` presets (the choice is logged).
        weight_decay, warmup_fraction, total_steps, clipnorm: the AdamW schedule (see
            :mod:`tfprot.models.optimization`); ``total_steps=0`` learns it from ``fit``.
        trainable_layers: ``None`` trains everything; ``0`` freezes the backbone (head only);
            ``N`` trains the top N encoder layers (and the final layer norm) and the head.
        tokenizer: override the checkpoint's tokenizer.
        compile: compile with the defaults (a user can recompile with :func:`compile_model`).
        strategy: a ``tf.distribute.Strategy`` (see :func:`tfprot.distribute.strategy`): the
            model and its optimizer are built and compiled in its scope. Under a TPU strategy
            every step is compiled with XLA whatever ``jit_compile`` says, and
            ``precision='auto'`` picks ``mixed_bfloat16``. Default: no strategy.
        lora_rank: train LoRA adapters of this rank (:mod:`tfprot.models.lora`) beside the
            frozen encoder, and the head; ``None``: no adapters.
        lora_alpha: the adapters' update is scaled by ``lora_alpha / lora_rank`` (default
            ``2 × lora_rank``).
        lora_dropout: dropout on the adapters' input in training (default 0).
        lora_targets: the encoder layers' ``Dense`` layers that get adapters: names among
            ``query``, ``key``, ``value``, ``attention_output``, ``intermediate``, ``output``
            (a list or comma-separated), or ``"all-linear"``; default query and value.
        recompute: recompute the encoder layers in the backward pass (less activation memory,
            the same gradients; :mod:`tfprot.models.recompute`). Needs layers without dropout.
        **config: extra transformers config values (e.g. ``hidden_dropout_prob``): settings of
            the checkpoint's config class only; the head's (``num_labels``, ``id2label``,
            ``label2id``, ``problem_type``) come from ``labels`` and the task.

    Raises:
        LabelError: no class names, a data set or encoder of another task.
        CheckpointError: a checkpoint that cannot be found or lacks files.
        OptionError: ``trainable_layers`` out of range or with ``lora_rank``; LoRA settings
            out of range or an unknown target; ``recompute`` with dropout; an unknown option (a misspelt
            ``learnig_rate`` is neither an option nor a config value), named with the closest
            valid names.

    >>> model = build_model("tiny-esm", "token", ["C", "E", "H"], precision="float32",
    ...                     trainable_layers=0)
    >>> model.task.value, [w.name.split("/")[-2] for w in model.trainable_weights]
    ('token', ['classifier', 'classifier'])
    """
    _check_config(checkpoint, config)
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        task = task_for(task)
        encoder, data_summary = _label_encoder(task, labels)
        trainable_layers = _check_trainable_layers(trainable_layers)
        lora = _lora_config(lora_rank, lora_alpha, lora_dropout, lora_targets, trainable_layers)
        choice = resolve_precision(precision, hidden_size=hidden_size_of(checkpoint))
        # The tokenizer first: it is cheap, and a folder without tokenizer files fails before
        # the (slow) model load.
        tokenizer = tokenizer or ProteinTokenizer.from_pretrained(checkpoint)
        previous = _keras.mixed_precision.global_policy()
        _keras.mixed_precision.set_global_policy(choice.policy)
        try:
            loaded = load_transformer(
                checkpoint, task, **task.head_config(encoder.classes), **config
            )
            _silence_unused_weights(loaded.model)
            _set_trainable_layers(loaded.model, trainable_layers)
            adapters = apply_lora(loaded.model, lora) if lora is not None else None
            if recompute:
                check_recompute(loaded.model, lora.dropout if lora is not None else 0.0)
                use_recompute(loaded.model)
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
            if adapters is not None:
                info["lora"] = {**lora.to_dict(), **_base_of(loaded)}
            if recompute:
                info["recompute"] = True
            model = ProteinModel(
                loaded.model, task, encoder, tokenizer, info=info, adapters=adapters
            )
        finally:
            _keras.mixed_precision.set_global_policy(previous)
        if compile:
            compile_model(
                model,
                learning_rate=_learning_rate(learning_rate, loaded.pretrained, loaded.checkpoint),
                weight_decay=weight_decay,
                warmup_fraction=warmup_fraction,
                total_steps=total_steps,
                clipnorm=clipnorm,
                jit_compile=jit_compile,
            )
    if strategy is not None:
        _note_strategy(model, strategy)
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
    """Compile with tfprot's defaults for the model's task; any ``model.compile`` argument
    (``optimizer``, ``loss``, ``metrics``, ``weighted_metrics``...) overrides its default.

    The task's metrics (:meth:`tfprot.tasks.ProteinTask.metrics`) go in
    ``weighted_metrics``, so that the zero-weight filler rows of static-shape batches do not
    count; passing ``metrics`` or ``weighted_metrics`` replaces them.

    >>> import tfprot
    >>> model = tfprot.sequence_regressor("tiny-esm", precision="float32", compile=False)
    >>> _ = compile_model(model, learning_rate=1e-4, loss="mae", metrics=["mse"])
    >>> model.loss, type(model.optimizer).__name__
    ('mae', 'FusedAdamW')
    """
    if "optimizer" in compile_options:
        optimizer = compile_options.pop("optimizer")
    else:
        optimizer = make_optimizer(
            learning_rate,
            weight_decay=weight_decay,
            warmup_fraction=warmup_fraction,
            total_steps=total_steps,
            clipnorm=clipnorm,
        )
    if "metrics" not in compile_options and "weighted_metrics" not in compile_options:
        compile_options["weighted_metrics"] = model.task.metrics(model.label_encoder.num_labels)
    compile_options.setdefault("loss", model.task.loss())
    model.compile(optimizer=optimizer, jit_compile=jit_compile, **compile_options)
    return model


def load_model(
    folder: str | os.PathLike,
    *,
    precision: str | None = None,
    compile: bool = True,
    jit_compile: bool = False,
    strategy: Any = None,
) -> ProteinModel:
    """Reload a model saved with :meth:`ProteinModel.save_pretrained`, or LoRA adapters saved
    alone (its ``adapters/`` subfolder, or :meth:`ProteinModel.save_adapters`): their base
    checkpoint (named in ``adapter_config.json``) with the adapters and head set.

    A model trained with LoRA reloads from its merged weights with new, zero adapters on them
    (the same predictions; more ``fit`` trains adapters again).

    Args:
        folder: the saved folder.
        precision: default: the precision it was trained with.
        compile: compile with the defaults, ready for more ``fit`` or ``evaluate``.
        strategy: a ``tf.distribute.Strategy`` to reload (and compile) in the scope of.

    Raises:
        CheckpointError: no such folder, not a tfprot model, damaged metadata or adapters.
    """
    from pathlib import Path

    from tfprot.models.lora import is_adapter_folder, load_adapters, read_adapter_config

    path = Path(folder)
    metadata_path = path / METADATA_FILE
    if not metadata_path.is_file():
        if not path.exists():
            raise CheckpointError(f"{path}: no such model folder.")
        raise CheckpointError(
            f"{path}: not a tfprot model folder (no {METADATA_FILE}). To fine-tune a plain checkpoint "
            "use sequence_classifier/sequence_regressor/token_classifier."
        )
    metadata = _read_metadata(metadata_path)
    encoder = LabelEncoder.from_dict(metadata["labels"])
    options: dict[str, Any] = {
        "precision": precision or metadata.get("precision", "float32"),
        "compile": compile,
        "jit_compile": jit_compile,
        "learning_rate": 1e-4 if compile else None,
        "strategy": strategy,
        "recompute": bool(metadata.get("recompute", False)),
    }
    base: str | os.PathLike = path
    adapters_only = is_adapter_folder(path)
    if adapters_only:
        adapter_config = read_adapter_config(path)
        base = adapter_config["base_checkpoint"]
        lora = LoraConfig.from_dict(adapter_config)
        if (path / "tokenizer_config.json").is_file() or (path / "vocab.txt").is_file():
            options["tokenizer"] = ProteinTokenizer.from_pretrained(path)
    elif isinstance(metadata.get("lora"), dict):
        lora = LoraConfig.from_dict(metadata["lora"])
    else:
        lora = None
    if lora is not None:
        options.update(
            lora_rank=lora.rank,
            lora_alpha=lora.alpha,
            lora_dropout=lora.dropout,
            lora_targets=lora.targets,
        )
    model = build_model(base, encoder.task, encoder, **options)
    if adapters_only:
        with strategy.scope() if strategy is not None else contextlib.nullcontext():
            load_adapters(model, path)
    current = model.info
    stored = {
        key: value
        for key, value in metadata.items()
        if key not in ("labels", "format_version", "task", "lora")
    }
    stored.update(precision=current["precision"], precision_reason=current["precision_reason"])
    if "lora" in current:
        stored["lora"] = current["lora"]
    stored["loaded_from"] = str(path)
    model.update_info(**stored)
    return model


def _read_metadata(path) -> dict[str, Any]:
    """A model folder's ``tfprot.json``; an unreadable or incomplete one is a
    :class:`CheckpointError` naming the file and what to do."""
    import json

    advice = (
        "The model folder is damaged: copy or download it again, or save it again with "
        "save_pretrained (tfprot train writes it)."
    )
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise CheckpointError(f"{path} is not UTF-8 text ({error.reason}). {advice}") from None
    except json.JSONDecodeError as error:
        raise CheckpointError(
            f"{path} is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg}). "
            f"{advice}"
        ) from None
    if not isinstance(metadata, dict):
        raise CheckpointError(
            f"{path} holds a JSON {type(metadata).__name__}, not an object. {advice}"
        )
    missing = [key for key in ("task", "labels") if key not in metadata]
    if missing:
        raise CheckpointError(f"{path} lacks {' and '.join(map(repr, missing))}. {advice}")
    try:
        encoder = LabelEncoder.from_dict(metadata["labels"])
        task = task_for(metadata["task"])
    except (TypeError, KeyError, AttributeError, ValueError) as error:
        raise CheckpointError(
            f"{path} does not describe a tfprot model ({type(error).__name__}: {error}). {advice}"
        ) from None
    if encoder.task != task:
        raise CheckpointError(
            f"{path} says task {metadata['task']!r} but its labels are for "
            f"{encoder.task.name!r}. {advice}"
        )
    return metadata


_HEAD_KEYS = ("num_labels", "id2label", "label2id", "problem_type")
"""Config values the factories set from the labels and the task."""


def _factory_options() -> tuple[str, ...]:
    """The keyword options of the factories (``build_model``'s and ``multi_label``)."""
    import inspect

    named = inspect.signature(build_model).parameters.values()
    keywords = [p.name for p in named if p.kind is inspect.Parameter.KEYWORD_ONLY]
    return (*keywords, "multi_label")


def _check_config(checkpoint: str | os.PathLike, config: dict[str, Any]) -> None:
    """Refuse head settings and unknown names among the extra config values (before any
    loading, for a preset or a local folder)."""
    head = [key for key in config if key in _HEAD_KEYS]
    if head:
        raise OptionError(
            f"{head[0]!r} is set from the labels and the task; pass the class names (or the "
            "ProteinDataset) as labels instead."
        )
    check_config_overrides(checkpoint, config, also_valid=_factory_options())


def _label_encoder(task: ProteinTask, labels: Labels) -> tuple[LabelEncoder, dict[str, Any] | None]:
    """The label vocabulary (and the data summary, for a data set) of a ``task`` model."""
    if isinstance(labels, ProteinDataset):
        if labels.task != task:
            raise LabelError(
                f"The data set {labels.name!r} is for a {labels.task.name!r} task, but the "
                f"model is for {task.name!r}. Use {labels.task.builder} for this data, or "
                f"build the data set with task={task.name!r}."
            )
        return labels.label_encoder, labels.summary()
    if isinstance(labels, LabelEncoder):
        if labels.task != task:
            raise LabelError(
                f"The label encoder is for a {labels.task.name!r} task, but the model is for "
                f"{task.name!r}. Use {labels.task.builder} with it."
            )
        return labels, None
    if isinstance(labels, (str, bytes)):
        raise LabelError(
            f"labels must be a list of class names, got the string {labels!r}; pass "
            f"[{labels!r}, ...] with every class, or list({labels!r}) for one class per character."
        )
    if labels is None or not isinstance(labels, Iterable):
        raise LabelError(
            f"labels must be the class names, a LabelEncoder or a ProteinDataset, got {labels!r}."
        )
    names = tuple(str(name) for name in labels)
    if not names:
        raise LabelError(
            f"labels is empty: a {task.name} model needs its class names (e.g. "
            "['cytoplasmic', 'plasma_membrane']), or the ProteinDataset it will train on."
        )
    return LabelEncoder(task, names), None


def _learning_rate(learning_rate: float | None, pretrained: bool, checkpoint: str) -> float:
    """The given learning rate, or the default for the weights (logged either way)."""
    if learning_rate is not None:
        if not learning_rate > 0:
            raise OptionError(f"learning_rate must be positive, got {learning_rate!r}.")
        logger.info("Learning rate %.2g (given).", learning_rate)
        return float(learning_rate)
    chosen = default_learning_rate(pretrained)
    logger.info(
        "Learning rate %.2g: the default for %s weights (%s); pass learning_rate= to change it.",
        chosen,
        "pretrained" if pretrained else "randomly initialised",
        checkpoint,
    )
    return chosen


def _note_strategy(model: ProteinModel, strategy: Any) -> None:
    """Record (and log) the strategy the model was built under."""
    name = type(strategy).__name__
    if name.startswith("_Default"):  # the default strategy: one device, nothing to note
        return
    replicas = int(strategy.num_replicas_in_sync)
    xla = name.startswith("TPUStrategy")
    model.update_info(strategy=name, replicas=replicas)
    logger.info(
        "Built under %s (%d replicas)%s.",
        name,
        replicas,
        "; every step is compiled with XLA on TPU" if xla else "",
    )


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


def _lora_config(
    rank: int | None,
    alpha: float | None,
    dropout: float,
    targets: str | Sequence[str],
    trainable_layers: int | None,
) -> LoraConfig | None:
    """The LoRA settings (``None`` without ``lora_rank``); settings without a rank, or with
    ``trainable_layers``, are refused."""
    if rank is None:
        given = [
            name
            for name, value, default in (
                ("lora_alpha", alpha, None),
                ("lora_dropout", dropout, 0.0),
                ("lora_targets", targets, DEFAULT_TARGETS),
            )
            if value != default
        ]
        if given:
            raise OptionError(f"{given[0]} needs lora_rank (the adapters' rank, e.g. 8).")
        return None
    if trainable_layers is not None:
        raise OptionError(
            "lora_rank and trainable_layers cannot go together: with LoRA the encoder is frozen "
            "and only the adapters and the head train. Leave trainable_layers out."
        )
    return LoraConfig(rank, alpha, dropout, targets)


def _base_of(loaded) -> dict[str, Any]:
    """The checkpoint LoRA adapters start from: a local folder as an absolute path, a Hub id
    with its revision (commit) when transformers recorded it."""
    from pathlib import Path

    checkpoint = loaded.checkpoint
    if Path(checkpoint).is_dir():
        checkpoint = str(Path(checkpoint).resolve())
    revision = getattr(getattr(loaded.model, "config", None), "_commit_hash", None)
    return {"base_checkpoint": checkpoint, "base_revision": revision}


def _check_trainable_layers(trainable_layers: int | None) -> int | None:
    """``None`` or a non-negative ``int`` (what can be checked before the model exists)."""
    if trainable_layers is None:
        return None
    if isinstance(trainable_layers, bool) or not isinstance(trainable_layers, numbers.Integral):
        raise OptionError(
            f"trainable_layers must be None (train everything) or a number of top encoder "
            f"layers to train (0: the head only), got {trainable_layers!r}."
        )
    if trainable_layers < 0:
        raise OptionError(
            f"trainable_layers must be 0 (the head only) or more, got {trainable_layers}."
        )
    return int(trainable_layers)


def _set_trainable_layers(transformer, trainable_layers: int | None) -> None:
    """Freeze the backbone except the top ``trainable_layers`` encoder layers (``None``: all)."""
    if trainable_layers is None:
        return
    main = _main_layer(transformer)
    encoder = getattr(main, "encoder", None)
    layers = list(getattr(encoder, "layer", []))
    if not layers:
        raise CheckpointError(
            f"Cannot find the encoder layers of {type(transformer).__name__} to freeze; use "
            "trainable_layers=None."
        )
    if trainable_layers > len(layers):
        raise OptionError(
            f"trainable_layers must be between 0 and {len(layers)} (the encoder layers of "
            f"{type(transformer).__name__}), got {trainable_layers}."
        )
    main.embeddings.trainable = False
    for index, layer in enumerate(layers):
        layer.trainable = index >= len(layers) - trainable_layers
    final_norm = getattr(encoder, "emb_layer_norm_after", None)  # ESM-2's norm after the top layer
    if final_norm is not None:
        final_norm.trainable = trainable_layers > 0
    logger.info(
        "Training the head and the top %d of %d encoder layers.", trainable_layers, len(layers)
    )
