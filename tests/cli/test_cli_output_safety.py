"""`tfprot predict` and `tfprot embed` through a real subprocess of the `tfprot` command: corrupt
weights fail instead of writing NaN rows, `--out` is checked before the model loads (never the
input, never a folder, writable), a damaged `tfprot.json` is one line, ids that a spreadsheet
would run as formulas are neutralised, and per-residue `.npz` member names never hold an id."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from Bio import SeqIO

SCRIPT = Path(sys.executable).with_name("tfprot")
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "tfprot"]


def tfprot_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*COMMAND, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ),
    )


def assert_one_line(result: subprocess.CompletedProcess, *needles: str) -> str:
    """Exit code 2 and one last ``tfprot: error:`` line holding every needle; no traceback."""
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("tfprot: error: "), result.stderr
    for needle in needles:
        assert needle in last, last
    return last


@pytest.fixture(scope="module")
def classifier(tmp_path_factory) -> Path:
    """A tiny two-class classifier saved as ``tfprot train`` saves one."""
    import tfprot

    folder = tmp_path_factory.mktemp("classifier") / "model"
    model = tfprot.sequence_classifier("tiny-esm", ["cytoplasmic", "membrane"], precision="float32")
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def corrupt(classifier, tmp_path_factory) -> Path:
    """The classifier with the last 40,000 bytes of its weights overwritten with 0xFF (the file
    still parses; the weights stored there are NaN)."""
    folder = shutil.copytree(classifier, tmp_path_factory.mktemp("corrupt") / "model")
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-40_000:] = b"\xff" * 40_000
    weights.write_bytes(bytes(data))
    return folder


@pytest.fixture(scope="module")
def damaged(classifier, tmp_path_factory) -> Path:
    """The classifier with a ``tfprot.json`` cut off midway (as by a crashed copy)."""
    folder = shutil.copytree(classifier, tmp_path_factory.mktemp("damaged") / "model")
    metadata = folder / "tfprot.json"
    text = metadata.read_text()
    metadata.write_text(text[: len(text) // 2])
    return folder


def test_corrupt_weights_fail_predict_and_embed_without_writing(corrupt, proteins_fasta, tmp_path):
    target = tmp_path / "predictions.csv"
    result = tfprot_cli("predict", "--model", corrupt, "--input", proteins_fasta, "--out", target)
    assert_one_line(result, str(corrupt), "NaN", "corrupt or mismatched weights")
    assert not target.exists()

    target = tmp_path / "embeddings.npz"
    result = tfprot_cli(
        "embed", "--checkpoint", corrupt, "--input", proteins_fasta, "--out", target,
        "--precision", "float32",
    )  # fmt: skip
    assert_one_line(result, str(corrupt), "corrupt or mismatched weights")
    assert not target.exists()


def test_a_damaged_tfprot_json_is_one_line_naming_it(damaged, proteins_fasta, tmp_path):
    result = tfprot_cli(
        "predict", "--model", damaged, "--input", proteins_fasta, "--out", tmp_path / "p.csv"
    )
    assert_one_line(result, str(damaged / "tfprot.json"), "not valid JSON", "again")
    assert not (tmp_path / "p.csv").exists()


def test_out_naming_the_input_is_refused_and_the_input_kept(damaged, proteins_fasta, tmp_path):
    # The model folder is damaged: an error about --out proves --out is checked first.
    fasta = shutil.copy(proteins_fasta, tmp_path / "proteins.fasta")
    before = Path(fasta).read_bytes()
    same = tmp_path / "sub" / ".." / "proteins.fasta"  # another spelling of the same file
    (tmp_path / "sub").mkdir()
    result = tfprot_cli("predict", "--model", damaged, "--input", fasta, "--out", same)
    assert_one_line(result, str(same), "is the input file")
    link = tmp_path / "link.fasta"
    link.symlink_to(fasta)
    result = tfprot_cli("embed", "--checkpoint", damaged, "--input", fasta, "--out", link)
    assert_one_line(result, str(link), "is the input file")
    assert Path(fasta).read_bytes() == before


def test_out_that_cannot_be_a_file_is_refused_before_the_model_loads(
    damaged, proteins_fasta, tmp_path
):
    result = tfprot_cli("predict", "--model", damaged, "--input", proteins_fasta, "--out", tmp_path)
    assert_one_line(result, str(tmp_path), "is a folder", "predictions.csv")

    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine\n")
    result = tfprot_cli(
        "predict", "--model", damaged, "--input", proteins_fasta, "--out", a_file / "p.csv"
    )
    assert_one_line(result, str(a_file), "is a file, not a folder")
    result = tfprot_cli(
        "embed", "--checkpoint", damaged, "--input", proteins_fasta, "--out", a_file / "e.npz"
    )
    assert_one_line(result, str(a_file), "is a file, not a folder")
    assert a_file.read_text() == "mine\n"

    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        # As root (CI) a 0555 folder stays writable, so only a non-root run has this case; the
        # path through a file above is the unwritable place every run has.
        if not _writable(locked):
            result = tfprot_cli(
                "embed", "--checkpoint", damaged, "--input", proteins_fasta,
                "--out", locked / "e.npz",
            )  # fmt: skip
            assert_one_line(result, str(locked), "cannot write there")
    finally:
        locked.chmod(0o755)


def _writable(folder: Path) -> bool:
    probe = folder / "probe"
    try:
        probe.write_text("")
    except OSError:
        return False
    probe.unlink()
    return True


FORMULA_IDS = {
    "=cmd|'/C_calc'!A0": "'=cmd|'/C_calc'!A0",
    "+SUM(1,2)": "'+SUM(1,2)",
    "-2+3": "'-2+3",
    "@HYPERLINK(x)": "'@HYPERLINK(x)",
    "-7": "-7",  # a plain number is no formula: kept
    "sp|P69905|HBA_HUMAN": "sp|P69905|HBA_HUMAN",
}
"""FASTA id → what the CSV must hold (OWASP: a leading ' before =, +, -, @)."""


def test_predict_neutralises_ids_a_spreadsheet_would_run(classifier, tmp_path):
    fasta = tmp_path / "formulas.fasta"
    fasta.write_text("".join(f">{i}\nMKTAYIAKQRQ\n" for i in FORMULA_IDS))
    assert [r.id for r in SeqIO.parse(fasta, "fasta")] == list(FORMULA_IDS)
    target = tmp_path / "predictions.csv"
    result = tfprot_cli("predict", "--model", classifier, "--input", fasta, "--out", target)
    assert result.returncode == 0, result.stderr
    with open(target, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["id"] for row in rows] == list(FORMULA_IDS.values())
    assert {row["label"] for row in rows} <= {"cytoplasmic", "membrane"}
    for row in rows:
        probabilities = [float(row[f"probability_{c}"]) for c in ("cytoplasmic", "membrane")]
        assert sum(probabilities) == pytest.approx(1.0, abs=1e-5)


def test_per_residue_npz_member_names_hold_no_id(tmp_path):
    ids = ["../../evil", "residues/x", "a.npy", "a", "sp|Q1|B/2-9"]
    sequences = ["MKTAYIAK", "GGSW", "MPEPT", "KLVAA", "WWQ"]
    fasta = tmp_path / "awkward.fasta"
    fasta.write_text("".join(f">{i}\n{s}\n" for i, s in zip(ids, sequences, strict=True)))
    target = tmp_path / "e.npz"
    result = tfprot_cli(
        "embed", "--checkpoint", "tiny-esm", "--input", fasta, "--out", target, "--per-residue",
        "--precision", "float32",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(target) as archive:
        names = sorted(archive.namelist())
    assert names == sorted(["ids.npy", "layout.npy", *(f"residues/{k}.npy" for k in range(5))])
    with np.load(target) as saved:  # no allow_pickle
        assert saved["ids"].tolist() == ids
        for k, sequence in enumerate(sequences):
            assert saved[f"residues/{k}"].shape == (len(sequence), 64)
            assert np.isfinite(saved[f"residues/{k}"]).all()

    from tfprot.models import Embeddings

    loaded = Embeddings.load(target)
    assert loaded.ids == tuple(ids)
    assert [len(v) for v in loaded.vectors] == [len(s) for s in sequences]


@pytest.mark.parametrize("name", ["tfprot.tasks.table", "tfprot.cli._outputs"])
def test_docstring_examples_of_the_output_checks(name):
    import doctest
    import importlib

    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0
