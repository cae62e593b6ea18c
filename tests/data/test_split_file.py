"""Split files (id,set,cluster): written atomically, read back with clear errors, applied to the
data they were made for."""

from __future__ import annotations

import csv

import pytest

from tfprot.data import from_lists
from tfprot.data.split_file import apply_split_file, read_split_file, write_split_file
from tfprot.errors import DataFormatError


def records():
    return from_lists(["MKTAY", "GGSWK", "MKTAW", "PPLKE"], ["a", "b", "a", "b"])


def test_written_rows_read_back_with_the_csv_module(tmp_path):
    path = tmp_path / "split.csv"
    rows = [("seq0", "train", "seq0"), ("seq1", "test", ""), ("s,2", "removed", "seq0")]
    write_split_file(path, rows)
    with open(path, newline="") as handle:
        assert list(csv.reader(handle)) == [["id", "set", "cluster"], *map(list, rows)]
    assert read_split_file(path) == {"seq0": "train", "seq1": "test", "s,2": "removed"}
    assert [p.name for p in tmp_path.iterdir()] == ["split.csv"]  # no temporary left


def test_applying_a_split_file_sets_splits_and_leaves_removed_records_out(tmp_path):
    path = tmp_path / "split.csv"
    path.write_text("set,id\nTRAIN,seq0\nvalidation,seq1\ntest,seq2\nremoved,seq3\n")
    kept, removed = apply_split_file(records(), path)  # column order and case do not matter
    assert [(r.id, r.split) for r in kept] == [
        ("seq0", "train"),
        ("seq1", "validation"),
        ("seq2", "test"),
    ]
    assert removed == ["seq3"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the split file is empty"),
        ("id,split\nseq0,train\n", "line 1: no 'set' column in \\['id', 'split'\\]"),
        ("id,set\nseq0,train\nseq1,holdout\n", "line 3, id 'seq1': unknown set 'holdout'"),
        ("id,set\nseq0,train\nseq0,test\n", "line 3: id 'seq0' is listed twice"),
    ],
)
def test_bad_split_files_name_the_file_and_line(tmp_path, text, message):
    path = tmp_path / "split.csv"
    path.write_text(text)
    with pytest.raises(DataFormatError, match=message):
        read_split_file(path)


def test_a_split_file_for_other_data_is_refused(tmp_path):
    path = tmp_path / "split.csv"
    path.write_text("id,set\nseq0,train\nseq1,test\n")
    with pytest.raises(DataFormatError, match="2 of 4 records are not in the split file, e.g. "):
        apply_split_file(records(), path)
    path.write_text("id,set\nseq0,train\nseq1,test\nseq2,test\nseq3,test\nP999,test\n")
    with pytest.raises(DataFormatError, match=r"1 ids of the split file are not in the data.*P999"):
        apply_split_file(records(), path)
