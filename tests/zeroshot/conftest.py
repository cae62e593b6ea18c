"""Fixtures of the zero-shot tests: a random PyTorch ``EsmForMaskedLM`` saved as the Hub ships
ESM-2 (PyTorch safetensors only, beside its tokenizer), the independent reference."""

from __future__ import annotations

import pytest

import tfprot  # noqa: F401  (Keras 2 first)
from tfprot.models.checkpoints import tiny_config
from tfprot.presets import PRESETS

torch = pytest.importorskip("torch")


@pytest.fixture(scope="session")
def torch_folder(tmp_path_factory, hf_esm_tokenizer):
    """(torch EsmForMaskedLM with eager attention, its PyTorch-only folder)."""
    from transformers import EsmForMaskedLM

    folder = tmp_path_factory.mktemp("torch_esm_mlm")
    torch.manual_seed(7)
    config = tiny_config(PRESETS["tiny-esm"], initializer_range=0.2)
    EsmForMaskedLM(config).eval().save_pretrained(folder)
    hf_esm_tokenizer.save_pretrained(folder)
    assert not list(folder.glob("tf_model*"))
    reference = EsmForMaskedLM.from_pretrained(folder, attn_implementation="eager").eval()
    return reference, folder
