import pytest

from tfprot.data import read_fasta_dir
from tfprot.errors import DataFileNotFoundError, DataFormatError


def test_labels_are_file_names_and_gz_is_read(tmp_path):
    import gzip

    (tmp_path / "membrane.fasta").write_text(">p1\nMKT\n>p2\nGGG\n")
    with gzip.open(tmp_path / "cytosol.fa.gz", "wt") as handle:
        handle.write(">p3\nAAA\n")
    (tmp_path / "notes.txt").write_text("ignored")
    assert [(r.id, r.label) for r in read_fasta_dir(tmp_path)] == [
        ("p3", "cytosol"),
        ("p1", "membrane"),
        ("p2", "membrane"),
    ]


def test_same_id_in_two_classes_names_both(tmp_path):
    (tmp_path / "a.fasta").write_text(">p1\nMKT\n")
    (tmp_path / "b.fasta").write_text(">p2\nMKT\n>p1\nGGG\n")
    with pytest.raises(
        DataFormatError, match=r"'p1' \(a.fasta, line 1; b.fasta, line 3: sequence and label differ"
    ):
        read_fasta_dir(tmp_path)


def test_empty_or_missing_folder(tmp_path):
    with pytest.raises(DataFormatError, match="no FASTA files"):
        read_fasta_dir(tmp_path)
    with pytest.raises(DataFileNotFoundError):
        read_fasta_dir(tmp_path / "nope")


def test_real_multiloc(shared_data):
    records = read_fasta_dir(shared_data / "multiloc")
    counts = {}
    for record in records:
        counts[record.label] = counts.get(record.label, 0) + 1
    assert counts == {
        "ER": 198,
        "Golgi": 150,
        "chloroplast": 449,
        "cytoplasmic": 1411,
        "extracellular": 843,
        "lysosomal": 103,
        "mitochondrial": 510,
        "nuclear": 837,
        "peroxisomal": 157,
        "plasma_membrane": 1238,
        "vacuolar": 63,
    }
    assert len({r.id for r in records}) == 5959
