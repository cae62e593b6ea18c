import logging

import numpy as np
import pytest

from tfprot.data import IGNORE_INDEX, LabelEncoder, ProteinTokenizer, encode_records, from_lists
from tfprot.errors import DataFormatError, LabelError

C, E, H = 0, 1, 2
TOKEN_ENCODER = LabelEncoder("token", ("C", "E", "H"))


def test_hand_built_alignment_puts_each_label_on_its_residue_token(esm_tokenizer):
    records = from_lists(["MKTAY"], residue_labels=["CHHEC"], masks=[[1, 1, 1, 0, 1]])
    encoded = encode_records(records, esm_tokenizer, TOKEN_ENCODER)
    #                       <cls>  M   K   T   A   Y  <eos>
    assert encoded.input_ids[0].tolist() == [0, 20, 15, 11, 5, 19, 2]
    assert encoded.labels[0].tolist() == [IGNORE_INDEX, C, H, H, IGNORE_INDEX, C, IGNORE_INDEX]
    # The widely copied alignment (label i on token i) puts M's label on <cls> and shifts the rest:
    naive = [C, H, H, E, C, IGNORE_INDEX, IGNORE_INDEX]
    assert naive != encoded.labels[0].tolist()


@pytest.mark.parametrize("which", ["esm_tokenizer", "bert_tokenizer"])
def test_every_labelled_token_is_its_residue_on_real_data(which, request, shared_data):
    from tfprot.data import read_flip

    tokenizer = request.getfixturevalue(which)
    records = read_flip(shared_data / "flip_secondary_structure")[:200]
    encoder = LabelEncoder.fit(records, "token")
    encoded = encode_records(records, tokenizer, encoder)
    for record, ids, labels in zip(records, encoded.input_ids, encoded.labels, strict=False):
        tokens = tokenizer.tokenizer.convert_ids_to_tokens(ids.tolist())
        kept = min(len(record.sequence), tokenizer.max_residues)
        assert len(ids) == kept + 2
        for j in np.flatnonzero(labels != IGNORE_INDEX):
            residue = j - tokenizer.residue_offset
            assert record.mask[residue]
            assert tokens[j] == tokenizer.text(record.sequence[residue])
            assert encoder.classes[labels[j]] == record.residue_labels[residue]
        resolved = sum(record.mask[:kept])
        assert int((labels != IGNORE_INDEX).sum()) == resolved
        assert labels[0] == labels[-1] == IGNORE_INDEX


def test_truncation_keeps_the_end_token_counts_and_logs(hf_esm_tokenizer, caplog):
    tokenizer = ProteinTokenizer(hf_esm_tokenizer, max_length=6)
    records = from_lists(["MKTAYIAK", "MK"], residue_labels=["CHHECCCE", "HE"])
    with caplog.at_level(logging.WARNING):
        encoded = encode_records(records, tokenizer, TOKEN_ENCODER)
    assert encoded.truncated == 1
    assert "1 of 2 sequences are longer than 4 residues" in caplog.text
    assert encoded.input_ids[0].tolist() == [0, 20, 15, 11, 5, 2]
    assert encoded.labels[0].tolist() == [IGNORE_INDEX, C, H, H, E, IGNORE_INDEX]
    assert encoded.input_ids[1].tolist() == [0, 20, 15, 2]


def test_sequence_level_targets_are_stacked(esm_tokenizer):
    records = from_lists(["MKT", "GG"], ["a;b", "b"])
    encoded = encode_records(records, esm_tokenizer, LabelEncoder("multilabel", ("a", "b")))
    np.testing.assert_array_equal(encoded.labels, [[1, 1], [0, 1]])
    assert encoded.lengths.tolist() == [5, 4] and encoded.ids == ("seq0", "seq1")
    unlabelled = encode_records(records, esm_tokenizer)
    assert unlabelled.labels is None and unlabelled.task is None


def test_errors(esm_tokenizer):
    with pytest.raises(DataFormatError, match="No records"):
        encode_records([], esm_tokenizer)
    with pytest.raises(DataFormatError, match="no room for residues"):
        encode_records(from_lists(["MKT"]), esm_tokenizer, max_length=2)
    with pytest.raises(LabelError, match="unknown label 'z'"):
        encode_records(
            from_lists(["MKT"], ["z"]), esm_tokenizer, LabelEncoder("classification", ("a", "b"))
        )
