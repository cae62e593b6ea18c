"""`tfprot embed` and `tfprot fold`, and an unreachable Hub through a real subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
from Bio import SeqIO
from conftest import assert_one_line_error, run_cli


def test_embed_per_sequence_and_per_residue(capsys, tmp_path, proteins_fasta):
    records = list(SeqIO.parse(proteins_fasta, "fasta"))
    target = tmp_path / "e.npz"
    code, stdout, err = run_cli(
        capsys,
        ["embed", "--checkpoint", "tiny-esm", "--input", str(proteins_fasta), "--out", str(target)],
    )
    assert code == 0, err
    assert "6 sequences, 6x64" in stdout
    with np.load(target) as saved:
        assert list(saved["ids"]) == [r.id for r in records]
        assert saved["embeddings"].shape == (6, 64)
        assert np.isfinite(saved["embeddings"]).all()
    code, _, err = run_cli(
        capsys,
        [
            "embed",
            "--checkpoint",
            "tiny-esm",
            "--input",
            str(proteins_fasta),
            "--out",
            str(target),
            "--per-residue",
        ],
    )
    assert code == 0, err
    with np.load(target) as saved:
        for record in records:
            assert saved[f"residues/{record.id}"].shape == (len(record.seq), 64)


def test_fold_writes_structures_whose_residues_match_the_input(capsys, tmp_path):
    from Bio.PDB import PDBParser

    fasta = tmp_path / "two.fasta"
    fasta.write_text(">short\nMKTAYIAKQRQISFVKSHFSRQ\n>dimer\nMKTAYIAKQR:GGSWKLLEEA\n")
    code, stdout, err = run_cli(
        capsys,
        [
            "fold",
            "--input",
            str(fasta),
            "--out",
            str(tmp_path / "s"),
            "--checkpoint",
            "tiny-esmfold",
            "--num-recycles",
            "0",
            "--device",
            "cpu",
        ],
    )
    assert code == 0, err
    assert "UNTRAINED" in stdout and "summary" in stdout
    structure = PDBParser(QUIET=True).get_structure("s", tmp_path / "s" / "short.pdb")
    residues = [r.get_resname() for r in structure.get_residues()]
    assert len(residues) == 22 and residues[:3] == ["MET", "LYS", "THR"]
    dimer = PDBParser(QUIET=True).get_structure("d", tmp_path / "s" / "dimer.pdb")
    assert [len(list(c.get_residues())) for c in dimer.get_chains()] == [10, 10]
    for name in ("short.html", "short.plddt.png", "summary.tsv"):
        assert (tmp_path / "s" / name).is_file()
    # A rerun resumes: nothing folded again.
    code, stdout, _ = run_cli(
        capsys,
        [
            "fold",
            "--input",
            str(fasta),
            "--out",
            str(tmp_path / "s"),
            "--checkpoint",
            "tiny-esmfold",
        ],
    )
    assert code == 0 and stdout.count("skipped") == 2

    code, _, err = run_cli(
        capsys,
        [
            "fold",
            "--input",
            str(tmp_path / "none.fasta"),
            "--out",
            str(tmp_path / "x"),
            "--checkpoint",
            "tiny-esmfold",
        ],
    )
    assert_one_line_error(code, err, "none.fasta")


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unreachable_hub_is_one_line_in_a_real_subprocess(tmp_path, proteins_fasta):
    script = Path(sys.executable).with_name("tfprot")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "tfprot"]
    env = dict(
        os.environ, HF_ENDPOINT=f"http://127.0.0.1:{_closed_port()}", HF_HOME=str(tmp_path / "hf")
    )
    env.pop("HF_HUB_OFFLINE", None)
    result = subprocess.run(
        [
            *command,
            "embed",
            "--checkpoint",
            "facebook/esm2_t6_8M_UR50D",
            "--input",
            str(proteins_fasta),
            "--out",
            str(tmp_path / "e.npz"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("tfprot: error: ") and "facebook/esm2_t6_8M_UR50D" in lines[-1]
    assert "cuInit" not in result.stderr
    assert not (tmp_path / "e.npz").exists()
