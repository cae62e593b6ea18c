"""``tfprot info``: what tfprot finds on this machine, and what it will do with it.

Prints the versions (tfprot, Python, TensorFlow, tf-keras, transformers, torch where installed),
the CPU and the instruction sets that matter to tfprot, the accelerators TensorFlow sees, the
precision that precision="auto" chooses here and why, and whether tfprot's CPU ops are active:
which code path (amx-bf16, avx512, avx2 or portable) and why, or why not. The first run on a
machine builds the CPU ops (about 20 s, once); make install steps run it for that reason.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import sys
from collections.abc import Sequence

from tfprot.cli import add_common_options, command_parser, run_command

EXAMPLE = "tfprot info"

RELEVANT_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_bf16",
    "amx_tile",
    "amx_bf16",
    "asimd",
    "bf16",
)
"""The CPU flags that choose tfprot's code paths and precision (x86-64; ``asimd``, ``bf16`` on
ARM64)."""

PACKAGES = ("tensorflow", "tf-keras", "transformers", "torch")


def create_parser() -> argparse.ArgumentParser:
    parser = command_parser("info", __doc__, EXAMPLE)
    add_common_options(parser)
    return parser


def package_version(name: str) -> str:
    """The installed distribution's version, or ``not installed``."""
    candidates = [name, "tensorflow-cpu", "tensorflow-intel"] if name == "tensorflow" else [name]
    for candidate in candidates:
        try:
            return importlib.metadata.version(candidate)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "not installed"


def lines() -> list[str]:
    """The report, one fact per line."""
    import tensorflow as tf

    import tfprot
    from tfprot.models import cpu_ops, cpu_ops_build, precision

    versions = ", ".join(f"{name} {package_version(name)}" for name in PACKAGES)
    flags = cpu_ops_build.cpu_flags()
    shown = " ".join(flag for flag in RELEVANT_FLAGS if flag in flags) or "none listed"
    gpus = tf.config.list_physical_devices("GPU")
    tpus = tf.config.list_logical_devices("TPU")
    devices = ", ".join(d.name for d in [*gpus, *tpus]) or "none (TensorFlow runs on the CPU)"
    report = [
        f"tfprot {tfprot.__version__}",
        f"Python {platform.python_version()} ({sys.executable})",
        versions,
        f"CPU: {cpu_ops_build.cpu_model()}, {os.cpu_count()} cores, "
        f"{cpu_ops_build.describe_cpu(flags)}; flags: {shown}",
        f"Accelerators: {devices}",
    ]
    for width, example in ((320, "esm2_t6_8M and every larger ESM-2"), (64, "the tiny presets")):
        choice = precision._auto(width)
        report.append(
            f'precision="auto" for a {width}-wide model ({example}): {choice.policy}: '
            f"{choice.reason}"
        )
    report.extend(cpu_ops_lines(cpu_ops, gpus or tpus))
    return report


def cpu_ops_lines(cpu_ops, accelerated) -> list[str]:
    if accelerated:
        return ["CPU ops: not used (an accelerator is visible: TensorFlow's kernels run there)"]
    found = cpu_ops.status()  # builds them on first use; a CpuOpsError under REQUIRE
    if not found.available:
        return [f"CPU ops: not active (TensorFlow's kernels are used): {found.reason}"]
    limits = cpu_ops.HEAD_SIZE_LIMITS[found.code_path]
    report = [
        f"CPU ops: active (attention, layer norm, GELU, QKV heads): {found.reason}",
        "  attention through the op for head sizes up to "
        f"{limits.training} (float32 training), {limits.training_bfloat16} (bfloat16 training), "
        f"{limits.inference} (float32 inference), {limits.inference_bfloat16} (bfloat16 "
        "inference); 0: never (TensorFlow's kernels measured faster on this code path)",
    ]
    return report


def run(args: argparse.Namespace) -> int:
    for line in lines():
        print(line)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(run, create_parser().parse_args(argv))
