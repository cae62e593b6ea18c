"""Secondary structure from UniProt features: range arithmetic on hand-made rows, then real data."""

from __future__ import annotations

import re

import numpy as np
import pytest
from uniprot_server import UniProtServer

import tfprot
from tfprot.errors import DataFormatError
from tfprot.uniprot import ClientConfig, SecondaryStructure, fetch_labelled

EVIDENCE = '/evidence="ECO:0007829|PDB:1ABC"'
SEQUENCE = "MKTAYIAKQRQL"  # 12 residues
#            123456789012


def row(helix="", strand="", turn="", sequence=SEQUENCE, entry="P1"):
    return {
        "Entry": entry,
        "Sequence": sequence,
        "Helix": helix,
        "Beta strand": strand,
        "Turn": turn,
    }


def label(rows, **options):
    return SecondaryStructure(**options).label(rows if isinstance(rows, list) else [rows])


def test_ranges_are_one_based_and_inclusive():
    r = row(
        helix=f"HELIX 1..4; {EVIDENCE}; HELIX 12..12; {EVIDENCE}",
        strand=f"STRAND 6..8; {EVIDENCE}",
        turn=f"TURN 10..11; {EVIDENCE}",
    )
    #                               123456789012
    assert label(r).records[0].residue_labels == "HHHHCEEECCCH"
    assert label(r, turns="class").records[0].residue_labels == "HHHHCEEECTTH"
    record = label(r, unannotated="ignore").records[0]
    assert record.residue_labels == "HHHH-EEE-CCH"  # residues 5 and 9 lie in no feature
    record = label(r, unannotated="ignore", turns="class").records[0]
    assert record.residue_labels == "HHHH-EEE-TTH"
    assert record.mask == tuple(c != "-" for c in "HHHH-EEE-TTH")
    assert label(r, unannotated="ignore").summary.notes == {"unannotated residues ignored": 2}


def test_single_positions_and_uncertain_ends():
    r = row(helix=f"HELIX <1..2; {EVIDENCE}", strand="STRAND 5", turn="TURN 11..>12")
    assert label(r, turns="class").records[0].residue_labels == "HHCCECCCCCTT"


@pytest.mark.parametrize(
    ("overlap", "expected", "mask"),
    [
        ("ignore", "CHHH--EECCCC", (True,) * 4 + (False,) * 2 + (True,) * 6),
        ("helix", "CHHHHHEECCCC", None),
        ("strand", "CHHHEEEECCCC", None),  # the reference: strands written after helices
    ],
)
def test_overlapping_helix_and_strand(overlap, expected, mask):
    labelled = label(row(helix="HELIX 2..6", strand="STRAND 5..8"), overlap=overlap)
    record = labelled.records[0]
    assert record.residue_labels == expected
    assert record.mask == mask
    assert labelled.summary.notes == {"residues in both a helix and a strand": 2}


def test_helix_and_strand_win_over_turns():
    record = label(row(helix="HELIX 1..3", turn="TURN 3..4"), turns="class").records[0]
    assert record.residue_labels == "HHHTCCCCCCCC"


def test_rows_without_features_or_with_unknown_ends_are_dropped_and_counted():
    labelled = label(
        [
            row(entry="none"),
            row(entry="unknown", helix="HELIX 3..?; " + EVIDENCE),
            row(entry="fine", strand="STRAND 2..3"),
        ]
    )
    assert [r.id for r in labelled.records] == ["fine"]
    assert labelled.summary.dropped == {
        "no secondary-structure features": 1,
        "feature with an unknown position ('?')": 1,
    }
    assert labelled.summary.classes == {"C residues": 10, "E residues": 2}


@pytest.mark.parametrize(
    ("helix", "message"),
    [
        ("HELIX 10..13", r"HELIX 10\.\.13 does not fit a sequence of 12 residues"),
        ("HELIX 8..5", r"HELIX 8\.\.5 does not fit"),
        ("HELIX 0..3", r"HELIX 0\.\.3 does not fit"),
        ("helical somewhere", "holds no HELIX/STRAND/TURN feature"),
    ],
)
def test_bad_features_are_errors_naming_the_row(helix, message):
    rows = [row(entry="ok", strand="STRAND 1..2"), row(entry="bad", helix=helix)]
    with pytest.raises(DataFormatError, match=message) as caught:
        label(rows)
    assert "row 2, id 'bad'" in str(caught.value)


def test_needs_some_feature_column():
    with pytest.raises(DataFormatError, match="no column 'Helix', 'Beta strand' or 'Turn'"):
        label([{"Entry": "P1", "Sequence": "MKT"}])
    only_helix = [{"Entry": "P1", "Sequence": "MKT", "Helix": "HELIX 1..2"}]
    assert label(only_helix).records[0].residue_labels == "HHC"


def test_bad_options():
    with pytest.raises(DataFormatError, match="unannotated='other'"):
        SecondaryStructure(unannotated="other")
    with pytest.raises(DataFormatError, match="overlap='last'"):
        SecondaryStructure(overlap="last")


# -- against real data: FLIP secondary structure (NetSurfP-2.0 / PDB) ------------------------


def reference_labels(sequence: str, strand, helix) -> np.ndarray:
    """The reference notebook's build_labels: 0 other, 1 helix, 2 strand, all -100 if none."""
    labels = np.zeros(len(sequence), dtype=np.int64)
    if not helix:
        found_helix = False
    else:
        found_helix = True
        for match in re.finditer(r"HELIX (\d+)\.\.(\d+)\;", helix):
            start, end = int(match.group(1)) - 1, int(match.group(2))
            assert end <= len(sequence)
            labels[start:end] = 1
    if not strand:
        found_strand = False
    else:
        found_strand = True
        for match in re.finditer(r"STRAND (\d+)\.\.(\d+)\;", strand):
            start, end = int(match.group(1)) - 1, int(match.group(2))
            assert end <= len(sequence)
            labels[start:end] = 2
    if not found_helix and not found_strand:
        labels[:] = -100
    return labels


def test_round_trip_of_real_labels_through_the_server(flip, sleeps, tmp_path):
    """FLIP's per-residue H/E/C, served as UniProt features, come back residue for residue."""
    with UniProtServer([dict(e) for e in flip]) as server:
        config = ClientConfig(base_url=server.url, page_size=25)
        labelled = fetch_labelled(
            "structure_3d:true", SecondaryStructure(), config=config, cache_dir=tmp_path
        )
    assert server.requests[0].params["fields"] == "accession,sequence,ft_helix,ft_strand,ft_turn"
    with_features = [e for e in flip if set(e["_labels"]) & {"H", "E"}]
    assert [(r.id, r.sequence, r.residue_labels) for r in labelled.records] == [
        (e["accession"], e["sequence"], e["_labels"]) for e in with_features
    ]
    assert labelled.summary.dropped.get("no secondary-structure features", 0) == len(flip) - len(
        with_features
    )
    # the same as the reference's integers (C 0, H 1, E 2), FLIP having no helix/strand overlap
    codes = {"C": 0, "H": 1, "E": 2}
    for entry, record in zip(with_features, labelled.records, strict=True):
        reference = reference_labels(entry["sequence"], entry["ft_strand"], entry["ft_helix"])
        assert [codes[c] for c in record.residue_labels] == reference.tolist()
    data = labelled.dataset()
    assert data.task == tfprot.Task.TOKEN
    assert data.label_encoder.classes == ("C", "E", "H")
