"""Example inputs for the page: a few short sequences of each class of the bundled data set
(MultiLoc's cytoplasmic and plasma-membrane proteins), as FASTA text.

>>> texts = example_texts(per_class=1)
>>> len(texts), texts[0].startswith(">")
(2, True)
"""

from __future__ import annotations

__all__ = ["example_texts"]

LONGEST = 300
"""Residues an example may have: short enough to read on the page and to fold on a CPU."""


def example_texts(per_class: int = 2, *, longest: int = LONGEST) -> list[str]:
    """FASTA texts (one record each) of the first ``per_class`` sequences of each bundled class
    with at most ``longest`` residues; the header names the class the data set gives it."""
    from tfprot.data import read_fasta
    from tfprot.data.dataset import example_path

    texts = []
    for path in sorted(example_path().glob("*.fasta.gz")):
        name = path.name.removesuffix(".fasta.gz")
        records = [r for r in read_fasta(path) if len(r) <= longest][:per_class]
        texts += [f">{r.id} bundled example, {name}\n{r.sequence}" for r in records]
    return texts
