"""Mutation notation, mutation tables and windows: parsed and checked against the wild type."""

from __future__ import annotations

import pytest

from tfprot.errors import DataFormatError
from tfprot.zeroshot import Substitution, apply_mutant, parse_mutant, read_mutation_table
from tfprot.zeroshot.windows import window_for

WT = "MQYKLILNGK"


def test_single_multi_and_wild_type():
    assert parse_mutant("Y3A", WT) == (Substitution(3, "Y", "A"),)
    # ProteinGym's multi-mutants, sorted by position whatever the order written
    assert parse_mutant("K10R:Q2E", WT) == (Substitution(2, "Q", "E"), Substitution(10, "K", "R"))
    assert apply_mutant(WT, parse_mutant("K10R:Q2E", WT)) == "MEYKLILNGR"
    assert parse_mutant("WT", WT) == parse_mutant("_wt", WT) == ()


@pytest.mark.parametrize(
    ("mutant", "words"),
    [
        ("Y3", "not a substitution such as A24G"),
        ("3A", "not a substitution"),
        ("y3a", "not a substitution"),
        ("A0G", "not a substitution"),
        ("Y11A", "names position 11, but the wild type has 10 residues"),
        ("A3G", "says position 3 is A, but the wild type has Y there"),
        ("Y3J", "expect one of the 20 standard amino acids"),
        ("Y3A:Y3G", "changes position 3 twice"),
        ("", "the mutant is empty"),
    ],
)
def test_bad_mutants_are_refused_naming_the_row(mutant, words):
    with pytest.raises(DataFormatError, match="dms.csv, line 7") as raised:
        parse_mutant(mutant, WT, where="dms.csv, line 7")
    assert words in str(raised.value)


def test_proteingym_table(tmp_path):
    path = tmp_path / "dms.csv"
    path.write_text(
        "mutant,mutated_sequence,DMS_score,DMS_score_bin\n"
        f"Y3A,{apply_mutant(WT, parse_mutant('Y3A', WT))},-1.5,0\n"
        f"Q2E:K10R,MEYKLILNGR,0.25,1\n"
    )
    table = read_mutation_table(path, WT)
    assert table.columns == ("mutant", "mutated_sequence", "DMS_score", "DMS_score_bin")
    assert table.measurements == (-1.5, 0.25)
    assert [len(m) for m in table.mutants] == [1, 2]
    assert table.rows[1]["DMS_score_bin"] == "1"


def test_table_errors_name_file_and_line(tmp_path):
    path = tmp_path / "dms.csv"
    path.write_text("mutant,mutated_sequence,DMS_score\nY3A,MQAKLILNGK,1\nQ2E,MQYKLILNGK,2\n")
    with pytest.raises(DataFormatError, match=r"dms.csv, line 3: mutated_sequence is not the wild"):
        read_mutation_table(path, WT)
    path.write_text("mutant,DMS_score\nY3A,1\nQ2E,n/a\n")
    with pytest.raises(DataFormatError, match=r"line 3: DMS_score 'n/a' is not a finite number"):
        read_mutation_table(path, WT)
    path.write_text("variant\nY3A\n")
    with pytest.raises(DataFormatError, match="no 'mutant' column"):
        read_mutation_table(path, WT)
    tsv = tmp_path / "m.tsv"
    tsv.write_text("id\tmutant\nv1\tY3A\nv2\tG9X\n")
    with pytest.raises(DataFormatError, match=r"m.tsv, line 3: .*'X' at position 9"):
        read_mutation_table(tsv, WT)


def test_windows_follow_esm1v():
    # ProteinGym's get_optimal_window (ESM-1v) for a 1,022-residue model
    assert window_for(0, 500, 1022) == (0, 500)
    assert window_for(510, 2000, 1022) == (0, 1022)
    assert window_for(511, 2000, 1022) == (0, 1022)
    assert window_for(1000, 2000, 1022) == (489, 1511)
    assert window_for(1489, 2000, 1022) == (978, 2000)
    for position in range(0, 2000, 37):
        start, end = window_for(position, 2000, 1022)
        assert start <= position < end and end - start == 1022
