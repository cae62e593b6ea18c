"""Build transformers' TF models from a preset, a local folder or a Hub id.

This is the only module that touches transformers' model classes. Hub ids and folders go through
the TF auto classes (``TFAutoModelForSequenceClassification``...), so any checkpoint with a TF
port works (ESM-2, ``Rostlab/prot_bert``...). A folder or repository with PyTorch weights only is
converted here, with transformers' own name mapping: the TF classes' ``from_pt`` path fails on
PyTorch safetensors with safetensors 0.8 (``'builtins.safe_open' object is not iterable``) and
cannot resize a head. The ``tiny-*`` presets are built locally from their config with random
weights, and say so loudly. Every model built here gets tfprot's ESM layers
(:func:`~tfprot.models.esm_layers.use_tfprot_layers`) before its first call.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfprot._hub import PYTORCH_WEIGHTS, TF_WEIGHTS, load_checkpoint
from tfprot.errors import CheckpointError, MissingDependencyError, OptionError
from tfprot.models.esm_layers import use_tfprot_layers
from tfprot.presets import Preset, resolve_preset
from tfprot.tasks import ProteinTask, Task, task_for

__all__ = [
    "LoadedTransformer",
    "check_config_overrides",
    "config_class_of",
    "hidden_size_of",
    "load_transformer",
    "tiny_config",
]

logger = logging.getLogger(__name__)

_UNUSED_WEIGHTS = ("contact_head", "pooler")
"""Encoder weights tfprot never uses (ESM's contact head, the pooler): missing ones are fine."""


@dataclass(frozen=True)
class LoadedTransformer:
    """A transformers TF model and where it came from."""

    model: Any
    checkpoint: str
    pretrained: bool
    new_weights: tuple[str, ...] = ()
    """Weights the checkpoint did not have (freshly initialised): a new head, for instance."""


def tiny_config(preset: Preset, **overrides: Any):
    """The ``EsmConfig`` of a locally built preset (the real ESM-2 vocabulary and layout).

    >>> from tfprot.presets import PRESETS
    >>> config = tiny_config(PRESETS["tiny-esm"], num_labels=3)
    >>> config.hidden_size, config.position_embedding_type, config.token_dropout, config.num_labels
    (64, 'rotary', True, 3)
    """
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
    checkpoint: str | os.PathLike, task: ProteinTask | Task | str | None, **config: Any
) -> LoadedTransformer:
    """Load or build the transformers TF model for ``task`` (``None``: the bare encoder).

    A checkpoint with TensorFlow weights is loaded by transformers' TF ``from_pretrained``; one
    with PyTorch weights only (``model.safetensors`` saved by PyTorch, ``pytorch_model.bin``,
    sharded or not) is converted, as ``from_pt=True`` does. Either way a head whose size differs
    from the checkpoint's (``num_labels``), or that the checkpoint lacks (a pretrained backbone such
    as ``facebook/esm2_t6_8M_UR50D``), is freshly initialised, and the log says so.

    Args:
        checkpoint: preset name (``'tiny-esm'``, ``'esm2_t6_8M'``), local folder or Hub id.
        task: its head (:attr:`tfprot.tasks.ProteinTask.head`: ``TFAutoModelFor{head}``), or
            ``None`` for the bare encoder (``TFAutoModel``).
        **config: config overrides (``num_labels``, ``id2label``, ``label2id``, ``problem_type``,
            or any other config value such as ``hidden_dropout_prob``).

    Raises:
        CheckpointError: missing folder or files, unreachable Hub, unknown id.

    >>> labels = {0: "a", 1: "b", 2: "c"}
    >>> loaded = load_transformer("tiny-esm", Task.CLASSIFICATION, id2label=labels)
    >>> type(loaded.model).__name__, loaded.model.config.num_labels, loaded.pretrained
    ('TFEsmForSequenceClassification', 3, False)
    """
    import transformers

    head = None if task is None else task_for(task).head
    name = os.fspath(checkpoint)
    preset = resolve_preset(name)
    if preset is not None and preset.checkpoint is None:
        return LoadedTransformer(_build_preset(preset, head, config), preset.name, pretrained=False)
    if preset is not None:
        logger.info("Preset %s is the checkpoint %s.", preset.name, preset.checkpoint)
        name = preset.checkpoint
    auto = getattr(transformers, f"TFAutoModelFor{head}" if head else "TFAutoModel")

    def from_pretrained(path: str, **kwargs: Any):
        return _from_pretrained(auto, path, config, **kwargs)

    model, info = load_checkpoint(from_pretrained, name, "model")
    use_tfprot_layers(model)  # built and loaded, not yet called
    _log_loading_info(model, name, info)
    new = tuple(str(key) for key in info.get("missing_keys", []))
    new += tuple(str(key) for key, *_ in info.get("mismatched_keys", []))
    return LoadedTransformer(model, name, pretrained=True, new_weights=new)


