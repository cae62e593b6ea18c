"""Repeated ids: exact repeats collapse (logged), conflicting ones are refused in one message or
resolved by an explicit ``duplicates='first'|'last'``.

References: FLIP's real bind split (``flip_bind/``, counted here with Biopython and a plain scan
of its header lines), and pandas' ``drop_duplicates(keep=...)`` for which rows ``first``/``last``
keep.
"""

from __future__ import annotations

import gzip
import logging
import re
from pathlib import Path

import pandas as pd
import pytest
from Bio import SeqIO

import tfprot
from tfprot.data import (
    from_hf_dataset,
    from_lists,
    read_fasta,
    read_fasta_dir,
    read_flip,
    read_records,
    read_table,
)
from tfprot.data.duplicates import resolve_duplicates
from tfprot.errors import DataFormatError, OptionError

BIND = Path(__file__).parent / "flip_bind"


# ---------------------------------------------------------------------------------------------
# The real FLIP bind split


def bind_entries() -> list[tuple[str, str, str, int]]:
    """(id, header description, labels, header line) of every entry, read with Biopython."""
    with gzip.open(BIND / "one_vs_many.fasta.gz", "rt") as handle:
        header_lines = [n for n, line in enumerate(handle, start=1) if line.startswith(">")]
    with gzip.open(BIND / "one_vs_many.fasta.gz", "rt") as handle:
        records = list(SeqIO.parse(handle, "fasta"))
    return [
        (r.id, r.description.split(maxsplit=1)[1], str(r.seq), line)
        for r, line in zip(records, header_lines, strict=True)
    ]


def test_real_bind_split_repeats_46_ids_13_in_conflict():
    entries = bind_entries()
    by_id: dict[str, list] = {}
    for entry in entries:
        by_id.setdefault(entry[0], []).append(entry)
    repeated = {k: v for k, v in by_id.items() if len(v) > 1}
    conflicting = {k: v for k, v in repeated.items() if len({e[1:3] for e in v}) > 1}
    assert (len(entries), len(by_id), len(repeated), len(conflicting)) == (1360, 1314, 46, 13)

    with pytest.raises(DataFormatError) as info:
        read_records(BIND)
    message = str(info.value)
    assert message.startswith(f"{BIND / 'one_vs_many.fasta.gz'}: 13 duplicate ids ")
    assert "(33 other ids repeat exactly; kept once.)" in message
    assert "duplicates='first' or 'last'" in message and "--duplicates first|last" in message
    # The first five conflicts in file order, each with both header lines and what differs.
    for key, found in list(conflicting.items())[:5]:
        assert f"{key!r} (lines {found[0][3]} and {found[1][3]}: split differs)" in message
    assert list(conflicting)[5] not in message and "and 8 more" in message


def split_of(header: str) -> str:
    """tfprot's split of a FLIP header: ``SET=train VALIDATION=True`` is validation."""
    keys = dict(word.split("=") for word in header.split())
    return "validation" if keys["VALIDATION"] == "True" else keys["SET"]


@pytest.mark.parametrize("keep", ["first", "last"])
def test_real_bind_split_with_an_explicit_choice(keep, caplog):
    entries = bind_entries()
    frame = pd.DataFrame(entries, columns=["id", "header", "labels", "line"])
    expected = frame.drop_duplicates("id", keep=keep)
    with caplog.at_level(logging.INFO, logger="tfprot.data.duplicates"):
        records = read_flip(BIND, duplicates=keep)
    assert [r.id for r in records] == list(expected["id"])
    assert [r.source.line for r in records] == list(expected["line"])
    assert [r.split for r in records] == [split_of(h) for h in expected["header"]]
    assert [r.residue_labels for r in records] == list(expected["labels"])
    with gzip.open(BIND / "sequences.fasta.gz", "rt") as handle:
        sequences = {r.id: str(r.seq) for r in SeqIO.parse(handle, "fasta")}
    assert all(r.sequence == sequences[r.id] for r in records)
    logged = caplog.text
    assert "33 ids repeated with the same sequence, labels and split; each is kept once" in logged
    assert f"13 ids repeated with different contents; kept the {keep} occurrence" in logged


def test_real_bind_split_through_the_dataset_and_an_unknown_choice():
    # The test split has ligand combinations (labels 3, 5, 6, 7) that training never sees.
    every_class = tfprot.LabelEncoder("token", tuple("01234567"))
    data = tfprot.ProteinDataset.from_path(
        BIND, "token", duplicates="first", label_encoder=every_class
    )
    assert len(data) == 1314
    with pytest.raises(OptionError, match=r"Unknown duplicates='keep'. Expect one of \("):
        tfprot.ProteinDataset.from_path(BIND, "token", duplicates="keep")


# ---------------------------------------------------------------------------------------------
# Small constructed files, every reader


def test_fasta_exact_repeats_collapse_and_are_logged(tmp_path, caplog):
    path = tmp_path / "x.fasta"
    path.write_text(">a first\nMKT\n>b\nGGS\n>a again\nMKT\n>a\nmkt*\n")
    with caplog.at_level(logging.INFO, logger="tfprot.data.duplicates"):
        records = read_fasta(path)
    assert [(r.id, r.sequence, r.source.line) for r in records] == [
        ("a", "MKT", 1),
        ("b", "GGS", 3),
    ]
    assert "1 id repeated with the same sequence, labels and split" in caplog.text
    assert "(2 exact repeats dropped)" in caplog.text


