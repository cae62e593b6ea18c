"""Constructed protein sets with planted relatives of known identity, and an independent
pairwise alignment (Biopython's ``PairwiseAligner``) to measure what MMseqs2 reports.

Relatives are made by substitution only: each residue of a base sequence is replaced, with
probability ``rate``, by another residue, so the expected identity over the full length is
``1 - rate`` (no gaps); the realised identity is measured with Biopython, never assumed.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"


def random_sequence(rng: np.random.Generator, length: int) -> str:
    return "".join(rng.choice(list(AMINO_ACIDS), size=length))


def mutate(rng: np.random.Generator, sequence: str, rate: float) -> str:
    """``sequence`` with each residue replaced by a different one with probability ``rate``."""
    out = []
    for residue in sequence:
        if rng.random() < rate:
            out.append(rng.choice([a for a in AMINO_ACIDS if a != residue]))
        else:
            out.append(residue)
    return "".join(out)


@dataclass(frozen=True)
class Alignment:
    identity: float
    """Identical columns over alignment columns (gaps included): MMseqs2's definition."""
    coverage: tuple[float, float]
    """Share of each sequence between the alignment's first and last aligned residue."""


def align(a: str, b: str) -> Alignment:
    """Local Smith-Waterman alignment with MMseqs2's scoring (BLOSUM62, gap open 11 and extend 1
    in BLAST's convention: a gap of k residues costs 11 + k)."""
    best = _aligner().align(a, b)[0]
    counts = best.counts()
    columns = counts.identities + counts.mismatches + counts.internal_gaps
    blocks = best.aligned
    spans = [(blocks[k][-1][1] - blocks[k][0][0]) / len(s) for k, s in enumerate((a, b))]
    return Alignment(counts.identities / max(columns, 1), (spans[0], spans[1]))


@functools.cache
def _aligner():
    from Bio import Align
    from Bio.Align import substitution_matrices

    return Align.PairwiseAligner(
        mode="local",
        substitution_matrix=substitution_matrices.load("BLOSUM62"),
        open_gap_score=-12,
        extend_gap_score=-1,
    )


def families(
    seed: int,
    *,
    count: int,
    rates: tuple[float, ...],
    length: tuple[int, int] = (120, 260),
    labels: tuple[str, ...] = ("cytosol", "membrane"),
) -> list[tuple[str, str, str, int]]:
    """``count`` families: a random base and one relative per rate; ``(id, sequence, label,
    family)`` each. A family shares one label (as real homologs mostly share a location)."""
    rng = np.random.default_rng(seed)
    rows = []
    for family in range(count):
        base = random_sequence(rng, int(rng.integers(*length)))
        label = labels[family % len(labels)]
        rows.append((f"f{family}_base", base, label, family))
        for k, rate in enumerate(rates):
            rows.append((f"f{family}_r{k}", mutate(rng, base, rate), label, family))
    return rows
