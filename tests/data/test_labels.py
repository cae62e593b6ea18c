import numpy as np
import pytest

from tfprot.data import IGNORE_INDEX, LabelEncoder, Task, from_lists, infer_task
from tfprot.errors import LabelError


def test_classification_vocabulary_is_sorted_and_deterministic():
    records = from_lists(["MKT"] * 4, ["b", "a", "c", "a"])
    encoder = LabelEncoder.fit(records, "classification")
    assert encoder.classes == ("a", "b", "c")
    assert encoder == LabelEncoder.fit(list(reversed(records)), Task.CLASSIFICATION)
    assert [int(encoder.encode(r)) for r in records] == [1, 0, 2, 0]
    assert encoder.id2label == {0: "a", 1: "b", 2: "c"}


def test_unknown_label_is_an_error_naming_the_record_not_a_new_class():
    encoder = LabelEncoder("classification", ("a", "b"))
    (record,) = from_lists(["MKT"], ["z"], ids=["P9"])
    with pytest.raises(
        LabelError,
        match=r"<list>, row 1, id 'P9': unknown label 'z'; the known classes are \['a', 'b'\]",
    ):
        encoder.encode(record)


def test_multilabel_multi_hot():
    records = from_lists(["MKT"] * 3, ["Cytoplasm;Nucleus", "Nucleus", ("Membrane", "Cytoplasm")])
    encoder = LabelEncoder.fit(records, "multilabel")
    assert encoder.classes == ("Cytoplasm", "Membrane", "Nucleus")
    np.testing.assert_array_equal(encoder.encode(records[0]), [1, 0, 1])
    np.testing.assert_array_equal(encoder.encode(records[2]), [1, 1, 0])
    assert encoder.encode(records[0]).dtype == np.float32


def test_single_label_task_refuses_several_labels():
    (record,) = from_lists(["MKT"], [("a", "b")])
    with pytest.raises(LabelError, match="use task='multilabel'"):
        LabelEncoder("classification", ("a", "b")).encode(record)


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf", "high", ""])
def test_regression_targets_must_be_finite_numbers(bad):
    (record,) = from_lists(["MKT"], [bad], ids=["r1"])
    encoder = LabelEncoder("regression")
    with pytest.raises(LabelError, match="id 'r1'"):
        encoder.encode(record)


def test_regression_target_is_float32():
    (record,) = from_lists(["MKT"], ["1.25"])
    value = LabelEncoder("regression").encode(record)
    assert value.dtype == np.float32 and value == pytest.approx(1.25)


def test_token_labels_respect_the_mask_and_masked_labels_do_not_enter_the_vocabulary():
    records = from_lists(
        ["MKTA", "GG"], residue_labels=["HECX", "CC"], masks=[[1, 1, 1, 0], [1, 1]]
    )
    encoder = LabelEncoder.fit(records, "token")
    assert encoder.classes == ("C", "E", "H")
    np.testing.assert_array_equal(encoder.encode(records[0]), [2, 1, 0, IGNORE_INDEX])


def test_unknown_unmasked_residue_label_names_residue():
    (record,) = from_lists(["MKTA"], residue_labels=["HEXC"], ids=["p"])
    with pytest.raises(LabelError, match="unknown label 'X' at residue 3"):
        LabelEncoder("token", ("C", "E", "H")).encode(record)


def test_missing_label_and_bad_task_name():
    (record,) = from_lists(["MKT"])
    with pytest.raises(LabelError, match="no label"):
        LabelEncoder("classification", ("a", "b")).encode(record)
    with pytest.raises(LabelError, match="Unknown task 'clasification'"):
        Task.parse("clasification")
    with pytest.raises(LabelError, match="at least two classes"):
        LabelEncoder.fit(from_lists(["MKT"], ["a"]), "classification")


def test_round_trip_through_dict():
    encoder = LabelEncoder("multilabel", ("x", "y"), separator="|")
    assert LabelEncoder.from_dict(encoder.to_dict()) == encoder


@pytest.mark.parametrize(
    ("labels", "task"),
    [
        (["a", "b"], Task.CLASSIFICATION),
        (["0", "1", "1"], Task.CLASSIFICATION),
        (["a;b", "c"], Task.MULTILABEL),
        (["0.5", "1.25"], Task.REGRESSION),
        ([str(i) for i in range(30)], Task.REGRESSION),
    ],
)
def test_infer_task(labels, task):
    assert infer_task(from_lists(["MKT"] * len(labels), labels)) is task


def test_infer_token_task():
    assert infer_task(from_lists(["MKT"], residue_labels=["HHE"])) is Task.TOKEN


def test_one_class_only_names_the_file_the_column_and_what_to_do(tmp_path):
    import tfprot

    table = tmp_path / "one.csv"
    table.write_text("id,sequence,location\np1,MKT,membrane\np2,GGS,membrane\np3,AAA,membrane\n")
    with pytest.raises(LabelError) as info:
        tfprot.ProteinDataset.from_path(table, "classification", fractions=(1.0, 0.0, 0.0))
    message = str(info.value)
    assert message.startswith(f"{table}: every training record (3) has the same label 'membrane'")
    assert "(label column 'location')" in message and "--label-column" in message

    folder = tmp_path / "classes"
    folder.mkdir()
    (folder / "membrane.fasta").write_text(">p1\nMKT\n>p2\nGGS\n")
    with pytest.raises(LabelError, match="one FASTA file per class") as info:
        tfprot.ProteinDataset.from_path(folder, "classification", fractions=(1.0, 0.0, 0.0))
    assert str(info.value).startswith(f"{folder / 'membrane.fasta'}: every training record (2)")

    flip = tmp_path / "flip"
    flip.mkdir()
    (flip / "sequences.fasta").write_text(">a\nMKT\n")
    (flip / "sampled.fasta").write_text(">a SET=train VALIDATION=False\nCCC\n")
    with pytest.raises(LabelError) as info:
        tfprot.ProteinDataset.from_path(flip, "token")
    assert str(info.value).startswith(
        f"{flip / 'sampled.fasta'}: every training record (1) has the same per-residue label 'C'"
    )
