import csv

import pytest

from tfprot.data import read_table
from tfprot.data.table import detect_columns
from tfprot.errors import DataFormatError, InvalidSequenceError


def test_csv_with_id_label_and_split_columns_detected(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("id,sequence,location,set\np1,MKTAY,membrane,train\np2,ggsw,cytosol,test\n")
    records = read_table(path)
    assert [(r.id, r.sequence, r.label, r.split) for r in records] == [
        ("p1", "MKTAY", "membrane", "train"),
        ("p2", "GGSW", "cytosol", "test"),
    ]
    assert records[1].source.describe() == f"{path}, row 2 (line 3)"


def test_tsv_with_named_columns_and_generated_ids(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("Seq\tFitness\tOther\nMKT\t0.5\tx\nGGS\t1.5\ty\n")
    records = read_table(path, sequence_column="Seq", label_column="Fitness")
    assert [(r.id, r.label) for r in records] == [("row1", "0.5"), ("row2", "1.5")]


def test_missing_named_column_lists_the_columns(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("sequence,label\nMKT,a\n")
    with pytest.raises(
        DataFormatError, match=r"no label column 'target'; the columns are \['sequence', 'label'\]"
    ):
        read_table(path, label_column="target")


def test_undetectable_sequence_column(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("protein,label\nMKT,a\n")
    with pytest.raises(DataFormatError, match="cannot tell which column holds the sequences"):
        read_table(path)


def test_bad_sequence_names_file_row_and_id(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("id,sequence,label\na,MKT,x\nb,MK9T,y\n")
    with pytest.raises(
        InvalidSequenceError,
        match=r"t.csv, row 2 \(line 3\), id 'b': invalid character '9' at position 3",
    ):
        read_table(path)


def test_wrong_field_count_and_bad_split_value_and_duplicate_id(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("sequence,label\nMKT,a,extra\n")
    with pytest.raises(DataFormatError, match="row 1 .*3 fields, but the header has 2"):
        read_table(path)
    path.write_text("sequence,label,set\nMKT,a,holdout\n")
    with pytest.raises(DataFormatError, match="unknown split 'holdout'"):
        read_table(path)
    path.write_text("id,sequence\nx,MKT\nx,GGG\n")
    with pytest.raises(
        DataFormatError, match=r"1 duplicate id .*'x' \(row 1 \(line 2\); row 2 \(line 3\)"
    ):
        read_table(path)


def test_validation_flag_makes_validation_rows(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(
        "sequence,target,set,validation\nMKT,1.0,train,\nGGG,2.0,train,True\nAAA,3.0,test,\n"
    )
    assert [r.split for r in read_table(path)] == ["train", "validation", "test"]


def test_detect_columns_uses_the_single_leftover_column_as_label():
    columns = detect_columns(["Entry", "Sequence", "Subcellular location [CC]"])
    assert (columns.id, columns.sequence, columns.label) == (
        "Entry",
        "Sequence",
        "Subcellular location [CC]",
    )
    assert detect_columns(["sequence", "a", "b"]).label is None  # ambiguous: no guess


def test_real_flip_gb1_csv(shared_data):
    path = shared_data / "flip_gb1" / "sampled.csv"
    records = read_table(path)
    with open(path) as handle:
        rows = list(csv.DictReader(handle))
    assert len(records) == len(rows) == 8733
    assert [r.sequence for r in records[:50]] == [row["sequence"] for row in rows[:50]]
    expected = ["validation" if row["validation"] == "True" else row["set"] for row in rows]
    assert [r.split for r in records] == expected
    assert {r.split for r in records} == {"train", "validation", "test"}
    assert float(records[1].label) == pytest.approx(float(rows[1]["target"]))
