"""Subcellular location labelers on hand-written rows in UniProt's format, and end to end."""

from __future__ import annotations

import pytest
from uniprot_server import QUERY

import tfprot
from tfprot.errors import DataFormatError
from tfprot.uniprot import (
    COMPARTMENTS,
    Compartments,
    CytosolMembrane,
    fetch,
    fetch_labelled,
    parse_subcellular_location,
)

LOCATION = "Subcellular location [CC]"


def reference_label(text: str) -> str | None:
    """The reference notebook's rule, verbatim in spirit: case-sensitive substrings."""
    cytosolic = "Cytosol" in text or "Cytoplasm" in text
    membrane = "Membrane" in text or "Cell membrane" in text
    if cytosolic and not membrane:
        return "cytosolic"
    if membrane and not cytosolic:
        return "membrane"
    return None  # both or neither: not in the reference data set


# (id, cc_subcellular_location as UniProt writes it, tfprot's label, the reference's label)
CASES = [
    (
        "vesicle",
        "SUBCELLULAR LOCATION: Cytoplasmic vesicle membrane {ECO:0000250|UniProtKB:P60881}; "
        "Single-pass membrane protein {ECO:0000255}.",
        "membrane",
        "cytosolic",  # "Cytoplasm" is a substring of "Cytoplasmic vesicle membrane"
    ),
    (
        "peripheral",
        "SUBCELLULAR LOCATION: Cell membrane {ECO:0000269|PubMed:10542231}; Peripheral membrane "
        "protein {ECO:0000269|PubMed:10542231}; Cytoplasmic side "
        "{ECO:0000269|PubMed:10542231}.",
        "membrane",
        None,  # "Cytoplasmic side" reads as cytosol: both, dropped
    ),
    (
        "note",
        "SUBCELLULAR LOCATION: Nucleus {ECO:0000269|PubMed:1}. Note=Shuttles to the Cytoplasm "
        "upon stress. {ECO:0000269|PubMed:2}.",
        None,
        "cytosolic",  # the free-text note
    ),
    (
        "er",
        "SUBCELLULAR LOCATION: Endoplasmic reticulum membrane {ECO:0000305}; Multi-pass membrane "
        "protein {ECO:0000255}.",
        "membrane",
        None,  # lower-case "membrane" only
    ),
    (
        "granule",
        "SUBCELLULAR LOCATION: Cytoplasmic granule {ECO:0000269|PubMed:3}.",
        None,
        "cytosolic",
    ),
    (
        "note-membrane",
        "SUBCELLULAR LOCATION: Nucleus. Note=Membrane-associated in dividing cells.",
        None,
        "membrane",
    ),
    (
        "both",
        "SUBCELLULAR LOCATION: Cytoplasm, cytosol {ECO:0000250}. Cell membrane {ECO:0000250}; "
        "Lipid-anchor {ECO:0000250}.",
        None,
        None,
    ),
    (
        "cytoskeleton",
        "SUBCELLULAR LOCATION: Cytoplasm, cytoskeleton, microtubule organizing center, "
        "centrosome {ECO:0000269|PubMed:4}.",
        "cytosolic",
        "cytosolic",
    ),
    (
        "generic-membrane",
        "SUBCELLULAR LOCATION: Membrane {ECO:0000305}; Single-pass type I membrane protein "
        "{ECO:0000305}.",
        "membrane",
        "membrane",
    ),
    (
        "isoform",
        "SUBCELLULAR LOCATION: [Isoform 1]: Nucleus {ECO:0000269|PubMed:5}.; SUBCELLULAR "
        "LOCATION: [Isoform 2]: Cytoplasm {ECO:0000269|PubMed:5}.",
        "cytosolic",
        "cytosolic",
    ),
    ("secreted", "SUBCELLULAR LOCATION: Secreted {ECO:0000269|PubMed:6}.", None, None),
    ("gpi", "SUBCELLULAR LOCATION: Cell membrane; GPI-anchor.", "membrane", "membrane"),
    ("empty", "", None, None),
]
SEQUENCES = ["MKTAYIAKQR", "GGSWLLPLAA", "MALWMRLLPL", "MDEKRLSQAV"]


