"""`tfprot embed` and `tfprot fold`, and an unreachable Hub through a real subprocess."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
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
        assert list(saved["ids"]) == [r.id for r in records]
        for index, record in enumerate(records):  # members named by position in ids
            assert saved[f"residues/{index}"].shape == (len(record.seq), 64)


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


# ---- fold through a real subprocess: resume, foreign and unwritable output folders ----------

FOLD_A = "MKTAYIAKQRQISFVKSHFSRQ"
FOLD_A_CHANGED = "MQIFVKTLTGKTITLEVEPSDTIENV"  # same id, other residues and length
FOLD_B = "GGSWKLLEEAMKTAYIAK"


def _fold_cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    script = Path(sys.executable).with_name("tfprot")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "tfprot"]
    return subprocess.run(
        [*command, "fold", "--checkpoint", "tiny-esmfold", "--device", "cpu", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _pdb_sequence(path: Path) -> str:
    from Bio.PDB import PDBParser
    from Bio.SeqUtils import seq1

    structure = PDBParser(QUIET=True).get_structure("s", str(path))
    return "".join(seq1(residue.get_resname()) for residue in structure.get_residues())


@pytest.mark.slow
def test_fold_rerun_refolds_what_changed_and_skips_only_true_repeats(tmp_path):
    fasta, out = tmp_path / "in.fasta", tmp_path / "structures"
    fasta.write_text(f">a\n{FOLD_A}\n>b\n{FOLD_B}\n")
    first = _fold_cli("--input", str(fasta), "--out", str(out), "--num-recycles", "0")
    assert first.returncode == 0, first.stderr
    assert _pdb_sequence(out / "a.pdb") == FOLD_A
    b_stamp = (out / "b.pdb").stat().st_mtime_ns

    # The same id with another sequence: 'a' is folded again (and says why); 'b' is a repeat.
    fasta.write_text(f">a\n{FOLD_A_CHANGED}\n>b\n{FOLD_B}\n")
    second = _fold_cli("--input", str(fasta), "--out", str(out), "--num-recycles", "0")
    assert second.returncode == 0, second.stderr
    assert _pdb_sequence(out / "a.pdb") == FOLD_A_CHANGED
    assert (out / "b.pdb").stat().st_mtime_ns == b_stamp
    status = {line.split()[0]: line.split()[1] for line in second.stdout.splitlines()[1:3]}
    assert status == {"a": "folded", "b": "skipped"}, second.stdout
    again = [line for line in second.stderr.splitlines() if "folding again" in line]
    assert len(again) == 1 and again[0].startswith("a:") and "sequence" in again[0], second.stderr
    stored = json.loads((out / "a.json").read_text())
    assert stored["sequence"] == FOLD_A_CHANGED and stored["length"] == len(FOLD_A_CHANGED)

    # Another number of recycles changes every structure: both are folded again, by name.
    third = _fold_cli("--input", str(fasta), "--out", str(out), "--num-recycles", "1")
    assert third.returncode == 0, third.stderr
    again = [line for line in third.stderr.splitlines() if "folding again" in line]
    assert sorted(line.split(":")[0] for line in again) == ["a", "b"], third.stderr
    assert all("num_recycles 0 -> 1" in line for line in again), again
    assert json.loads((out / "b.json").read_text())["num_recycles"] == 1
    assert (out / "b.pdb").stat().st_mtime_ns != b_stamp


def test_fold_refuses_a_folder_it_did_not_make_and_leaves_it_untouched(tmp_path):
    fasta, out = tmp_path / "in.fasta", tmp_path / "mine"
    fasta.write_text(f">a\n{FOLD_A}\n")
    out.mkdir()
    (out / "summary.tsv").write_text("my own notes\n")
    (out / "a.pdb").write_text("HEADER    MY OWN STRUCTURE\n")
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir()}
    result = _fold_cli("--input", str(fasta), "--out", str(out))
    assert_one_line_error(result.returncode, result.stderr, str(out), "not a tfprot fold folder")
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir()} == before


def _unwritable_folder(tmp_path: Path) -> Path:
    """An existing folder this process cannot write: chmod for a user, sysfs for root (root
    writes through permission bits; no one creates files in /sys, read-only or not)."""
    if os.geteuid() == 0:
        return Path("/sys")
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    return folder


@pytest.mark.parametrize("below", [False, True], ids=["existing", "to-create"])
def test_fold_into_an_unwritable_folder_is_one_line_before_any_folding(tmp_path, below):
    fasta = tmp_path / "in.fasta"
    fasta.write_text(f">a\n{FOLD_A}\n")
    out = _unwritable_folder(tmp_path)
    out = out / "structures" if below else out
    result = _fold_cli("--input", str(fasta), "--out", str(out))
    assert_one_line_error(result.returncode, result.stderr, str(out), "cannot write")
    assert "UNTRAINED" not in result.stderr  # refused before the model was built
