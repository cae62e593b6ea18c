"""Build transformers' TF models from a preset, a local folder or a Hub id.

This is the only module that touches transformers' model classes. Hub ids and folders go through
the TF auto classes (``TFAutoModelForSequenceClassification``...), so any checkpoint with a TF
port works (ESM-2, ``Rostlab/prot_bert``...); a folder or repository with PyTorch weights only is
converted (``from_pt=True``). The ``tiny-*`` presets are built locally from their config with
random weights, and say so loudly.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfprot._hub import load_checkpoint
from tfprot.data.labels import Task
from tfprot.errors import CheckpointError
from tfprot.presets import Preset, resolve_preset

__all__ = ["LoadedTransformer", "load_transformer", "tiny_config"]

logger = logging.getLogger(__name__)

_HEADS = {
    Task.CLASSIFICATION: "TFAutoModelForSequenceClassification",
    Task.MULTILABEL: "TFAutoModelForSequenceClassification",
    Task.REGRESSION: "TFAutoModelForSequenceClassification",
    Task.TOKEN: "TFAutoModelForTokenClassification",
    None: "TFAutoModel",
}


@dataclass(frozen=True)
class LoadedTransformer:
    """A transformers TF model and where it came from."""

    model: Any
    checkpoint: str
    pretrained: bool


def tiny_config(preset: Preset, **overrides: Any):
    """The ``EsmConfig`` of a locally built preset (the real ESM-2 vocabulary and layout)."""
    from transformers import EsmConfig

    values = {
        "vocab_size": 33,
        "pad_token_id": 1,
        "mask_token_id": 32,
        "hidden_size": preset.hidden_size,
        "num_hidden_layers": preset.num_layers,
        "num_attention_heads": preset.num_heads,
        "intermediate_size": preset.intermediate_size,
        "position_embedding_type": "rotary",
        "emb_layer_norm_before": False,
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
        "layer_norm_eps": 1e-5,
        **preset.config,
        **overrides,
    }
    return EsmConfig(**values)


def load_transformer(
    checkpoint: str | os.PathLike, task: Task | None, **config: Any
) -> LoadedTransformer:
    """Load or build the transformers TF model for ``task`` (``None``: the bare encoder).

    Args:
        checkpoint: preset name (``'tiny-esm'``, ``'esm2_t6_8M'``), local folder or Hub id.
        task: decides the head (sequence or token classification, or none).
        **config: config overrides (``num_labels``, ``id2label``, ``label2id``, ``problem_type``).

    Raises:
        CheckpointError: missing folder or files, unreachable Hub, unknown id.
    """
    import transformers

    from tfprot.models import esm_fixes

    esm_fixes.apply()
    name = os.fspath(checkpoint)
    preset = resolve_preset(name)
    if preset is not None and preset.checkpoint is None:
        return LoadedTransformer(_build_preset(preset, task, config), preset.name, pretrained=False)
    if preset is not None:
        name = preset.checkpoint
    auto = getattr(transformers, _HEADS[task])

    def from_pretrained(path: str, **kwargs: Any):
        try:
            return auto.from_pretrained(path, **config, **kwargs)
        except OSError as error:
            if "from_pt=True" not in str(error) and "PyTorch" not in str(error):
                raise
            logger.info("%s has PyTorch weights only; converting them (from_pt=True).", path)
            return auto.from_pretrained(path, from_pt=True, **config, **kwargs)

    model = load_checkpoint(from_pretrained, name, "model")
    return LoadedTransformer(model, name, pretrained=True)


def _build_preset(preset: Preset, task: Task | None, config: dict[str, Any]):
    from transformers import TFEsmForSequenceClassification, TFEsmForTokenClassification, TFEsmModel

    if preset.family != "esm2":
        raise CheckpointError(f"Preset {preset.name!r} cannot be built locally.")
    logger.warning(
        "%s is UNTRAINED: the ESM-2 architecture at a tiny size with random weights, built offline. "
        "Its predictions mean nothing until fine-tuned; use a real checkpoint such as 'esm2_t6_8M' "
        "for real work.",
        preset.name,
    )
    model_class = {
        None: TFEsmModel,
        Task.TOKEN: TFEsmForTokenClassification,
    }.get(task, TFEsmForSequenceClassification)
    model = model_class(tiny_config(preset, **config))
    model(model.dummy_inputs, training=False)  # create the weights
    return model


def is_checkpoint_folder(path: str | os.PathLike) -> bool:
    """Whether ``path`` looks like a saved checkpoint (has a ``config.json``)."""
    return (Path(path) / "config.json").is_file()