def _from_pretrained(auto: Any, name: str, overrides: dict[str, Any], **kwargs: Any):
    """``(model, loading_info)`` for a folder or Hub id; ``kwargs``: ``local_files_only``."""
    from transformers import AutoConfig

    model_config = AutoConfig.from_pretrained(name, **kwargs)
    _refuse_unknown_keys(
        overrides, _known_keys(type(model_config), model_config), type(model_config)
    )
    _apply_overrides(model_config, overrides)
    framework, files = _find_weights(name, **kwargs)
    if framework == "tf":
        if not files[0].endswith(".safetensors"):
            # transformers' TF loader tries model.safetensors before tf_model.h5, and crashes on
            # PyTorch-format safetensors; Hub repos such as facebook/esm2_* hold both.
            kwargs["use_safetensors"] = False
        return auto.from_pretrained(
            name,
            config=model_config,
            ignore_mismatched_sizes=True,
            output_loading_info=True,
            **kwargs,
        )
    logger.info(
        "%s has PyTorch weights only (%s); converting them (from_pt=True).",
        name,
        ", ".join(Path(file).name for file in files),
    )
    return _from_pytorch(auto, model_config, files)


def _apply_overrides(model_config: Any, overrides: dict[str, Any]) -> None:
    """Set config values; ``num_labels`` first, since setting it resets ``id2label``."""
    values = dict(overrides)
    if "id2label" in values:
        values["id2label"] = {int(key): str(label) for key, label in values["id2label"].items()}
        values.setdefault("label2id", {label: key for key, label in values["id2label"].items()})
        values.pop("num_labels", None)
    if "num_labels" in values:
        model_config.num_labels = int(values.pop("num_labels"))
    for key, value in values.items():
        setattr(model_config, key, value)


_BOOKKEEPING_KEYS = frozenset({"_name_or_path", "transformers_version"})
"""Keys of a config's ``to_dict()`` that are records, not settings."""


def config_class_of(checkpoint: str | os.PathLike) -> type | None:
    """The transformers config class of a preset or local folder (read from its
    ``config.json``), without loading the model or going online; ``None`` for a Hub id.

    >>> config_class_of("tiny-esm").__name__, config_class_of("prot_bert").__name__
    ('EsmConfig', 'BertConfig')
    """
    import json

    from transformers import CONFIG_MAPPING

    preset = resolve_preset(os.fspath(checkpoint))
    if preset is not None:
        return CONFIG_MAPPING["esm" if preset.family == "esm2" else preset.family]
    config = Path(checkpoint) / "config.json"
    if not config.is_file():
        return None
    try:
        return CONFIG_MAPPING[json.loads(config.read_text())["model_type"]]
    except (ValueError, TypeError, KeyError):
        return None  # an unreadable config is reported when the model loads


def check_config_overrides(
    checkpoint: str | os.PathLike, overrides: dict[str, Any], also_valid: tuple[str, ...] = ()
) -> None:
    """Refuse config overrides that the checkpoint's config class does not know (a misspelt
    option would otherwise become a stray attribute of the config), naming the closest valid
    names among its config values and ``also_valid`` (the factory's own options). A Hub id is
    checked once its config is downloaded, before the weights.

    >>> check_config_overrides("tiny-esm", {"hidden_dropout_prob": 0.1})
    >>> check_config_overrides("tiny-esm", {"hiden_dropout_prob": 0.1})
    Traceback (most recent call last):
    ...
    tfprot.errors.OptionError: Unknown option 'hiden_dropout_prob': ... Did you mean 'hidden_dropout_prob' or ...

    Raises:
        OptionError: a key that is neither a config value nor in ``also_valid``.
    """
    import json

    if not overrides:
        return
    config_class = config_class_of(checkpoint)
    if config_class is None:
        return
    known = _known_keys(config_class)
    config = Path(checkpoint) / "config.json"
    if resolve_preset(os.fspath(checkpoint)) is None and config.is_file():
        known |= set(json.loads(config.read_text())) - _BOOKKEEPING_KEYS
    _refuse_unknown_keys(overrides, known, config_class, also_valid)


