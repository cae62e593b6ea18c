"""Per-structure output files and the batch summary, written atomically; resume support.

For a sequence whose safe name is ``NAME`` the output folder gets ``NAME.pdb`` (pLDDT as
B-factors), ``NAME.pae.npy`` (the ``L x L`` PAE matrix), ``NAME.json`` (id, sequence, chains,
per-residue pLDDT, mean pLDDT, pTM, seconds; written last, so its presence marks a finished
structure), and, when asked, ``NAME.plddt.png``, ``NAME.pae.png`` and ``NAME.html``. The batch
gets ``summary.tsv``.

>>> expected_files("P1", pictures=False, html=False)
('P1.pdb', 'P1.pae.npy', 'P1.json')
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfprot._io import write_text_atomic

__all__ = [
    "SUMMARY_COLUMNS",
    "SUMMARY_FILE",
    "FoldResult",
    "expected_files",
    "read_finished",
    "write_summary",
]

SUMMARY_FILE = "summary.tsv"
SUMMARY_COLUMNS = (
    "id",
    "name",
    "status",
    "length",
    "chains",
    "mean_plddt",
    "ptm",
    "seconds",
    "chunk_size",
    "attempts",
    "error",
)


@dataclass(frozen=True)
class FoldResult:
    """The outcome for one input sequence.

    Attributes:
        id: the sequence id as given.
        name: the safe file-name stem of its outputs.
        status: ``'folded'``, ``'skipped'`` (finished by an earlier run) or ``'failed'``.
        sequence: the chains joined by ``':'`` (the raw text for an invalid input).
        length: residues over all chains, linkers excluded (0 when invalid).
        chains: number of chains.
        mean_plddt: mean per-residue pLDDT (0-100); ``None`` when failed.
        ptm: predicted TM-score (0-1); ``None`` when failed.
        seconds: model time for this sequence (its share of its batch).
        chunk_size: the trunk chunk size that succeeded (``None``: unchunked).
        attempts: forward passes tried for it.
        error: why it failed, naming its id; empty otherwise.
        files: output file paths by kind (``pdb``, ``pae``, ``json``, ``plddt_png``...).
    """

    id: str
    name: str
    status: str
    sequence: str = ""
    length: int = 0
    chains: int = 0
    mean_plddt: float | None = None
    ptm: float | None = None
    seconds: float | None = None
    chunk_size: int | None = None
    attempts: int = 0
    error: str = ""
    files: dict[str, Path] = field(default_factory=dict, compare=False)

    @property
    def ok(self) -> bool:
        return self.status in ("folded", "skipped")

    def row(self) -> dict[str, Any]:
        """The summary-table row."""

        def number(value: float | None, digits: int) -> str:
            return "" if value is None else f"{value:.{digits}f}"

        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "length": self.length,
            "chains": self.chains,
            "mean_plddt": number(self.mean_plddt, 2),
            "ptm": number(self.ptm, 4),
            "seconds": number(self.seconds, 3),
            "chunk_size": "" if self.chunk_size is None else self.chunk_size,
            "attempts": self.attempts,
            "error": " ".join(self.error.split()),
        }


def expected_files(name: str, *, pictures: bool = True, html: bool = True) -> tuple[str, ...]:
    """The file names a finished structure called ``name`` has (the JSON marker last)."""
    files = [f"{name}.pdb", f"{name}.pae.npy"]
    if pictures:
        files += [f"{name}.plddt.png", f"{name}.pae.png"]
    if html:
        files.append(f"{name}.html")
    return (*files, f"{name}.json")


def file_map(folder: Path, name: str, *, pictures: bool, html: bool) -> dict[str, Path]:
    kinds = {
        ".pdb": "pdb",
        ".pae.npy": "pae",
        ".plddt.png": "plddt_png",
        ".pae.png": "pae_png",
        ".html": "html",
        ".json": "json",
    }
    return {
        kinds[file[len(name) :]]: folder / file
        for file in expected_files(name, pictures=pictures, html=html)
    }


def read_finished(
    folder: Path, identifier: str, name: str, *, pictures: bool, html: bool
) -> tuple[FoldResult, dict[str, Any]] | None:
    """The stored result of a structure an earlier run finished and its JSON record, or
    ``None`` when its files are not all there (or are another id's)."""
    files = file_map(folder, name, pictures=pictures, html=html)
    if not all(path.is_file() for path in files.values()):
        return None
    try:
        stored = json.loads(files["json"].read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(stored, dict) or stored.get("id") != identifier:  # another id's file
        return None
    try:
        result = FoldResult(
            id=identifier,
            name=name,
            status="skipped",
            sequence=str(stored.get("sequence", "")),
            length=int(stored.get("length", 0)),
            chains=len(stored.get("chains", [])),
            mean_plddt=stored.get("mean_plddt"),
            ptm=stored.get("ptm"),
            seconds=stored.get("seconds"),
            chunk_size=stored.get("chunk_size"),
            attempts=0,
            files=files,
        )
    except (TypeError, ValueError):  # a damaged record: fold it again
        return None
    return result, stored


def write_summary(folder: str | os.PathLike, results: list[FoldResult]) -> Path:
    """Write ``summary.tsv`` (one row per input, in input order) atomically; return its path."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=SUMMARY_COLUMNS, delimiter="\t", lineterminator="\n")
    writer.writeheader()
    for result in results:
        writer.writerow(result.row())
    path = Path(folder) / SUMMARY_FILE
    write_text_atomic(path, buffer.getvalue())
    return path
