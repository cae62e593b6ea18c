"""The command line's last line of defence (``tfprot.cli.run_command``): every failure of input
or output that reaches it raw (an ``OSError`` of any kind, text that is not UTF-8, damaged JSON
or safetensors) becomes one ``tfprot: error:`` line naming the file, exit code 2; a bug (a
``TypeError``...) keeps its traceback, and ``--debug`` shows every traceback.

The failures are real: each comes from an actual read or write (``/dev/full`` is Linux's
always-full device), raised inside a command's ``run``.
"""

from __future__ import annotations

import argparse
import json
import shutil

import numpy as np
import pytest
from train_runs import assert_one_line, run_tfprot

from tfprot.cli import run_command


def _run(capsys, run, debug=False) -> tuple[int, str]:
    code = run_command(run, argparse.Namespace(debug=debug))
    return code, capsys.readouterr().err


def _assert_one_line(code: int, err: str, *needles: str) -> str:
    assert code == 2, err
    assert "Traceback" not in err
    (line,) = [n for n in err.splitlines() if n.startswith("tfprot: error: ")]
    for needle in needles:
        assert needle in line, line
    return line


def test_full_disk_names_the_file_and_says_what_to_do(capsys):
    def run(args):
        with open("/dev/full", "w") as handle:  # a real ENOSPC, from a write with no file name
            handle.write("x" * 100_000)
            handle.flush()

    code, err = _run(capsys, run)
    _assert_one_line(code, err, "/dev/full", "No space left on device", "the disk is full")


@pytest.mark.parametrize(
    ("make", "needles"),
    [
        (lambda p: PermissionError(13, "Permission denied", str(p)), ["Permission denied"]),
        (lambda p: OSError(30, "Read-only file system", str(p)), ["read-only", "writable"]),
        (lambda p: NotADirectoryError(20, "Not a directory", str(p)), ["is a file, not a folder"]),
        (lambda p: OSError(5, "Input/output error", str(p)), ["check the disk"]),
    ],
)
def test_every_os_error_kind_is_one_line_naming_the_path(capsys, tmp_path, make, needles):
    path = tmp_path / "out" / "model"

    def run(args):
        raise make(path)

    code, err = _run(capsys, run)
    _assert_one_line(code, err, str(path), *needles)


def test_text_that_is_not_utf8_names_the_file(capsys, tmp_path):
    table = tmp_path / "latin1.csv"
    table.write_bytes("id,sequence,label\ncafé,MKT,a\n".encode("latin-1"))

    def run(args):
        with open(table, encoding="utf-8") as handle:
            return len(handle.read())

    code, err = _run(capsys, run)
    _assert_one_line(code, err, str(table), "not UTF-8", "0xe9", "save it as UTF-8")


def test_damaged_json_names_the_file(capsys, tmp_path):
    metadata = tmp_path / "tfprot.json"
    metadata.write_text('{"task": "classification", ')

    def run(args):
        return json.loads(metadata.read_text())

    code, err = _run(capsys, run)
    _assert_one_line(code, err, str(metadata), "damaged JSON", "line 1")


def test_damaged_safetensors_names_the_file(capsys, tmp_path):
    from safetensors.numpy import load_file, save_file

    weights = tmp_path / "model.safetensors"
    save_file({"w": np.ones((4, 4), np.float32)}, str(weights))
    weights.write_bytes(b"\xff" * 8 + weights.read_bytes()[8:])  # a header length of 2**64 - 1

    def run(args):
        return load_file(str(weights))

    code, err = _run(capsys, run)
    _assert_one_line(code, err, str(weights), "damaged or incomplete weights", "again")


def test_bugs_keep_their_traceback_and_debug_shows_every_one(capsys, tmp_path):
    def buggy(args):
        return len(None)  # a TypeError: a bug in tfprot, not the user's input

    with pytest.raises(TypeError):
        _run(capsys, buggy)

    def plain_value_error(args):
        raise ValueError("not an input or output failure")

    with pytest.raises(ValueError, match="not an input"):
        _run(capsys, plain_value_error)

    def full(args):
        with open("/dev/full", "w") as handle:
            handle.write("x" * 100_000)
            handle.flush()

    with pytest.raises(OSError, match="No space left"):
        _run(capsys, full, debug=True)


def test_a_damaged_model_file_through_the_real_command(trained, tmp_path, proteins_fasta):
    # A saved model whose tfprot.json was cut short, in a real `tfprot predict` subprocess.
    out, _, _ = trained
    model = tmp_path / "model"
    shutil.copytree(out / "model", model)
    metadata = model / "tfprot.json"
    metadata.write_text(metadata.read_text()[:40])
    result = run_tfprot(
        ["predict", "--model", str(model), "--input", str(proteins_fasta), "--out", "p.csv"],
        cwd=tmp_path,
    )
    assert_one_line(result, str(metadata))
    assert not (tmp_path / "p.csv").exists()
