"""`tfprot embed --out x.h5` through real subprocesses: SIGKILL mid-run, then the same command,
gives the complete file (every id once, the values of an in-memory run of the same model); a
file from another checkpoint is refused in one line; float16 and the summary counts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import assert_one_line_error, bundled_entries, run_cli

COUNT = 120
# Six windows: a kill as the first part lands leaves five to do, so even a fast machine is
# killed mid-run (with three, a quiet machine finished the file before the kill).
WINDOW = 10


@pytest.fixture(scope="module")
def model_folders(tmp_path_factory):
    """Two saved tiny models (deterministic weights on disk, unlike the tiny-esm preset, which
    draws new random weights in every process)."""
    import tfprot

    base = tmp_path_factory.mktemp("models")
    folders = []
    for name in ("a", "b"):
        model = tfprot.sequence_classifier("tiny-esm", ["x", "y"], precision="float32")
        folders.append(model.save_pretrained(base / name))
    return folders


@pytest.fixture(scope="module")
def many_fasta(tmp_path_factory) -> tuple[Path, list[tuple[str, str]]]:
    entries = [(i, s) for i, s, _ in bundled_entries(COUNT // 2, longest=300)]
    path = tmp_path_factory.mktemp("many") / "many.fasta"
    path.write_text("".join(f">{i}\n{s}\n" for i, s in entries))
    return path, entries


def _command(*args: str) -> list[str]:
    script = Path(sys.executable).with_name("tfprot")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "tfprot"]
    return [*command, "embed", *args]


def test_sigkill_mid_run_then_the_same_command_completes_the_file(
    tmp_path, model_folders, many_fasta
):
    import tfprot

    fasta, entries = many_fasta
    out = tmp_path / "e.h5"
    args = [
        "--checkpoint",
        str(model_folders[0]),
        "--input",
        str(fasta),
        "--out",
        str(out),
        "--per-residue",
        "--precision",
        "float32",
        "--batch-tokens",
        "1024",
        "--window",
        str(WINDOW),
    ]
    parts = out.with_name(out.name + ".parts")
    process = subprocess.Popen(
        _command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    deadline = time.monotonic() + 240
    while not list(parts.glob("part-*.h5")) and time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    time.sleep(0.3)  # into the next window's batches
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert not out.exists(), "the run finished before the kill: give it more windows"
    finished = list(parts.glob("part-*.h5"))
    assert finished
    for part in finished:  # every finished part is a whole HDF5 file
        with h5py.File(part, "r") as saved:
            assert all(saved[name].shape[1] == 64 for name in saved)

    rerun = subprocess.run(_command(*args), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    line = rerun.stdout.strip().splitlines()[-1]
    skipped = int(line.split(" already there")[0].rsplit(" ", 1)[-1])
    embedded = int(line.split(" embedded (")[0].rsplit(" ", 1)[-1])
    assert skipped >= WINDOW and skipped + embedded == len(entries), line
    assert not parts.exists()

    with h5py.File(out, "r") as saved:
        ids = [saved[name].attrs["id"] for name in saved]
        arrays = {saved[name].attrs["id"]: saved[name][()] for name in saved}
    assert ids == [i for i, _ in entries]  # every id once, in input order
    reference = tfprot.embed(
        model_folders[0],
        [s for _, s in entries],
        per_residue=True,
        precision="float32",
        batch_tokens=1024,
    )
    # The in-memory run batches all sequences at once, the killed and resumed runs window by
    # window: other batch shapes change float32 sums by about one unit in the last place (1e-6
    # on values near 1); tests/models/test_embedding_store.py checks 1e-6 where batches match.
    for (record_id, sequence), expected in zip(entries, reference.vectors, strict=True):
        assert arrays[record_id].shape == (len(sequence), 64)
        np.testing.assert_allclose(arrays[record_id], expected, rtol=0, atol=1e-5)


def test_a_file_from_another_checkpoint_is_refused_in_one_line(
    capsys, tmp_path, model_folders, proteins_fasta
):
    out = tmp_path / "e.h5"
    common = ["--input", str(proteins_fasta), "--out", str(out), "--precision", "float32"]
    code, stdout, err = run_cli(
        capsys, ["embed", "--checkpoint", str(model_folders[0]), *common, "--dtype", "float16"]
    )
    assert code == 0, err
    assert "6 sequences in" in stdout and "6 embedded" in stdout and "0 already there" in stdout
    with h5py.File(out, "r") as saved:
        assert saved.attrs["checkpoint"] == str(model_folders[0])
        assert {saved[n].dtype.name for n in saved} == {"float16"}
    before = out.read_bytes()
    code, _, err = run_cli(
        capsys, ["embed", "--checkpoint", str(model_folders[1]), *common, "--dtype", "float16"]
    )
    assert_one_line_error(code, err, str(out), "another model", "Choose another --out")
    assert out.read_bytes() == before
    code, stdout, err = run_cli(
        capsys, ["embed", "--checkpoint", str(model_folders[0]), *common, "--dtype", "float16"]
    )
    assert code == 0, err
    assert "0 embedded" in stdout and "6 already there" in stdout
