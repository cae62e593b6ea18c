"""LoRA: low-rank adapters beside the frozen ``Dense`` kernels of a transformers encoder.

Each targeted ``Dense`` layer ``y = x·W + b`` (Keras layout: ``W`` is ``[in, out]``) gets an
adapter ``Δy = (α/r)·dropout(x)·A·B`` with ``A`` ``[in, r]`` random (PEFT's Kaiming-uniform) and
``B`` ``[r, out]`` zero, so a fresh model computes exactly what the base model does. The adapter
variables are float32 and their arithmetic is float32 under every precision policy; the sum is
cast to the layer's compute dtype. Everything of the encoder is frozen; the task head trains
fully.

How the adapters reach the layers (the same way :mod:`tfprot.models.esm_layers` gives the models
tfprot builds its ESM layers): each targeted ``Dense`` instance gets the class
:class:`LoraDense`, a subclass that adds its adapter's output, and a plain (untracked) link to
its adapter. The adapters themselves are Keras layers owned by :class:`LoraAdapters`, which the
:class:`~tfprot.models.protein_model.ProteinModel` tracks: they are its trainable weights, its
checkpoints hold them, and the transformers model's own weights (what its ``save_pretrained``
writes) stay exactly the base model's. transformers' ``Dense`` class is never changed. The fused
encoder layer (:mod:`tfprot.models.esm_fast`) adds the same adapter outputs to its fused
projections (:func:`fused_delta`).

Targets, by the name of the ``Dense`` inside each encoder layer (ESM-2 and BERT name them alike):
``query``, ``key``, ``value`` (self-attention), ``attention_output``, ``intermediate`` and
``output`` (feed-forward); ``"all-linear"`` is all six; the default is ``query`` and ``value``.

Saving (:meth:`ProteinModel.save_pretrained`) writes the merged weights ``W + (α/r)·A·B`` in the
plain transformers layout (:func:`merged_weights`), and the adapters alone with the head
(:func:`save_adapters`: ``adapter_model.safetensors`` and ``adapter_config.json`` with rank,
alpha, targets and the base checkpoint).

>>> import tfprot
>>> model = tfprot.sequence_classifier("tiny-esm", ["a", "b"], precision="float32", lora_rank=4)
>>> model.lora.config
LoraConfig(rank=4, alpha=8.0, dropout=0.0, targets=('query', 'value'))
>>> len(model.lora.adapters), sorted({w.name.split("/")[-2] for w in model.trainable_weights})  # head, adapters
(4, ['dense', 'lora_0', 'lora_1', 'lora_2', 'lora_3', 'out_proj'])
"""

from __future__ import annotations

import contextlib
import difflib
import json
import logging
import numbers
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from tfprot._keras import keras
from tfprot.errors import CheckpointError, OptionError

__all__ = [
    "ADAPTER_CONFIG",
    "ADAPTER_FOLDER",
    "ADAPTER_WEIGHTS",
    "ALL_LINEAR",
    "DEFAULT_TARGETS",
    "TARGETS",
    "LoraAdapter",
    "LoraAdapters",
    "LoraConfig",
    "LoraDense",
    "apply_lora",
    "fused_delta",
    "is_adapter_folder",
    "load_adapters",
    "merged_weights",
    "read_adapter_config",
    "save_adapters",
]

logger = logging.getLogger(__name__)
_keras = keras()

TARGETS: dict[str, str] = {
    "query": "attention/self/query",
    "key": "attention/self/key",
    "value": "attention/self/value",
    "attention_output": "attention/output/dense",
    "intermediate": "intermediate/dense",
    "output": "output/dense",
}
"""Target name → the end of the ``Dense`` layer's weight path inside an encoder layer (checked in
this order: ``attention_output`` before ``output``)."""

DEFAULT_TARGETS = ("query", "value")
ALL_LINEAR = "all-linear"

ADAPTER_FOLDER = "adapters"
"""The subfolder of a saved model that holds its adapters alone."""
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_FORMAT = 1


