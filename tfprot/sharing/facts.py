"""What tfprot knows about a saved model: ``tfprot.json`` and, if present, ``metrics.json``.

A folder written by :meth:`tfprot.ProteinModel.save_pretrained` holds ``tfprot.json`` (task,
labels, base checkpoint, precision, data summary). ``tfprot train`` writes ``metrics.json`` in the
model folder or beside it (its parent); it is read from either place when it exists.

>>> facts = ModelFacts.from_metadata({"task": "token", "labels": {"classes": ["C", "E", "H"]},
...                                   "base_checkpoint": "facebook/esm2_t6_8M_UR50D"})
>>> facts.classes, facts.hub_base_model
(('C', 'E', 'H'), 'facebook/esm2_t6_8M_UR50D')
>>> ModelFacts.from_metadata({"task": "classification", "base_checkpoint": "tiny-esm"}).untrained_base
True
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfprot.errors import CheckpointError

__all__ = ["METADATA_FILE", "METRICS_FILE", "ModelFacts", "find_metrics", "read_facts"]

METADATA_FILE = "tfprot.json"  # the name ProteinModel.save_pretrained writes
METRICS_FILE = "metrics.json"
ADAPTER_CONFIG = "adapter_config.json"  # the name ProteinModel.save_adapters writes

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")


@dataclass(frozen=True)
class ModelFacts:
    """The facts a model card is written from.

    Attributes:
        task: ``'classification'``, ``'multilabel'``, ``'regression'`` or ``'token'``.
        classes: the label vocabulary (empty for regression).
        base_checkpoint: what the model was fine-tuned from (preset, Hub id or local folder).
        pretrained: whether the base had pretrained weights (``False`` for ``tiny-*``).
        precision, precision_reason, max_length: training settings.
        data: the data summary saved with the model (name, per-split counts and lengths).
        metrics: ``metrics.json`` as written by ``tfprot train``, or ``None``.
        tokenizer: ``tfprot_tokenizer.json`` (``spaced``: residues separated by spaces).
        tfprot_version: the tfprot that saved the model.
        metrics_path: where ``metrics`` was read from.
        lora: the LoRA settings it was trained with (rank, alpha, dropout, targets, the base
            the adapters start from), or empty.
        adapters_only: the folder holds LoRA adapters and the head alone
            (``adapter_config.json``), which need their base checkpoint.
    """

    task: str
    classes: tuple[str, ...] = ()
    base_checkpoint: str | None = None
    pretrained: bool | None = None
    precision: str | None = None
    precision_reason: str | None = None
    max_length: int | None = None
    data: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] | None = None
    tokenizer: dict[str, Any] = field(default_factory=dict)
    tfprot_version: str | None = None
    metrics_path: Path | None = None
    lora: dict[str, Any] = field(default_factory=dict)
    adapters_only: bool = False

    @classmethod
    def from_metadata(
        cls,
        metadata: dict[str, Any],
        *,
        metrics: dict[str, Any] | None = None,
        tokenizer: dict[str, Any] | None = None,
        metrics_path: Path | None = None,
        adapter_config: dict[str, Any] | None = None,
    ) -> ModelFacts:
        """Facts from the content of ``tfprot.json`` (and ``metrics.json``, and an adapters
        folder's ``adapter_config.json``)."""
        lora = dict(metadata.get("lora") or {})
        if adapter_config is not None:
            lora.update(
                {
                    key: adapter_config[key]
                    for key in ("rank", "alpha", "dropout", "targets")
                    if key in adapter_config
                },
                base_checkpoint=adapter_config.get("base_checkpoint"),
                base_revision=adapter_config.get("base_revision"),
            )
        labels = metadata.get("labels") or {}
        return cls(
            task=str(metadata.get("task") or labels.get("task") or "classification"),
            classes=tuple(str(name) for name in labels.get("classes", ())),
            base_checkpoint=metadata.get("base_checkpoint"),
            pretrained=metadata.get("pretrained"),
            precision=metadata.get("precision"),
            precision_reason=metadata.get("precision_reason"),
            max_length=metadata.get("max_length"),
            data=dict(metadata.get("data") or {}),
            metrics=metrics,
            tokenizer=dict(tokenizer or {}),
            tfprot_version=metadata.get("tfprot_version"),
            metrics_path=metrics_path,
            lora=lora,
            adapters_only=adapter_config is not None,
        )

    @property
    def untrained_base(self) -> bool:
        """Fine-tuned from randomly initialised weights (a ``tiny-*`` preset)."""
        if self.pretrained is False:
            return True
        from tfprot.presets import resolve_preset

        preset = resolve_preset(self.base_checkpoint or "")
        return bool(preset and preset.untrained)

    @property
    def hub_base_model(self) -> str | None:
        """The base checkpoint's Hub id (``base_model`` in the card), or ``None`` when the base
        is not on the Hub (a ``tiny-*`` preset, a local folder)."""
        name = self.base_checkpoint
        if not name or self.untrained_base:
            return None
        from tfprot.presets import resolve_preset

        preset = resolve_preset(name)
        if preset is not None:
            return preset.checkpoint
        if _HUB_ID.match(name) and not Path(name).exists():
            return name
        return None

    @property
    def data_name(self) -> str | None:
        name = self.data.get("name")
        return str(name) if name else None

    def split_metrics(self) -> dict[str, dict[str, float]]:
        """The numeric metrics of ``metrics.json`` per entry (``train``, ``test``, ``baseline``...):
        every finite number one level down, in file order."""
        return split_metrics(self.metrics or {})


METRIC_ENTRIES = ("train", "validation", "test", "baseline")
"""The entries of ``metrics.json`` that hold scores (it also records the task, data, epochs...)."""


def split_metrics(metrics: dict[str, Any]) -> dict[str, dict[str, float]]:
    """``{entry: {metric: value}}`` from a ``metrics.json`` document: the finite numbers of its
    ``train``, ``validation``, ``test`` and ``baseline`` entries (a baseline's ``prediction``, a
    label or the mean, is not a score).

    >>> split_metrics({"test": {"accuracy": 0.9, "loss": 0.3}, "data": {"seed": 0},
    ...                "baseline": {"prediction": "a", "accuracy": 0.5}, "epochs": 3})
    {'test': {'accuracy': 0.9, 'loss': 0.3}, 'baseline': {'accuracy': 0.5}}
    """
    table: dict[str, dict[str, float]] = {}
    for entry in METRIC_ENTRIES:
        values = metrics.get(entry)
        if not isinstance(values, dict):
            continue
        numbers = {
            str(name): float(value)
            for name, value in values.items()
            if name != "prediction"
            and isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(float(value))
        }
        if numbers:
            table[entry] = numbers
    return table


def find_metrics(folder: str | os.PathLike) -> Path | None:
    """``metrics.json`` in the model folder, else beside it (in its parent), else ``None``."""
    folder = Path(folder)
    for candidate in (folder / METRICS_FILE, folder.parent / METRICS_FILE):
        if candidate.is_file():
            return candidate
    return None


def read_facts(
    folder: str | os.PathLike, *, metrics_from: str | os.PathLike | None = None
) -> ModelFacts:
    """Read the facts of a model folder saved by ``save_pretrained`` (or of its ``adapters/``
    subfolder).

    Args:
        folder: the folder.
        metrics_from: look for ``metrics.json`` in (and beside) this folder instead.

    Raises:
        CheckpointError: no such folder, no ``tfprot.json``, or an unreadable JSON file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(
            f"{folder}: no such model folder; pass the folder that tfprot train or "
            "ProteinModel.save_pretrained wrote."
        )
    metadata_path = folder / METADATA_FILE
    if not metadata_path.is_file():
        raise CheckpointError(
            f"{folder}: not a tfprot model folder (no {METADATA_FILE}); pass the folder that "
            "tfprot train or ProteinModel.save_pretrained wrote."
        )
    metadata = _read_json(metadata_path)
    metrics_path = find_metrics(metrics_from if metrics_from is not None else folder)
    metrics = _read_json(metrics_path) if metrics_path else None
    if metrics is None and isinstance(metadata.get("test_metrics"), dict):
        metrics = {"test": metadata["test_metrics"]}  # tfprot train also saves them there
    tokenizer_path = folder / "tfprot_tokenizer.json"
    tokenizer = _read_json(tokenizer_path) if tokenizer_path.is_file() else None
    adapter_path = folder / ADAPTER_CONFIG
    adapter_config = _read_json(adapter_path) if adapter_path.is_file() else None
    return ModelFacts.from_metadata(
        metadata,
        metrics=metrics,
        tokenizer=tokenizer,
        metrics_path=metrics_path,
        adapter_config=adapter_config,
    )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path}: cannot read this JSON file ({error}).") from error
    if not isinstance(value, dict):
        raise CheckpointError(f"{path}: expected a JSON object, found {type(value).__name__}.")
    return value
