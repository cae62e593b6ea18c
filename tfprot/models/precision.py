"""Choose the Keras mixed-precision policy for the hardware at hand, and say why.

``precision="auto"`` picks:

- TPU: ``mixed_bfloat16`` (the TPU's native matmul type);
- NVIDIA GPU of compute capability 7.0 or newer: ``mixed_float16``, with loss scaling (Keras
  wraps the optimiser in a ``LossScaleOptimizer`` when it compiles a model built under that
  policy); an older GPU: ``float32``;
- CPU: ``mixed_bfloat16`` when the CPU has native bfloat16 instructions (AMX-BF16 or
  AVX512-BF16), the model is at least ``CPU_BF16_MIN_HIDDEN_SIZE`` (256) wide, and TensorFlow's
  bfloat16 matmuls run at least ``CPU_BF16_MIN_MATMUL_SPEEDUP`` (1.2×) as fast as its float32
  ones on this CPU (:func:`cpu_bf16_matmul_speedup`, measured once and cached); otherwise
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

The flags alone do not say that bfloat16 is fast, though. On a 2-core Intel Xeon (family 6 model
207) with AVX512-BF16 and AMX hidden by its hypervisor, oneDNN runs bfloat16 matmuls on its
AVX512-BF16 kernels at 139-142 GFLOP/s against 185-261 in float32, and ``esm2_t6_8M`` trained
1.37× *slower* in bfloat16 (7.07 against 9.67 sequences/s, ``python -m benchmarks``). So the rule
has one measured veto: a 2,048 × 640 × 2,048 matmul timed in both types (best of five,
interleaved), once per CPU model and TensorFlow version, stored in
``$TFPROT_CACHE_DIR/precision`` (default ``~/.cache/tfprot/precision``) so every later run
chooses the same. The machines measured are far from the 1.2× line on either side (this probe
0.64-0.76× on that Xeon, quiet; the benchmarks' 2,048³ peak matmuls 0.55× there, 1.9× on the AMD
EPYC, 3.3× with AMX), unlike the whole-layer timing above.

The decision is returned with its reason, logged, and stored by the factories in the model's
metadata.

>>> cpu_bf16_features("flags\\t\\t: fpu sse2 avx512f avx512_bf16 amx_tile")
('avx512_bf16',)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

from tfprot._io import write_text_atomic
from tfprot.errors import PrecisionError

__all__ = [
    "POLICIES",
    "PrecisionChoice",
    "cpu_bf16_features",
    "cpu_bf16_matmul_speedup",
    "resolve_precision",
]

logger = logging.getLogger(__name__)

POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")
CPU_BF16_MIN_HIDDEN_SIZE = 256
"""The narrowest model for which ``'auto'`` picks bfloat16 on a CPU with native bfloat16."""
CPU_BF16_MIN_MATMUL_SPEEDUP = 1.2
"""How much faster than float32 TensorFlow's bfloat16 matmuls must run here for ``'auto'`` to
pick bfloat16 on a CPU (the element-wise half of a step gains nothing from it)."""
PROBE_SHAPE = (2048, 640, 2048)
"""``[m, k] @ [k, n]`` of the matmul probe: the size of an ESM-2 feed-forward matmul."""
PROBE_REPEATS = 5
PROBE_UNDECIDED = (0.9, 1.5)
"""Readings in this band are used but not cached: contention for the cores pulls both types'
times together (the Xeon's 0.64-0.76× read 1.06× while two test workers ran), so a loaded
machine measures again next time instead of keeping a blurred answer."""
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
    speedup = cpu_bf16_matmul_speedup()
    measured = (
        f"bfloat16 matmuls run {speedup:.2f}x float32's on this CPU (measured once, cached in "
        f"{probe_cache_dir()})"
    )
    if speedup < CPU_BF16_MIN_MATMUL_SPEEDUP:
        return PrecisionChoice(
            "float32",
            f"{native}, but {measured}: bfloat16 pays from {CPU_BF16_MIN_MATMUL_SPEEDUP}x",
        )
    return PrecisionChoice(
        "mixed_bfloat16",
        f"{native}; {measured}; bfloat16 pays from {CPU_BF16_MIN_HIDDEN_SIZE} wide (esm2_t6_8M, "
        "320 wide, trained 1.15-1.4x faster in it on the CPUs measured)",
    )


def probe_cache_dir() -> Path:
    """``$TFPROT_CACHE_DIR/precision`` (default ``~/.cache/tfprot/precision``)."""
    from tfprot.models.cpu_ops_build import cache_root

    return cache_root() / "precision"


def _probe_key() -> str:
    """What the probe's answer depends on: the CPU (model and flags), TensorFlow's version and
    whether oneDNN is on."""
    import tensorflow as tf

    from tfprot.models.cpu_ops_build import cpu_flags, cpu_model

    parts = [
        cpu_model(),
        platform.machine(),
        " ".join(sorted(cpu_flags())),
        tf.__version__,
        os.environ.get("TF_ENABLE_ONEDNN_OPTS", ""),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def cpu_bf16_matmul_speedup(*, refresh: bool = False) -> float:
    """float32 time over bfloat16 time of a TensorFlow matmul on this CPU (:data:`PROBE_SHAPE`,
    best of :data:`PROBE_REPEATS` each, interleaved): above 1, bfloat16 is faster.

    Measured once per CPU model, flags, TensorFlow version and oneDNN setting (about a second)
    and cached as JSON in :func:`probe_cache_dir` unless it falls in :data:`PROBE_UNDECIDED`;
    ``refresh=True`` measures again. A cache
    file that cannot be read or written is measured around, with a log line.
    """
    path = probe_cache_dir() / f"matmul-{_probe_key()}.json"
    if not refresh:
        try:
            return float(json.loads(path.read_text())["speedup"])
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError, TypeError) as error:
            logger.info("Measuring bfloat16 matmuls again: %s is unreadable (%s).", path, error)
    record = _measure_matmuls()
    low, high = PROBE_UNDECIDED
    if low < record["speedup"] < high:
        logger.info(
            "bfloat16 matmuls measured %.2fx float32's here: too close to call on a possibly "
            "busy machine; used for this run, measured again next time.",
            record["speedup"],
        )
        return record["speedup"]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps(record, indent=1))
    except OSError as error:
        logger.info("Could not cache the bfloat16 matmul probe in %s (%s).", path, error)
    return record["speedup"]


def _measure_matmuls() -> dict:
    import tensorflow as tf

    from tfprot.models.cpu_ops_build import cpu_model

    m, k, n = PROBE_SHAPE
    with tf.device("/CPU:0"):
        left = tf.random.stateless_normal((m, k), seed=(1, 2))
        right = tf.random.stateless_normal((k, n), seed=(3, 4))
        operands = {
            "float32": (left, right),
            "bfloat16": (tf.cast(left, tf.bfloat16), tf.cast(right, tf.bfloat16)),
        }
        best = dict.fromkeys(operands, float("inf"))
        for a, b in operands.values():
            tf.matmul(a, b).numpy()  # warm-up: oneDNN builds its kernel
        for _ in range(PROBE_REPEATS):
            for name, (a, b) in operands.items():
                start = time.perf_counter()
                tf.matmul(a, b).numpy()
                best[name] = min(best[name], time.perf_counter() - start)
    flop = 2.0 * m * k * n
    return {
        "speedup": best["float32"] / best["bfloat16"],
        "float32_gflops": flop / best["float32"] / 1e9,
        "bfloat16_gflops": flop / best["bfloat16"] / 1e9,
        "shape": [m, k, n],
        "cpu": cpu_model(),
        "tensorflow": tf.__version__,
        "measured": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


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