def rows(cases=CASES):
    return [
        {"Entry": name, "Sequence": SEQUENCES[i % 4], LOCATION: text}
        for i, (name, text, *_) in enumerate(cases)
    ]


def test_the_cases_are_the_reference_noise():
    assert [reference_label(text) for _, text, _, _ in CASES] == [c[3] for c in CASES]
    differing = [name for name, _, ours, ref in CASES if ours != ref]
    assert differing == ["vesicle", "peripheral", "note", "er", "granule", "note-membrane"]


def test_cytosol_membrane_labels():
    labelled = CytosolMembrane().label(rows(), source="hand-written")
    got = {record.id: record.label for record in labelled.records}
    assert got == {name: ours for name, _, ours, _ in CASES if ours is not None}
    assert [r.id for r in labelled.records] == [c[0] for c in CASES if c[2] is not None]
    summary = labelled.summary
    assert (summary.rows, summary.kept) == (len(CASES), 7)
    assert summary.dropped == {
        "neither cytosol nor membrane": 4,
        "both cytosol and membrane": 1,
        "no subcellular location annotation": 1,
    }
    assert summary.examples["both cytosol and membrane"] == ("both",)
    assert summary.classes == {"cytosolic": 2, "membrane": 5}
    assert str(summary).startswith("kept 7 of 13 rows (cytosolic 2, membrane 5); dropped 6:")
    assert labelled.records[0].source.row == 1
    assert labelled.records[0].where == "hand-written, row 1, id 'vesicle'"


def test_cell_membrane_scope():
    labelled = CytosolMembrane(membrane="cell").label(rows())
    got = {record.id: record.label for record in labelled.records}
    assert got == {
        "peripheral": "membrane",
        "cytoskeleton": "cytosolic",
        "isoform": "cytosolic",
        "gpi": "membrane",
    }


def test_parsing_details():
    [statement] = parse_subcellular_location(
        "SUBCELLULAR LOCATION: Cell membrane {ECO:0000269|PubMed:1, ECO:0000305}; Multi-pass "
        "membrane protein (By similarity); Extracellular side."
    )
    assert statement.location == ("Cell membrane",)
    assert statement.qualifiers == ("Multi-pass membrane protein", "Extracellular side")
    statements = parse_subcellular_location(CASES[9][1])
    assert [(s.location, s.isoform) for s in statements] == [
        (("Nucleus",), "Isoform 1"),
        (("Cytoplasm",), "Isoform 2"),
    ]
    assert parse_subcellular_location("Cytoplasm. Nucleus") == parse_subcellular_location(
        "SUBCELLULAR LOCATION: Cytoplasm. Nucleus."
    )
    assert parse_subcellular_location("  ") == []


COMPARTMENT_CASES = [
    ("nuc", "SUBCELLULAR LOCATION: Nucleus, nucleolus {ECO:0000269}.", ("Nucleus",)),
    (
        "multi",
        "SUBCELLULAR LOCATION: Cytoplasm {ECO:1}. Nucleus {ECO:1}. Mitochondrion matrix.",
        ("Nucleus", "Cytoplasm", "Mitochondrion"),
    ),
    (
        "ecm",
        "SUBCELLULAR LOCATION: Secreted, extracellular space, extracellular matrix.",
        ("Extracellular",),
    ),
    (
        "apical",
        "SUBCELLULAR LOCATION: Apical cell membrane; Multi-pass membrane protein.",
        ("Cell membrane",),
    ),
    ("chloro", "SUBCELLULAR LOCATION: Plastid, chloroplast thylakoid membrane.", ("Plastid",)),
    (
        "golgi",
        "SUBCELLULAR LOCATION: Golgi apparatus, trans-Golgi network membrane; Peripheral "
        "membrane protein.",
        ("Golgi apparatus",),
    ),
    ("lyso", "SUBCELLULAR LOCATION: Lysosome membrane. Vacuole membrane.", ("Lysosome/Vacuole",)),
    ("pero", "SUBCELLULAR LOCATION: Peroxisome matrix.", ("Peroxisome",)),
    (
        "ergic",
        "SUBCELLULAR LOCATION: Endoplasmic reticulum-Golgi intermediate compartment membrane. "
        "Endoplasmic reticulum lumen.",
        ("Endoplasmic reticulum",),
    ),
    ("vesicle", "SUBCELLULAR LOCATION: Cytoplasmic vesicle, secretory vesicle.", None),
    ("empty", "", None),
]