def _known_keys(config_class: type, model_config: Any = None) -> set[str]:
    """The settings a config of ``config_class`` (and ``model_config``, when given) holds."""
    known = set(config_class().to_dict()) | set(getattr(config_class, "attribute_map", {}))
    if model_config is not None:
        known |= set(model_config.to_dict())
    return (known | {"num_labels"}) - _BOOKKEEPING_KEYS


def _refuse_unknown_keys(
    overrides: dict[str, Any],
    known: set[str],
    config_class: type,
    also_valid: tuple[str, ...] = (),
) -> None:
    import difflib

    unknown = [key for key in overrides if key not in known and key not in also_valid]
    if not unknown:
        return
    key = unknown[0]
    close = difflib.get_close_matches(key, [*also_valid, *sorted(known)], n=3)
    hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
    others = f" ({len(unknown) - 1} more unknown: {', '.join(unknown[1:])})" if unknown[1:] else ""
    setting = f"a setting of {config_class.__name__} (the checkpoint's transformers config)"
    what = (
        f"neither a model option ({', '.join(also_valid)}) nor {setting}"
        if also_valid
        else f"not {setting}"
    )
    raise OptionError(f"Unknown option {key!r}: it is {what}.{hint}{others}")


def _resolve_file(name: str, filename: str, **kwargs: Any) -> str | None:
    """The local path of ``filename`` in a folder or Hub repository (downloaded), or ``None``."""
    from transformers.utils import cached_file

    return cached_file(name, filename, _raise_exceptions_for_missing_entries=False, **kwargs)


def _find_weights(name: str, **kwargs: Any) -> tuple[str, list[str]]:
    """``('tf', [file])`` or ``('pytorch', files)``: the weights to load, TF ones first."""
    import json

    for filename in TF_WEIGHTS:
        found = _resolve_file(name, filename, **kwargs)
        if found:
            return "tf", [found]
    for filename in PYTORCH_WEIGHTS:
        found = _resolve_file(name, filename, **kwargs)
        if not found:
            continue
        files = [found]
        if filename.endswith(".index.json"):
            shards = sorted(set(json.loads(Path(found).read_text())["weight_map"].values()))
            files = [_require_file(name, shard, **kwargs) for shard in shards]
        if files[0].endswith(".safetensors") and _safetensors_format(files[0]) != "pt":
            return "tf", files  # saved by a TF model (e.g. tfprot's save_pretrained)
        return "pytorch", files
    raise CheckpointError(
        f"{name}: no model weights found (looked for {', '.join(TF_WEIGHTS + PYTORCH_WEIGHTS)})."
    )


def _require_file(name: str, filename: str, **kwargs: Any) -> str:
    found = _resolve_file(name, filename, **kwargs)
    if not found:
        raise CheckpointError(
            f"{name}: the weight shard {filename} listed in its index is missing."
        )
    return found


def _safetensors_format(path: str) -> str | None:
    from safetensors import safe_open

    with safe_open(path, framework="np") as handle:
        return (handle.metadata() or {}).get("format")


def _from_pytorch(auto: Any, model_config: Any, files: list[str]):
    """Build the TF model from its config and load PyTorch weights into it (names mapped and
    matrices transposed by transformers' own converter); mismatched shapes are left initialised."""
    from transformers.modeling_tf_pytorch_utils import load_pytorch_state_dict_in_tf2_model

    model = auto.from_config(model_config)
    model.build_in_name_scope()
    state: dict[str, Any] = {}
    for file in files:
        state.update(_read_pytorch_weights(file))
    return load_pytorch_state_dict_in_tf2_model(
        model,
        state,
        tf_inputs=False,
        allow_missing_keys=True,
        output_loading_info=True,
        ignore_mismatched_sizes=True,
        tf_to_pt_weight_rename=getattr(model, "tf_to_pt_weight_rename", None),
        skip_logger_warnings=True,
    )


