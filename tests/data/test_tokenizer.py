import json

import numpy as np
import pytest

from tfprot.data import ProteinTokenizer, read_fasta
from tfprot.errors import CheckpointError


@pytest.fixture(scope="module")
def real_sequences(shared_data):
    records = read_fasta(shared_data / "multiloc" / "plasma_membrane.fasta")
    sequences = [r.sequence for r in records[:300]]
    sequences.append("MKTUZOBXAY")  # every rare residue
    return sequences


def test_esm_convention_matches_the_hf_tokenizer(esm_tokenizer, hf_esm_tokenizer, real_sequences):
    assert esm_tokenizer.convention == "per-residue" and not esm_tokenizer.rare_residues_to_x
    assert esm_tokenizer.residue_offset == 1 and esm_tokenizer.pad_id == 1
    for sequence in real_sequences:
        expected = hf_esm_tokenizer(sequence)["input_ids"]
        np.testing.assert_array_equal(esm_tokenizer.encode(sequence), expected)
        assert len(expected) == len(sequence) + 2  # one token per residue, <cls> and <eos>


def test_protbert_convention_spaces_residues_and_maps_rare_ones_to_x(
    bert_tokenizer, hf_bert_tokenizer, real_sequences
):
    assert bert_tokenizer.convention == "spaced" and bert_tokenizer.rare_residues_to_x
    assert bert_tokenizer.text("MKUZOB") == "M K X X X X"
    for sequence in real_sequences:
        spaced = " ".join(sequence.translate(str.maketrans("UZOB", "XXXX")))
        np.testing.assert_array_equal(
            bert_tokenizer.encode(sequence), hf_bert_tokenizer(spaced)["input_ids"]
        )
    unspaced = hf_bert_tokenizer("MKT")["input_ids"]
    assert len(unspaced) == 3  # [CLS] [UNK] [SEP]: why ProtBERT needs the spaces
    x = hf_bert_tokenizer.convert_tokens_to_ids("X")
    assert bert_tokenizer.encode("U", add_special_tokens=False).tolist() == [x]


def test_conventions_can_be_forced(hf_bert_tokenizer):
    tokenizer = ProteinTokenizer(hf_bert_tokenizer, rare_residues_to_x=False)
    u = hf_bert_tokenizer.convert_tokens_to_ids("U")
    assert tokenizer.encode("U", add_special_tokens=False).tolist() == [u]


def test_tiny_esm_preset_is_the_esm2_vocabulary(hf_esm_tokenizer):
    preset = ProteinTokenizer.from_pretrained("tiny-esm")
    assert preset.tokenizer.get_vocab() == hf_esm_tokenizer.get_vocab()
    assert preset.max_length == 1024


def test_save_and_reload_keeps_the_convention(tmp_path, hf_bert_tokenizer):
    tokenizer = ProteinTokenizer(hf_bert_tokenizer, rare_residues_to_x=False, max_length=512)
    tokenizer.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "tfprot_tokenizer.json").read_text())["spaced"] is True
    again = ProteinTokenizer.from_pretrained(tmp_path)
    assert (again.spaced, again.rare_residues_to_x, again.max_length) == (True, False, 512)
    np.testing.assert_array_equal(again.encode("MKTU"), tokenizer.encode("MKTU"))


def test_bad_checkpoints_give_clear_errors(tmp_path, monkeypatch):
    with pytest.raises(CheckpointError, match="no such checkpoint folder"):
        ProteinTokenizer.from_pretrained(tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(
        CheckpointError, match=r"cannot load the tokenizer from this local folder.*\['notes.txt'\]"
    ):
        ProteinTokenizer.from_pretrained(tmp_path)
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # nothing listens on port 9
    with pytest.raises(
        CheckpointError,
        match=r"Cannot reach the Hugging Face Hub.*'facebook/esm2_t6_8M_UR50D'.*tiny-esm",
    ):
        ProteinTokenizer.from_pretrained("esm2_t6_8M")


def test_a_tokenizer_that_merges_residues_is_refused(tmp_path):
    from transformers import BertTokenizer

    vocab = tmp_path / "vocab.txt"
    vocab.write_text(
        "\n".join(
            ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "ACDE", *"ACDEFGHIKLMNPQRSTVWYXBZUO"]
        )
        + "\n"
    )
    merging = BertTokenizer(vocab_file=str(vocab), do_lower_case=False)
    with pytest.raises(CheckpointError, match="one token per residue"):
        ProteinTokenizer(merging, spaced=False)
    lower_casing = BertTokenizer(vocab_file=str(vocab), do_lower_case=True)
    with pytest.raises(CheckpointError, match="no token for the standard residues"):
        ProteinTokenizer(lower_casing, spaced=True)
