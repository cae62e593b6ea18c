"""Shared test fixtures: the real data in ../shared/data and offline tokenizers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("TFPROT_SHARED_DATA", REPO.parent / "shared" / "data"))

# The 33 tokens of every ESM-2 checkpoint, and the 30 of Rostlab/prot_bert, in vocabulary order.
ESM2_TOKENS = [
    "<cls>",
    "<pad>",
    "<eos>",
    "<unk>",
    "L",
    "A",
    "G",
    "V",
    "S",
    "E",
    "R",
    "T",
    "I",
    "D",
    "P",
    "K",
    "Q",
    "N",
    "F",
    "Y",
    "M",
    "H",
    "W",
    "C",
    "X",
    "B",
    "U",
    "Z",
    "O",
    ".",
    "-",
    "<null_1>",
    "<mask>",
]
PROTBERT_TOKENS = [
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    "L",
    "A",
    "G",
    "V",
    "E",
    "S",
    "I",
    "K",
    "R",
    "D",
    "T",
    "P",
    "N",
    "Q",
    "F",
    "Y",
    "M",
    "H",
    "C",
    "W",
    "X",
    "U",
    "B",
    "Z",
    "O",
]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (FLIP secondary structure, FLIP GB1, MultiLoc); skips if it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (set TFPROT_SHARED_DATA to it)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def esm_vocab_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("esm") / "vocab.txt"
    path.write_text("\n".join(ESM2_TOKENS) + "\n")
    return path


@pytest.fixture(scope="session")
def bert_vocab_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bert") / "vocab.txt"
    path.write_text("\n".join(PROTBERT_TOKENS) + "\n")
    return path


@pytest.fixture(scope="session")
def hf_esm_tokenizer(esm_vocab_file):
    from transformers import EsmTokenizer

    return EsmTokenizer(vocab_file=str(esm_vocab_file))


@pytest.fixture(scope="session")
def hf_bert_tokenizer(bert_vocab_file):
    from transformers import BertTokenizer

    return BertTokenizer(vocab_file=str(bert_vocab_file), do_lower_case=False)


@pytest.fixture(scope="session")
def esm_tokenizer(hf_esm_tokenizer):
    from tfprot.data import ProteinTokenizer

    return ProteinTokenizer(hf_esm_tokenizer)


@pytest.fixture(scope="session")
def bert_tokenizer(hf_bert_tokenizer):
    from tfprot.data import ProteinTokenizer

    return ProteinTokenizer(hf_bert_tokenizer)