def _read_pytorch_weights(path: str) -> dict[str, Any]:
    """A PyTorch state dict as TF tensors (safetensors) or numpy arrays (``.bin``, needs torch)."""
    if path.endswith(".safetensors"):
        from safetensors.tensorflow import load_file

        return load_file(path)
    try:
        import torch
    except ImportError as error:
        raise MissingDependencyError(
            f"{path} is a PyTorch pickle; reading it needs torch: pip install torch "
            '(or pip install "tfprot[fold]"), or re-save the checkpoint with safetensors.'
        ) from error
    state = torch.load(path, map_location="cpu", weights_only=True)
    return {
        key: (value.float() if value.dtype == torch.bfloat16 else value).numpy()
        for key, value in state.items()
    }


def _log_loading_info(model: Any, name: str, info: dict[str, Any]) -> None:
    """Say which weights were not in the checkpoint: a new head is expected when fine-tuning a
    backbone; anything else in the backbone is worth a warning."""
    prefix = getattr(model, "base_model_prefix", "")
    unused = _UNUSED_WEIGHTS + (() if _absolute_positions(model) else ("position_embeddings",))
    new = [str(key) for key in info.get("missing_keys", [])]
    mismatched = [
        f"{key} {tuple(old)} -> {tuple(now)}" for key, old, now in info.get("mismatched_keys", [])
    ]
    head = [key for key in new if not key.startswith(prefix)]
    backbone = [key for key in new if key.startswith(prefix) and not any(u in key for u in unused)]
    if head or mismatched:
        logger.info(
            "%s: the task head of %s is newly initialised (%s): fine-tune it before predicting.",
            name,
            type(model).__name__,
            "; ".join(head + [f"size differs: {m}" for m in mismatched]),
        )
    if backbone:
        logger.warning(
            "%s: %d weights of the encoder were not in the checkpoint and are random: %s.",
            name,
            len(backbone),
            ", ".join(backbone[:10]) + (" ..." if len(backbone) > 10 else ""),
        )


def _absolute_positions(model: Any) -> bool:
    config = getattr(model, "config", None)
    return getattr(config, "position_embedding_type", "absolute") == "absolute"


def _build_preset(preset: Preset, head: str | None, config: dict[str, Any]):
    """A ``TFEsmFor{head}`` (``TFEsmModel`` without a head) of the preset's size."""
    import transformers
    from transformers import EsmConfig

    if preset.family != "esm2":
        raise CheckpointError(f"Preset {preset.name!r} cannot be built locally.")
    logger.warning(
        "%s is UNTRAINED: the ESM-2 architecture at a tiny size with random weights, built "
        "offline. Its predictions mean nothing until fine-tuned; use a real checkpoint such as "
        "'esm2_t6_8M' for real work.",
        preset.name,
    )
    _refuse_unknown_keys(config, _known_keys(EsmConfig), EsmConfig)
    model_class = getattr(transformers, f"TFEsmFor{head}" if head else "TFEsmModel")
    model = model_class(tiny_config(preset, **config))
    use_tfprot_layers(model)  # before the first call: it runs them
    model(model.dummy_inputs, training=False)  # create the weights
    return model


def hidden_size_of(checkpoint: str | os.PathLike, default: int = 320) -> int:
    """The hidden size of a preset or local folder, without loading it or going online (for
    ``precision='auto'``'s CPU rule); ``default`` for a Hub id.

    >>> hidden_size_of("tiny-esm"), hidden_size_of("esm2_t12_35M"), hidden_size_of("org/unknown")
    (64, 480, 320)
    """
    import json

    preset = resolve_preset(os.fspath(checkpoint))
    if preset is not None:
        return preset.hidden_size
    config = Path(checkpoint) / "config.json"
    if config.is_file():
        try:
            return int(json.loads(config.read_text()).get("hidden_size", default))
        except (ValueError, TypeError):
            return default  # an unreadable config is reported when the model loads
    return default
