import pytest

from tfprot.data import read_flip, read_records
from tfprot.data.fasta import iter_fasta
from tfprot.errors import DataFormatError


@pytest.fixture
def flip_folder(tmp_path):
    (tmp_path / "sequences.fasta").write_text(">a\nMKTAY\n>b\nGGSW\n>unused\nMMM\n")
    (tmp_path / "sampled.fasta").write_text(
        ">a SET=train VALIDATION=False\nCCHHC\n>b SET=train VALIDATION=True\nCEEC\n"
    )
    (tmp_path / "mask.fasta").write_text(">a\n01111\n>b\n1110\n>unused\n111\n")
    return tmp_path


def test_token_split_with_mask_and_validation(flip_folder):
    records = read_flip(flip_folder)
    assert [(r.id, r.sequence, r.residue_labels, r.split) for r in records] == [
        ("a", "MKTAY", "CCHHC", "train"),
        ("b", "GGSW", "CEEC", "validation"),
    ]
    assert records[0].mask == (False, True, True, True, True)
    assert read_records(flip_folder) == records  # auto-detected as flip


def test_label_length_mismatch_names_the_id(flip_folder):
    (flip_folder / "sampled.fasta").write_text(">a SET=train VALIDATION=False\nCCHH\n")
    with pytest.raises(
        DataFormatError, match=r"id 'a': 4 residue labels for a sequence of 5 residues"
    ):
        read_flip(flip_folder)


def test_mask_errors(flip_folder):
    (flip_folder / "mask.fasta").write_text(">a\n01121\n>b\n1110\n")
    with pytest.raises(DataFormatError, match="mask character '2' at position 4"):
        read_flip(flip_folder)
    (flip_folder / "mask.fasta").write_text(">b\n1110\n")
    with pytest.raises(DataFormatError, match="id 'a' is not in .*mask.fasta"):
        read_flip(flip_folder)


def test_id_missing_from_sequences(flip_folder):
    (flip_folder / "sampled.fasta").write_text(">zzz SET=test VALIDATION=False\nCC\n")
    with pytest.raises(DataFormatError, match="id 'zzz' is not in .*sequences.fasta"):
        read_flip(flip_folder)


def test_several_splits_need_a_choice(flip_folder):
    (flip_folder / "other.fasta").write_text(">a SET=test VALIDATION=False\nCCCCC\n")
    with pytest.raises(
        DataFormatError, match=r"several split files \(other, sampled\); choose one"
    ):
        read_flip(flip_folder)
    assert [r.split for r in read_flip(flip_folder, split="other")] == ["test"]
    with pytest.raises(DataFormatError, match="no split 'nope'"):
        read_flip(flip_folder, split="nope")


def test_sequence_task_single_file_with_target(tmp_path):
    path = tmp_path / "gb1.fasta"
    path.write_text(
        ">s0 TARGET=1.5 SET=train VALIDATION=False\nMKTAY\n>s1 TARGET=0.25 SET=test VALIDATION=False\nGGSW\n"
    )
    records = read_flip(path)
    assert [(r.id, r.sequence, r.label, r.split) for r in records] == [
        ("s0", "MKTAY", "1.5", "train"),
        ("s1", "GGSW", "0.25", "test"),
    ]
    assert read_records(path) == records  # a FASTA with SET= is auto-detected as flip


def test_real_flip_secondary_structure(shared_data):
    folder = shared_data / "flip_secondary_structure"
    records = read_flip(folder)
    assert len(records) == 11156
    splits = {}
    for record in records:
        splits[record.split] = splits.get(record.split, 0) + 1
    assert splits == {"train": 9712, "validation": 1080, "test": 364}
    sequences = {e.id: e.body for e in iter_fasta(folder / "sequences.fasta")}
    masks = {e.id: e.body for e in iter_fasta(folder / "mask.fasta")}
    labels = {e.id: e.body for e in iter_fasta(folder / "sampled.fasta")}
    for record in records[::97]:
        assert record.sequence == sequences[record.id]
        assert record.residue_labels == labels[record.id]
        assert "".join("1" if m else "0" for m in record.mask) == masks[record.id]
    assert set("".join(r.residue_labels for r in records)) == {"C", "E", "H"}
