import gzip

import pytest

from tfprot.data import read_fasta
from tfprot.data.fasta import iter_fasta
from tfprot.errors import DataFileNotFoundError, DataFormatError, InvalidSequenceError


def write(tmp_path, text, name="x.fasta"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_multi_line_bodies_blank_lines_and_descriptions(tmp_path):
    path = write(
        tmp_path,
        "\n>P1 Some protein OS=Homo sapiens\nMKTAY\nIAKQR\n\n\n>P2\n\nggsw*\n>P3   spaced   header  \nM\n",
    )
    records = read_fasta(path)
    assert [(r.id, r.sequence, r.description) for r in records] == [
        ("P1", "MKTAYIAKQR", "Some protein OS=Homo sapiens"),
        ("P2", "GGSW", ""),
        ("P3", "M", "spaced   header"),
    ]
    assert [r.source.line for r in records] == [2, 7, 10]
    assert records[0].label is None and records[0].split is None


def test_gzip_is_read_transparently(tmp_path):
    path = tmp_path / "x.fasta.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(">a\nMKT\n")
    assert [r.sequence for r in read_fasta(path)] == ["MKT"]


def test_duplicate_ids_name_both_lines(tmp_path):
    path = write(tmp_path, ">a\nMKT\n>b\nMKT\n>a\nGGG\n")
    with pytest.raises(
        DataFormatError, match=r"x.fasta: 1 duplicate id .*'a' \(lines 1 and 5: sequence differs\)"
    ):
        read_fasta(path)
    with pytest.raises(DataFormatError, match=r"line 5: duplicate id 'a' \(first seen on line 1\)"):
        list(iter_fasta(path))  # raw entries: ids stay unique unless asked otherwise
    assert [e.id for e in iter_fasta(path, unique_ids=False)] == ["a", "b", "a"]


def test_bad_residue_names_file_line_id_character_and_position(tmp_path):
    path = write(tmp_path, ">ok\nMKT\n>bad one\nMKTA\nYJ\n")
    with pytest.raises(InvalidSequenceError) as info:
        read_fasta(path)
    message = str(info.value)
    assert "x.fasta, line 3, id 'bad'" in message
    assert "'J' at position 6" in message


def test_empty_entry_is_an_error_not_dropped(tmp_path):
    path = write(tmp_path, ">a\nMKT\n>empty\n>c\nGG\n")
    with pytest.raises(InvalidSequenceError, match=r"line 3, id 'empty': empty sequence"):
        read_fasta(path)


def test_text_before_first_header(tmp_path):
    with pytest.raises(DataFormatError, match="line 1: sequence text before the first '>' header"):
        read_fasta(write(tmp_path, "MKTAY\n>a\nMKT\n"))


def test_header_without_id(tmp_path):
    with pytest.raises(DataFormatError, match="line 3: header '>' without an id"):
        read_fasta(write(tmp_path, ">a\nMKT\n>  \nMKT\n"))


def test_missing_file_and_empty_file(tmp_path):
    with pytest.raises(DataFileNotFoundError, match="no such file"):
        read_fasta(tmp_path / "missing.fasta")
    with pytest.raises(DataFormatError, match="no FASTA entries"):
        read_fasta(write(tmp_path, "\n\n"))


def test_binary_file_is_a_format_error(tmp_path):
    path = tmp_path / "x.fasta"
    path.write_bytes(b">a\nMKT\n\xff\xfe\x00garbage")
    with pytest.raises(DataFormatError, match="not UTF-8"):
        read_fasta(path)


def test_real_multiloc_file(shared_data):
    records = read_fasta(shared_data / "multiloc" / "vacuolar.fasta")
    assert len(records) == 63
    assert records[0].id and records[0].description  # '>P13918 SP 28'
    assert all(set(r.sequence) <= set("ACDEFGHIKLMNPQRSTVWYXBZUO") for r in records)
    raw = [e.body for e in iter_fasta(shared_data / "multiloc" / "vacuolar.fasta")]
    assert [r.sequence for r in records] == [b.upper().rstrip("*") for b in raw]
