import datasets
import pytest

from tfprot.data import from_hf_dataset, from_lists
from tfprot.errors import DataFormatError, InvalidSequenceError


def test_from_lists_with_everything():
    records = from_lists(
        ["mkt", "GGSW"],
        ["a", "b;c"],
        ids=["x", "y"],
        residue_labels=["HEC", "CCCC"],
        masks=[[1, 1, 0], [1, 1, 1, 1]],
        splits=["train", "test"],
    )
    assert [(r.id, r.sequence, r.label, r.residue_labels, r.split) for r in records] == [
        ("x", "MKT", "a", "HEC", "train"),
        ("y", "GGSW", "b;c", "CCCC", "test"),
    ]
    assert records[0].mask == (True, True, False)


def test_from_lists_errors():
    with pytest.raises(DataFormatError, match="2 sequences but 1 labels"):
        from_lists(["MKT", "GG"], ["a"])
    with pytest.raises(DataFormatError, match="duplicate id"):
        from_lists(["MKT", "GG"], ids=["a", "a"])
    with pytest.raises(
        InvalidSequenceError, match=r"<list>, row 2, id 'seq1': invalid character 'J'"
    ):
        from_lists(["MKT", "GJG"])
    with pytest.raises(DataFormatError, match="one string"):
        from_lists("MKT")
    with pytest.raises(DataFormatError, match="no sequences"):
        from_lists([])
    with pytest.raises(DataFormatError, match="2 residue labels for a sequence of 3"):
        from_lists(["MKT"], residue_labels=["HE"])


def test_from_hf_dataset_decodes_class_labels():
    features = datasets.Features(
        {
            "name": datasets.Value("string"),
            "sequence": datasets.Value("string"),
            "label": datasets.ClassLabel(names=["cytosol", "membrane"]),
        }
    )
    ds = datasets.Dataset.from_dict(
        {"name": ["p1", "p2", "p3"], "sequence": ["MKT", "GGS", "AAA"], "label": [1, 0, 1]},
        features=features,
    )
    records = from_hf_dataset(ds)
    assert [(r.id, r.label) for r in records] == [
        ("p1", "membrane"),
        ("p2", "cytosol"),
        ("p3", "membrane"),
    ]


def test_from_hf_dataset_multilabel_and_token_columns():
    ds = datasets.Dataset.from_dict(
        {
            "seq": ["MKT", "GGSW"],
            "locations": [["Cytoplasm", "Nucleus"], ["Membrane"]],
            "ss": [["H", "E", "C"], ["C", "C", "C", "C"]],
        }
    )
    records = from_hf_dataset(
        ds, sequence_column="seq", label_column="locations", residue_label_column="ss"
    )
    assert records[0].label == ("Cytoplasm", "Nucleus")
    assert records[0].residue_labels == ("H", "E", "C")


def test_from_hf_dataset_dict_keys_are_splits():
    dd = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict({"sequence": ["MKT", "GGS"], "label": ["a", "b"]}),
            "test": datasets.Dataset.from_dict({"sequence": ["AAA"], "label": ["a"]}),
        }
    )
    records = from_hf_dataset(dd)
    assert [(r.sequence, r.split) for r in records] == [
        ("MKT", "train"),
        ("GGS", "train"),
        ("AAA", "test"),
    ]
    assert len({r.id for r in records}) == 3


def test_from_hf_dataset_real_sequences(shared_data):
    from tfprot.data import read_fasta

    originals = read_fasta(shared_data / "multiloc" / "lysosomal.fasta")
    ds = datasets.Dataset.from_dict(
        {
            "id": [r.id for r in originals],
            "sequence": [r.sequence for r in originals],
            "label": ["lysosomal"] * len(originals),
        }
    )
    records = from_hf_dataset(ds)
    assert [(r.id, r.sequence) for r in records] == [(r.id, r.sequence) for r in originals]
