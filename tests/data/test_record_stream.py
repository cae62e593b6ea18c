"""Lazy record streams against the in-memory readers on real files (FASTA, gzip, CSV): the same
records in the same order, repeated ids under the same policy and messages, errors before any
record is yielded, and a file read again on each pass rather than held."""

from __future__ import annotations

from pathlib import Path

import pytest

from tfprot.data import read_records
from tfprot.data.stream import RecordStream, batched, sequence_digest, stream_records
from tfprot.errors import DataFormatError, InvalidSequenceError

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
BUNDLED = Path(__file__).resolve().parents[2] / "tfprot" / "data" / "bundled"


def _fields(records):
    return [(r.id, r.sequence, r.label, r.split, r.description) for r in records]


def test_a_gzipped_fasta_streams_the_records_read_records_gives():
    path = BUNDLED / "cytosol_membrane" / "cytoplasmic.fasta.gz"
    stream = stream_records(path)
    expected = read_records(path)
    assert _fields(stream) == _fields(expected)
    assert _fields(stream) == _fields(expected)  # a second pass reads the file again
    assert stream.ids == tuple(r.id for r in expected)
    assert stream.lengths == {r.id: len(r.sequence) for r in expected}
    assert stream.digests[expected[3].id] == sequence_digest(expected[3].sequence)


def test_a_csv_table_streams_like_read_table():
    path = SHARED / "flip_gb1" / "low_vs_high.csv"
    stream = stream_records(path)
    expected = read_records(path)
    assert len(stream) == len(expected) == 8733
    head = [record for _, record in zip(range(50), stream, strict=False)]
    assert _fields(head) == _fields(expected[:50])
    assert [r.source.describe() for r in head[:2]] == [r.source.describe() for r in expected[:2]]


@pytest.mark.parametrize("duplicates", ["error", "first", "last"])
def test_repeated_ids_follow_the_duplicates_policy(tmp_path, duplicates):
    path = tmp_path / "d.fasta"
    path.write_text(">a\nMKT\n>b\nGGS\n>a\nMKT\n>c\nPEP\n>c\nWWW\n")
    try:
        expected = read_records(path, duplicates=duplicates)
    except DataFormatError as error:
        with pytest.raises(DataFormatError) as streamed:
            stream_records(path, duplicates=duplicates)
        assert str(streamed.value) == str(error)
        return
    stream = stream_records(path, duplicates=duplicates)
    assert _fields(stream) == _fields(expected)
    assert stream.lengths == {r.id: len(r.sequence) for r in expected}
    assert stream.digests["c"] == sequence_digest(
        expected[-1].sequence if duplicates == "last" else "PEP"
    )


def test_a_bad_record_fails_before_any_is_yielded(tmp_path):
    path = tmp_path / "bad.fasta"
    path.write_text(">ok\nMKT\n>bad\nMK1T\n")
    with pytest.raises(InvalidSequenceError, match="line 3"):
        stream_records(path)
    empty = tmp_path / "empty.csv"
    empty.write_text("id,sequence\n")
    with pytest.raises(DataFormatError, match="no records"):
        stream_records(empty)


def test_lists_and_streams_pass_through_and_windows_are_bounded():
    stream = stream_records(["MKT", "GGSW", "PEP"])
    assert isinstance(stream, RecordStream) and stream_records(stream) is stream
    assert [[r.id for r in w] for w in batched(stream, 2)] == [["seq0", "seq1"], ["seq2"]]
    with pytest.raises(DataFormatError, match="at least one"):
        list(batched(stream, 0))
