"""What the tests expect of a CPU target, from the CPU's flags (``/proc/cpuinfo``) and the
x86-64 level definitions, written here independently of tfprot's build code."""

from __future__ import annotations

import platform
from pathlib import Path

AVX512 = frozenset({"avx512f", "avx512bw", "avx512vl"})
V4 = frozenset({"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"})
V3 = frozenset({"avx", "avx2", "fma", "bmi1", "bmi2", "f16c", "movbe"})
AMX = frozenset({"amx_tile", "amx_bf16", "avx512_bf16"})

NEEDS = {
    "sapphirerapids": V4 | V3 | AMX,
    "x86-64-v4": V4 | V3,
    "x86-64-v3": V3,
    "x86-64": frozenset(),
}
"""The x86 targets every test run compiles, and the CPU flags that run each."""

CODE_PATH = {
    "sapphirerapids": "amx-bf16",
    "x86-64-v4": "avx512",
    "x86-64-v3": "avx2",
    "x86-64": "portable",
}


def cpu_flags() -> frozenset[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def is_x86_64() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64")


def expected_code_path(target: str, flags: frozenset[str] | None = None) -> str:
    """The code path a library built for ``-march=TARGET`` should take on this CPU."""
    flags = cpu_flags() if flags is None else flags
    if target != "native":
        return CODE_PATH[target]
    if not is_x86_64():
        return "portable"
    if flags >= AVX512 | AMX:
        return "amx-bf16"
    if flags >= AVX512:
        return "avx512"
    if {"avx2", "fma"} <= flags:
        return "avx2"
    return "portable"


def runnable_lower_targets() -> list[str]:
    """The x86-64 levels below the CPU's own that it runs (each gets its own library and test
    run): ``x86-64-v4`` where it has AVX-512, ``x86-64-v3`` where AVX2, ``x86-64`` always."""
    if not is_x86_64():
        return []
    flags = cpu_flags()
    return [t for t in ("x86-64-v4", "x86-64-v3", "x86-64") if NEEDS[t] <= flags]