@dataclass(frozen=True)
class LoraConfig:
    """What the adapters are: rank ``r``, ``alpha`` (the update is scaled by ``alpha / r``;
    default ``2r``), dropout on the adapters' input, and the targeted layers.

    >>> LoraConfig(8).scale, LoraConfig(8, targets="all-linear").targets[-1]
    (2.0, 'output')
    >>> LoraConfig(0)
    Traceback (most recent call last):
    ...
    tfprot.errors.OptionError: lora_rank must be a whole number of 1 or more, got 0.
    """

    rank: int
    alpha: float | None = None
    dropout: float = 0.0
    targets: tuple[str, ...] | str = DEFAULT_TARGETS

    def __post_init__(self) -> None:
        rank = self.rank
        if isinstance(rank, bool) or not isinstance(rank, numbers.Integral) or rank < 1:
            raise OptionError(f"lora_rank must be a whole number of 1 or more, got {rank!r}.")
        object.__setattr__(self, "rank", int(rank))
        alpha = 2.0 * self.rank if self.alpha is None else self.alpha
        if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not alpha > 0:
            raise OptionError(f"lora_alpha must be a positive number, got {self.alpha!r}.")
        object.__setattr__(self, "alpha", float(alpha))
        dropout = self.dropout
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real):
            raise OptionError(f"lora_dropout must be a number in [0, 1), got {dropout!r}.")
        if not 0.0 <= dropout < 1.0:
            raise OptionError(f"lora_dropout must be in [0, 1), got {dropout!r}.")
        object.__setattr__(self, "dropout", float(dropout))
        object.__setattr__(self, "targets", parse_targets(self.targets))

    @property
    def scale(self) -> float:
        """``alpha / rank``: the factor of the adapters' update."""
        return self.alpha / self.rank

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "alpha": self.alpha,
            "dropout": self.dropout,
            "targets": list(self.targets),
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> LoraConfig:
        return cls(
            values["rank"],
            values.get("alpha"),
            values.get("dropout", 0.0),
            tuple(values.get("targets", DEFAULT_TARGETS)),
        )


def parse_targets(targets: str | Sequence[str]) -> tuple[str, ...]:
    """Target names in :data:`TARGETS` order, from ``"all-linear"``, ``"query,value"`` or a list.

    >>> parse_targets("value,query"), parse_targets(["all-linear"])[:3]
    (('query', 'value'), ('query', 'key', 'value'))
    >>> parse_targets(["qurey"])
    Traceback (most recent call last):
    ...
    tfprot.errors.OptionError: Unknown LoRA target 'qurey'. Did you mean 'query'? ...
    """
    names = targets.split(",") if isinstance(targets, str) else list(targets)
    chosen: set[str] = set()
    for raw in names:
        name = str(raw).strip()
        if name == ALL_LINEAR:
            chosen.update(TARGETS)
        elif name in TARGETS:
            chosen.add(name)
        else:
            close = difflib.get_close_matches(name, [*TARGETS, ALL_LINEAR], n=2)
            hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
            raise OptionError(
                f"Unknown LoRA target {name!r}.{hint} The targets are {', '.join(TARGETS)} "
                f"(or {ALL_LINEAR!r} for all of them)."
            )
    if not chosen:
        raise OptionError(f"lora_targets is empty; name some of {', '.join(TARGETS)}.")
    return tuple(name for name in TARGETS if name in chosen)


def target_of(path: str) -> str | None:
    """The target name of a ``Dense`` layer's weight path, or ``None``.

    >>> target_of("esm/encoder/layer_._0/attention/output/dense"), target_of("classifier/dense")
    ('attention_output', None)
    """
    for name, end in TARGETS.items():
        if path == end or path.endswith("/" + end):
            return name
    return None


