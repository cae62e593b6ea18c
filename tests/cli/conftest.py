"""Fixtures for the command-line tests: small real data files and one model trained by the CLI.

Every file is written from real data (the bundled MultiLoc cytosol/membrane set, FLIP in
``../shared/data``) with a plain reader independent of tfprot's (Biopython), so the tests compare
what the commands produce against the data as written.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
from pathlib import Path

import pytest
from Bio import SeqIO

BUNDLED = Path(__file__).resolve().parents[2] / "tfprot" / "data" / "bundled" / "cytosol_membrane"
MAX_LENGTH = 64
"""Tokens per sequence in the CLI training runs (fast on 2 cores)."""


def bundled_entries(per_class: int, longest: int = 400) -> list[tuple[str, str, str]]:
    """(id, sequence, class) of the first ``per_class`` sequences of each bundled class."""
    entries = []
    for name in ("cytoplasmic", "plasma_membrane"):
        with gzip.open(BUNDLED / f"{name}.fasta.gz", "rt") as handle:
            kept = [(r.id, str(r.seq), name) for r in SeqIO.parse(handle, "fasta")]
        entries += [e for e in kept if len(e[1]) <= longest][:per_class]
    return entries


def run_cli(capsys, argv: list[str]) -> tuple[int, str, str]:
    """``tfprot.cli.main(argv)``: its exit code, stdout and stderr."""
    from tfprot.cli import main

    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    """Exit code 2, and the last stderr line is one ``tfprot: error:`` line naming ``needles``."""
    assert code == 2, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("tfprot: error: "), err
    for needle in needles:
        assert needle in last, last


@pytest.fixture(scope="session")
def cytosol_table(tmp_path_factory) -> Path:
    """``id,sequence,location,set``: 60 + 60 real sequences, split 70/20/30 by row order."""
    entries = bundled_entries(60)
    # Interleave the classes so that every split holds both.
    entries = [e for pair in zip(entries[:60], entries[60:], strict=True) for e in pair]
    path = tmp_path_factory.mktemp("table") / "cytosol_membrane.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "sequence", "location", "set"])
        for index, (identifier, sequence, label) in enumerate(entries):
            split = "train" if index < 70 else "validation" if index < 90 else "test"
            writer.writerow([identifier, sequence, label, split])
    return path


def read_table_plain(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="session")
def proteins_fasta(tmp_path_factory) -> Path:
    """Six real sequences of at most 150 residues (three of each class) in a FASTA file."""
    entries = bundled_entries(60, longest=150)
    chosen = entries[50:53] + entries[-3:]
    path = tmp_path_factory.mktemp("fasta") / "proteins.fasta"
    path.write_text("".join(f">{i} {label}\n{s}\n" for i, s, label in chosen))
    return path


@pytest.fixture(scope="session")
def trained(tmp_path_factory, cytosol_table):
    """``tfprot train`` on the table, through main(): (output folder, stdout)."""
    from tfprot.cli import main

    out = tmp_path_factory.mktemp("train") / "run"
    argv = [
        "train",
        "--task",
        "classification",
        "--data",
        str(cytosol_table),
        "--checkpoint",
        "tiny-esm",
        "--epochs",
        "2",
        "--max-length",
        str(MAX_LENGTH),
        "--precision",
        "float32",
        "--out",
        str(out),
    ]
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main(argv)
    assert code == 0
    return out, buffer.getvalue(), json.loads((out / "metrics.json").read_text())
