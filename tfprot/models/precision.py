"""Choose the Keras mixed-precision policy for the hardware at hand, and say why.

``precision="auto"`` picks:

- TPU: ``mixed_bfloat16`` (the TPU's native matmul type);
- NVIDIA GPU of compute capability 7.0 or newer: ``mixed_float16``, with loss scaling (Keras
  wraps the optimiser in a ``LossScaleOptimizer`` when it compiles a model built under that
  policy); an older GPU: ``float32``;
- CPU: ``mixed_bfloat16`` when the CPU has native bfloat16 instructions (AMX-BF16 or
  AVX512-BF16) and the model is at least ``CPU_BF16_MIN_HIDDEN_SIZE`` (256) wide; otherwise
  ``float32``.

The CPU rule is a measured one, and deliberately not a measurement made on the spot. One training
step of an ESM encoder layer through tfprot's fused path (``python -m benchmarks.precision_cpu
--widths 64 128 256 320 480 640``), float32 time over bfloat16 time, on two 2-core machines:

========================  =========  =========  =========  =========  =========  =========
CPU                        width 64   128        256        320        480        640
========================  =========  =========  =========  =========  =========  =========
AMD EPYC, AVX512-BF16      1.05-1.25  —          —          1.4-1.6    1.5-1.6    —
Intel Xeon, AMX-BF16       0.98-1.05  1.03-1.2   1.27-1.38  1.39-1.65  1.5-1.8    1.7-1.8
========================  =========  =========  =========  =========  =========  =========

Whole ``esm2_t6_8M`` training runs 1.4× faster in bfloat16 on the first and 1.15-1.4× on the
second (``python -m benchmarks``, two runs), where the element-wise half of the step does not
gain. Narrow models gain too little to pay for bfloat16's rounding; from 256 wide (every real
ESM-2 checkpoint: 320 to 5,120) bfloat16 wins on both. An earlier version timed the layer
when the model was built: on a shared 2-core machine that reading swung from 1.18× to 1.6× between
runs of the same model and flipped the choice; a rule gives the same precision every time.

The decision is returned with its reason, logged, and stored by the factories in the model's
metadata.

>>> cpu_bf16_features("flags\\t\\t: fpu sse2 avx512f avx512_bf16 amx_tile")
('avx512_bf16',)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from tfprot.errors import PrecisionError

__all__ = ["POLICIES", "PrecisionChoice", "cpu_bf16_features", "resolve_precision"]

logger = logging.getLogger(__name__)

POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")
CPU_BF16_MIN_HIDDEN_SIZE = 256
"""The narrowest model for which ``'auto'`` picks bfloat16 on a CPU with native bfloat16."""
MIN_FLOAT16_CAPABILITY = (7, 0)
"""The first NVIDIA compute capability with float16 tensor cores (Volta)."""


@dataclass(frozen=True)
class PrecisionChoice:
    """A precision policy and why it was chosen.

    Attributes:
        policy: a Keras policy name, one of :data:`POLICIES`.
        reason: why, in words (logged, and saved in the model's metadata).
    """

    policy: str
    reason: str

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise PrecisionError(
                f"Unknown precision policy {self.policy!r}. Expect one of {POLICIES}."
            )


def resolve_precision(precision: str = "auto", *, hidden_size: int = 320) -> PrecisionChoice:
    """Turn ``'auto'`` (or an explicit policy name) into a policy, logging the choice.

    Args:
        precision: ``'auto'``, ``'float32'``, ``'mixed_float16'`` or ``'mixed_bfloat16'``.
        hidden_size: the model's hidden size, for the CPU rule of ``'auto'``.

    Raises:
        PrecisionError: an unknown name (also a ``ValueError``).

    >>> resolve_precision("float32")
    PrecisionChoice(policy='float32', reason='asked for explicitly')
    """
    if precision != "auto":
        if precision not in POLICIES:
            raise PrecisionError(
                f"Unknown precision {precision!r}. Expect 'auto' or one of {POLICIES}."
            )
        return PrecisionChoice(precision, "asked for explicitly")
    choice = _auto(hidden_size)
    logger.info("precision='auto' chose %s: %s.", choice.policy, choice.reason)
    return choice


def _auto(hidden_size: int) -> PrecisionChoice:
    import tensorflow as tf

    if tf.config.list_logical_devices("TPU"):
        return PrecisionChoice(
            "mixed_bfloat16", "a TPU is attached; bfloat16 is its native matmul type"
        )
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return _gpu_choice(tf.config.experimental.get_device_details(gpus[0]))
    return _cpu_choice(hidden_size)


def _gpu_choice(details: dict) -> PrecisionChoice:
    capability = tuple(details.get("compute_capability") or (0, 0))
    name = details.get("device_name", "GPU")
    shown = ".".join(str(part) for part in capability)
    if capability >= MIN_FLOAT16_CAPABILITY:
        return PrecisionChoice(
            "mixed_float16",
            f"{name} (compute capability {shown}) has float16 tensor cores; "
            "the optimizer gets loss scaling",
        )
    return PrecisionChoice(
        "float32", f"{name} (compute capability {shown}, below 7.0) has no fast float16"
    )


def _cpu_choice(hidden_size: int) -> PrecisionChoice:
    features = cpu_bf16_features()
    if not features:
        return PrecisionChoice("float32", "CPU without native bfloat16 (no AMX-BF16/AVX512-BF16)")
    native = f"CPU with {'/'.join(features)}"
    if hidden_size < CPU_BF16_MIN_HIDDEN_SIZE:
        return PrecisionChoice(
            "float32",
            f"{native}, but a {hidden_size}-wide model is too narrow for bfloat16 to pay "
            f"(it does from {CPU_BF16_MIN_HIDDEN_SIZE} wide)",
        )
    return PrecisionChoice(
        "mixed_bfloat16",
        f"{native}; bfloat16 pays from {CPU_BF16_MIN_HIDDEN_SIZE} wide (esm2_t6_8M, 320 wide, "
        "trained 1.15-1.4x faster in it on the CPUs measured)",
    )


def cpu_bf16_features(cpuinfo: str | None = None) -> tuple[str, ...]:
    """The native bfloat16 features a CPU advertises (``amx_bf16``, ``avx512_bf16``).

    Args:
        cpuinfo: the text of ``/proc/cpuinfo``; default: read it (empty where there is none).

    >>> cpu_bf16_features("processor : 0\\nflags : fpu avx512f avx512_bf16 amx_bf16 amx_tile\\n")
    ('amx_bf16', 'avx512_bf16')
    >>> cpu_bf16_features("flags : fpu sse4_2 avx2")
    ()
    """
    if cpuinfo is None:
        path = Path("/proc/cpuinfo")
        cpuinfo = path.read_text() if path.exists() else ""
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            flags.update(value.split())
            break
    return tuple(flag for flag in ("amx_bf16", "avx512_bf16") if flag in flags)
