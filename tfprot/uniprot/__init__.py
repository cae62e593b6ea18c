"""tfprot.uniprot: labelled data sets straight from a UniProtKB query.

Fetch a query's rows from the UniProt REST API (retried, checked, cached for offline reruns),
then turn them into :class:`~tfprot.data.ProteinRecord` objects of one task with a labeler:

>>> from tfprot.uniprot import CytosolMembrane, SecondaryStructure
>>> CytosolMembrane().fields
('accession', 'sequence', 'cc_subcellular_location')
>>> SecondaryStructure().task
'token'

Typical use (needs the network once; later runs read the cache)::

    from tfprot import uniprot
    query = "organism_id:9606 AND reviewed:true AND length:[80 TO 500]"
    labelled = uniprot.fetch_labelled(query, uniprot.CytosolMembrane())
    print(labelled.summary)          # kept / dropped and why
    data = labelled.dataset()        # a tfprot.ProteinDataset, split 80/10/10
"""

from __future__ import annotations

from typing import Any

from tfprot.errors import OptionError
from tfprot.uniprot.cache import ResultCache, default_cache_dir
from tfprot.uniprot.client import (
    DEFAULT_FIELDS,
    ClientConfig,
    UniProtClient,
    UniProtError,
    UniProtResult,
    fetch,
)
from tfprot.uniprot.fields import FIELD_COLUMNS
from tfprot.uniprot.labelers import Labeler, Labelled, LabelSummary
from tfprot.uniprot.request import UniProtRequest
from tfprot.uniprot.retry import RetryPolicy
from tfprot.uniprot.secondary_structure import SecondaryStructure
from tfprot.uniprot.subcellular import (
    COMPARTMENTS,
    Compartments,
    CytosolMembrane,
    parse_subcellular_location,
)

LABELERS = {
    "cytosol-membrane": CytosolMembrane,
    "compartments": Compartments,
    "secondary-structure": SecondaryStructure,
}
"""The labelers by name (what a command line offers); each class takes its options as keywords."""

__all__ = [
    "COMPARTMENTS",
    "DEFAULT_FIELDS",
    "FIELD_COLUMNS",
    "LABELERS",
    "ClientConfig",
    "Compartments",
    "CytosolMembrane",
    "LabelSummary",
    "Labelled",
    "ResultCache",
    "RetryPolicy",
    "SecondaryStructure",
    "UniProtClient",
    "UniProtError",
    "UniProtRequest",
    "UniProtResult",
    "default_cache_dir",
    "fetch",
    "fetch_labelled",
    "parse_subcellular_location",
]


def fetch_labelled(query: str, labeler: Labeler, **options: Any) -> Labelled:
    """Fetch ``labeler.fields`` for ``query`` and label the rows: the whole pipeline in one call.

    Args:
        query: UniProt query, e.g. ``'organism_id:9606 AND reviewed:true'``.
        labeler: :class:`CytosolMembrane`, :class:`Compartments`, :class:`SecondaryStructure`...
        **options: passed to :func:`fetch` (``base_url``, ``cache_dir``, ``refresh``,
            ``release``, ``method``, ``progress``, ``config``...).

    Returns:
        The records, their task and the kept/dropped summary; ``.dataset()`` makes a
        :class:`tfprot.ProteinDataset`.

    Raises:
        OptionError: ``labeler`` is not a labeler (e.g. the class where an instance belongs).
    """
    if not isinstance(labeler, Labeler):
        hint = f"; call it: {labeler.__name__}()" if isinstance(labeler, type) else ""
        raise OptionError(
            f"labeler must be a tfprot.uniprot labeler such as CytosolMembrane(), got "
            f"{labeler!r}{hint}."
        )
    result = fetch(query, labeler.fields, format="tsv", **options)
    return labeler.label(result)
