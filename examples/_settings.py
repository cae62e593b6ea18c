"""Settings shared by the examples (scripts and the notebooks generated from them).

``TFPROT_EXAMPLES_QUICK=1`` runs every example on a small real subset for one short epoch (what
the tests do); without it an example runs its meaningful default. ``TFPROT_SHARED_DATA`` (or the
script's first argument) points at the shared data folder, by default ``../shared/data`` beside
the repository. ``TFPROT_EXAMPLES_OUT`` is where outputs go (default: ``example_output/`` in the
repository, for scripts and notebooks alike).
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent
REPO = EXAMPLES.parent

QUICK = os.environ.get("TFPROT_EXAMPLES_QUICK", "") not in ("", "0")
"""Small real subset, one short epoch: the tests' mode."""


def _in_notebook() -> bool:
    return "ipykernel" in sys.modules


def shared_data() -> Path:
    """The shared data folder: the script's first argument, ``$TFPROT_SHARED_DATA``, or
    ``../shared/data`` relative to the repository."""
    if not _in_notebook() and len(sys.argv) > 1:
        return Path(sys.argv[1])
    return Path(os.environ.get("TFPROT_SHARED_DATA", REPO.parent / "shared" / "data"))


def output_dir(name: str) -> Path:
    """``$TFPROT_EXAMPLES_OUT/<name>`` (default ``example_output/<name>`` in the repository)."""
    folder = Path(os.environ.get("TFPROT_EXAMPLES_OUT", REPO / "example_output")) / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def subset(records, per_split: dict[str, int], max_residues: int | None = None) -> list:
    """``per_split[split]`` records of each split, evenly spaced through it (so every class of a
    file sorted by class is represented) and no longer than ``max_residues``: a small real
    subset, deterministic. Records without a split count as ``'train'``."""
    by_split: dict[str, list] = {split: [] for split in per_split}
    for record in records:
        split = record.split or "train"
        if split in by_split and (max_residues is None or len(record) <= max_residues):
            by_split[split].append(dataclasses.replace(record, split=split))
    kept = []
    for split, candidates in by_split.items():
        count = min(per_split[split], len(candidates))
        kept += [candidates[i * len(candidates) // count] for i in range(count)]
    return kept


def batching(**options) -> dict:
    """Options for ``ProteinDataset.tf_dataset``; in quick mode, few wide length buckets and a
    large token budget, so that a one-epoch run compiles few graph shapes (each new batch shape
    costs a trace, which dominates a short CPU run)."""
    if QUICK:
        options.update(batch_tokens=max(options.get("batch_tokens", 0), 32768), bucket_ratio=4.0)
    return options
