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

import numpy as np

from tfprot._io import atomic_path, write_text_atomic
from tfprot.fold.pdb import CHAIN_IDS, structure_to_pdb
from tfprot.fold.residues import ChainLayout

__all__ = [
    "SUMMARY_COLUMNS",
    "SUMMARY_FILE",
    "FoldResult",
    "StructureFiles",
    "expected_files",
    "read_finished",
    "write_structure",
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


# ---- one structure's files ------------------------------------------------------------------


@dataclass(frozen=True)
class StructureFiles:
    """Everything needed to write one folded structure's files, free of torch: what a
    background writer gets.

    Attributes:
        id, name: the sequence id and the safe file-name stem.
        chains: the chains as given.
        layout: the chains as folded (chain index and residue numbers per residue).
        prediction: a :class:`~tfprot.fold.model.StructurePrediction` (numpy arrays).
        model, untrained: the model's name, and whether its weights are random.
        seconds, chunk_size, attempts: the summary's figures.
        settings: what the structure was folded with (:func:`tfprot.fold.resume.settings_record`).
        pictures, html: write the PNGs and the 3D view.
    """

    id: str
    name: str
    chains: tuple[str, ...]
    layout: ChainLayout
    prediction: Any
    model: str
    untrained: bool
    seconds: float
    chunk_size: int | None
    attempts: int
    settings: dict[str, Any]
    pictures: bool = True
    html: bool = True

    @property
    def sequence(self) -> str:
        return ":".join(self.chains)

    @property
    def length(self) -> int:
        return sum(len(chain) for chain in self.chains)

    def caption(self) -> str:
        """``'A=10, B=12 residues, mean pLDDT 71.2, pTM 0.612'``."""
        sizes = ", ".join(f"{CHAIN_IDS[i]}={len(c)}" for i, c in enumerate(self.chains))
        plddt = float(np.mean(self.prediction.plddt))
        return f"{sizes} residues, mean pLDDT {plddt:.1f}, pTM {self.prediction.ptm:.3f}"


def write_structure(folder: Path, structure: StructureFiles) -> FoldResult:
    """Write one structure's files atomically, the JSON marker last, and return its result.

    Raises:
        OSError: a file cannot be written (the caller reports it for this structure), or a
            path would leave ``folder``.
    """
    files = file_map(folder, structure.name, pictures=structure.pictures, html=structure.html)
    for path in files.values():  # never outside the output folder, whatever the id
        if path.resolve().parent != folder.resolve():
            raise OSError(f"refusing to write {path} outside {folder}")
    pdb_text = _pdb_text(structure)
    write_text_atomic(files["pdb"], pdb_text)
    with atomic_path(files["pae"]) as temporary, open(temporary, "wb") as handle:
        np.save(handle, structure.prediction.pae.astype(np.float32))
    if structure.pictures:
        _write_pictures(files, structure)
    if structure.html:
        _write_page(files["html"], pdb_text, structure)
    record = _record(structure, files)
    write_text_atomic(files["json"], json.dumps(record, indent=1) + "\n")
    return FoldResult(
        structure.id,
        structure.name,
        "folded",
        sequence=structure.sequence,
        length=structure.length,
        chains=len(structure.chains),
        mean_plddt=record["mean_plddt"],
        ptm=structure.prediction.ptm,
        seconds=structure.seconds,
        chunk_size=structure.chunk_size,
        attempts=structure.attempts,
        files=files,
    )


def _pdb_text(structure: StructureFiles) -> str:
    remarks = [f"tfprot ESMFold prediction, model {structure.model}, id {structure.id!r}"]
    if structure.untrained:
        remarks.append("UNTRAINED MODEL (random weights): structure and pLDDT mean nothing")
    remarks.append("B-factor column: per-residue pLDDT (0-100)")
    prediction = structure.prediction
    return structure_to_pdb(
        prediction.aatype,
        prediction.positions,
        prediction.atom_mask,
        np.round(prediction.plddt.astype(np.float64), 2),
        chain_index=structure.layout.chain_index,
        residue_number=structure.layout.residue_number,
        remarks=tuple(remarks),
    )


def _write_pictures(files: dict[str, Path], structure: StructureFiles) -> None:
    from tfprot.fold.pictures import plot_pae, plot_plddt

    untrained = " [untrained model]" if structure.untrained else ""
    title = f"{structure.id}{untrained}\n{structure.caption()}"
    chain_index = structure.layout.chain_index
    plddt = structure.prediction.plddt.astype(np.float64)
    plot_plddt(files["plddt_png"], plddt, chain_index=chain_index, title=title)
    plot_pae(files["pae_png"], structure.prediction.pae, chain_index=chain_index, title=title)


def _write_page(target: Path, pdb_text: str, structure: StructureFiles) -> None:
    from tfprot.fold.viewer import structure_html

    warning = "UNTRAINED MODEL: random weights; this structure means nothing."
    page = structure_html(
        pdb_text,
        title=str(structure.id),
        subtitle=f"{structure.id} ({structure.caption()}); model {structure.model}",
        warning=warning if structure.untrained else "",
    )
    write_text_atomic(target, page)


def _record(structure: StructureFiles, files: dict[str, Path]) -> dict[str, Any]:
    plddt = structure.prediction.plddt.astype(np.float64)
    return {
        "id": structure.id,
        "sequence": structure.sequence,
        "chains": list(structure.chains),
        "chain_ids": [CHAIN_IDS[i] for i in range(len(structure.chains))],
        "length": structure.length,
        "model": structure.model,
        "untrained": structure.untrained,
        "mean_plddt": float(plddt.mean()),
        "ptm": structure.prediction.ptm,
        "plddt": [round(float(v), 2) for v in plddt],
        "seconds": structure.seconds,
        "chunk_size": structure.chunk_size,
        "num_recycles": structure.settings.get("num_recycles"),
        "settings": structure.settings,
        "files": {kind: path.name for kind, path in files.items()},
    }
