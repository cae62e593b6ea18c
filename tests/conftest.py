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


# Small real data sets for model tests: each keeps only short sequences, a few dozen per split, so
# that a ``fit`` on the tiny preset takes seconds on 2 cores.
SHORT = 200
"""Longest sequence kept in the small data sets (residues)."""


def _short(records, limit: int, per_split: dict[str, int]):
    kept, counts = [], dict.fromkeys(per_split, 0)
    for record in records:
        split = record.split or "train"
        if len(record) <= limit and counts.get(split, 0) < per_split.get(split, 0):
            kept.append(record)
            counts[split] += 1
    return kept


@pytest.fixture(scope="session")
def cytosol_membrane():
    """The bundled binary data set (cytoplasmic vs plasma membrane), sequences <= 200 residues,
    its own seeded 80/10/10 split."""
    import tfprot

    full = tfprot.ProteinDataset.example()
    records = [
        r
        for split in ("train", "validation", "test")
        for r in full.records(split)
        if len(r) <= SHORT
    ]
    return tfprot.ProteinDataset(records, "classification", name="cytosol_membrane_short")


@pytest.fixture(scope="session")
def secondary_structure(shared_data):
    """FLIP secondary structure (3 states, per residue, with the unresolved mask), short sequences:
    its own train/validation/test sets."""
    import tfprot

    records = tfprot.read_flip(shared_data / "flip_secondary_structure", split="sampled")
    kept = _short(records, 300, {"train": 400, "validation": 60, "test": 120})
    return tfprot.ProteinDataset(kept, "token", name="flip_ss3_short")


@pytest.fixture(scope="session")
def gb1(shared_data):
    """FLIP GB1 fitness (regression), low_vs_high split, a few hundred variants."""
    import tfprot

    records = tfprot.read_records(shared_data / "flip_gb1" / "low_vs_high.csv", format="flip")
    kept = _short(records, 400, {"train": 300, "validation": 50, "test": 100})
    return tfprot.ProteinDataset(kept, "regression", name="gb1_short")


@pytest.fixture(scope="session")
def multiloc(shared_data):
    """MultiLoc (11 locations), short sequences, seeded split."""
    import tfprot

    records = tfprot.read_records(shared_data / "multiloc", format="fasta-dir")
    kept = [r for r in records if len(r) <= SHORT]
    return tfprot.ProteinDataset(kept, "classification", name="multiloc_short")


@pytest.fixture(scope="session")
def mmseqs():
    """The MMseqs2 tfprot finds (tfprot.data.mmseqs.find_mmseqs); the test is skipped without
    one, and fails instead under ``TFPROT_REQUIRE_MMSEQS=1`` (CI installs Debian's mmseqs2)."""
    from tfprot.data.mmseqs import find_mmseqs
    from tfprot.errors import MissingDependencyError

    try:
        return find_mmseqs()
    except MissingDependencyError as error:
        if os.environ.get("TFPROT_REQUIRE_MMSEQS") == "1":
            pytest.fail(f"TFPROT_REQUIRE_MMSEQS=1, but MMseqs2 is not usable: {error}")
        pytest.skip(f"MMseqs2 is not installed ({error})")
