"""Residue encoding for ESMFold: AlphaFold order, multimer layout, and the ESM-2-id pitfall."""

import numpy as np
import pytest

from tfprot.fold.residues import AF2_RESIDUES, chain_layout, to_aatype

UBIQUITIN = "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNISKESTLHLVLRLRGG"


def test_af2_order_matches_transformers_residue_constants():
    from transformers.models.esm.openfold_utils import residue_constants

    reference = residue_constants.restype_order_with_x
    for letter in AF2_RESIDUES + "X":
        assert to_aatype(letter)[0] == reference[letter]
    # B, Z, U, O fold as X, as transformers' own infer() maps them (map_unknown_to_x=True)
    onehot = residue_constants.sequence_to_onehot("BZUO", reference, map_unknown_to_x=True)
    assert to_aatype("BZUO").tolist() == onehot.argmax(1).tolist() == [20, 20, 20, 20]


def test_three_chain_layout_by_hand():
    layout = chain_layout(("MK", "GSW", "A"), linker_length=2, residue_index_offset=100)
    # M K | G G | G S W | G G | A ; linkers carry the previous chain's offset (as in ESMFold)
    assert layout.aatype.tolist() == [12, 11, 7, 7, 7, 15, 17, 7, 7, 0]
    assert layout.residue_index.tolist() == [0, 1, 2, 3, 104, 105, 106, 107, 108, 209]
    assert layout.keep.tolist() == [1, 1, 0, 0, 1, 1, 1, 0, 0, 1]
    assert layout.chain_index.tolist() == [0, 0, 1, 1, 1, 2]
    assert layout.residue_number.tolist() == [1, 2, 1, 2, 3, 1]


def test_our_encoding_is_what_transformers_infer_feeds_the_model(tiny_model):
    torch = pytest.importorskip("torch")
    captured = {}
    model = tiny_model.model
    original = model.forward

    def spy(input_ids, *args, **kwargs):
        captured["ids"] = input_ids.clone()
        return original(input_ids, *args, **kwargs)

    model.forward = spy
    try:
        with torch.no_grad():
            model.infer(UBIQUITIN[:12])
    finally:
        del model.forward
    assert captured["ids"][0].tolist() == to_aatype(UBIQUITIN[:12]).tolist()


def test_esm2_tokenizer_ids_are_the_wrong_code_for_esmfold(tiny_model, esm_tokenizer):
    torch = pytest.importorskip("torch")
    esm_ids = esm_tokenizer.encode("MKTWY")  # <cls> M K T W Y <eos>: ids 0..32
    assert not np.array_equal(esm_ids[1:-1], to_aatype("MKTWY"))
    with pytest.raises(IndexError), torch.no_grad():
        tiny_model.model(torch.tensor(esm_ids[None].astype(np.int64)), num_recycles=0)