def test_fasta_conflicts_are_one_message_naming_every_line(tmp_path):
    path = tmp_path / "x.fasta"
    path.write_text(">a\nMKT\n>b\nGGS\n>a\nMKTA\n>b\nGGS\n>a\nMKT\n")
    with pytest.raises(DataFormatError) as info:
        read_fasta(path)
    assert str(info.value).startswith(
        f"{path}: 1 duplicate id with different contents: 'a' (lines 1, 5 and 9: sequence "
        "differs). (1 other id repeats exactly; kept once.)"
    )


ROWS = [
    ("p1", "MKT", "x", "train"),
    ("p2", "GGS", "y", "train"),
    ("p1", "MKT", "x", "test"),  # split differs
    ("p3", "AAA", "x", "train"),
    ("p2", "GGS", "y", "train"),  # exact
    ("p3", "AAA", "z", "train"),  # label differs
    ("p4", "CCC", "x", "test"),
    ("p1", "MKTT", "x", "train"),  # sequence differs
]


@pytest.fixture
def table(tmp_path) -> Path:
    path = tmp_path / "t.csv"
    frame = pd.DataFrame(ROWS, columns=["id", "sequence", "label", "set"])
    frame.to_csv(path, index=False)
    return path


def test_table_conflicts_name_rows_and_what_differs(table):
    with pytest.raises(DataFormatError) as info:
        read_table(table)
    assert str(info.value).startswith(
        f"{table}: 2 duplicate ids with different contents: 'p1' (row 1 (line 2); row 3 (line 4); "
        "row 8 (line 9): sequence and split differ); 'p3' (row 4 (line 5); row 6 (line 7): label "
        "differs). (1 other id repeats exactly; kept once.)"
    )


@pytest.mark.parametrize("keep", ["first", "last"])
def test_table_first_and_last_keep_the_rows_pandas_keeps(table, keep):
    expected = pd.read_csv(table).drop_duplicates("id", keep=keep)
    records = read_records(table, duplicates=keep)
    assert [(r.id, r.sequence, r.label, r.split) for r in records] == [
        tuple(row) for row in expected.itertuples(index=False)
    ]


def test_more_than_five_conflicts_are_counted(tmp_path):
    path = tmp_path / "many.csv"
    rows = [f"id{i},MKT,a\nid{i},MKT,b\n" for i in range(8)]
    path.write_text("id,sequence,label\n" + "".join(rows))
    with pytest.raises(DataFormatError, match="8 duplicate ids .* and 3 more") as info:
        read_table(path)
    assert "'id4'" in str(info.value) and "'id5'" not in str(info.value)


def test_fasta_dir_same_id_in_two_classes(tmp_path):
    (tmp_path / "a.fasta").write_text(">p1\nMKT\n")
    (tmp_path / "b.fasta").write_text(">p2\nMKT\n>p1\nMKT\n")
    with pytest.raises(DataFormatError) as info:
        read_fasta_dir(tmp_path)
    message = str(info.value)
    assert message.startswith(
        f"{tmp_path}: 1 duplicate id with different contents: 'p1' (a.fasta, line 1; b.fasta, "
        "line 3: label differs)."
    )
    assert "one class file only" in message
    assert [(r.id, r.label) for r in read_fasta_dir(tmp_path, duplicates="first")] == [
        ("p1", "a"),
        ("p2", "b"),
    ]
    assert [(r.id, r.label) for r in read_fasta_dir(tmp_path, duplicates="last")] == [
        ("p2", "b"),
        ("p1", "b"),
    ]


def test_flip_csv_and_in_memory_sources(tmp_path):
    path = tmp_path / "gb1.csv"
    path.write_text("sequence,target,set,validation\nMKT,1.5,train,\nGGS,0.5,test,\n")
    assert (
        len(read_records(path, format="flip", duplicates="last")) == 2
    )  # generated ids: no repeats
    with pytest.raises(DataFormatError, match=r"<list>: 1 duplicate id .*'a' \(row 1; row 2"):
        from_lists(["MKT", "GGS"], ids=["a", "a"])
    assert [r.sequence for r in from_lists(["MKT", "GGS"], ids=["a", "a"], duplicates="last")] == [
        "GGS"
    ]
    assert len(from_lists(["MKT", "MKT"], ["x", "x"], ids=["a", "a"])) == 1  # exact: collapsed

    import datasets

    parts = datasets.DatasetDict(
        train=datasets.Dataset.from_dict({"id": ["a", "b"], "sequence": ["MKT", "GGS"]}),
        test=datasets.Dataset.from_dict({"id": ["a"], "sequence": ["MKT"]}),
    )
    with pytest.raises(
        DataFormatError, match=r"'a' \(<dataset\['train'\]>, row 1; .*split differs"
    ):
        from_hf_dataset(parts)
    assert [(r.id, r.split) for r in from_hf_dataset(parts, duplicates="last")] == [
        ("b", "train"),
        ("a", "test"),
    ]


@pytest.mark.parametrize(
    "read",
    [read_fasta, read_table, read_fasta_dir, read_flip, read_records, from_lists, from_hf_dataset],
)
def test_unknown_choice_is_refused_by_name_before_reading(read, tmp_path):
    with pytest.raises(OptionError, match=re.escape("Unknown duplicates='keep'")) as info:
        read(tmp_path / "missing", duplicates="keep")
    assert isinstance(info.value, ValueError)


def test_resolve_duplicates_without_repeats_returns_the_records_unchanged():
    records = from_lists(["MKT", "GGS"])
    assert resolve_duplicates(records) == records
