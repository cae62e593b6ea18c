"""Subcellular location labels from UniProt's ``cc_subcellular_location`` column.

The column reads, for example::

    SUBCELLULAR LOCATION: Cell membrane {ECO:0000269|PubMed:1}; Peripheral membrane protein;
    Cytoplasmic side. Cytoplasmic vesicle membrane. Note=Translocates to the cytoplasm upon ...;
    SUBCELLULAR LOCATION: [Isoform 2]: Cytoplasm, cytosol.

The reference fine-tuning example labels a protein cytosolic if that text contains "Cytosol" or
"Cytoplasm", membrane if it contains "Membrane" or "Cell membrane" (case-sensitive substrings),
and drops proteins that are both. That mislabels, among others, "Cytoplasmic vesicle membrane"
(an organelle membrane, counted as cytosol), a membrane protein's orientation "Cytoplasmic side"
(counted as cytosol, so the protein is dropped as both) and free-text notes ("Note=Translocates
to the cytoplasm..."), and misses "Endoplasmic reticulum membrane" (lower-case "membrane").

tfprot parses the text instead (:func:`parse_subcellular_location`):

1. Each ``SUBCELLULAR LOCATION:`` block is read; an isoform prefix (``[Isoform 2]:``) is kept
   with the statements, and every isoform's statements count.
2. Evidence tags ``{ECO:...}`` and parenthesised qualifiers are removed; everything from
   ``Note=`` to the end of the block is free text and ignored.
3. The rest splits on ``.`` into statements, each ``location[; topology][; orientation]``; the
   location is a comma-separated path from general to specific ("Cytoplasm, cytoskeleton").

Then, for :class:`CytosolMembrane` (the reference's binary task):

- **cytosolic**: a statement whose location starts with "Cytoplasm" or "Cytosol" (any
  sub-location: "Cytoplasm, cytoskeleton" counts; "Cytoplasmic vesicle" and "Cytoplasmic
  granule" are other locations, not the cytosol);
- **membrane** (``membrane='any'``): a location term containing the word "membrane" ("Cell
  membrane", "Membrane", "Endoplasmic reticulum membrane", "Cytoplasmic vesicle membrane"...) or
  a membrane topology ("Single-pass type I membrane protein", "Multi-pass membrane protein",
  "Peripheral membrane protein", "Lipid-anchor", "GPI-anchor"); with ``membrane='cell'`` only
  the plasma membrane ("Cell membrane", "Apical cell membrane"...);
- rows that are both are dropped (as in the reference), and so are rows that are neither and
  rows without annotation; the summary counts each reason.

:class:`Compartments` maps locations to the ten main compartments of DeepLoc (``COMPARTMENTS``)
by the first term of the location; terms outside them ("Cytoplasmic vesicle", "Endosome", "Cell
projection", "Membrane"...) are counted in the summary and do not make a label.

>>> [s.location for s in parse_subcellular_location(
...     "SUBCELLULAR LOCATION: Cytoplasm, cytosol {ECO:0000250}. Note=Membrane-bound when active.")]
[('Cytoplasm', 'cytosol')]
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tfprot.errors import DataFormatError
from tfprot.uniprot.labelers import Drop, Labeler

__all__ = [
    "COMPARTMENTS",
    "Compartments",
    "CytosolMembrane",
    "LocationStatement",
    "compartment",
    "is_cytosolic",
    "is_membrane",
    "parse_subcellular_location",
]

COMPARTMENTS = (
    "Nucleus",
    "Cytoplasm",
    "Extracellular",
    "Mitochondrion",
    "Cell membrane",
    "Endoplasmic reticulum",
    "Plastid",
    "Golgi apparatus",
    "Lysosome/Vacuole",
    "Peroxisome",
)
"""The main compartments (the ten classes of DeepLoc), in this order."""

_COMPARTMENT_PATTERNS = (
    ("Cytoplasm", re.compile(r"^(cytoplasm|cytosol)$")),
    ("Nucleus", re.compile(r"^nucleus( |$)")),
    ("Extracellular", re.compile(r"^(secreted|extracellular space|extracellular matrix)$")),
    ("Mitochondrion", re.compile(r"^mitochondrion( |$)")),
    ("Cell membrane", re.compile(r"^((apical|basal|basolateral|lateral) )?cell membrane$")),
    ("Endoplasmic reticulum", re.compile(r"^endoplasmic reticulum( |$)")),
    ("Plastid", re.compile(r"^(plastid|chloroplast)( |$)")),
    ("Golgi apparatus", re.compile(r"^golgi apparatus( |$)")),
    ("Lysosome/Vacuole", re.compile(r"^(lysosome|vacuole)( |$)")),
    ("Peroxisome", re.compile(r"^(peroxisome|glyoxysome)( |$)")),
)
_BLOCK = re.compile(r"SUBCELLULAR LOCATION:\s*")
_ISOFORM = re.compile(r"^\[([^\]]+)\]:\s*")
_EVIDENCE = re.compile(r"\{[^}]*\}")
_PARENTHESES = re.compile(r"\([^)]*\)")
_NOTE = re.compile(r"\bNote=")
_MEMBRANE_WORD = re.compile(r"\bmembrane\b", re.IGNORECASE)
_CELL_MEMBRANE = re.compile(r"\bcell membrane$", re.IGNORECASE)
_MEMBRANE_TOPOLOGY = re.compile(r"membrane protein|\banchor\b|-anchor", re.IGNORECASE)
_LOCATION_FIELD = "cc_subcellular_location"


@dataclass(frozen=True)
class LocationStatement:
    """One location statement of the subcellular location comment.

    Attributes:
        location: the location path, e.g. ``('Cytoplasm', 'cytoskeleton')``.
        qualifiers: topology and orientation, e.g. ``('Peripheral membrane protein',
            'Cytoplasmic side')``.
        isoform: ``'Isoform 2'`` for an isoform-specific statement, else ``None``.
    """

    location: tuple[str, ...]
    qualifiers: tuple[str, ...] = ()
    isoform: str | None = None


def parse_subcellular_location(text: str | None) -> list[LocationStatement]:
    """The location statements of a ``cc_subcellular_location`` value (notes and evidence out).

    >>> statements = parse_subcellular_location(
    ...     "SUBCELLULAR LOCATION: Cell membrane {ECO:0000269|PubMed:9}; Peripheral membrane "
    ...     "protein; Cytoplasmic side. Note=Cytoplasmic in resting cells.; SUBCELLULAR "
    ...     "LOCATION: [Isoform 2]: Nucleus.")
    >>> for s in statements:
    ...     print(s.location, s.qualifiers, s.isoform)
    ('Cell membrane',) ('Peripheral membrane protein', 'Cytoplasmic side') None
    ('Nucleus',) () Isoform 2
    """
    if not text or not text.strip():
        return []
    text = _EVIDENCE.sub("", text)
    statements = []
    for block in _BLOCK.split(text):
        block = block.strip()
        isoform = None
        match = _ISOFORM.match(block)
        if match:
            isoform = match.group(1).strip()
            block = block[match.end() :]
        block = _NOTE.split(block, maxsplit=1)[0]
        for raw in block.split("."):
            raw = _PARENTHESES.sub("", raw).strip().strip(";").strip()
            if not raw:
                continue
            parts = [part.strip() for part in raw.split(";") if part.strip()]
            location = tuple(term.strip() for term in parts[0].split(",") if term.strip())
            if location:
                statements.append(LocationStatement(location, tuple(parts[1:]), isoform))
    return statements


def is_cytosolic(statement: LocationStatement) -> bool:
    """Whether a statement places the protein in the cytoplasm / cytosol.

    >>> is_cytosolic(LocationStatement(("Cytoplasm", "cytoskeleton")))
    True
    >>> is_cytosolic(LocationStatement(("Cytoplasmic vesicle membrane",)))
    False
    """
    return statement.location[0].lower() in ("cytoplasm", "cytosol")


def is_membrane(statement: LocationStatement, scope: str = "any") -> bool:
    """Whether a statement places the protein in a membrane (``scope='cell'``: the plasma one).

    >>> is_membrane(LocationStatement(("Endoplasmic reticulum membrane",)))
    True
    >>> is_membrane(LocationStatement(("Endoplasmic reticulum membrane",)), scope="cell")
    False
    >>> is_membrane(LocationStatement(("Cytoplasm",), ("Cytoplasmic side",)))
    False
    """
    if scope == "cell":
        return any(_CELL_MEMBRANE.search(term) for term in statement.location)
    return any(_MEMBRANE_WORD.search(term) for term in statement.location) or any(
        _MEMBRANE_TOPOLOGY.search(qualifier) for qualifier in statement.qualifiers
    )


def compartment(statement: LocationStatement) -> str | None:
    """The main compartment (one of ``COMPARTMENTS``) of a statement, or ``None``.

    >>> compartment(LocationStatement(("Mitochondrion inner membrane",)))
    'Mitochondrion'
    >>> compartment(LocationStatement(("Cytoplasmic vesicle", "secretory vesicle"))) is None
    True
    """
    head = statement.location[0].lower()
    for name, pattern in _COMPARTMENT_PATTERNS:
        if pattern.search(head):
            return name
    return None


@dataclass(frozen=True)
class CytosolMembrane(Labeler):
    """The reference binary task: ``'cytosolic'`` vs ``'membrane'``, with the rules above.

    Attributes:
        membrane: ``'any'`` (any membrane or membrane topology, the reference's intent) or
            ``'cell'`` (the plasma membrane only).
        labels: the two class names (cytosolic, membrane).

    >>> labelled = CytosolMembrane().label([
    ...     {"Entry": "Q1", "Sequence": "MKTAY", "Subcellular location [CC]":
    ...      "SUBCELLULAR LOCATION: Cytoplasmic vesicle membrane; Single-pass membrane protein."}])
    >>> labelled.records[0].label
    'membrane'
    """

    membrane: str = "any"
    labels: tuple[str, str] = ("cytosolic", "membrane")

    fields = ("accession", "sequence", _LOCATION_FIELD)
    task = "classification"

    def __post_init__(self) -> None:
        if self.membrane not in ("any", "cell"):
            raise DataFormatError(f"membrane={self.membrane!r}; expect 'any' or 'cell'.")
        if len(self.labels) != 2 or self.labels[0] == self.labels[1]:
            raise DataFormatError(f"labels={self.labels!r}; expect two different names.")

    def _label_row(
        self,
        row: Mapping[str, Any],
        columns: dict[str, str],
        sequence: str,
        where: str,
        notes: Counter[str],
    ) -> Drop | tuple[Any, Any, Any]:
        statements = parse_subcellular_location(row[columns[_LOCATION_FIELD]])
        if not statements:
            return Drop("no subcellular location annotation")
        cytosolic = any(is_cytosolic(s) for s in statements)
        membrane = any(is_membrane(s, self.membrane) for s in statements)
        if cytosolic and membrane:
            return Drop("both cytosol and membrane")
        if not (cytosolic or membrane):
            return Drop("neither cytosol nor membrane")
        return (self.labels[0] if cytosolic else self.labels[1]), None, None


@dataclass(frozen=True)
class Compartments(Labeler):
    """Main compartments (``COMPARTMENTS``): multi-label, or multi-class with one per protein.

    Attributes:
        multi_label: ``True``: the label is the tuple of the protein's compartments (task
            ``'multilabel'``); ``False``: proteins in exactly one compartment, labelled with it
            (task ``'classification'``), the others dropped as "several compartments".
        compartments: the compartments to keep (a subset of ``COMPARTMENTS``); others are ignored.

    >>> labelled = Compartments().label([{"Entry": "Q2", "Sequence": "MKTAY",
    ...     "Subcellular location [CC]": "SUBCELLULAR LOCATION: Nucleus. Cytoplasm, cytosol. "
    ...                                  "Cytoplasmic vesicle."}])
    >>> labelled.records[0].label, labelled.summary.notes
    (('Nucleus', 'Cytoplasm'), {"not a main compartment: 'Cytoplasmic vesicle'": 1})
    """

    multi_label: bool = True
    compartments: Sequence[str] = COMPARTMENTS

    fields = ("accession", "sequence", _LOCATION_FIELD)

    def __post_init__(self) -> None:
        unknown = [name for name in self.compartments if name not in COMPARTMENTS]
        if unknown or not self.compartments:
            raise DataFormatError(
                f"Unknown compartments {unknown or '(none given)'}; choose from {COMPARTMENTS}."
            )
        object.__setattr__(self, "compartments", tuple(self.compartments))

    @property
    def task(self) -> str:  # type: ignore[override]
        return "multilabel" if self.multi_label else "classification"

    def _label_row(
        self,
        row: Mapping[str, Any],
        columns: dict[str, str],
        sequence: str,
        where: str,
        notes: Counter[str],
    ) -> Drop | tuple[Any, Any, Any]:
        statements = parse_subcellular_location(row[columns[_LOCATION_FIELD]])
        if not statements:
            return Drop("no subcellular location annotation")
        found = set()
        for statement in statements:
            name = compartment(statement)
            if name is None:
                notes[f"not a main compartment: {statement.location[0]!r}"] += 1
            elif name in self.compartments:
                found.add(name)
        if not found:
            return Drop("no main compartment")
        names = tuple(name for name in self.compartments if name in found)
        if self.multi_label:
            return names, None, None
        if len(names) > 1:
            return Drop("several compartments")
        return names[0], None, None
