"""Text decoding of every reader: byte-order marks, Latin-1, binary files, corrupt gzip.

Each file is written here as bytes; what the readers return is compared with the text as written
(the ids, sequences and labels put in), and the position an error names with the position of the
bad byte found in those bytes.
"""

from __future__ import annotations

import codecs
import gzip

import pytest

from tfprot.data import read_fasta, read_fasta_dir, read_flip, read_records, read_table
from tfprot.data._files import read_lines
from tfprot.errors import DataFormatError, TfprotError

BOM = codecs.BOM_UTF8
ROWS = [("P1", "MKTAYIAKQR", "membrane"), ("P2", "GGSWLLKE", "cytosol")]
CSV = "id,sequence,location\r\n" + "".join(f"{i},{s},{c}\r\n" for i, s, c in ROWS)
TSV = CSV.replace(",", "\t")
FASTA = "".join(f">{i} {c}\n{s}\n" for i, s, c in ROWS)


def write(path, data: bytes, *, compress: bool = False):
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gz"])
@pytest.mark.parametrize(
    ("name", "text"),
    [("t.csv", CSV), ("t.tsv", TSV), ("t.txt", TSV)],
    ids=["csv", "tsv", "sniffed"],
)
def test_tables_with_a_byte_order_mark_read_like_without(tmp_path, name, text, compress):
    name += ".gz" if compress else ""
    plain = write(tmp_path / f"plain_{name}", text.encode(), compress=compress)
    marked = write(tmp_path / f"bom_{name}", BOM + text.encode(), compress=compress)
    records = read_table(marked)
    assert [(r.id, r.sequence, r.label) for r in records] == ROWS  # ids kept, not row1, row2
    assert records == read_table(plain)
    assert records[0].source.label_column == "location"


def test_excel_unicode_text_utf16_with_a_byte_order_mark(tmp_path):
    path = write(tmp_path / "excel.tsv", TSV.encode("utf-16"))  # what Excel's "Unicode Text" saves
    assert [(r.id, r.sequence, r.label) for r in read_table(path)] == ROWS


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gz"])
def test_fasta_with_a_byte_order_mark(tmp_path, compress):
    path = write(
        tmp_path / ("x.fasta.gz" if compress else "x.fasta"),
        BOM + FASTA.encode(),
        compress=compress,
    )
    records = read_fasta(path)
    assert [(r.id, r.sequence, r.description) for r in records] == ROWS
    assert read_records(path) == records  # auto-detection reads the first header too


def test_fasta_files_joined_with_cat_keep_every_header(tmp_path):
    first, second = (BOM + f">{i} {c}\n{s}\n".encode() for i, s, c in ROWS)
    path = write(tmp_path / "joined.fasta", first + second)
    assert [(r.id, r.sequence) for r in read_fasta(path)] == [(i, s) for i, s, _ in ROWS]


def test_a_byte_order_mark_and_nothing_else(tmp_path):
    with pytest.raises(DataFormatError, match="the table is empty"):
        read_table(write(tmp_path / "empty.csv", BOM))
    with pytest.raises(DataFormatError, match="has a header but no rows"):
        read_table(write(tmp_path / "header.csv", BOM + b"id,sequence,label\r\n"))
    with pytest.raises(DataFormatError, match="no FASTA entries"):
        read_fasta(write(tmp_path / "empty.fasta", BOM + b"\n"))


def test_fasta_dir_and_flip_files_with_byte_order_marks(tmp_path):
    folder = tmp_path / "classes"
    folder.mkdir()
    for identifier, sequence, label in ROWS:
        write(folder / f"{label}.fasta", BOM + f">{identifier}\n{sequence}\n".encode())
    assert sorted((r.id, r.sequence, r.label) for r in read_fasta_dir(folder)) == sorted(ROWS)

    flip = tmp_path / "flip"
    flip.mkdir()
    write(flip / "sequences.fasta", BOM + b">a\nMKTAY\n>b\nGGSW\n")
    write(flip / "sampled.fasta", BOM + b">a SET=train VALIDATION=False\nCCHHC\n")
    write(flip / "mask.fasta", BOM + b">a\n01111\n")
    (record,) = read_flip(flip)
    assert (record.id, record.sequence, record.residue_labels, record.split) == (
        "a",
        "MKTAY",
        "CCHHC",
        "train",
    )
    assert record.mask == (False, True, True, True, True)


def _position(data: bytes, bad: bytes) -> tuple[int, int]:
    """(1-based line, 0-based byte offset) of ``bad`` in ``data``: the reference for messages."""
    offset = data.index(bad)
    return data[:offset].count(b"\n") + 1, offset


