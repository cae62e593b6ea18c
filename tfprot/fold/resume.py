"""Resume only true repeats: a stored structure is reused when nothing that shapes it changed.

A finished structure's JSON (written last) records what it was folded from: the sequence, the
model (name and revision) and the settings that change a prediction (:func:`settings_record`).
A rerun into the same folder reuses it only when all of them match what is asked now; otherwise
the structure is folded again, with one log line naming what changed (:func:`stale_reasons`).
A JSON written by an older tfprot, which recorded no settings, is folded again.

What is compared:

* the sequence (all chains), the model's name and revision (the Hub commit, a fingerprint of a
  local folder's files, or the seed of an untrained preset), and the recycles as run
  (``num_recycles=None`` means the model's default, which is compared as the number it runs);
* for a complex, the linker length and residue-index offset (a monomer has neither);
* the trunk chunk size and the float16 stem only when asked for explicitly: they change a
  structure by rounding alone, so ``'auto'`` accepts whatever the earlier run used.

>>> from dataclasses import replace
>>> wanted = FoldSettings(ModelIdentity("tiny-esmfold", "untrained, seed 0", 1), num_recycles=0)
>>> record = {"sequence": "MKT", "settings": settings_record(wanted, chunk_size=None, fp16_stem=False)}
>>> stale_reasons(record, ("MKT",), wanted)
[]
>>> stale_reasons(record, ("MKTA",), replace(wanted, num_recycles=2))
['sequence changed (3 -> 4 residues)', 'num_recycles 0 -> 2']
>>> stale_reasons({"sequence": "MKT"}, ("MKT",), wanted)
['it was written by an older tfprot, which did not record its settings']
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfprot.fold.presets import resolve_fold_checkpoint

__all__ = [
    "FoldSettings",
    "ModelIdentity",
    "checkpoint_revision",
    "identity_of",
    "settings_record",
    "stale_reasons",
]

AUTO = "auto"
_WEIGHT_SUFFIXES = (".json", ".safetensors", ".bin", ".h5", ".pt", ".pth")


@dataclass(frozen=True)
class ModelIdentity:
    """Which model folds: its name, its revision and its default recycles.

    Attributes:
        name: the preset name, Hub id or local folder.
        revision: the Hub commit, a fingerprint of a local folder's weight and config files, or
            ``'untrained, seed N'`` for a preset built locally; ``None`` when it cannot be told
            without downloading (a Hub id not in the local cache).
        max_recycles: the config's ``max_recycles`` (trunk passes when ``num_recycles=None``);
            ``None`` when unknown without downloading.
    """

    name: str
    revision: str | None = None
    max_recycles: int | None = None


@dataclass(frozen=True)
class FoldSettings:
    """What a run asks for, as far as it shapes a structure.

    ``chunk_size`` is the option (``'auto'``, ``None`` or a number) and ``fp16_stem`` the
    explicit request (``None``: whatever the device gives).
    """

    model: ModelIdentity
    num_recycles: int | None = None
    chunk_size: int | str | None = AUTO
    fp16_stem: bool | None = None
    linker_length: int = 25
    residue_index_offset: int = 512

    @property
    def recycles(self) -> int | None:
        """Recycles as run: ``num_recycles``, or for ``None`` the model's default
        (transformers runs ``max_recycles`` trunk passes, that is ``max_recycles - 1``
        recycles); ``None`` when the default is unknown."""
        if self.num_recycles is not None:
            return self.num_recycles
        if self.model.max_recycles is None:
            return None
        return max(self.model.max_recycles - 1, 0)


def settings_record(
    settings: FoldSettings, *, chunk_size: int | None, fp16_stem: bool
) -> dict[str, Any]:
    """The ``settings`` a structure's JSON stores (``chunk_size``: the one that succeeded)."""
    return {
        "model": settings.model.name,
        "model_revision": settings.model.revision,
        "num_recycles": settings.recycles,
        "num_recycles_option": settings.num_recycles,
        "chunk_size_option": settings.chunk_size,
        "chunk_size": chunk_size,
        "fp16_stem": fp16_stem,
        "linker_length": settings.linker_length,
        "residue_index_offset": settings.residue_index_offset,
    }


