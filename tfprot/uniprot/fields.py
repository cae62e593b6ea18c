"""UniProtKB return fields and the TSV columns UniProt names them by.

A row may be keyed by UniProt's column name (``'Subcellular location [CC]'``, as in a download)
or by the field name itself (``'cc_subcellular_location'``, as in hand-written rows); the lookups
here accept both.

>>> FIELD_COLUMNS["cc_subcellular_location"]
'Subcellular location [CC]'
>>> find_column({"Entry": "P1", "Sequence": "MKT"}, ("accession", "id"))
'Entry'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tfprot.errors import DataFormatError

__all__ = ["FIELD_COLUMNS", "column_for", "find_column"]

FIELD_COLUMNS = {
    "accession": "Entry",
    "id": "Entry Name",
    "reviewed": "Reviewed",
    "protein_name": "Protein names",
    "gene_names": "Gene Names",
    "organism_name": "Organism",
    "organism_id": "Organism (ID)",
    "length": "Length",
    "sequence": "Sequence",
    "cc_subcellular_location": "Subcellular location [CC]",
    "ft_helix": "Helix",
    "ft_strand": "Beta strand",
    "ft_turn": "Turn",
    "ft_transmem": "Transmembrane",
    "ft_signal": "Signal peptide",
    "go_c": "Gene Ontology (cellular component)",
}
"""UniProtKB return fields and the TSV column header UniProt gives each (the ones tfprot uses)."""


def find_column(row: Mapping[str, Any], field_names: Sequence[str]) -> str | None:
    """The key of ``row`` holding the first of ``field_names`` it has, or ``None``.

    >>> find_column({"Entry Name": "INS_HUMAN"}, ("accession", "id"))
    'Entry Name'
    >>> find_column({"Sequence": "MKT"}, ("accession",)) is None
    True
    """
    for name in field_names:
        for candidate in (FIELD_COLUMNS.get(name), name):
            if candidate is not None and candidate in row:
                return candidate
    return None


def column_for(row: Mapping[str, Any], field_name: str, where: str = "UniProt rows") -> str:
    """The key of ``row`` that holds UniProt field ``field_name`` (its column name or itself).

    >>> column_for({"Entry": "P1", "Sequence": "MKT"}, "sequence")
    'Sequence'
    >>> column_for({"sequence": "MKT"}, "sequence")
    'sequence'

    Raises:
        DataFormatError: ``row`` has neither; the message names ``where`` and the columns.
    """
    column = find_column(row, (field_name,))
    if column is not None:
        return column
    name = FIELD_COLUMNS.get(field_name, field_name)
    raise DataFormatError(
        f"{where}: no column {name!r} (UniProt field {field_name!r}); the columns are "
        f"{list(row)}. Fetch with that field, e.g. fields=labeler.fields."
    )