LATIN1_CSV = "id,sequence,location\nP1,MKTAY,membrane\nP2,GGSW,cytosol périphérique\n".encode(
    "latin-1"
)
LATIN1_FASTA = ">P1 membrane\nMKTAY\n>P2 protéine\nGGSW\n".encode("latin-1")


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gz"])
@pytest.mark.parametrize(
    ("name", "data", "read"),
    [
        ("t.csv", LATIN1_CSV, read_table),
        ("t.tsv", LATIN1_CSV.replace(b",", b"\t"), read_records),
        ("x.fasta", LATIN1_FASTA, read_fasta),
    ],
    ids=["csv", "tsv", "fasta"],
)
def test_latin1_text_names_file_line_and_byte(tmp_path, name, data, read, compress):
    path = write(tmp_path / (name + (".gz" if compress else "")), data, compress=compress)
    line, offset = _position(data, "é".encode("latin-1"))
    with pytest.raises(DataFormatError) as info:
        read(path)
    message = str(info.value)
    assert isinstance(info.value, TfprotError) and isinstance(info.value, ValueError)
    assert message.startswith(f"{path}, line {line} (byte offset {offset}): not UTF-8 text")
    assert "byte 0xe9" in message and "'é'" in message  # the byte, and what it is in Latin-1
    assert "save the file as UTF-8" in message


def test_latin1_in_fasta_dir_and_flip_files(tmp_path):
    folder = tmp_path / "classes"
    folder.mkdir()
    write(folder / "membrane.fasta", b">P1\nMKTAY\n")
    bad = write(folder / "cytosol.fasta", LATIN1_FASTA)
    line, offset = _position(LATIN1_FASTA, b"\xe9")
    with pytest.raises(DataFormatError, match=rf"^{bad}, line {line} \(byte offset {offset}\)"):
        read_fasta_dir(folder)

    flip = tmp_path / "flip"
    flip.mkdir()
    write(flip / "sampled.fasta", b">a SET=train VALIDATION=False\nCCHHC\n")
    cases = [
        (flip / "sequences.fasta", b">a\nMKTAY\n>\xe9b\nGGSW\n", flip),
        (flip / "sampled.fasta", b">a SET=train VALIDATION=False\nCCH\xe9C\n", flip),
        (tmp_path / "gb1.csv", b"sequence,target,set,validation\nMKT,1\xb75,train,\n", None),
    ]
    for path, data, folder in cases:
        write(flip / "sequences.fasta", b">a\nMKTAY\n")
        write(flip / "sampled.fasta", b">a SET=train VALIDATION=False\nCCHHC\n")
        write(path, data)
        line, offset = _position(data, bytes([next(b for b in data if b > 0x7F)]))
        with pytest.raises(
            DataFormatError, match=rf"^{path}, line {line} \(byte offset {offset}\)"
        ):
            read_records(folder or path, format="flip")


def test_a_binary_file_is_called_binary(tmp_path):
    data = b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(range(256)) * 4  # a zip archive's start
    line, offset = _position(data, b"\x80")
    for name, read in (("x.csv", read_table), ("x.fasta", read_fasta)):
        with pytest.raises(DataFormatError, match="looks like a binary file") as info:
            read(write(tmp_path / name, data))
        assert f"{name}, line {line} (byte offset {offset})" in str(info.value)


def test_nul_bytes_without_bad_utf8_are_refused(tmp_path):
    path = write(tmp_path / "x.csv", CSV.encode("utf-16-le"))  # UTF-16 without a mark
    with pytest.raises(DataFormatError, match=r"x.csv, line 1: holds NUL bytes"):
        read_table(path)


def test_corrupt_and_truncated_gzip_are_refused_before_parsing(tmp_path):
    text = "".join(f">P{i}\nMKTAYIAKQRQISFVKSHFSRQ\n" for i in range(3000))
    data = gzip.compress(text.encode())
    truncated = write(tmp_path / "cut.fasta.gz", data[: len(data) // 2])
    with pytest.raises(
        DataFormatError, match="cut.fasta.gz: the gzip data is corrupt or cut short"
    ):
        read_fasta(truncated)
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF  # inflates to plausible text; only the checksum tells
    corrupt = write(tmp_path / "bad.fasta.gz", bytes(flipped))
    for read in (read_fasta, read_records):
        with pytest.raises(DataFormatError, match="bad.fasta.gz: the gzip data is corrupt"):
            read(corrupt)
    table = write(tmp_path / "t.csv.gz", gzip.compress(CSV.encode() * 200)[:-12])
    with pytest.raises(DataFormatError, match="t.csv.gz: the gzip data is corrupt or cut short"):
        read_table(table)
    with pytest.raises(DataFormatError, match="not a gzip file, although its name ends in .gz"):
        read_fasta(write(tmp_path / "plain.fasta.gz", FASTA.encode()))


def test_gzip_data_under_a_plain_name_is_decompressed(tmp_path):
    path = write(tmp_path / "x.fasta", FASTA.encode(), compress=True)
    assert [(r.id, r.sequence) for r in read_fasta(path)] == [(i, s) for i, s, _ in ROWS]


def test_read_lines_keeps_line_ends_and_drops_only_the_mark(tmp_path):
    path = write(tmp_path / "x.csv", BOM + CSV.encode())
    assert list(read_lines(path)) == CSV.splitlines(keepends=True)
