"""Short names for protein language model checkpoints, and the offline ``tiny-*`` presets.

A preset maps a short name to a real checkpoint on the 🤗 Hub (with its size), or, for the
``tiny-*`` presets, to a model built locally from a config with random weights: the real ESM-2
vocabulary and architecture at a tiny size, for demos and tests without network. Tiny presets are
**untrained**: their predictions mean nothing until fine-tuned, and tfprot says so when it loads one.

>>> PRESETS["esm2_t6_8M"].checkpoint
'facebook/esm2_t6_8M_UR50D'
>>> resolve_preset("tiny-esm").untrained
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["PRESETS", "Preset", "resolve_preset"]


@dataclass(frozen=True)
class Preset:
    """A named checkpoint: where it lives and how big it is.

    Attributes:
        name: the short name.
        checkpoint: the 🤗 Hub id, or ``None`` for a locally built preset.
        family: ``'esm2'`` or ``'bert'`` (decides tokenizer convention and model classes).
        num_layers, hidden_size, num_heads, intermediate_size: the architecture.
        parameters: approximate parameter count, for display (``'8M'``).
        untrained: built locally with random weights.
        config: extra config values for a locally built preset.
    """

    name: str
    checkpoint: str | None
    family: str
    num_layers: int
    hidden_size: int
    num_heads: int
    intermediate_size: int
    parameters: str
    untrained: bool = False
    config: dict[str, Any] = field(default_factory=dict, compare=False)


def _esm2(name: str, layers: int, hidden: int, heads: int, params: str) -> Preset:
    return Preset(name, f"facebook/{name}_UR50D", "esm2", layers, hidden, heads, 4 * hidden, params)


PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset(
            "tiny-esm",
            None,
            "esm2",
            num_layers=2,
            hidden_size=64,
            num_heads=4,
            intermediate_size=128,
            parameters="0.1M",
            untrained=True,
            config={"max_position_embeddings": 1026, "token_dropout": True},
        ),
        _esm2("esm2_t6_8M", 6, 320, 20, "8M"),
        _esm2("esm2_t12_35M", 12, 480, 20, "35M"),
        _esm2("esm2_t30_150M", 30, 640, 20, "150M"),
        _esm2("esm2_t33_650M", 33, 1280, 20, "650M"),
        _esm2("esm2_t36_3B", 36, 2560, 40, "3B"),
        Preset("prot_bert", "Rostlab/prot_bert", "bert", 30, 1024, 16, 4096, "420M"),
    )
}


def resolve_preset(name: str) -> Preset | None:
    """The preset called ``name`` (case-insensitive, ``-``/``_`` alike), or ``None``."""
    key = str(name).strip().lower().replace("_", "-")
    for preset_name, preset in PRESETS.items():
        if preset_name.lower().replace("_", "-") == key:
            return preset
    return None
