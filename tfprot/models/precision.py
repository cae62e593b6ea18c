"""Choose the Keras mixed-precision policy for the hardware at hand, and say why.

``precision="auto"`` picks:

- TPU: ``mixed_bfloat16`` (the TPU's native matmul type);
- NVIDIA GPU of compute capability 7.0 or newer: ``mixed_float16``, with loss scaling (Keras
  wraps the optimiser in a ``LossScaleOptimizer`` for that policy);
- CPU: ``float32``, unless the CPU has native bfloat16 matrix units (AMX-BF16 or AVX512-BF16) *and*
  a measurement here, a matmul of the model's hidden size timed in both types, shows bfloat16
  at least ``1.3×`` faster. The measured ratio is logged.

The decision is returned with its reason, and the factories store both in the model's metadata.
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from tfprot.errors import TfprotError

__all__ = ["POLICIES", "PrecisionChoice", "cpu_bf16_features", "resolve_precision"]

logger = logging.getLogger(__name__)

POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")
CPU_BF16_SPEEDUP_THRESHOLD = 1.3


@dataclass(frozen=True)
class PrecisionChoice:
    """A precision policy and why it was chosen."""

    policy: str
    reason: str


def resolve_precision(precision: str = "auto", *, hidden_size: int = 320) -> PrecisionChoice:
    """Turn ``'auto'`` (or an explicit policy name) into a policy, logging the choice.

    >>> resolve_precision("float32").policy
    'float32'
    """
    if precision != "auto":
        if precision not in POLICIES:
            raise TfprotError(
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
        details = tf.config.experimental.get_device_details(gpus[0])
        capability = details.get("compute_capability") or (0, 0)
        name = details.get("device_name", "GPU")
        if tuple(capability) >= (7, 0):
            return PrecisionChoice(
                "mixed_float16",
                f"{name} (compute capability {capability[0]}.{capability[1]}) has float16 tensor cores",
            )
        return PrecisionChoice(
            "float32", f"{name} (compute capability {capability}) has no fast float16"
        )
    features = cpu_bf16_features()
    if not features:
        return PrecisionChoice("float32", "CPU without native bfloat16 (no AMX-BF16/AVX512-BF16)")
    speedup = _measured_bf16_speedup(hidden_size)
    if speedup >= CPU_BF16_SPEEDUP_THRESHOLD:
        return PrecisionChoice(
            "mixed_bfloat16",
            f"CPU with {'/'.join(features)}: a {hidden_size}-wide matmul ran {speedup:.1f}x faster in bfloat16",
        )
    return PrecisionChoice(
        "float32",
        f"CPU with {'/'.join(features)}, but a {hidden_size}-wide matmul ran only {speedup:.1f}x faster in "
        f"bfloat16 (threshold {CPU_BF16_SPEEDUP_THRESHOLD}x)",
    )


def cpu_bf16_features(cpuinfo: str | None = None) -> tuple[str, ...]:
    """The native bfloat16 features the CPU advertises (``amx_bf16``, ``avx512_bf16``)."""
    if cpuinfo is None:
        path = Path("/proc/cpuinfo")
        cpuinfo = path.read_text() if path.exists() else ""
    flags = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
            break
    return tuple(flag for flag in ("amx_bf16", "avx512_bf16") if flag in flags)


@functools.lru_cache(maxsize=8)
def _measured_bf16_speedup(hidden_size: int, tokens: int = 4096, repeats: int = 5) -> float:
    """Median time of a ``[tokens, hidden] × [hidden, 4·hidden]`` matmul, float32 over bfloat16."""
    import tensorflow as tf

    def median_time(dtype) -> float:
        a = tf.random.normal([tokens, hidden_size], dtype=tf.float32)
        b = tf.random.normal([hidden_size, 4 * hidden_size], dtype=tf.float32)
        a, b = tf.cast(a, dtype), tf.cast(b, dtype)
        matmul = tf.function(lambda x, y: tf.reduce_sum(tf.cast(tf.matmul(x, y), tf.float32)))
        matmul(a, b).numpy()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            matmul(a, b).numpy()
            times.append(time.perf_counter() - start)
        return sorted(times)[len(times) // 2]

    return median_time(tf.float32) / max(median_time(tf.bfloat16), 1e-9)