class LoraAdapter(_keras.layers.Layer):
    """One adapter: ``(scale)·dropout(x)·A·B`` in float32, ``A`` ``[input_dim, rank]``
    Kaiming-uniform (as PEFT), ``B`` ``[rank, units]`` zero.

    >>> adapter = LoraAdapter(6, 3, rank=2, scale=2.0)
    >>> adapter.build(None)
    >>> adapter(tf.ones([4, 5, 6])).shape, float(tf.reduce_max(tf.abs(adapter(tf.ones([1, 6])))))
    (TensorShape([4, 5, 3]), 0.0)
    """

    def __init__(
        self,
        input_dim: int,
        units: int,
        *,
        rank: int,
        scale: float,
        dropout: float = 0.0,
        **kwargs: Any,
    ) -> None:
        kwargs["dtype"] = "float32"  # float32 variables and arithmetic under every policy
        super().__init__(**kwargs)
        self.input_dim, self.units, self.rank = int(input_dim), int(units), int(rank)
        self.scale, self.rate = float(scale), float(dropout)
        self.dropout = _keras.layers.Dropout(self.rate) if self.rate > 0 else None

    def build(self, input_shape=None) -> None:
        # PEFT's kaiming_uniform_(a=sqrt(5)): uniform in ±1/sqrt(fan_in).
        uniform = _keras.initializers.VarianceScaling(1.0 / 3.0, "fan_in", "uniform")
        self.lora_a = self.add_weight(
            "lora_A", shape=(self.input_dim, self.rank), initializer=uniform, dtype=tf.float32
        )
        self.lora_b = self.add_weight(
            "lora_B", shape=(self.rank, self.units), initializer="zeros", dtype=tf.float32
        )
        super().build(input_shape)

    def call(self, inputs, training=None):
        x = tf.cast(inputs, tf.float32)
        if self.dropout is not None:
            x = self.dropout(x, training=training)
        rows = tf.reshape(x, [-1, self.input_dim])
        delta = tf.matmul(tf.matmul(rows, self.lora_a), self.lora_b) * self.scale
        if inputs.shape.rank == 2:
            return delta
        return tf.reshape(delta, tf.concat([tf.shape(x)[:-1], [self.units]], axis=0))

    def update(self) -> np.ndarray:
        """``scale·A·B`` (float32 ``[input_dim, units]``): what merging adds to the kernel."""
        return (np.asarray(self.lora_a.numpy()) @ np.asarray(self.lora_b.numpy())) * np.float32(
            self.scale
        )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.pop("dtype", None)
        return {
            **config,
            "input_dim": self.input_dim,
            "units": self.units,
            "rank": self.rank,
            "scale": self.scale,
            "dropout": self.rate,
        }


class _Link:
    """A ``Dense`` layer's reference to its adapter. Not trackable: the adapter belongs to
    :class:`LoraAdapters`, so the transformers model's weights stay the base model's."""

    __slots__ = ("adapter", "enabled")

    def __init__(self, adapter: LoraAdapter) -> None:
        self.adapter = adapter
        self.enabled = True


class LoraDense(_keras.layers.Dense):
    """A Keras ``Dense`` plus its adapter's output (when it has one and it is enabled). Set as
    the class of targeted ``Dense`` instances by :func:`apply_lora`; no new state."""

    def call(self, inputs):
        outputs = super().call(inputs)
        adapter = adapter_of(self)
        if adapter is None:
            return outputs
        # training: the adapter's dropout takes it from the enclosing call (Keras' call context)
        return outputs + tf.cast(adapter(inputs), outputs.dtype)


def adapter_of(dense) -> LoraAdapter | None:
    """The enabled adapter of a ``Dense`` layer, or ``None``."""
    link = dense.__dict__.get("_tfprot_lora")
    if link is None or not link.enabled:
        return None
    return link.adapter


def fused_delta(rows, denses: Sequence[tuple[Any, float]], dtype, training) -> tf.Tensor | None:
    """The adapters' outputs for a fused projection of several ``Dense`` layers on the same
    rows (:func:`tfprot.models.esm_fast._fused_dense`), each scaled as its layer's output is,
    concatenated in the layers' order (zeros for a layer without an adapter); ``None`` when no
    layer has one."""
    adapters = [adapter_of(dense) for dense, _ in denses]
    if not any(adapters):
        return None
    pieces = []
    for (dense, factor), adapter in zip(denses, adapters, strict=True):
        if adapter is None:
            pieces.append(tf.zeros([tf.shape(rows)[0], dense.units], dtype))
            continue
        delta = tf.cast(adapter(rows, training=training), dtype)
        pieces.append(delta if factor == 1.0 else delta * tf.constant(factor, dtype))
    return pieces[0] if len(pieces) == 1 else tf.concat(pieces, axis=-1)


