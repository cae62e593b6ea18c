import numpy as np
import pytest
import tensorflow as tf

from tfprot.data import LabelEncoder, ProteinDataset, Task, from_lists
from tfprot.errors import DataFormatError, LabelError


def test_bundled_example_is_the_cytosol_membrane_question(esm_tokenizer):
    data = ProteinDataset.example()
    assert len(data) == 2649
    assert data.label_encoder.classes == ("cytoplasmic", "plasma_membrane")
    summary = data.summary()
    assert (
        summary["train"]["records"],
        summary["validation"]["records"],
        summary["test"]["records"],
    ) == (2119, 265, 265)
    assert summary["test"]["targets"] == {"cytoplasmic": 141, "plasma_membrane": 124}
    baseline = data.majority_baseline("test")
    assert baseline["prediction"] == "cytoplasmic" and baseline["accuracy"] == pytest.approx(
        141 / 265
    )


def test_flip_secondary_structure_token_task(shared_data, esm_tokenizer):
    data = ProteinDataset.from_path(shared_data / "flip_secondary_structure", "token")
    assert [len(data.records(s)) for s in ("train", "validation", "test")] == [9712, 1080, 364]
    assert data.label_encoder.classes == ("C", "E", "H")
    summary = data.summary()
    train, test = summary["train"]["targets"], summary["test"]["targets"]
    majority = max("CEH", key=train.get)  # the training majority, applied to the test residues
    baseline = data.majority_baseline("test")
    assert baseline["prediction"] == majority
    assert baseline["accuracy"] == pytest.approx(
        test[majority] / (test["C"] + test["E"] + test["H"])
    )


def test_gb1_regression(shared_data, esm_tokenizer):
    data = ProteinDataset.from_path(shared_data / "flip_gb1" / "sampled.csv", "regression")
    assert data.label_encoder.num_labels == 1 and data.label_encoder.id2label == {0: "target"}
    features, labels = next(iter(data.tf_dataset("validation", esm_tokenizer)))
    assert labels.dtype == tf.float32 and labels.shape == (features["input_ids"].shape[0],)
    values = np.array([float(r.label) for r in data.records("test")])
    train = np.array([float(r.label) for r in data.records("train")])
    assert data.majority_baseline("test")["mse"] == pytest.approx(
        np.mean((values - train.mean()) ** 2), rel=1e-5
    )


def test_multilabel_dataset(esm_tokenizer):
    records = from_lists(
        ["MKTAY" * (i + 1) for i in range(20)],
        ["Cytoplasm;Nucleus", "Nucleus", "Membrane", "Cytoplasm"] * 5,
    )
    data = ProteinDataset(records, "multilabel", seed=1)
    _features, labels = next(iter(data.tf_dataset("train", esm_tokenizer, batch_tokens=2048)))
    assert labels.shape[1] == 3 and labels.dtype == tf.float32


def test_unknown_label_in_test_split_is_an_error_at_construction():
    records = from_lists(
        ["MKT", "GGS", "AAA", "CCC"],
        ["a", "b", "a", "zzz"],
        ids=["p1", "p2", "p3", "p4"],
        splits=["train", "train", "train", "test"],
    )
    with pytest.raises(LabelError, match="id 'p4': unknown label 'zzz'"):
        ProteinDataset(records, "classification")


def test_reusing_a_models_label_encoder_on_new_data():
    encoder = LabelEncoder("classification", ("a", "b", "c"))
    data = ProteinDataset(
        from_lists(["MKT", "GGS"], ["c", "a"]), label_encoder=encoder, fractions=(1, 0, 0)
    )
    assert data.task == Task.CLASSIFICATION and data.label_encoder is encoder
    with pytest.raises(
        LabelError, match="the label encoder is for 'classification', the task is 'regression'"
    ):
        ProteinDataset(from_lists(["MKT"], ["1.0"]), "regression", label_encoder=encoder)


def test_empty_inputs_and_splits(esm_tokenizer):
    with pytest.raises(DataFormatError, match="no records"):
        ProteinDataset([], "classification")
    data = ProteinDataset(
        from_lists(["MKT", "GGS", "AAA"], ["a", "b", "a"]), "classification", fractions=(1, 0, 0)
    )
    with pytest.raises(DataFormatError, match="the 'test' split is empty"):
        data.tf_dataset("test", esm_tokenizer)
    with pytest.raises(DataFormatError, match="Unknown split 'dev'"):
        data.records("dev")
