"""tfprot's models against PyTorch: the same weights must give the same numbers.

Each PyTorch model (transformers' ``EsmForSequenceClassification``, ``EsmForTokenClassification``,
``EsmModel``, ``BertForSequenceClassification``) is built from a tiny config with random weights,
saved with ``save_pretrained`` (PyTorch safetensors only) beside its tokenizer, and loaded through
tfprot's public factories, which must notice the PyTorch-only weights and convert them. Both are
then fed identical padded batches (logits and last hidden states compared), and raw sequences
(tfprot's own tokenization, batching and special-token removal against the 🤗 tokenizer and
PyTorch run one sequence at a time, unpadded).

Measured on 2 CPU cores with weights drawn at ``INIT_RANGE`` (logits of order 1): largest absolute
differences 5.6e-6 (ESM token logits), 4.8e-6 (ESM sequence logits and hidden states), 3.5e-6
(embeddings) and 1.6e-6 (BERT); the bound asserted is 1e-5.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

import tfprot
from tfprot.models.checkpoints import tiny_config
from tfprot.presets import PRESETS

torch = pytest.importorskip("torch")
tf = pytest.importorskip("tensorflow")

TOLERANCE = 1e-5
INIT_RANGE = 0.2
"""Initial weight spread: wider than transformers' default 0.02, so that logits are far from zero
and a wrong weight or a misplaced special token shows far above the tolerance."""
ESM_LABELS = ["cytoplasmic", "plasma_membrane"]
SS3 = ["C", "E", "H"]


# -- fixtures --------------------------------------------------------------------------------
def _save_torch(model, tokenizer, folder):
    model.eval()
    model.save_pretrained(folder)  # safetensors, PyTorch format: no TF weights at all
    tokenizer.save_pretrained(folder)
    assert not list(folder.glob("tf_model*")), "the folder must hold PyTorch weights only"
    return model


def _esm_config(**overrides):
    config = tiny_config(PRESETS["tiny-esm"], initializer_range=INIT_RANGE, **overrides)
    assert config.token_dropout and config.position_embedding_type == "rotary"
    return config


@pytest.fixture(scope="module")
def sequences(cytosol_membrane):
    """Four real sequences of clearly different lengths (shortest first, at most 100 residues, to
    keep the test fast), without rare residues."""
    plain = sorted(
        r.sequence
        for r in cytosol_membrane.records("train")
        if len(r) <= 100 and not set(r.sequence) & set("UZOBX")
    )
    plain.sort(key=len)
    picked = [plain[i] for i in (0, len(plain) // 3, 2 * len(plain) // 3, -1)]
    assert len({len(s) for s in picked}) == 4
    return picked


@pytest.fixture(scope="module")
def esm_classifier(tmp_path_factory, hf_esm_tokenizer):
    """(torch EsmForSequenceClassification, its PyTorch-only folder)."""
    from transformers import EsmForSequenceClassification

    folder = tmp_path_factory.mktemp("torch_esm_classifier")
    torch.manual_seed(0)
    model = EsmForSequenceClassification(_esm_config(num_labels=len(ESM_LABELS)))
    return _save_torch(model, hf_esm_tokenizer, folder), folder


@pytest.fixture(scope="module")
def esm_token_classifier(tmp_path_factory, hf_esm_tokenizer):
    from transformers import EsmForTokenClassification

    folder = tmp_path_factory.mktemp("torch_esm_token")
    torch.manual_seed(1)
    model = EsmForTokenClassification(_esm_config(num_labels=len(SS3)))
    return _save_torch(model, hf_esm_tokenizer, folder), folder


# -- helpers ---------------------------------------------------------------------------------
def _padded(hf_tokenizer, texts):
    """A padded batch from the 🤗 tokenizer (int64, as torch wants it)."""
    batch = hf_tokenizer(texts, padding=True, return_tensors="np")
    ids, mask = batch["input_ids"].astype(np.int64), batch["attention_mask"].astype(np.int64)
    assert (mask == 0).any(), "the batch must have padding"
    return ids, mask


def _alone(hf_tokenizer, text):
    """One sequence, unpadded: (ids, attention mask of ones)."""
    ids = hf_tokenizer(text, return_tensors="np")["input_ids"].astype(np.int64)
    return ids, np.ones_like(ids)


def _torch_run(module, ids, mask):
    with torch.no_grad():
        return module(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))


def _tf_inputs(ids, mask):
    return {"input_ids": tf.constant(ids, tf.int32), "attention_mask": tf.constant(mask, tf.int32)}


def _max_error(got, expected, mask=None):
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.shape == expected.shape
    difference = np.abs(got - expected)
    if mask is not None:
        difference = difference[mask.astype(bool)]
    return float(difference.max())


def _compare_padded(model, torch_model, ids, mask, *, per_token: bool):
    """Max |Δ| of logits and of the last hidden state (real tokens only) of a padded batch."""
    base = getattr(torch_model, torch_model.base_model_prefix)
    expected = _torch_run(torch_model, ids, mask).logits.numpy()
    expected_hidden = _torch_run(base, ids, mask).last_hidden_state.numpy()
    logits = model(_tf_inputs(ids, mask), training=False).numpy()
    tf_base = getattr(model.transformer, model.transformer.base_model_prefix)
    hidden = tf_base(
        **_tf_inputs(ids, mask), return_dict=True, training=False
    ).last_hidden_state.numpy()
    assert np.abs(expected).max() > 0.1, "logits too small to make the comparison meaningful"
    logit_error = _max_error(logits, expected, mask if per_token else None)
    return logit_error, _max_error(hidden, expected_hidden, mask)


# -- ESM -------------------------------------------------------------------------------------
def test_sequence_classifier_matches_pytorch(esm_classifier, sequences, hf_esm_tokenizer, caplog):
    torch_model, folder = esm_classifier
    with caplog.at_level(logging.INFO, logger="tfprot"):
        model = tfprot.sequence_classifier(folder, ESM_LABELS, precision="float32")
    assert "PyTorch weights only" in caplog.text and "newly initialised" not in caplog.text
    assert type(model.transformer).__name__ == "TFEsmForSequenceClassification"
    assert model.transformer.config.id2label == dict(enumerate(ESM_LABELS))

    for texts in (sequences, sequences[:2], sequences[::3]):
        ids, mask = _padded(hf_esm_tokenizer, texts)
        logit_error, hidden_error = _compare_padded(model, torch_model, ids, mask, per_token=False)
        assert logit_error < TOLERANCE and hidden_error < TOLERANCE, (logit_error, hidden_error)

    # End to end from raw sequences: tfprot tokenizes, pads and batches them together (one
    # padded batch); torch sees each alone, tokenized by the 🤗 tokenizer.
    logits = model.predict_logits(sequences)
    for sequence, got in zip(sequences, logits, strict=True):
        expected = _torch_run(torch_model, *_alone(hf_esm_tokenizer, sequence)).logits.numpy()[0]
        assert _max_error(got, expected) < TOLERANCE


def test_mask_tokens_in_a_padded_batch_are_rescaled_by_the_true_length(
    esm_classifier, sequences, hf_esm_tokenizer
):
    """ESM's token dropout scales embeddings by the share of <mask> tokens among the *real* tokens
    (fair-esm: ``src_lengths = (~padding_mask).sum(-1)``), so padding must not change a row. The
    TF model gets this right; transformers 4.57's PyTorch ``EsmModel`` does not pass the attention
    mask to its embeddings and divides by the padded length, hence torch runs each row alone here.
    (tfprot never feeds <mask> itself: sequences hold residues only.)"""
    torch_model, folder = esm_classifier
    model = tfprot.sequence_classifier(folder, ESM_LABELS, precision="float32", compile=False)
    ids, mask = _padded(hf_esm_tokenizer, sequences[::3])
    ids[0, 3] = ids[0, 7] = hf_esm_tokenizer.mask_token_id  # row 0 is the padded one
    logits = model(_tf_inputs(ids, mask)).numpy()
    for row in range(len(ids)):
        alone = ids[row : row + 1, : mask[row].sum()]
        expected = _torch_run(torch_model, alone, np.ones_like(alone)).logits.numpy()[0]
        assert _max_error(logits[row], expected) < TOLERANCE


def test_token_classifier_matches_pytorch(esm_token_classifier, sequences, hf_esm_tokenizer):
    torch_model, folder = esm_token_classifier
    model = tfprot.token_classifier(folder, SS3, precision="float32")
    assert model.transformer.config.id2label == dict(enumerate(SS3))
    assert type(model.transformer).__name__ == "TFEsmForTokenClassification"

    ids, mask = _padded(hf_esm_tokenizer, sequences)
    logit_error, hidden_error = _compare_padded(model, torch_model, ids, mask, per_token=True)
    assert logit_error < TOLERANCE and hidden_error < TOLERANCE, (logit_error, hidden_error)

    # Per residue: <cls> and <eos> removed, one row per residue, in order.
    logits = model.predict_logits(sequences)
    for sequence, got in zip(sequences, logits, strict=True):
        alone = _alone(hf_esm_tokenizer, sequence)
        expected = _torch_run(torch_model, *alone).logits.numpy()[0, 1:-1]
        assert got.shape == (len(sequence), len(SS3))
        assert _max_error(got, expected) < TOLERANCE


def test_embed_matches_pytorch_encoder(tmp_path, sequences, hf_esm_tokenizer):
    from transformers import EsmModel

    torch.manual_seed(2)
    torch_model = _save_torch(EsmModel(_esm_config()), hf_esm_tokenizer, tmp_path)
    # The bare encoder (TFEsmModel), converted; one padded batch of all four sequences.
    result = tfprot.embed(tmp_path, sequences, per_residue=True, precision="float32")
    for index, sequence in enumerate(sequences):
        alone = _alone(hf_esm_tokenizer, sequence)
        hidden = _torch_run(torch_model, *alone).last_hidden_state.numpy()[0]
        residues = hidden[1:-1]  # fair-esm's convention: no <cls>, no <eos>
        assert _max_error(result.vectors[index], residues) < TOLERANCE


def test_head_of_another_size_is_reinitialised_and_the_encoder_kept(
    esm_classifier, sequences, hf_esm_tokenizer, caplog
):
    """The folder has a 2-label head; a 3-label model takes its encoder and a fresh output layer."""
    torch_model, folder = esm_classifier
    labels = ["a", "b", "c"]
    with caplog.at_level(logging.INFO, logger="tfprot"):
        model = tfprot.sequence_classifier(folder, labels, precision="float32")
    config = model.transformer.config
    assert config.num_labels == 3 and config.id2label == {0: "a", 1: "b", 2: "c"}
    assert config.label2id == {"a": 0, "b": 1, "c": 2}
    assert "newly initialised" in caplog.text and "out_proj" in caplog.text

    ids, mask = _padded(hf_esm_tokenizer, sequences[:3])
    assert model(_tf_inputs(ids, mask)).shape == (3, 3)
    hidden = model.transformer.esm(
        **_tf_inputs(ids, mask), return_dict=True
    ).last_hidden_state.numpy()
    expected = _torch_run(torch_model.esm, ids, mask).last_hidden_state.numpy()
    assert _max_error(hidden, expected, mask) < TOLERANCE
    # The head's dense layer has the same shape in both: it is loaded, not reinitialised.
    dense = model.transformer.classifier.dense.kernel.numpy()
    np.testing.assert_allclose(dense, torch_model.classifier.dense.weight.detach().numpy().T)


def test_pretrained_backbone_without_head_gets_a_new_head(
    tmp_path, sequences, hf_esm_tokenizer, caplog
):
    """Like facebook/esm2_*: an EsmForMaskedLM checkpoint (encoder, LM head, no classifier)."""
    from transformers import EsmForMaskedLM

    torch.manual_seed(3)
    torch_model = _save_torch(EsmForMaskedLM(_esm_config()), hf_esm_tokenizer, tmp_path)
    with caplog.at_level(logging.INFO, logger="tfprot"):
        model = tfprot.token_classifier(tmp_path, SS3, precision="float32")
    assert "newly initialised" in caplog.text and "classifier" in caplog.text
    assert "encoder were not in the checkpoint" not in caplog.text  # the whole encoder loaded
    assert model.info["pretrained"] is True

    ids, mask = _padded(hf_esm_tokenizer, sequences[1:])
    assert model(_tf_inputs(ids, mask)).shape == (*ids.shape, len(SS3))
    hidden = model.transformer.esm(
        **_tf_inputs(ids, mask), return_dict=True
    ).last_hidden_state.numpy()
    expected = _torch_run(torch_model.esm, ids, mask).last_hidden_state.numpy()
    assert _max_error(hidden, expected, mask) < TOLERANCE


# -- ProtBERT-style BERT ---------------------------------------------------------------------
def test_protbert_style_bert_matches_pytorch(tmp_path, sequences, hf_bert_tokenizer, caplog):
    """Any checkpoint works by changing only the name: a BERT with the ProtBERT vocabulary."""
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(
        vocab_size=len(hf_bert_tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=256,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        initializer_range=INIT_RANGE,
        pad_token_id=hf_bert_tokenizer.pad_token_id,
        num_labels=2,
    )
    torch.manual_seed(4)
    torch_model = _save_torch(BertForSequenceClassification(config), hf_bert_tokenizer, tmp_path)
    with caplog.at_level(logging.INFO, logger="tfprot"):
        model = tfprot.sequence_classifier(tmp_path, ESM_LABELS, precision="float32")
    assert "PyTorch weights only" in caplog.text and "newly initialised" not in caplog.text
    assert type(model.transformer).__name__ == "TFBertForSequenceClassification"
    assert model.tokenizer.convention == "spaced"

    spaced = [" ".join(sequence) for sequence in sequences]
    ids, mask = _padded(hf_bert_tokenizer, spaced[:3])
    logit_error, hidden_error = _compare_padded(model, torch_model, ids, mask, per_token=False)
    assert logit_error < TOLERANCE and hidden_error < TOLERANCE, (logit_error, hidden_error)

    logits = model.predict_logits(sequences)
    for text, got in zip(spaced, logits, strict=True):
        alone = _alone(hf_bert_tokenizer, text)
        assert alone[0].shape[1] == len(text.split()) + 2  # one token per residue, [CLS], [SEP]
        expected = _torch_run(torch_model, *alone).logits.numpy()[0]
        assert _max_error(got, expected) < TOLERANCE
