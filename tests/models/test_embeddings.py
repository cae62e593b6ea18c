"""Embeddings: per-sequence means and per-residue states against PyTorch's ``EsmModel`` with the
same weights (one sequence at a time, unpadded, averaged in numpy), order and ids across several
token-budget batches, ``.npz`` round trips with awkward ids, a saved model folder, windows for
sequences longer than ``max_length``, and the progress bar.
"""

from __future__ import annotations

import numpy as np
import pytest

import tfprot
from tfprot.data.batching import length_sorted_batches
from tfprot.models.embeddings import Embeddings, embed_with

SEQUENCES = [
    "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEK",
    "GGSW",
    "MSDNELQKLAEQ",
    "MKVLAAGIVALLLAAGCSSSKEETPKAEAPKAESSAGEAKAE",
    "PEPTIDE",
    "MHHHHHHSSGLVPRGSHMASMTGGQQMGRGS",
]
ODD_IDS = ["sp|P69905|HBA_HUMAN/1-20", "a b", "../up", "ids", "file", "é-ü", "x.npy", "embeddings"]
BATCH_TOKENS = 120


@pytest.fixture(scope="module")
def model():
    return tfprot.sequence_classifier("tiny-esm", ["a", "b"], precision="float32")


@pytest.fixture(scope="module")
def torch_hidden(model):
    """PyTorch ``EsmModel`` with the TF model's weights: residue hidden states of one unpadded
    sequence (special tokens dropped)."""
    torch = pytest.importorskip("torch")
    from transformers import EsmModel
    from transformers.modeling_tf_pytorch_utils import load_tf2_model_in_pytorch_model

    reference = EsmModel(model.transformer.config, add_pooling_layer=False).eval()
    load_tf2_model_in_pytorch_model(reference, model.transformer)

    def hidden(sequence: str) -> np.ndarray:
        ids = torch.tensor(model.tokenizer.encode(sequence)[None].astype(np.int64))
        with torch.no_grad():
            return reference(input_ids=ids).last_hidden_state[0, 1:-1].numpy()

    return hidden


def test_embeddings_match_pytorch_in_input_order_across_batches(model, torch_hidden):
    lengths = np.array([len(s) + 2 for s in SEQUENCES])
    assert len(length_sorted_batches(lengths, BATCH_TOKENS)) >= 3
    records = tfprot.from_lists(SEQUENCES, ids=[f"p{k}" for k in (5, 3, 9, 1, 7, 2)])
    pooled = model.embed(records, batch_tokens=BATCH_TOKENS)
    residues = model.embed(records, per_residue=True, batch_tokens=BATCH_TOKENS)
    for result in (pooled, residues):
        assert result.ids == ("p5", "p3", "p9", "p1", "p7", "p2")
    assert pooled.vectors.shape == (len(SEQUENCES), 64) and pooled.vectors.dtype == np.float32
    for k, sequence in enumerate(SEQUENCES):
        expected = torch_hidden(sequence)
        assert residues.vectors[k].shape == (len(sequence), 64)
        assert residues.vectors[k].dtype == np.float32
        np.testing.assert_allclose(residues.vectors[k], expected, atol=1e-5)
        np.testing.assert_allclose(pooled.vectors[k], expected.mean(axis=0), atol=1e-5)


def test_npz_round_trip_with_awkward_ids(model, tmp_path):
    records = tfprot.from_lists([*SEQUENCES[: len(ODD_IDS)], "MKT", "GG"], ids=ODD_IDS)
    pooled = model.embed(records, batch_tokens=BATCH_TOKENS)
    residues = model.embed(records, per_residue=True, batch_tokens=BATCH_TOKENS)

    saved = np.load(pooled.save(tmp_path / "pooled.npz"))  # no allow_pickle needed
    assert saved["ids"].tolist() == ODD_IDS
    np.testing.assert_array_equal(saved["embeddings"], pooled.vectors)

    path = residues.save(tmp_path / "nested" / "residues.npz")
    saved = np.load(path)
    assert saved["ids"].tolist() == ODD_IDS
    for index, vectors in enumerate(residues.vectors):  # members named by position in ids
        np.testing.assert_array_equal(saved[f"residues/{index}"], vectors)

    for original in (pooled, residues):
        name = "r.npz" if original.per_residue else "p.npz"
        again = Embeddings.load(original.save(tmp_path / name))
        assert again.ids == original.ids and again.per_residue == original.per_residue
        for a, b in zip(again.vectors, original.vectors, strict=True):
            np.testing.assert_array_equal(a, b)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nested", "p.npz", "pooled.npz", "r.npz"]


def test_ids_that_would_collide_as_npz_keys_round_trip(tmp_path):
    # np.load finds 'x.npy' before 'x' + '.npy': ids as member names would read each other's
    # arrays; members named by index cannot.
    both = Embeddings(("x", "x.npy"), (np.zeros((1, 2)), np.ones((1, 2))), per_residue=True)
    again = Embeddings.load(both.save(tmp_path / "e.npz"))
    assert again.ids == ("x", "x.npy")
    np.testing.assert_array_equal(again.vectors[0], np.zeros((1, 2)))
    np.testing.assert_array_equal(again.vectors[1], np.ones((1, 2)))


