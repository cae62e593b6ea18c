"""`tfprot train` through main(): outputs checked against the data as written, and bad inputs."""

from __future__ import annotations

import csv
import dataclasses
import json
import signal
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
from conftest import MAX_LENGTH, assert_one_line_error, read_table_plain, run_cli
from train_runs import (
    assert_one_line,
    run_tfprot,
    run_tfprot_on_tmpfs,
    train_args,
    write_small_table,
)


def test_train_detects_columns_and_writes_every_output(trained, cytosol_table):
    out, stdout, metrics = trained
    # It says what it chose: the format and each detected column.
    assert "(read as csv)" in stdout
    assert "sequence='sequence' (detected)" in stdout and "label='location' (detected)" in stdout
    assert "id='id' (detected)" in stdout and "split='set' (detected)" in stdout
    assert metrics["data"]["columns"]["label"] == "location"
    for name in (
        "model/tfprot.json",
        "metrics.json",
        "history.csv",
        "learning_curves.png",
        "confusion_matrix.png",
    ):
        assert (out / name).is_file(), name
    assert not [p.name for p in out.parent.iterdir() if p.name.startswith(".")]  # no staging left

    rows = read_table_plain(cytosol_table)
    by_split = Counter(row["set"] for row in rows)
    summary = metrics["data"]["summary"]
    assert {s: summary[s]["records"] for s in ("train", "validation", "test")} == by_split
    # The baseline, computed here from the CSV: the training majority's share of the test rows.
    train_counts = Counter(row["location"] for row in rows if row["set"] == "train")
    majority = max(sorted(train_counts), key=train_counts.get)
    test_labels = [row["location"] for row in rows if row["set"] == "test"]
    assert metrics["baseline"]["prediction"] == majority
    assert metrics["baseline"]["accuracy"] == pytest.approx(test_labels.count(majority) / 30)
    assert set(metrics) >= {"train", "validation", "test", "baseline"}
    for split in ("train", "validation", "test"):
        assert set(metrics[split]) == {"loss", "accuracy", "macro_f1", "mcc"}

    # history.csv: one row per epoch, Keras' names, validation included.
    with open(out / "history.csv", newline="") as handle:
        history = list(csv.DictReader(handle))
    assert [row["epoch"] for row in history] == ["1", "2"]
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(history[0])

    # The saved model reproduces the test accuracy of metrics.json on the CSV's test rows
    # (cut to --max-length tokens, as training and evaluation saw them).
    import tfprot

    model = tfprot.load_model(out / "model", compile=False)
    test_rows = [row for row in rows if row["set"] == "test"]
    records = tfprot.from_lists(
        [row["sequence"][: MAX_LENGTH - 2] for row in test_rows], ids=[r["id"] for r in test_rows]
    )
    predicted = [p.label for p in model.predict_sequences(records, progress=False)]
    accuracy = np.mean([p == row["location"] for p, row in zip(predicted, test_rows, strict=True)])
    assert metrics["test"]["accuracy"] == pytest.approx(accuracy, abs=1e-6)

    import matplotlib.image

    for picture in ("learning_curves.png", "confusion_matrix.png"):
        image = matplotlib.image.imread(out / picture)
        assert image.ndim == 3 and min(image.shape[:2]) > 200 and image.std() > 0.01


def _flip_subset(shared_data, folder, train=40, test=12):
    """A small FLIP secondary-structure folder (real chains of <= 120 residues)."""
    from Bio import SeqIO

    source = shared_data / "flip_secondary_structure"
    sequences = {r.id: str(r.seq) for r in SeqIO.parse(source / "sequences.fasta", "fasta")}
    masks = {r.id: str(r.seq) for r in SeqIO.parse(source / "mask.fasta", "fasta")}
    chosen, counts = [], Counter()
    for r in SeqIO.parse(source / "sampled.fasta", "fasta"):
        split = "test" if "SET=test" in r.description else "train"
        if len(r.seq) <= 120 and counts[split] < (train if split == "train" else test):
            chosen.append(r)
            counts[split] += 1
    folder.mkdir()
    (folder / "sequences.fasta").write_text(
        "".join(f">{r.id}\n{sequences[r.id]}\n" for r in chosen)
    )
    (folder / "mask.fasta").write_text("".join(f">{r.id}\n{masks[r.id]}\n" for r in chosen))
    (folder / "sampled.fasta").write_text("".join(f">{r.description}\n{r.seq}\n" for r in chosen))
    return chosen


