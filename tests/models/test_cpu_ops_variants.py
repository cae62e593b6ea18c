"""Every code path of tfprot's CPU ops, on one machine: built for each x86-64 level and checked.

One CPU runs one ``-march=native`` library in the main test process. Here the library is also
built for each lower x86-64 level this CPU runs (``TFPROT_CPU_OPS_MARCH``: ``x86-64-v4``,
AVX-512; ``x86-64-v3``, AVX2; ``x86-64``, the portable loops) and the op tests (marked
``cpu_ops``: attention, GELU, layer norm, QKV heads against float64 numpy) run against each in
a subprocess of their own (a process loads one library of these op names), with
``TFPROT_REQUIRE_CPU_OPS=1``: nothing may be skipped. Targets no CPU here runs are compiled
(``kernel.cc``, with its target flags) and their instructions checked, on every machine; ARM64
too, with the cross compiler (``g++-aarch64-linux-gnu``).
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cpu_targets import NEEDS, cpu_flags, runnable_lower_targets

from tfprot.models import cpu_ops, cpu_ops_build

REPO = Path(__file__).resolve().parents[2]
OP_TESTS = ["tests/models/test_cpu_ops.py", "tests/models/test_esm_fast.py"]
ARM64_COMPILER = "aarch64-linux-gnu-g++"


def required() -> bool:
    return os.environ.get(cpu_ops.REQUIRE_ENV, "0").strip().lower() not in ("", "0", "false")


@pytest.mark.slow
@pytest.mark.parametrize("target", runnable_lower_targets())
def test_the_op_tests_pass_against_the_library_built_for(target, tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in (cpu_ops.ENV_SWITCH, cpu_ops.ENV_SWITCH_ALIAS, "PYTEST_ADDOPTS")
    }
    env |= {cpu_ops_build.MARCH_ENV: target, cpu_ops.REQUIRE_ENV: "1"}
    command = [sys.executable, "-m", "pytest", "-q", "-m", "cpu_ops", "-p", "no:cacheprovider"]
    command += ["-o", "addopts=", "-rfEs", *OP_TESTS]
    done = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    summary = output.strip().splitlines()[-1]
    passed = re.search(r"(\d+) passed", summary)
    assert passed and int(passed.group(1)) >= 30, summary
    assert not re.search(r"skipped|failed|error", summary), summary


def compile_kernel(compiler: str, target: str, folder: Path) -> Path:
    """``kernel.cc`` compiled as tfprot builds it, for ``-march=TARGET`` (no TensorFlow needed)."""
    output = folder / f"kernel-{target}.o"
    command = cpu_ops_build.kernel_command(compiler, target, output)
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, f"{' '.join(command)}\n{done.stderr[-4000:]}"
    return output


def instructions(path: Path) -> str:
    return subprocess.run(
        ["objdump", "-d", "--no-show-raw-insn", str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or not shutil.which("g++"), reason="needs Linux and g++"
)
def test_every_x86_target_compiles_with_its_own_instructions(tmp_path):
    """The targets this CPU does not run are checked at least this far (AMX on an AMD,
    AVX-512 on an AVX2 CPU), and the guards hold: AMX tile products only in the AMX build,
    512-bit registers only from x86-64-v4, 256-bit ones only from x86-64-v3."""
    if not shutil.which("objdump"):
        pytest.fail("objdump (binutils, which g++ installs) is needed to check the instructions")
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        objects = dict(
            zip(
                NEEDS,
                pool.map(lambda t: compile_kernel("g++", t, tmp_path), NEEDS),
                strict=True,
            )
        )
    code = {target: instructions(path) for target, path in objects.items()}
    assert "tdpbf16ps" in code["sapphirerapids"] and "%zmm" in code["sapphirerapids"]
    assert "tdpbf16ps" not in code["x86-64-v4"] and "%zmm" in code["x86-64-v4"]
    assert "%zmm" not in code["x86-64-v3"] and "%ymm" in code["x86-64-v3"]
    assert "%ymm" not in code["x86-64"] and "%zmm" not in code["x86-64"]
    runs_here = [t for t, needs in NEEDS.items() if needs <= cpu_flags()]
    assert set(runnable_lower_targets()) <= set(runs_here)


def test_arm64_builds_the_portable_path(tmp_path):
    """No x86 intrinsic leaks into an ARM64 build: kernel.cc compiles for aarch64 (and its
    object is an AArch64 ELF file, machine 183)."""
    if not shutil.which(ARM64_COMPILER):
        message = f"{ARM64_COMPILER} not installed (apt-get install g++-aarch64-linux-gnu)"
        if required():
            pytest.fail(message)
        pytest.skip(message)
    output = compile_kernel(ARM64_COMPILER, "armv8-a", tmp_path)
    header = output.read_bytes()[:20]
    assert header[:4] == b"\x7fELF" and int.from_bytes(header[18:20], "little") == 183
