"""Bad model files and bad options through the Python API: corrupt weights, a damaged
``tfprot.json``, misspelt factory options, per-residue ``.npz`` member names, and
transformers-style batches with the labels inside the features."""

from __future__ import annotations

import shutil
import zipfile

import numpy as np
import pytest

import tfprot
from tfprot.errors import CheckpointError, NonFiniteOutputError, OptionError, TfprotError
from tfprot.models import Embeddings

SEQUENCES = ["MKTAYIAKQRQISFVKSHFSRQ", "GGSWLLKAV", "MPEPTIDEKLV"]


def corrupt_tail(folder, size: int = 40_000) -> None:
    """Overwrite the last ``size`` bytes of ``model.safetensors`` with 0xFF (NaN as float32):
    the file still parses; the weights stored there (the top encoder layer's feed-forward in
    tiny-esm) are NaN."""
    path = folder / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[-size:] = b"\xff" * size
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def regressor_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("regressor") / "model"
    tfprot.sequence_regressor("tiny-esm", precision="float32").save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def corrupt_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corrupt") / "model"
    tfprot.sequence_classifier("tiny-esm", ["a", "b"], precision="float32").save_pretrained(folder)
    corrupt_tail(folder)
    return folder


def test_corrupt_weights_fail_prediction_naming_the_folder(corrupt_folder):
    model = tfprot.load_model(corrupt_folder, precision="float32")
    with pytest.raises(NonFiniteOutputError) as info:
        model.predict_sequences(SEQUENCES, progress=False)
    message = str(info.value)
    assert str(corrupt_folder) in message and "corrupt or mismatched weights" in message
    assert isinstance(info.value, TfprotError) and isinstance(info.value, FloatingPointError)
    with pytest.raises(NonFiniteOutputError, match=str(corrupt_folder)):
        model.predict_logits(SEQUENCES, progress=False)


@pytest.mark.parametrize("per_residue", [False, True])
def test_corrupt_weights_fail_embeddings_naming_the_folder(corrupt_folder, per_residue):
    model = tfprot.load_model(corrupt_folder, precision="float32", compile=False)
    with pytest.raises(NonFiniteOutputError, match=str(corrupt_folder)):
        model.embed(SEQUENCES, per_residue=per_residue, progress=False)
    with pytest.raises(NonFiniteOutputError, match=f"the checkpoint {corrupt_folder}"):
        tfprot.embed(corrupt_folder, SEQUENCES, per_residue=per_residue, precision="float32")


def test_corrupt_weights_fail_evaluate_naming_the_folder(corrupt_folder, cytosol_membrane):
    model = tfprot.load_model(corrupt_folder, precision="float32")
    test = cytosol_membrane.tf_dataset("test", model.tokenizer, batch_tokens=4096)  # 2 classes
    with pytest.raises(NonFiniteOutputError, match="non-finite evaluation loss") as info:
        model.evaluate(test.take(2), verbose=0)
    assert str(corrupt_folder) in str(info.value) and "learning rate" in str(info.value)


def test_sound_weights_still_predict_and_evaluate(cytosol_membrane):
    model = tfprot.sequence_classifier("tiny-esm", cytosol_membrane, precision="float32")
    predictions = model.predict_sequences(SEQUENCES, progress=False)
    assert all(np.isfinite(list(p.probabilities.values())).all() for p in predictions)
    test = cytosol_membrane.tf_dataset("test", model.tokenizer, batch_tokens=4096)
    scores = model.evaluate(test.take(2), return_dict=True, verbose=0)
    assert np.isfinite(scores["loss"])


@pytest.mark.parametrize(
    "text, expected",
    [
        ('{"task": "classification", "labels": ', "not valid JSON (line 1, column"),
        (b"\xff\xfe{\x00", "not UTF-8 text"),
        ('{"task": "classification"}', "lacks 'labels'"),
        ("[1, 2]", "a JSON list, not an object"),
        ('{"task": "folding", "labels": {"task": "token", "classes": ["C", "E"]}}', "Unknown task"),
    ],
)
def test_a_damaged_tfprot_json_names_the_file(regressor_folder, tmp_path, text, expected):
    folder = shutil.copytree(regressor_folder, tmp_path / "model")
    metadata = folder / "tfprot.json"
    if isinstance(text, bytes):
        metadata.write_bytes(text)
    else:
        metadata.write_text(text)
    with pytest.raises(CheckpointError) as info:
        tfprot.load_model(folder)
    message = str(info.value)
    assert str(metadata) in message and expected in message and "again" in message