class LoraAdapters(_keras.layers.Layer):
    """The adapters of one model, each with the weight path of the ``Dense`` it sits beside
    (``esm/encoder/layer_._0/attention/self/query``); made by :func:`apply_lora`."""

    def __init__(self, config: LoraConfig, paths: Sequence[str], denses: Sequence[Any], **kwargs):
        super().__init__(name=kwargs.pop("name", "lora"), dtype="float32", **kwargs)
        self.config = config
        self.paths = tuple(paths)
        self.adapters = [
            LoraAdapter(
                int(dense.kernel.shape[0]),
                int(dense.units),
                rank=config.rank,
                scale=config.scale,
                dropout=config.dropout,
                name=f"lora_{index}",
            )
            for index, dense in enumerate(denses)
        ]
        for adapter in self.adapters:  # variables named lora/lora_<i>/lora_A...
            with tf.name_scope(self.name), tf.name_scope(adapter.name):
                adapter.build(None)
        # Not tracked: the Dense layers belong to the transformers model (and stay frozen).
        object.__setattr__(self, "_denses", tuple(denses))

    def call(self, inputs):  # the adapters run inside their Dense layers
        return inputs

    def pairs(self) -> Iterator[tuple[str, Any, LoraAdapter]]:
        """``(path, dense, adapter)`` for every adapter."""
        return zip(self.paths, self._denses, self.adapters, strict=True)

    @property
    def variable_ids(self) -> frozenset[int]:
        return frozenset(id(v) for v in self.weights)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "lora": self.config.to_dict(), "paths": list(self.paths)}


def main_layer(transformer):
    """The encoder of a transformers model with a head (``model.esm``, ``model.bert``)."""
    prefix = getattr(transformer, "base_model_prefix", "")
    return getattr(transformer, prefix, None) or transformer


def weight_path(variable) -> str:
    """A variable's name without the model's name and ``:0``: ``esm/.../query/kernel``
    (transformers' names in ``model.safetensors``)."""
    name = variable.name.split(":")[0]
    return name.split("/", 1)[1] if "/" in name else name


def apply_lora(transformer, config: LoraConfig) -> LoraAdapters:
    """Give the targeted ``Dense`` layers of every encoder layer an adapter, freeze the
    encoder (embeddings, layers, norms) and leave the head trainable.

    Raises:
        CheckpointError: a model without encoder layers or without the targeted layers.
    """
    main = main_layer(transformer)
    layers = list(getattr(getattr(main, "encoder", None), "layer", None) or [])
    if not layers:
        raise CheckpointError(
            f"Cannot find the encoder layers of {type(transformer).__name__} for LoRA adapters."
        )
    paths, denses, seen = [], [], set()
    for layer in layers:
        for dense in layer.submodules:
            if not isinstance(dense, _keras.layers.Dense) or id(dense) in seen:
                continue
            seen.add(id(dense))
            path = weight_path(dense.kernel).rsplit("/", 1)[0]
            if target_of(path) not in config.targets:
                continue
            if type(dense) not in (_keras.layers.Dense, LoraDense):
                raise CheckpointError(
                    f"{path} is a {type(dense).__name__}, not a Keras Dense: LoRA cannot target it."
                )
            if "_tfprot_lora" in dense.__dict__:
                raise OptionError(f"{path} already has a LoRA adapter.")
            paths.append(path)
            denses.append(dense)
    if not denses:
        raise CheckpointError(
            f"None of {type(transformer).__name__}'s encoder layers has the LoRA targets "
            f"{', '.join(config.targets)}."
        )
    adapters = LoraAdapters(config, paths, denses)
    for dense, adapter in zip(denses, adapters.adapters, strict=True):
        dense.__class__ = LoraDense
        object.__setattr__(dense, "_tfprot_lora", _Link(adapter))
    main.trainable = False
    logger.info(
        "LoRA r=%d alpha=%g on %s: %d adapters; the encoder is frozen, the head trains.",
        config.rank,
        config.alpha,
        ", ".join(config.targets),
        len(denses),
    )
    return adapters


@contextlib.contextmanager
def merged_weights(adapters: LoraAdapters | None) -> Iterator[None]:
    """Within the block each targeted kernel holds ``W + scale·A·B`` and the adapters are off:
    the transformers model alone computes the adapted function (for ``save_pretrained`` and
    SavedModel export). The kernels get their exact previous values back afterwards.

    Do not build ``tf.function`` traces that outlive the block inside it.
    """
    if adapters is None:
        yield
        return
    saved = []
    try:
        for _, dense, adapter in adapters.pairs():
            original = dense.kernel.numpy()
            saved.append((dense, original))
            dense.kernel.assign(original + adapter.update().astype(original.dtype))
            dense.__dict__["_tfprot_lora"].enabled = False
        yield
    finally:
        for dense, original in saved:
            dense.kernel.assign(original)
            dense.__dict__["_tfprot_lora"].enabled = True