def test_compartments_multi_label():
    cases = [(name, text) for name, text, _ in COMPARTMENT_CASES]
    labelled = Compartments().label(rows(cases))
    got = {record.id: record.label for record in labelled.records}
    assert got == {name: labels for name, _, labels in COMPARTMENT_CASES if labels}
    assert labelled.task == "multilabel"
    assert labelled.summary.dropped == {
        "no main compartment": 1,
        "no subcellular location annotation": 1,
    }
    assert labelled.summary.notes == {
        "not a main compartment: 'Endoplasmic reticulum-Golgi intermediate compartment membrane'": 1,
        "not a main compartment: 'Cytoplasmic vesicle'": 1,
    }
    assert set(COMPARTMENTS) >= {n for labels in got.values() for n in labels}


def test_compartments_single_label_and_subset():
    cases = [(name, text) for name, text, _ in COMPARTMENT_CASES]
    labelled = Compartments(multi_label=False).label(rows(cases))
    assert labelled.task == "classification"
    assert {r.id: r.label for r in labelled.records}["nuc"] == "Nucleus"
    assert "multi" not in {r.id for r in labelled.records}
    assert labelled.summary.dropped["several compartments"] == 1
    subset = Compartments(multi_label=False, compartments=["Nucleus", "Mitochondrion"]).label(
        rows(cases)
    )
    assert {r.id: r.label for r in subset.records} == {"nuc": "Nucleus"}
    assert subset.summary.dropped["several compartments"] == 1  # multi: Nucleus + Mitochondrion
    with pytest.raises(DataFormatError, match="Unknown compartments"):
        Compartments(compartments=["Cytosol"])


def test_missing_column_and_bad_sequence_are_errors():
    with pytest.raises(DataFormatError, match=r"no column 'Subcellular location \[CC\]'"):
        CytosolMembrane().label([{"Entry": "P1", "Sequence": "MKT"}])
    with pytest.raises(tfprot.InvalidSequenceError, match=r"row 2, id 'P2'"):
        CytosolMembrane().label(
            [
                {"Entry": "P1", "Sequence": "MKT", LOCATION: "Cytoplasm."},
                {"Entry": "P2", "Sequence": "MK1T", LOCATION: "Cytoplasm."},
            ]
        )
    with pytest.raises(DataFormatError, match="duplicate id"):
        CytosolMembrane().label([{"Entry": "P1", "Sequence": "MKT", LOCATION: ""}] * 2)


def test_field_names_work_as_keys():
    labelled = CytosolMembrane().label(
        [{"accession": "P1", "sequence": "MKT", "cc_subcellular_location": "Cytoplasm."}]
    )
    assert [(r.id, r.label) for r in labelled.records] == [("P1", "cytosolic")]


def test_end_to_end_from_the_server(server, config, multiloc, tmp_path):
    labelled = fetch_labelled(QUERY, CytosolMembrane(), config=config, cache_dir=tmp_path)
    reference = {"cytoplasmic": "cytosolic", "plasma_membrane": "membrane"}
    assert [(r.id, r.sequence, r.label) for r in labelled.records] == [
        (e["accession"], e["sequence"], reference[e["_class"]]) for e in multiloc
    ]
    assert server.requests[0].params["fields"] == "accession,sequence,cc_subcellular_location"
    data = labelled.dataset(seed=1)
    assert isinstance(data, tfprot.ProteinDataset)
    assert data.label_encoder.classes == ("cytosolic", "membrane")
    assert sum(len(data.splits[name]) for name in data.splits) == 460

    compartments = Compartments().label(
        fetch(QUERY, Compartments().fields, config=config, cache_dir=tmp_path)
    )
    assert compartments.dataset().task.value == "multilabel"
    assert compartments.summary.classes == {"Cell membrane": 230, "Cytoplasm": 230}


def test_fetch_labelled_refuses_a_labeler_class_before_any_request(server, config):
    from tfprot.errors import OptionError

    with pytest.raises(OptionError, match=r"call it: CytosolMembrane\(\)"):
        fetch_labelled(QUERY, CytosolMembrane, config=config, cache=False)
    assert server.requests == []
