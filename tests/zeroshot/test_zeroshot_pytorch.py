"""Zero-shot scores and contact maps against PyTorch: the same weights, the same numbers.

The reference is a random transformers ``EsmForMaskedLM`` (PyTorch) saved with ``save_pretrained``
(PyTorch safetensors only, as the Hub ships ESM-2) beside its tokenizer; tfprot loads the folder
(converting the weights) and scores. The test computes every score itself in PyTorch, from the
definitions (masked marginals, wild-type marginals, pseudo-likelihoods, ESM-1v's window for a long
wild type), and compares the contact maps with ``EsmForMaskedLM.predict_contacts`` under eager
attention, one sequence at a time and unpadded.
"""

from __future__ import annotations

import numpy as np
import pytest
from zeroshot_support import GB1

import tfprot  # noqa: F401  (Keras 2 first)
from tfprot.zeroshot import contacts, load_masked_lm, parse_mutant, score_variants

torch = pytest.importorskip("torch")

TOLERANCE = 1e-4
MUTANTS = ["Y3A", "K4R:G9A", "V39D", "V39D:D40A:G41F:V54A", "WT", "E19Q", "Y3W"]


@pytest.fixture(scope="module")
def model(torch_folder):
    return load_masked_lm(torch_folder[1], precision="float32")


def _log_probs(torch_model, hf_tokenizer, residues: str, masked: int | None = None):
    """PyTorch log-softmax [tokens, vocab] of ``<cls> residues <eos>``, residue ``masked``
    (0-based) replaced by ``<mask>``."""
    ids = hf_tokenizer(residues, return_tensors="pt")["input_ids"]
    if masked is not None:
        ids[0, 1 + masked] = hf_tokenizer.mask_token_id
    with torch.no_grad():
        logits = torch_model(input_ids=ids).logits[0]
    return torch.log_softmax(logits.double(), dim=-1).numpy()


def _token(hf_tokenizer, residue):
    return hf_tokenizer.convert_tokens_to_ids(residue)


def _esm1v_window(position, length, size=1022):
    """ProteinGym's get_optimal_window (ESM-1v), written out again."""
    half = size // 2
    if length <= size:
        return 0, length
    if position < half:
        return 0, size
    if position >= length - half:
        return length - size, length
    return max(0, position - half), min(length, position + half)


def _reference_marginal(torch_model, tok, wildtype, mutants, masked: bool):
    scores = []
    for mutant in mutants:
        total = 0.0
        for s in parse_mutant(mutant, wildtype):
            i = s.position - 1
            start, end = _esm1v_window(i, len(wildtype))
            logp = _log_probs(torch_model, tok, wildtype[start:end], i - start if masked else None)
            row = logp[1 + i - start]
            total += row[_token(tok, s.mutant)] - row[_token(tok, s.wildtype)]
        scores.append(total)
    return np.array(scores)


def _pll(torch_model, tok, sequence):
    """Σ_i log p(x_i | x with i masked): L masked copies in one PyTorch batch."""
    ids = tok(sequence, return_tensors="pt")["input_ids"].repeat(len(sequence), 1)
    positions = torch.arange(len(sequence))
    truth = ids[positions, positions + 1].clone()
    ids[positions, positions + 1] = tok.mask_token_id
    with torch.no_grad():
        logp = torch.log_softmax(torch_model(input_ids=ids).logits.double(), dim=-1)
    return float(logp[positions, positions + 1, truth].sum())


def test_masked_marginal_matches_pytorch(model, torch_folder, hf_esm_tokenizer):
    expected = _reference_marginal(torch_folder[0], hf_esm_tokenizer, GB1, MUTANTS, True)
    got = score_variants(model, GB1, MUTANTS, "masked-marginal", batch_tokens=300)
    assert np.abs(expected).max() > 0.05, "scores too small for the comparison to mean anything"
    assert np.abs(got.scores - expected).max() <= TOLERANCE
    assert got.scores[MUTANTS.index("WT")] == 0.0
    # one pass per distinct mutated position, not per variant
    positions = {s.position for m in MUTANTS for s in parse_mutant(m, GB1)}
    assert got.passes == len(positions) == 8
    assert sum(len(parse_mutant(m, GB1)) for m in MUTANTS) == 10


def test_wt_marginal_matches_pytorch_in_one_pass(model, torch_folder, hf_esm_tokenizer):
    expected = _reference_marginal(torch_folder[0], hf_esm_tokenizer, GB1, MUTANTS, False)
    got = score_variants(model, GB1, MUTANTS, "wt-marginal")
    assert got.passes == 1
    assert np.abs(got.scores - expected).max() <= TOLERANCE
    masked = score_variants(model, GB1, MUTANTS, "masked-marginal")
    assert np.abs(masked.scores - got.scores).max() > 1e-3, "masking must change the scores"