def test_train_token_and_regression_on_flip(capsys, tmp_path, shared_data):
    chosen = _flip_subset(shared_data, tmp_path / "ss")
    common = ["--checkpoint", "tiny-esm", "--epochs", "1", "--precision", "float32"]
    code, out, err = run_cli(
        capsys,
        [
            "train",
            "--task",
            "token",
            "--data",
            str(tmp_path / "ss"),
            "--format",
            "flip",
            "--split",
            "sampled",
            *common,
            "--out",
            str(tmp_path / "token"),
        ],
    )
    assert code == 0, err
    assert "FLIP split: sampled" in out
    metrics = json.loads((tmp_path / "token" / "metrics.json").read_text())
    assert metrics["data"]["summary"]["test"]["records"] == sum(
        "SET=test" in r.description for r in chosen
    )
    assert not (tmp_path / "token" / "confusion_matrix.png").exists()
    assert (tmp_path / "token" / "learning_curves.png").is_file()

    # GB1 regression, FLIP CSV: the mean-predictor baseline computed here from the file.
    rows = []
    with open(shared_data / "flip_gb1" / "low_vs_high.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            if len([r for r in rows if r["set"] == row["set"]]) < 40:
                rows.append(row)
    table = tmp_path / "gb1.csv"
    with open(table, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    code, out, err = run_cli(
        capsys,
        [
            "train",
            "--task",
            "regression",
            "--strategy",
            "default",
            "--data",
            str(table),
            *common,
            "--out",
            str(tmp_path / "regression"),
        ],
    )
    assert code == 0, err
    assert "label='target' (detected)" in out
    assert "strategy  : default, 1 replica(s)" in out
    metrics = json.loads((tmp_path / "regression" / "metrics.json").read_text())
    is_validation = [row.get("validation", "False") == "True" for row in rows]
    train = [
        float(r["target"])
        for r, v in zip(rows, is_validation, strict=True)
        if r["set"] == "train" and not v
    ]
    test = np.array([float(r["target"]) for r in rows if r["set"] == "test"])
    assert metrics["baseline"]["prediction"] == pytest.approx(np.mean(train), rel=1e-5)
    assert metrics["baseline"]["mse"] == pytest.approx(
        np.mean((test - np.mean(train)) ** 2), rel=1e-4
    )
    assert {"loss", "spearman"} <= set(metrics["test"])


def test_train_bad_inputs_end_with_one_line_errors(capsys, tmp_path, cytosol_table, shared_data):
    base = [
        "train",
        "--task",
        "classification",
        "--checkpoint",
        "tiny-esm",
        "--out",
        str(tmp_path / "out"),
    ]
    code, _, err = run_cli(capsys, [*base, "--data", str(tmp_path / "missing.csv")])
    assert_one_line_error(code, err, "missing.csv", "no such file")

    odd = tmp_path / "data.xyz"
    odd.write_text("sequence,label\nMKT,a\n")
    code, _, err = run_cli(capsys, [*base, "--data", str(odd)])
    assert_one_line_error(code, err, "data.xyz", "cannot tell the format")
    with pytest.raises(SystemExit) as info:  # not one of the formats: argparse's usage error
        run_cli(capsys, [*base, "--data", str(odd), "--format", "xlsx"])
    assert info.value.code == 2 and "invalid choice: 'xlsx'" in capsys.readouterr().err

    code, _, err = run_cli(capsys, [*base, "--data", str(cytosol_table), "--label-column", "loc"])
    assert_one_line_error(code, err, "no label column 'loc'", "'location'")

    # A label string one residue short of its sequence (a FLIP folder).
    folder = tmp_path / "flip"
    folder.mkdir()
    (folder / "sequences.fasta").write_text(">a\nMKTAYG\n>b\nGGSWLL\n")
    (folder / "sampled.fasta").write_text(
        ">a SET=train VALIDATION=False\nCCHHC\n>b SET=test VALIDATION=False\nCCEECC\n"
    )
    code, _, err = run_cli(capsys, [*base[:2], "token", *base[3:], "--data", str(folder)])
    assert_one_line_error(code, err, "5 residue labels for a sequence of 6")
    assert not (tmp_path / "out").exists()

    # --debug shows the traceback: the error propagates.
    from tfprot.errors import DataFileNotFoundError

    with pytest.raises(DataFileNotFoundError):
        run_cli(capsys, [*base, "--data", str(tmp_path / "missing.csv"), "--debug"])


def test_train_refuses_to_replace_a_foreign_folder(capsys, tmp_path, cytosol_table):
    foreign = tmp_path / "results"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    code, _, err = run_cli(
        capsys,
        ["train", "--task", "classification", "--data", str(cytosol_table), "--out", str(foreign)],
    )
    assert_one_line_error(code, err, "results", "not a tfprot train output")
    assert (foreign / "notes.txt").read_text() == "mine"


def test_as_trained_cuts_records_like_the_pipeline(tmp_path):
    # The confusion matrix sees sequences cut as training did: max_length tokens less specials.
    import argparse

    import tfprot
    from tfprot.cli.train import _as_trained
    from tfprot.data import encode_records

    tokenizer = tfprot.ProteinTokenizer.from_pretrained("tiny-esm")
    model = type("M", (), {"tokenizer": tokenizer})()
    record = tfprot.from_lists(["MKTAYIAKQR" * 10])[0]
    cut = _as_trained([record], model, argparse.Namespace(max_length=10))[0]
    # What the training pipeline feeds for max_length=10: the same ids as the cut sequence whole.
    piped = encode_records([record], tokenizer, max_length=10).input_ids[0]
    assert list(piped) == list(tokenizer.encode(cut.sequence))
    assert dataclasses.replace(cut, sequence=record.sequence) == record


# -- failures of input and output, in a real subprocess: found before training, one line each ---


def test_unwritable_out_is_refused_before_training(tmp_path):
    # Tests run as root in CI, where chmod does not stop writes: the --out here lies under a
    # regular file, and on a read-only tmpfs.
    table = write_small_table(tmp_path / "small.csv")
    (tmp_path / "notes.txt").write_text("a file")
    result = run_tfprot([*train_args(table), "--out", str(tmp_path / "notes.txt" / "run")])
    assert_one_line(result, "notes.txt/run", "is a file, not a folder", "--out")
    assert "tfprot train (" not in result.stdout  # nothing read, built or trained

    read_only = tmp_path / "ro"
    out = ["--out", str(read_only / "run")]
    result = run_tfprot_on_tmpfs(read_only, [*train_args(table), *out], read_only=True)
    assert_one_line(result, str(read_only / "run"), "Read-only file system", "--out")
    assert "tfprot train (" not in result.stdout


def test_full_disk_during_the_save_is_one_line_and_writes_nothing(capsys, tmp_path):
    # A real full disk: --out on a 64 kB tmpfs, too small for the weights (ENOSPC inside
    # safetensors); the resume checkpoints go elsewhere.
    table = write_small_table(tmp_path / "small.csv")
    resume = tmp_path / "run.resume"
    args = [*train_args(table), "--resume-dir", str(resume)]
    disk = tmp_path / "disk"
    result = run_tfprot_on_tmpfs(disk, [*args, "--out", str(disk / "run")])
    last = assert_one_line(result, str(disk / "run"), "disk is full", "nothing was written")
    assert "training is not repeated" in last and str(resume) in last
    assert result.stdout.split("@@TMPFS\n", 1)[1].strip() == ""  # no output, no staging left
    assert (resume / "checkpoint").is_file()  # the trained state waits for the rerun

    # The rerun (here onto a good disk) evaluates and saves without training again.
    code, out, err = run_cli(capsys, [*args, "--out", str(tmp_path / "run")])
    assert code == 0, err
    assert "trained to the end; evaluating and saving only" in out
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()
    assert not resume.exists()


def test_full_disk_for_the_checkpoints_is_one_line(tmp_path):
    table = write_small_table(tmp_path / "small.csv")
    disk = tmp_path / "disk"
    args = [*train_args(table), "--resume-dir", str(disk / "run.resume")]
    result = run_tfprot_on_tmpfs(disk, [*args, "--out", str(tmp_path / "run")], size="200k")
    assert_one_line(result, str(disk / "run.resume"), "could not write a checkpoint", "free space")
    assert not (tmp_path / "run").exists()
    assert result.stdout.split("@@TMPFS\n", 1)[1].strip() == ""  # no partial checkpoint left


def test_batch_tokens_below_one_sequence_names_the_option_before_the_model(tmp_path):
    table = write_small_table(tmp_path / "small.csv")
    args = [a if a != "256" else "40" for a in train_args(table)]  # --batch-tokens 40 < 64
    result = run_tfprot([*args, "--out", str(tmp_path / "run")])
    last = assert_one_line(result, "--batch-tokens 40", "64 tokens", "small.csv")
    assert "batch_tokens=" not in last
    assert "tfprot train (" in result.stdout  # the data was read (it says how long they are)
    assert "model     :" not in result.stdout  # but no model was built
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.resume").exists()


def test_a_save_killed_midway_is_cleaned_by_the_next_run(tmp_path):
    # A real SIGKILL inside tfprot's atomic folder save leaves its hidden staging folder.
    out = tmp_path / "run"
    killed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, signal, sys\n"
            "from tfprot._io import atomic_folder\n"
            "with atomic_folder(sys.argv[1]) as staging:\n"
            "    (staging / 'model.safetensors').write_bytes(bytes(100_000))\n"
            "    os.kill(os.getpid(), signal.SIGKILL)\n",
            str(out),
        ],
        timeout=60,
    )
    assert killed.returncode == -signal.SIGKILL
    (staging,) = [p for p in tmp_path.iterdir() if p.is_dir() and p.name.startswith(".run.")]
    # The next run (here one that fails later, on its data) removes it first, and says so.
    result = run_tfprot([*train_args(tmp_path / "missing.csv"), "--out", str(out)])
    assert_one_line(result, "missing.csv")
    assert f"Removed {staging} (100.0 kB), left by an interrupted save of run." in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []
