"""Folding checkpoints: ``facebook/esmfold_v1`` and the offline ``tiny-esmfold`` preset.

``tiny-esmfold`` is the ESMFold architecture (an ESM-2 stem, the folding trunk, the structure
module and the pLDDT/pTM/PAE heads) at a tiny size with **random, untrained weights**, built from
a config without any download. Its structures are geometrically valid files with meaningless
coordinates and confidences: use it for demos and tests only.

>>> resolve_fold_checkpoint("tiny-esmfold").untrained
True
>>> resolve_fold_checkpoint("esmfold_v1").checkpoint
'facebook/esmfold_v1'
>>> resolve_fold_checkpoint("my/own-folder") is None
True
>>> resolve_fold_checkpoint("esmfold-v1-untrained").parameters
'3.5B'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DEFAULT_CHECKPOINT",
    "ESMFOLD_V1_CONFIG",
    "FOLD_PRESETS",
    "FoldPreset",
    "resolve_fold_checkpoint",
]

DEFAULT_CHECKPOINT = "facebook/esmfold_v1"


@dataclass(frozen=True)
class FoldPreset:
    """A named folding checkpoint.

    Attributes:
        name: the short name.
        checkpoint: the 🤗 Hub id, or ``None`` for a preset built locally from ``config``.
        parameters: approximate parameter count, for display.
        untrained: built locally with random weights.
        config: ``transformers.EsmConfig`` keyword arguments for a locally built preset.
    """

    name: str
    checkpoint: str | None
    parameters: str
    untrained: bool = False
    config: dict[str, Any] = field(default_factory=dict, compare=False)


# The smallest dimensions transformers' ESMFold accepts comfortably: head widths divide the state
# sizes, the pair state is even, the structure module keeps all its parts (IPA, angle resnet).
_TINY_ESMFOLD_CONFIG: dict[str, Any] = {
    "vocab_size": 33,
    "pad_token_id": 1,
    "mask_token_id": 32,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 1026,
    "position_embedding_type": "rotary",
    "token_dropout": True,
    "emb_layer_norm_before": False,
    "is_folding_model": True,
    "esmfold_config": {
        "fp16_esm": False,
        "lddt_head_hid_dim": 16,
        "trunk": {
            "num_blocks": 2,
            "sequence_state_dim": 32,
            "pairwise_state_dim": 16,
            "sequence_head_width": 16,
            "pairwise_head_width": 8,
            "position_bins": 32,
            "max_recycles": 1,
            "chunk_size": None,
            "structure_module": {
                "sequence_dim": 32,
                "pairwise_dim": 16,
                "ipa_dim": 8,
                "resnet_dim": 16,
                "num_heads_ipa": 2,
                "num_qk_points": 2,
                "num_v_points": 2,
                "num_blocks": 2,
                "dropout_rate": 0.0,
            },
        },
    },
}

# facebook/esmfold_v1's config.json: the ESM-2 3B stem (36 layers of 2,560) and the folding trunk
# (48 blocks, 1,024 sequence and 128 pair channels, an 8-block structure module).
ESMFOLD_V1_CONFIG: dict[str, Any] = {
    "vocab_size": 33,
    "pad_token_id": 1,
    "mask_token_id": 32,
    "hidden_size": 2560,
    "num_hidden_layers": 36,
    "num_attention_heads": 40,
    "intermediate_size": 10240,
    "hidden_dropout_prob": 0.0,
    "attention_probs_dropout_prob": 0.0,
    "max_position_embeddings": 1026,
    "layer_norm_eps": 1e-5,
    "position_embedding_type": "rotary",
    "token_dropout": True,
    "emb_layer_norm_before": False,
    "is_folding_model": True,
    "esmfold_config": {
        "esm_type": "esm2_3B",
        "fp16_esm": False,
        "embed_aa": True,
        "bypass_lm": False,
        "use_esm_attn_map": False,
        "lddt_head_hid_dim": 128,
        "trunk": {
            "num_blocks": 48,
            "sequence_state_dim": 1024,
            "pairwise_state_dim": 128,
            "sequence_head_width": 32,
            "pairwise_head_width": 32,
            "position_bins": 32,
            "dropout": 0,
            "layer_drop": 0,
            "max_recycles": 4,
            "chunk_size": None,
            "structure_module": {
                "sequence_dim": 384,
                "pairwise_dim": 128,
                "ipa_dim": 16,
                "resnet_dim": 128,
                "num_heads_ipa": 12,
                "num_qk_points": 4,
                "num_v_points": 8,
                "dropout_rate": 0.1,
                "num_blocks": 8,
                "num_transition_layers": 1,
                "num_resnet_blocks": 2,
                "num_angles": 7,
                "trans_scale_factor": 10,
                "epsilon": 1e-8,
                "inf": 1e5,
            },
        },
    },
}

FOLD_PRESETS: dict[str, FoldPreset] = {
    preset.name: preset
    for preset in (
        FoldPreset("tiny-esmfold", None, "0.1M", untrained=True, config=_TINY_ESMFOLD_CONFIG),
        FoldPreset("esmfold_v1", DEFAULT_CHECKPOINT, "3.5B"),
        FoldPreset("esmfold_v1-untrained", None, "3.5B", untrained=True, config=ESMFOLD_V1_CONFIG),
    )
}
"""``esmfold_v1-untrained`` is the full esmfold_v1 architecture with random weights, built on
the target device without a download: for memory and speed measurements
(``benchmarks/fold_gpu.py``), never for structures."""


def resolve_fold_checkpoint(name: str) -> FoldPreset | None:
    """The folding preset called ``name`` (case-insensitive, ``-``/``_`` alike), or ``None``."""
    text = str(name).strip().lower()
    key = text.replace("_", "-")
    for preset_name, preset in FOLD_PRESETS.items():
        if preset_name.replace("_", "-") == key or (preset.checkpoint or "").lower() == text:
            return preset
    return None
