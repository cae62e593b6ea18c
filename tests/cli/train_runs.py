"""Helpers for the tests that run ``tfprot train`` in a real subprocess (kills, full disks).

The runs are tiny (tiny-esm, 40 real records, 64 tokens, 8 steps an epoch) so that several fit in
the suite's time on two cores.
"""

from __future__ import annotations

import csv
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import bundled_entries

TIMEOUT_S = 300


def tfprot_command() -> list[str]:
    """The installed ``tfprot`` console script (or ``python -m tfprot``)."""
    script = Path(sys.executable).with_name("tfprot")
    return [str(script)] if script.exists() else [sys.executable, "-m", "tfprot"]


def write_small_table(path: Path) -> Path:
    """``id,sequence,location,set``: 20 + 20 real sequences (28 train, 6 validation, 6 test)."""
    entries = bundled_entries(20, longest=200)
    entries = [e for pair in zip(entries[:20], entries[20:], strict=True) for e in pair]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "sequence", "location", "set"])
        for index, (identifier, sequence, label) in enumerate(entries):
            split = "train" if index < 28 else "validation" if index < 34 else "test"
            writer.writerow([identifier, sequence, label, split])
    return path


def train_args(table: Path, *more: str, epochs: int = 1) -> list[str]:
    """``train`` on ``table``: 8 batches an epoch of tiny-esm at 64 tokens."""
    return [
        "train",
        "--task",
        "classification",
        "--data",
        str(table),
        "--checkpoint",
        "tiny-esm",
        "--epochs",
        str(epochs),
        "--max-length",
        "64",
        "--batch-tokens",
        "256",
        "--precision",
        "float32",
        *more,
    ]


def environment() -> dict[str, str]:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TF_DETERMINISTIC_OPS": "1"}


def run_tfprot(args: list[str], **options) -> subprocess.CompletedProcess:
    """``tfprot ARGS`` in a subprocess, text output captured."""
    return subprocess.run(
        [*tfprot_command(), *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        env=environment(),
        **options,
    )


def _mount_prefix() -> list[str]:
    """How this machine lets a test mount a tmpfs: in a private user and mount namespace
    (``unshare -rm``, no privilege needed where user namespaces are allowed), else directly as
    root (CI runs as root). Fails, never skips, when neither works."""
    for prefix in (["unshare", "-rm"], []):
        if prefix == [] and os.geteuid() != 0:
            continue
        probe = Path(tempfile.mkdtemp())
        script = f"mount -t tmpfs -o size=4k tmpfs {probe} && umount {probe}"
        if subprocess.run([*prefix, "sh", "-c", script], capture_output=True).returncode == 0:
            probe.rmdir()
            return prefix
        probe.rmdir()
    pytest.fail(
        "these tests mount a small tmpfs (a full or read-only disk): allow user namespaces "
        "(unshare -rm) or run them as root"
    )


def run_tfprot_on_tmpfs(
    mount: Path, args: list[str], size: str = "64k", read_only: bool = False
) -> subprocess.CompletedProcess:
    """``tfprot ARGS`` with a fresh tmpfs of ``size`` mounted on ``mount`` (a small disk that
    fills up, or a read-only one), unmounted after; what the tmpfs holds after the run is listed
    on stdout after a line ``@@TMPFS``."""
    options = f"size={size}" + (",ro" if read_only else "")
    command = shlex.join([*tfprot_command(), *args])
    where = shlex.quote(str(mount))
    script = (
        f"mount -t tmpfs -o {options} tmpfs {where} || exit 99; trap 'umount {where}' EXIT; "
        f"{command}; code=$?; echo @@TMPFS; ls -A {where}; exit $code"
    )
    mount.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [*_mount_prefix(), "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        env=environment(),
    )
    assert result.returncode != 99, result.stderr
    return result


def assert_one_line(result: subprocess.CompletedProcess, *needles: str) -> str:
    """Exit 2, no traceback, and the last stderr line is ``tfprot: error:`` naming ``needles``."""
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("tfprot: error: "), result.stderr[-3000:]
    for needle in needles:
        assert needle in last, last
    return last
