"""The text box and uploads: parsed like Biopython parses the same FASTA, errors naming the
record, the uploaded file named by its name, not the server's temporary path."""

from __future__ import annotations

import io

import pytest
from app_support import bundled_sequences

from tfprot.app.inputs import parse_text, read_request, read_upload
from tfprot.errors import DataFormatError, InvalidSequenceError


def test_pasted_fasta_reads_as_biopython_reads_it():
    from Bio import SeqIO

    entries = bundled_sequences(per_class=2)
    lines = []
    for identifier, sequence, label in entries:
        lines.append(f">{identifier} {label} example")
        lines += [sequence[i : i + 50] for i in range(0, len(sequence), 50)]  # wrapped at 50
        lines.append("")
    text = "\n".join(lines)
    expected = [
        (r.id, str(r.seq), r.description.split(maxsplit=1)[1])
        for r in SeqIO.parse(io.StringIO(text), "fasta")
    ]
    assert [(r.id, r.sequence, r.description) for r in parse_text(text)] == expected


def test_a_raw_sequence_ignores_case_white_space_and_a_final_stop():
    assert [(r.id, r.sequence) for r in parse_text("  mkta yiak\n qr*\n")] == [
        ("seq0", "MKTAYIAKQR")
    ]


@pytest.mark.parametrize(
    ("text", "error", "words"),
    [
        ("   \n", DataFormatError, "No sequence given"),
        (
            "MKT\n>p1\nGGS",
            DataFormatError,
            "the text box, line 2: sequence text before the first '>'",
        ),
        (">\nMKT", DataFormatError, "the text box, line 1: header '>' without an id"),
        (
            ">p1\nMKT\n>p2\n\n",
            InvalidSequenceError,
            "the text box, line 3, id 'p2': empty sequence",
        ),
        (">p1\nMKT\n>p1\nGGS", DataFormatError, "duplicate id with different contents: 'p1'"),
        ("MKTAY-IAK", InvalidSequenceError, "the text box: invalid character '-' at position 6"),
    ],
)
def test_bad_text_names_the_line_and_id(text, error, words):
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
        parse_text(text)


def test_an_upload_error_names_the_file_not_the_temporary_path(tmp_path):
    upload = tmp_path / "gradio-cache-1234" / "mine.fasta"
    upload.parent.mkdir()
    upload.write_text(">ok\nMKT\n>bad\nMK1T\n")
    with pytest.raises(InvalidSequenceError) as raised:
        read_upload(upload)
    assert "mine.fasta, line 3, id 'bad'" in str(raised.value)
    assert str(upload.parent) not in str(raised.value)


def test_a_csv_upload_reads_its_sequence_column(tmp_path):
    upload = tmp_path / "table.csv"
    upload.write_text("id,sequence\nt1,MKTAY\nt2,GGSW\n")
    assert [(r.id, r.sequence) for r in read_request("", upload)] == [
        ("t1", "MKTAY"),
        ("t2", "GGSW"),
    ]
