"""``tfprot info`` through a real subprocess: versions, CPU, precision and CPU ops as found.

The expected values come from elsewhere than tfprot's own code: installed distributions'
metadata, ``/proc/cpuinfo``, and the code path that the CPU's flags call for
(tests/models/cpu_targets.py).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))

from cpu_targets import expected_code_path

TFPROT = Path(sys.executable).parent / "tfprot"


def info(tmp_path, **env) -> subprocess.CompletedProcess:
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TFPROT_CPU_OPS", "TFPROT_FUSED", "TFPROT_REQUIRE"))
    }
    return subprocess.run(
        [str(TFPROT), "info"],
        env=environment | env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return ""


def test_info_says_versions_cpu_precision_and_the_cpu_ops_code_path(tmp_path):
    done = info(tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert f"Python {platform.python_version()}" in out
    for name in ("tensorflow", "tf-keras", "transformers"):
        assert f"{name} {importlib.metadata.version(name)}" in out
    torch = "not installed"
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        torch = importlib.metadata.version("torch")
    assert f"torch {torch}" in out
    assert f"CPU: {cpu_model()}, {os.cpu_count()} cores" in out
    assert 'precision="auto" for a 320-wide model' in out
    assert "for a 64-wide model (the tiny presets): float32" in out
    [ops] = [line for line in out.splitlines() if line.startswith("CPU ops:")]
    if "not active" not in ops:  # a machine without a compiler says why instead
        assert f"the {expected_code_path('native')} code path" in ops


def test_info_without_a_compiler_says_why_and_fails_only_when_required(tmp_path):
    cache = str(tmp_path / "cache")
    done = info(tmp_path, CXX="no-such-compiler", TFPROT_CACHE_DIR=cache)
    assert done.returncode == 0, done.stderr[-3000:]
    [ops] = [line for line in done.stdout.splitlines() if line.startswith("CPU ops:")]
    assert "not active" in ops and "no C++ compiler 'no-such-compiler'" in ops
    # the one log line (stderr), not a traceback
    said = [line for line in done.stderr.splitlines() if "CPU ops are not used" in line]
    assert len(said) == 1 and "Traceback" not in done.stderr

    done = info(
        tmp_path, CXX="no-such-compiler", TFPROT_CACHE_DIR=cache, TFPROT_REQUIRE_CPU_OPS="1"
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "tfprot: error: tfprot's CPU ops are not available (TFPROT_REQUIRE_CPU_OPS=1)" in (
        done.stderr
    )