def head_weights(transformer) -> list:
    """The task head's weights: every weight of the transformers model outside its encoder."""
    main = main_layer(transformer)
    inside = {id(w) for w in main.weights}
    return [w for w in transformer.weights if id(w) not in inside]


def save_adapters(model, folder: Path, base: dict[str, Any]) -> None:
    """Write ``adapter_model.safetensors`` (the adapters and the head) and
    ``adapter_config.json`` (rank, alpha, dropout, targets, the base checkpoint and revision)
    into ``folder``, which must exist (a staging folder)."""
    from safetensors.numpy import save_file

    from tfprot._io import write_text_atomic
    from tfprot._version import __version__

    adapters = model.lora
    tensors: dict[str, np.ndarray] = {}
    for path, _, adapter in adapters.pairs():
        tensors[f"{path}/lora_A"] = adapter.lora_a.numpy()
        tensors[f"{path}/lora_B"] = adapter.lora_b.numpy()
    head = [weight_path(w) for w in head_weights(model.transformer)]
    for name, weight in zip(head, head_weights(model.transformer), strict=True):
        tensors[name] = np.asarray(weight.numpy())
    save_file(tensors, str(folder / ADAPTER_WEIGHTS), metadata={"format": "tf"})
    config = {
        "format_version": ADAPTER_FORMAT,
        "tfprot_version": __version__,
        **adapters.config.to_dict(),
        "base_checkpoint": base.get("checkpoint"),
        "base_revision": base.get("revision"),
        "adapted_layers": list(adapters.paths),
        "head": head,
    }
    write_text_atomic(folder / ADAPTER_CONFIG, json.dumps(config, indent=2) + "\n")


def is_adapter_folder(folder: str | Path) -> bool:
    return (Path(folder) / ADAPTER_CONFIG).is_file()


def read_adapter_config(folder: str | Path) -> dict[str, Any]:
    """An adapters folder's ``adapter_config.json``; a damaged one is a :class:`CheckpointError`."""
    path = Path(folder) / ADAPTER_CONFIG
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
        LoraConfig.from_dict(config)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CheckpointError(
            f"{path}: not a readable LoRA adapter config ({type(error).__name__}: {error}). "
            "Save the adapters again with save_pretrained."
        ) from None
    if not config.get("base_checkpoint"):
        raise CheckpointError(f"{path} does not name its base checkpoint ('base_checkpoint').")
    return config


def load_adapters(model, folder: str | Path) -> None:
    """Set ``model``'s adapters and head from an adapters folder's safetensors file.

    Raises:
        CheckpointError: a missing file, tensor or a tensor of another shape (named).
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    path = Path(folder) / ADAPTER_WEIGHTS
    try:
        tensors = load_file(str(path))
    except (OSError, SafetensorError) as error:
        raise CheckpointError(f"{path}: cannot read the adapter weights ({error}).") from None
    targets: list[tuple[str, Any]] = []
    for name, _, adapter in model.lora.pairs():
        targets += [(f"{name}/lora_A", adapter.lora_a), (f"{name}/lora_B", adapter.lora_b)]
    targets += [(weight_path(w), w) for w in head_weights(model.transformer)]
    extra = sorted(set(tensors) - {name for name, _ in targets})
    if extra:
        raise CheckpointError(
            f"{path} holds {len(extra)} tensors the model does not have (first {extra[0]!r}): "
            f"its {ADAPTER_CONFIG} does not describe these adapters."
        )
    for name, variable in targets:  # every tensor checked before any is set
        if name not in tensors:
            raise CheckpointError(
                f"{path} lacks {name!r}: these adapters are for another model or targets."
            )
        if tuple(tensors[name].shape) != tuple(variable.shape):
            raise CheckpointError(
                f"{path}: {name!r} is {tuple(tensors[name].shape)}, the model's is "
                f"{tuple(variable.shape)}: the adapters are for another base or head."
            )
    for name, variable in targets:
        variable.assign(tensors[name].astype(variable.dtype.as_numpy_dtype))