def test_embed_from_a_saved_folder_and_a_fasta_file(model, tmp_path):
    folder = model.save_pretrained(tmp_path / "model")
    fasta = tmp_path / "query.fasta"
    ids = ["sp|Q1|A/2-9", "tr|Q2|B", "q3"]
    fasta.write_text("".join(f">{i}\n{s}\n" for i, s in zip(ids, SEQUENCES[:3], strict=True)))
    direct = model.embed(fasta)
    from_folder = tfprot.embed(folder, fasta, precision="float32", batch_tokens=BATCH_TOKENS)
    assert from_folder.ids == direct.ids == tuple(ids)
    np.testing.assert_allclose(from_folder.vectors, direct.vectors, atol=1e-5)


def test_long_sequences_run_in_windows_and_keep_their_length(model):
    # The same encoder behind a tokenizer limited to 24 tokens: 22 residues per window.
    short = tfprot.ProteinTokenizer.from_pretrained("tiny-esm", max_length=24)
    long = SEQUENCES[0]  # 53 residues: windows at 0, 17 and 31 with overlap 5
    result = embed_with(
        model.transformer, short, [long, "GGSW"], per_residue=True, window_overlap=5
    )
    assert [v.shape for v in result.vectors] == [(len(long), 64), (4, 64)]
    whole = model.embed([long[:22], long[17:39], long[31:]], per_residue=True).vectors
    # Split points at the middle of each overlap: (17 + 22) // 2 = 19 and (31 + 39) // 2 = 35.
    np.testing.assert_allclose(result.vectors[0][:19], whole[0][:19], atol=1e-5)
    np.testing.assert_allclose(result.vectors[0][19:35], whole[1][2:18], atol=1e-5)
    np.testing.assert_allclose(result.vectors[0][35:], whole[2][4:], atol=1e-5)
    pooled = embed_with(model.transformer, short, [long], window_overlap=5)
    np.testing.assert_allclose(pooled.vectors[0], result.vectors[0].mean(axis=0), atol=1e-6)


def test_mean_embeddings_hold_one_vector_per_sequence_not_every_residue(model):
    """Means are taken as each sequence's batch finishes: the peak of numpy's memory (traced)
    stays far below the per-residue states of the whole input, which a mean of everything at
    the end would hold at once."""
    import tracemalloc

    sequences = [SEQUENCES[0] * 4] * 300  # 212 residues: 300 × 212 × 64 float32 = 16 MB of states
    model.embed(sequences[:2])  # traced before measuring
    tracemalloc.start()
    try:
        pooled = model.embed(sequences, batch_tokens=2048)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    states = 300 * 212 * 64 * 4
    assert pooled.vectors.shape == (300, 64)
    np.testing.assert_allclose(pooled.vectors, pooled.vectors[:1].repeat(300, axis=0), atol=1e-6)
    assert peak < states / 4, f"{peak / 1e6:.1f} MB traced at peak for {states / 1e6:.1f} MB of states"


def test_progress_bar_for_embeddings(model, capsys):
    model.embed(SEQUENCES, batch_tokens=BATCH_TOKENS)
    assert capsys.readouterr().err == ""
    model.embed(SEQUENCES, batch_tokens=BATCH_TOKENS, progress=True)
    assert "embed" in capsys.readouterr().err


def test_the_compiled_forward_pass_is_traced_once_per_model_and_freed_with_it():
    import gc
    import weakref

    from transformers import TFEsmModel

    from tfprot.models import embeddings
    from tfprot.models.checkpoints import tiny_config

    encoder = TFEsmModel(tiny_config(tfprot.PRESETS["tiny-esm"]))
    encoder(encoder.dummy_inputs)
    tokenizer = tfprot.ProteinTokenizer.from_pretrained("tiny-esm")
    first = embed_with(encoder, tokenizer, ["MKTAYIAKQR", "GGSW"], progress=False)
    compiled = embeddings._COMPILED[encoder]
    second = embed_with(encoder, tokenizer, ["MKTAYIAKQR", "GGSWKLLEVRQ"], progress=False)
    assert embeddings._COMPILED[encoder] is compiled
    assert compiled.experimental_get_tracing_count() == 1
    np.testing.assert_allclose(first.vectors[0], second.vectors[0], atol=1e-6)
    # Models of earlier tests in this worker may still wait for the cycle collector: collect them
    # first, so that the count below changes only by this test's encoder.
    gc.collect()
    count = len(embeddings._COMPILED)
    encoder_ref = weakref.ref(encoder)
    del encoder, compiled
    gc.collect()
    assert encoder_ref() is None
    assert len(embeddings._COMPILED) == count - 1


def test_a_misspelt_option_is_refused_by_name_by_both_routes(model):
    """``tfprot.embed`` and ``ProteinModel.embed`` pass their options on to ``embed_with``, the one
    place that defines them; a misspelt one is an OptionError naming it and the valid ones, before
    any model is loaded."""
    for call in (
        lambda: model.embed(SEQUENCES, per_residu=True),
        lambda: tfprot.embed("no-such-checkpoint", SEQUENCES, per_residu=True),
    ):
        with pytest.raises(tfprot.OptionError, match="'per_residu' .*'per_residue'") as error:
            call()
        assert "'window_overlap'" in str(error.value)
