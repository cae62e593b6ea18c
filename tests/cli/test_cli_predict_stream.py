"""`tfprot predict` streamed: SIGKILL a real run once rows are on disk, rerun the same command:
the CSV holds every id once, in input order, with the predictions of the Python API; a row cut
off by the kill is predicted again; rows of another model are refused in one line."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_line_error, bundled_entries, run_cli

from tfprot.cli._predict_stream import partial_paths

CLASSES = ["cytoplasmic", "plasma_membrane"]


@pytest.fixture(scope="module")
def classifiers(tmp_path_factory):
    """Two saved tiny classifiers with different (random) weights."""
    import tfprot

    base = tmp_path_factory.mktemp("classifiers")
    return [
        tfprot.sequence_classifier("tiny-esm", CLASSES, precision="float32").save_pretrained(
            base / name
        )
        for name in ("a", "b")
    ]


@pytest.fixture(scope="module")
def fasta(tmp_path_factory):
    entries = [(i, s) for i, s, _ in bundled_entries(40, longest=300)]
    path = tmp_path_factory.mktemp("predict") / "many.fasta"
    path.write_text("".join(f">{i}\n{s}\n" for i, s in entries))
    return path, entries


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _check_against_python_api(rows, folder, entries):
    import tfprot

    model = tfprot.load_model(folder, compile=False)
    reference = model.predict_sequences([s for _, s in entries], progress=False)
    assert [row["id"] for row in rows] == [i for i, _ in entries]  # once each, input order
    assert [row["label"] for row in rows] == [p.label for p in reference]
    for row, prediction in zip(rows, reference, strict=True):
        got = [float(row[f"probability_{c}"]) for c in CLASSES]
        expected = [prediction.probabilities[c] for c in CLASSES]
        np.testing.assert_allclose(got, expected, atol=1e-5)


def test_sigkill_then_the_same_command_completes_the_csv(tmp_path, classifiers, fasta):
    path, entries = fasta
    out = tmp_path / "p.csv"
    script = Path(sys.executable).with_name("tfprot")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "tfprot"]
    command += ["predict", "--model", str(classifiers[0]), "--input", str(path)]
    command += ["--out", str(out), "--window", "10", "--batch-tokens", "1024"]
    partial, _ = partial_paths(out)
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    deadline = time.monotonic() + 240
    while not (partial.exists() and partial.stat().st_size) and time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert not out.exists() and partial.stat().st_size
    with open(partial, "a", encoding="utf-8") as handle:  # a row cut off mid-write
        handle.write(f"{entries[-1][0]},abc,plasma_mem")
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    kept = int(rerun.stdout.split(" kept from an interrupted run")[0].rsplit(" ", 1)[-1])
    predicted = int(rerun.stdout.split(" predicted (")[0].rsplit(" ", 1)[-1])
    assert kept >= 10 and kept + predicted == len(entries), rerun.stdout
    assert not partial.exists() and not partial_paths(out)[1].exists()
    _check_against_python_api(_read(out), classifiers[0], entries)


def test_rows_of_another_model_are_refused_and_a_finished_run_leaves_no_partial(
    capsys, tmp_path, classifiers, fasta
):
    path, entries = fasta
    out = tmp_path / "p.csv"
    args = ["predict", "--input", str(path), "--out", str(out), "--window", "25"]
    code, stdout, err = run_cli(capsys, [*args, "--model", str(classifiers[0])])
    assert code == 0, err
    assert f"{len(entries)} sequences (classification) -> {out}" in stdout
    assert f"{len(entries)} predicted" in stdout and "0 kept" in stdout
    _check_against_python_api(_read(out), classifiers[0], entries)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.csv"]

    partial, meta = partial_paths(out)  # rows an interrupted run of another model left
    rows = _read(out)[:3]
    meta.write_text(
        '{"format": "tfprot predict partial", "model": "a", "weights_sha256": "0", '
        '"threshold": 0.5, "columns": ["id", "label", "probability_cytoplasmic", '
        '"probability_plasma_membrane"]}'
    )
    partial.write_text("".join(f"{r['id']},d,{r['label']},0.5,0.5\n" for r in rows))
    before = partial.read_bytes()
    code, _, err = run_cli(capsys, [*args, "--model", str(classifiers[1])])
    assert_one_line_error(code, err, str(partial), "weights_sha256", "Choose another --out")
    assert partial.read_bytes() == before