def test_misspelt_factory_options_are_refused_with_the_closest_names(cytosol_membrane):
    with pytest.raises(OptionError, match="'learnig_rate'.*Did you mean 'learning_rate'"):
        tfprot.sequence_classifier("tiny-esm", cytosol_membrane, learnig_rate=1e-3)
    with pytest.raises(ValueError, match="Did you mean 'hidden_dropout_prob'"):
        tfprot.token_classifier("tiny-esm", ["C", "E", "H"], hiden_dropout_prob=0.1)
    with pytest.raises(OptionError, match="'num_labels' is set from the labels"):
        tfprot.sequence_classifier("tiny-esm", ["a", "b"], num_labels=3)
    # Real config values still reach the transformers config.
    model = tfprot.sequence_classifier(
        "tiny-esm", ["a", "b"], precision="float32", compile=False, hidden_dropout_prob=0.25
    )
    assert model.transformer.config.hidden_dropout_prob == 0.25


def test_misspelt_options_are_refused_for_a_folder_and_after_a_config_download(
    regressor_folder,
):
    from tfprot.data.labels import Task
    from tfprot.models.checkpoints import load_transformer

    folder = regressor_folder
    with pytest.raises(OptionError, match="Did you mean 'weight_decay'"):
        tfprot.sequence_regressor(folder, weight_decy=0.1)
    # The check a Hub id gets once its config is downloaded (a folder takes the same path).
    with pytest.raises(OptionError, match="not a setting of EsmConfig.*'layer_norm_eps'"):
        load_transformer(folder, Task.REGRESSION, layer_norm_epsilon=1e-6)
    model = tfprot.sequence_regressor(folder, precision="float32", attention_probs_dropout_prob=0.2)
    assert model.transformer.config.attention_probs_dropout_prob == 0.2


AWKWARD_IDS = ["residues/../../evil", "x", "x.npy", "sp|P69905|HBA_HUMAN", "3"]


def test_per_residue_npz_members_are_named_by_index_and_read_back_by_id(tmp_path):
    vectors = tuple(np.full((k + 1, 4), k, np.float32) for k in range(len(AWKWARD_IDS)))
    path = Embeddings(tuple(AWKWARD_IDS), vectors, per_residue=True).save(tmp_path / "e.npz")
    with zipfile.ZipFile(path) as archive:
        names = sorted(archive.namelist())
    assert names == sorted(
        ["ids.npy", "layout.npy", *(f"residues/{k}.npy" for k in range(len(AWKWARD_IDS)))]
    )
    with np.load(path) as saved:  # the id index: position k in ids is member residues/k
        assert saved["ids"].tolist() == AWKWARD_IDS
        for k in range(len(AWKWARD_IDS)):
            np.testing.assert_array_equal(saved[f"residues/{k}"], vectors[k])
    again = Embeddings.load(path)
    assert again.ids == tuple(AWKWARD_IDS) and again.per_residue
    for a, b in zip(again.vectors, vectors, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(again.by_id()["3"], vectors[4])


def test_per_residue_npz_of_the_earlier_layout_still_loads(tmp_path):
    # Written as tfprot 0.1 did: one member per id, no layout entry; the id "1" sits at index 0.
    ids = ["1", "0", "sp|Q1|A"]
    vectors = [np.full((k + 2, 3), k, np.float32) for k in range(3)]
    path = tmp_path / "old.npz"
    np.savez(
        path, ids=np.array(ids), **{f"residues/{i}": v for i, v in zip(ids, vectors, strict=True)}
    )
    again = Embeddings.load(path)
    assert again.ids == tuple(ids)
    for a, b in zip(again.vectors, vectors, strict=True):
        np.testing.assert_array_equal(a, b)
    np.savez(tmp_path / "cut.npz", ids=np.array(ids), layout=np.array("residues/<index>"))
    with pytest.raises(TfprotError, match="3 of 3 per-residue arrays are missing"):
        Embeddings.load(tmp_path / "cut.npz")


def test_labels_inside_the_features_train_like_features_and_labels(cytosol_membrane):
    first = tfprot.sequence_classifier("tiny-esm", cytosol_membrane, precision="float32")
    second = tfprot.sequence_classifier("tiny-esm", cytosol_membrane, precision="float32")
    second.set_weights(first.get_weights())
    train = cytosol_membrane.tf_dataset(
        "train", first.tokenizer, batch_tokens=4096, shuffle=False
    ).take(3)
    inside = train.map(lambda x, y: {**x, "labels": y})  # as transformers' TF notebooks write
    assert inside.element_spec.keys() >= {"input_ids", "attention_mask", "labels"}

    expected = first.fit(train, epochs=1, verbose=0).history["loss"]
    got = second.fit(inside, epochs=1, verbose=0).history["loss"]
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    for a, b in zip(second.get_weights(), first.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        second.evaluate(inside, verbose=0), first.evaluate(train, verbose=0), rtol=1e-6
    )
