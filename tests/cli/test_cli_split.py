"""``tfprot split`` and ``tfprot train --split homology|random|FILE.csv``: the split file, its
reuse by train, the leakage report in metrics.json and the summary, and the errors.

The data are real (bundled MultiLoc cytosol/membrane sequences, written with Biopython); the
guarantee of a homology split is checked against Biopython's pairwise alignment.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import json
import sys
from pathlib import Path

import pytest
from conftest import MAX_LENGTH, assert_one_line_error, bundled_entries, run_cli

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from planted import align

MAX_IDENTITY = 0.3


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> Path:
    """``id,sequence,location``: 40 + 40 real sequences of at most 300 residues, no split."""
    path = tmp_path_factory.mktemp("split") / "cytosol_membrane.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "sequence", "location"])
        writer.writerows(bundled_entries(40, longest=300))
    return path


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def train_parser_args(*argv: str):
    from tfprot.cli.train import create_parser

    return create_parser().parse_args(
        ["--task", "classification", "--checkpoint", "tiny-esm", "--out", "unused", *argv]
    )


@pytest.fixture(scope="module")
def homology_split(table, tmp_path_factory, mmseqs):
    """``tfprot split --method homology`` run once: (exit code, stdout, split file, report)."""
    from tfprot.cli import main

    folder = tmp_path_factory.mktemp("homology")
    out, report = folder / "split.csv", folder / "split.json"
    argv = ["split", "--data", str(table), "--max-identity", str(MAX_IDENTITY)]
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main([*argv, "--out", str(out), "--report", str(report)])
    return code, stdout.getvalue(), out, report


def test_split_writes_every_record_once_with_its_set_and_cluster(table, homology_split):
    code, text, out, _ = homology_split
    assert code == 0, text
    rows = read_rows(out)
    assert list(rows[0]) == ["id", "set", "cluster"]
    data_ids = [r["id"] for r in read_rows(table)]
    assert [r["id"] for r in rows] == data_ids  # every record once, in data order
    assert {r["set"] for r in rows} <= {"train", "validation", "test", "removed"}
    assert all(r["cluster"] in data_ids for r in rows)
    assert f"written   : {out} (id,set,cluster: 80 rows)" in text
    assert "homology split" in text and "no validation or test sequence has a relative" in text


def test_no_relatives_across_splits_for_biopython_either(table, homology_split):
    _, _, out, _ = homology_split
    sequences = {r["id"]: r["sequence"] for r in read_rows(table)}
    where = {r["id"]: r["set"] for r in read_rows(out) if r["set"] != "removed"}
    train = [i for i, s in where.items() if s == "train"]
    held_out = [i for i, s in where.items() if s in ("validation", "test")]
    for a, b in itertools.product(held_out, train):
        found = align(sequences[a], sequences[b])
        assert found.identity <= MAX_IDENTITY + 0.02 or min(found.coverage) < 0.8, (a, b)


def test_the_report_lists_what_was_removed_and_the_file_marks_it(homology_split):
    _, text, out, report_path = homology_split
    report = json.loads(report_path.read_text())
    assert report["method"] == "homology" and report["max_identity"] == MAX_IDENTITY
    removed_in_file = [r["id"] for r in read_rows(out) if r["set"] == "removed"]
    assert [r["id"] for r in report["removed"]] == removed_in_file
    assert sum(report["sizes"].values()) + len(removed_in_file) == 80
    assert report["leakage"]["count_above"]["30%"] == 0
    if removed_in_file:
        assert f"removed   : {', '.join(removed_in_file)}" in text


def test_train_reads_a_split_file_back_as_the_split(table, homology_split, tmp_path):
    from tfprot.cli._data import describe_choices, read_training_data

    _, _, out, _ = homology_split
    rows = read_rows(out)
    # mark one more record removed: it is left out, and said
    rows[0]["set"] = "removed"
    edited = tmp_path / "edited.csv"
    with open(edited, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "set", "cluster"])
        writer.writeheader()
        writer.writerows(rows)
    data = read_training_data(
        train_parser_args("--data", str(table), "--split", str(edited)), "classification"
    )
    expected = {r["id"]: r["set"] for r in rows if r["set"] != "removed"}
    got = {r.id: split for split in expected.values() for r in data.dataset.records(split)}
    assert got == expected
    lines = "\n".join(describe_choices(data))
    assert f"split     : from {edited}" in lines and rows[0]["id"] in lines
    assert data.leakage.counts[0.3] == 0  # the leakage report of the carried split
    assert data.report()["split"]["removed"][0] == rows[0]["id"]


def test_a_random_split_leaks_and_says_so(table, tmp_path, capsys, mmseqs):
    out = tmp_path / "random.csv"
    code, text, err = run_cli(
        capsys, ["split", "--data", str(table), "--method", "random", "--out", str(out)]
    )
    assert code == 0, err
    rows = read_rows(out)
    assert all(r["cluster"] == "" for r in rows)  # no clusters in a random split
    assert "random split (seed 0, stratified)" in text
    assert "leakage: test vs train (8 vs 64 sequences" in text


@pytest.mark.slow
def test_train_with_a_homology_split_reports_leakage_in_metrics_and_summary(
    table, tmp_path, capsys, mmseqs
):
    out = tmp_path / "model"
    argv = ["train", "--task", "classification", "--data", str(table), "--split", "homology"]
    argv += ["--max-identity", "0.5", "--checkpoint", "tiny-esm", "--epochs", "1"]
    argv += ["--max-length", str(MAX_LENGTH), "--batch-tokens", "512", "--precision", "float32"]
    code, text, err = run_cli(capsys, [*argv, "--out", str(out)])
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["split"]["method"] == "homology" and metrics["split"]["max_identity"] == 0.5
    leakage = metrics["leakage"]
    assert leakage["test_sequences"] == metrics["data"]["summary"]["test"]["records"]
    assert leakage["count_above"]["50%"] == 0 and leakage["count_above"]["90%"] == 0
    shares = " / ".join(f"{v:.1%}" for v in leakage["share_above"].values())
    assert (
        f"leakage   : test sequences with a training relative above 30% / 50% / 90% identity: {shares}"
        in text
    )
    assert "split     : homology split" in text


# -- errors -------------------------------------------------------------------------------------


def test_max_identity_needs_a_homology_split(table, capsys, tmp_path):
    argv = ["train", "--task", "classification", "--data", str(table), "--max-identity", "0.5"]
    code, _, err = run_cli(
        capsys, [*argv, "--checkpoint", "tiny-esm", "--out", str(tmp_path / "m")]
    )
    assert_one_line_error(code, err, "--max-identity applies to --split homology")


def test_a_missing_split_file_is_named(table, capsys, tmp_path):
    argv = ["train", "--task", "classification", "--data", str(table), "--split", "nosuch.csv"]
    code, _, err = run_cli(
        capsys, [*argv, "--checkpoint", "tiny-esm", "--out", str(tmp_path / "m")]
    )
    assert_one_line_error(code, err, "nosuch.csv: no such split file", "tfprot split")


def test_a_flip_name_for_data_that_is_not_flip_lists_what_split_takes(table, capsys, tmp_path):
    argv = ["train", "--task", "classification", "--data", str(table), "--split", "sampled"]
    code, _, err = run_cli(
        capsys, [*argv, "--checkpoint", "tiny-esm", "--out", str(tmp_path / "m")]
    )
    assert_one_line_error(code, err, "names a FLIP split file", "homology or random")


def test_split_refuses_bad_fractions_and_a_folder_as_out(table, capsys, tmp_path):
    argv = ["split", "--data", str(table), "--method", "random"]
    code, _, err = run_cli(
        capsys, [*argv, "--fractions", "0.5,0.5", "--out", str(tmp_path / "s.csv")]
    )
    assert_one_line_error(code, err, "--fractions takes three shares")
    code, _, err = run_cli(capsys, [*argv, "--out", str(tmp_path)])
    assert_one_line_error(code, err, "is a folder")


def test_without_mmseqs_a_homology_split_is_a_clear_error(table, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("TFPROT_MMSEQS", str(tmp_path / "no-mmseqs"))
    code, _, err = run_cli(
        capsys, ["split", "--data", str(table), "--out", str(tmp_path / "s.csv")]
    )
    assert_one_line_error(code, err, "TFPROT_MMSEQS=", "no-mmseqs", "apt-get install mmseqs2")
    assert not (tmp_path / "s.csv").exists()
    argv = ["train", "--task", "classification", "--data", str(table), "--split", "homology"]
    code, _, err = run_cli(
        capsys, [*argv, "--checkpoint", "tiny-esm", "--out", str(tmp_path / "m")]
    )
    assert_one_line_error(code, err, "TFPROT_MMSEQS=")


def test_without_mmseqs_train_says_the_leakage_was_not_measured(table, monkeypatch, tmp_path):
    from tfprot.cli._data import read_training_data

    monkeypatch.setenv("TFPROT_MMSEQS", str(tmp_path / "no-mmseqs"))
    data = read_training_data(train_parser_args("--data", str(table)), "classification")
    assert data.leakage is None and "TFPROT_MMSEQS=" in data.leakage_note
    assert data.report()["leakage"]["measured"] is False
    assert data.summary_lines()[0].startswith("leakage   : not measured (TFPROT_MMSEQS=")
