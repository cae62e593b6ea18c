"""UniProtResult: rows and records from the text UniProt sent, errors that name the line."""

from __future__ import annotations

import pytest

from tfprot.errors import DataFormatError, InvalidSequenceError
from tfprot.uniprot import UniProtRequest, UniProtResult

REQUEST = UniProtRequest("gene:INS", ("accession", "sequence"), base_url="http://127.0.0.1:1")


def test_rows_and_records_of_tsv():
    result = UniProtResult(REQUEST, "Entry\tSequence\nP01308\tMALW\nP01315\tmkty\n", count=2)
    assert result.rows() == [
        {"Entry": "P01308", "Sequence": "MALW"},
        {"Entry": "P01315", "Sequence": "mkty"},
    ]
    assert [(r.id, r.sequence, r.source.line) for r in result.records()] == [
        ("P01308", "MALW", 2),
        ("P01315", "MKTY", 3),
    ]


def test_a_row_with_a_missing_column_names_its_line():
    result = UniProtResult(REQUEST, "Entry\tSequence\nP01308\tMALW\nP01315\n", count=2)
    with pytest.raises(DataFormatError, match=r"line 3: 1 columns, the header 2"):
        result.rows()


def test_a_bad_sequence_names_the_record():
    result = UniProtResult(REQUEST, "Entry\tSequence\nP01308\tMA1W\n", count=1)
    with pytest.raises(InvalidSequenceError, match="P01308"):
        result.records()


def test_fasta_records_and_rows_refused():
    request = UniProtRequest("gene:INS", format="fasta", base_url="http://127.0.0.1:1")
    text = ">sp|P01308|INS_HUMAN Insulin\nMALW\nLLPL\n>tr|X1|X1_MOUSE\nMKT\n>plain desc\nGG\n"
    result = UniProtResult(request, text, count=3)
    assert [(r.id, r.sequence, r.description, r.source.line) for r in result.records()] == [
        ("P01308", "MALWLLPL", "INS_HUMAN Insulin", 1),
        ("X1", "MKT", "X1_MOUSE", 4),
        ("plain", "GG", "desc", 6),
    ]
    with pytest.raises(DataFormatError, match="use records"):
        result.rows()