def test_pseudo_likelihood_matches_pytorch(model, torch_folder, hf_esm_tokenizer):
    mutants = ["Y3A", "K4R:G9A", "WT"]
    reference_wt = _pll(torch_folder[0], hf_esm_tokenizer, GB1)
    expected = [
        _pll(torch_folder[0], hf_esm_tokenizer, _apply(GB1, m)) - reference_wt for m in mutants
    ]
    got = score_variants(model, GB1, mutants, "pseudo-likelihood", batch_tokens=2000)
    assert got.passes == 3 * len(GB1)  # the wild type and two variants; 'WT' is the wild type
    assert np.abs(got.scores - np.array(expected)).max() <= TOLERANCE


def _apply(wildtype, mutant):
    from tfprot.zeroshot import apply_mutant

    return apply_mutant(wildtype, parse_mutant(mutant, wildtype))


def test_long_wild_type_is_scored_in_windows(model, torch_folder, hf_esm_tokenizer):
    """1,500 residues: each mutated position in the 1,022-residue window ESM-1v centres on it."""
    rng = np.random.default_rng(3)
    wildtype = "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), 1500))
    positions = (5, 760, 1496)
    mutants = [f"{wildtype[p - 1]}{p}{'A' if wildtype[p - 1] != 'A' else 'G'}" for p in positions]
    mutants.append(f"{mutants[0]}:{mutants[1]}")
    for masked, method in ((True, "masked-marginal"), (False, "wt-marginal")):
        expected = _reference_marginal(torch_folder[0], hf_esm_tokenizer, wildtype, mutants, masked)
        got = score_variants(model, wildtype, mutants, method)
        assert np.abs(got.scores - expected).max() <= TOLERANCE, method
        assert got.passes == 3  # three windows: start, middle, end


def test_contact_maps_match_pytorch_predict_contacts(model, torch_folder, hf_esm_tokenizer):
    reference = torch_folder[0]
    sequences = [GB1, GB1[:52] + "KLNG", GB1[3:], GB1 * 2]  # 56, 56, 53, 112: padding in a batch
    maps = contacts(model, sequences, batch_tokens=4096)
    assert [m.probabilities.shape for m in maps] == [(len(s), len(s)) for s in sequences]
    for contact_map, sequence in zip(maps, sequences, strict=True):
        ids = hf_esm_tokenizer(sequence, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            expected = reference.predict_contacts(ids, torch.ones_like(ids))[0].numpy()
        assert expected.shape == (len(sequence), len(sequence))
        assert np.abs(contact_map.probabilities - expected).max() <= TOLERANCE
        assert np.allclose(contact_map.probabilities, contact_map.probabilities.T, atol=1e-6)
    assert np.ptp(maps[3].probabilities) > 1e-3, "maps too flat for the comparison to mean much"


def test_fused_layer_hands_attention_maps_to_transformers(model, hf_esm_tokenizer):
    """output_attentions takes transformers' own path in tfprot's layer; its logits still equal
    the fused path's (so scores and maps come from one model)."""
    import tensorflow as tf

    from tfprot.models.esm_fast import TfprotEsmLayer

    layers = model.transformer.esm.encoder.layer
    assert all(isinstance(layer, TfprotEsmLayer) for layer in layers)
    ids = tf.constant(hf_esm_tokenizer(GB1, return_tensors="np")["input_ids"], tf.int32)
    fused = model.transformer(input_ids=ids, training=False).logits
    upstream = model.transformer(input_ids=ids, output_attentions=True, training=False)
    assert len(upstream.attentions) == len(layers)
    assert float(tf.reduce_max(tf.abs(fused - upstream.logits))) <= 1e-5


def test_log_softmax_is_float32_under_bfloat16(torch_folder):
    """Under mixed_bfloat16 (where transformers' TFEsmForMaskedLM fails: its tied vocabulary
    projection multiplies bfloat16 features with the float32 embedding table) tfprot's head
    projects in float32, the log-softmax is float32, and the scores stay close to float32's."""
    import tensorflow as tf

    from tfprot._keras import keras

    half = load_masked_lm(torch_folder[1], precision="mixed_bfloat16")
    assert keras().mixed_precision.global_policy().name == "float32"  # restored after loading
    ids = half.tokenizer.encode(GB1)[None]
    batch = {"input_ids": tf.constant(ids), "attention_mask": tf.ones_like(ids)}
    features = half.transformer.esm(
        input_ids=batch["input_ids"], return_dict=True
    ).last_hidden_state
    assert features.dtype == tf.bfloat16
    assert half.transformer(input_ids=batch["input_ids"]).logits.dtype == tf.float32
    assert half.forward(batch).dtype == tf.float32
    low = score_variants(half, GB1, MUTANTS).scores
    full = score_variants(torch_folder[1], GB1, MUTANTS, precision="float32").scores
    assert np.abs(low - full).max() < 0.15
    assert np.corrcoef(low, full)[0, 1] > 0.95