def stale_reasons(
    stored: dict[str, Any], chains: tuple[str, ...], wanted: FoldSettings
) -> list[str]:
    """Why the structure ``stored`` (its JSON) is not what ``wanted`` would fold from
    ``chains``; empty for a true repeat."""
    settings = stored.get("settings")
    if not isinstance(settings, dict):
        return ["it was written by an older tfprot, which did not record its settings"]
    reasons = []
    sequence = ":".join(chains)
    if stored.get("sequence") != sequence:
        old = str(stored.get("sequence", "")).replace(":", "")
        new = sequence.replace(":", "")
        reasons.append(
            f"sequence changed ({len(old)} -> {len(new)} residues)"
            if len(old) != len(new)
            else "sequence changed (same length, other residues or chains)"
        )
    reasons += _model_reasons(settings, wanted.model)
    if wanted.recycles is not None and settings.get("num_recycles") != wanted.recycles:
        reasons.append(f"num_recycles {settings.get('num_recycles')} -> {wanted.recycles}")
    if len(chains) > 1:
        for key in ("linker_length", "residue_index_offset"):
            if settings.get(key) != getattr(wanted, key):
                reasons.append(f"{key} {settings.get(key)} -> {getattr(wanted, key)}")
    if wanted.chunk_size != AUTO and wanted.chunk_size not in (
        settings.get("chunk_size_option", AUTO),
        settings.get("chunk_size", AUTO),
    ):
        reasons.append(f"chunk_size {settings.get('chunk_size')} -> {wanted.chunk_size}")
    if wanted.fp16_stem is not None and settings.get("fp16_stem") != wanted.fp16_stem:
        reasons.append(f"fp16_stem {settings.get('fp16_stem')} -> {wanted.fp16_stem}")
    return reasons


def _model_reasons(settings: dict[str, Any], model: ModelIdentity) -> list[str]:
    if settings.get("model") != model.name:
        return [f"model {settings.get('model')} -> {model.name}"]
    stored = settings.get("model_revision")
    if model.revision is not None and stored is not None and stored != model.revision:
        return [f"model revision {stored} -> {model.revision}"]
    return []


# ---- the identity of a model, without loading its weights ------------------------------------


def identity_of(model: Any, *, seed: int = 0) -> ModelIdentity:
    """The :class:`ModelIdentity` of ``fold``'s ``model`` argument: a loaded
    :class:`~tfprot.fold.model.ESMFoldModel` (its own), or a name, read without loading weights
    (a Hub id from the local cache only; ``seed``: that of an untrained preset)."""
    identity = getattr(model, "identity", None)
    if isinstance(identity, ModelIdentity):
        return identity
    name = os.fspath(model)
    preset = resolve_fold_checkpoint(name)
    if preset is not None and preset.checkpoint is None:
        trunk = preset.config["esmfold_config"]["trunk"]
        return ModelIdentity(preset.name, untrained_revision(seed), trunk["max_recycles"])
    source = preset.checkpoint if preset is not None else name
    config = _config_file(source)
    return ModelIdentity(source, checkpoint_revision(source), _max_recycles(config))


def untrained_revision(seed: int) -> str:
    """The revision of a preset built locally with random weights from ``seed``."""
    return f"untrained, seed {seed}"


def checkpoint_revision(source: str) -> str | None:
    """The revision of a checkpoint: a local folder's fingerprint (names, sizes and modification
    times of its config and weight files), or the commit of a Hub id in the local cache
    (``None`` when not cached)."""
    folder = Path(source).expanduser()
    if folder.is_dir():
        digest = hashlib.sha256()
        for path in sorted(folder.iterdir()):
            if path.is_file() and path.name.endswith(_WEIGHT_SUFFIXES):
                stat = path.stat()
                digest.update(f"{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        return f"files {digest.hexdigest()[:16]}"
    config = _config_file(source)
    if config is None or config.parent.parent.name != "snapshots":
        return None
    return config.parent.name


def _config_file(source: str) -> Path | None:
    folder = Path(source).expanduser()
    if folder.is_dir():
        return folder / "config.json" if (folder / "config.json").is_file() else None
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(source, "config.json")
    except Exception:  # not a valid repo id, no hub library: unknown
        return None
    return Path(cached) if isinstance(cached, str) else None


def _max_recycles(config: Path | None) -> int | None:
    if config is None:
        return None
    try:
        trunk = json.loads(config.read_text(encoding="utf-8"))["esmfold_config"]["trunk"]
        return int(trunk.get("max_recycles", 4))
    except (OSError, ValueError, KeyError, TypeError):
        return None
