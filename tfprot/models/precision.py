"""Choose the Keras mixed-precision policy for the hardware at hand, and say why.

``precision="auto"`` picks:

- TPU: ``mixed_bfloat16`` (the TPU's native matmul type);
- NVIDIA GPU of compute capability 7.0 or newer: ``mixed_float16``, with loss scaling (Keras
  wraps the optimiser in a ``LossScaleOptimizer`` when it compiles a model built under that
  policy); an older GPU: ``float32``;
- CPU: ``float32``, unless the CPU has native bfloat16 instructions (AMX-BF16 or AVX512-BF16)
  *and* a measurement here shows a bfloat16 training step at least
  ``CPU_BF16_SPEEDUP_THRESHOLD`` (1.3×) faster than a float32 one.

The measurement (:func:`_measured_bf16_speedup`, under a second) times one training step of an
ESM-like encoder layer of the model's hidden size, float32 against bfloat16 compute on float32
weights, as a mixed policy runs it: matmuls, the casts around them, softmax, GELU, LayerNorm in
float32, backward pass and update. A bare matmul is no guide: on a 2-core AMD EPYC with
AVX512-BF16 a 320-wide matmul runs 1.4-1.7× faster in bfloat16, but a whole ``esm2_t6_8M``
train step only about 1.1× (``benchmarks/precision_cpu.py``), below the threshold.

The decision is returned with its reason, logged, and stored by the factories in the model's
metadata.

>>> cpu_bf16_features("flags\\t\\t: fpu sse2 avx512f avx512_bf16 amx_tile")
('avx512_bf16',)
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from tfprot.errors import PrecisionError

__all__ = ["POLICIES", "PrecisionChoice", "cpu_bf16_features", "resolve_precision"]

logger = logging.getLogger(__name__)

POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")
CPU_BF16_SPEEDUP_THRESHOLD = 1.3
"""How much faster a bfloat16 training step must be on a CPU for ``'auto'`` to choose it."""
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
        hidden_size: the model's hidden size, for the CPU measurement of ``'auto'``.

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
    speedup = _measured_bf16_speedup(hidden_size)
    measured = (
        f"CPU with {'/'.join(features)}: a training step of a {hidden_size}-wide encoder layer "
        f"ran {speedup:.2f}x as fast in bfloat16"
    )
    if speedup >= CPU_BF16_SPEEDUP_THRESHOLD:
        return PrecisionChoice("mixed_bfloat16", measured)
    return PrecisionChoice(
        "float32", f"{measured}, below the {CPU_BF16_SPEEDUP_THRESHOLD}x that pays for it"
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


@functools.lru_cache(maxsize=8)
def _measured_bf16_speedup(hidden_size: int, repeats: int = 3) -> float:
    """float32 time over bfloat16 time of one training step of an ESM-like encoder layer.

    The layer (pre-LayerNorm self-attention with 16-wide heads, a 4x GELU feed-forward) runs on
    float32 weights; in the bfloat16 variant they are cast to bfloat16 as Keras' auto-cast does,
    LayerNorm runs in float32 as tf_keras' does under a mixed policy, and the loss is float32.
    The two variants alternate and the medians are compared, so a busy machine affects both.
    The token count shrinks with the hidden size (256-token rows, 512 tokens at width 320) to
    keep the probe under about a second.
    """
    import tensorflow as tf

    tokens = max(256, min(1024, (512 * 320) // hidden_size // 256 * 256))
    rows, length = tokens // 256, 256
    heads = max(1, hidden_size // 16)
    shapes = {"qkv": (hidden_size, 3 * hidden_size), "out": (hidden_size, hidden_size)}
    shapes |= {"up": (hidden_size, 4 * hidden_size), "down": (4 * hidden_size, hidden_size)}
    generator = tf.random.Generator.from_seed(0)
    weights = {
        name: tf.Variable(generator.normal(shape, stddev=0.02)) for name, shape in shapes.items()
    }
    inputs = generator.normal((rows, length, hidden_size))

    def layer(x, dtype):
        w = {name: tf.cast(v, dtype) for name, v in weights.items()}

        def norm(h):
            h = tf.cast(h, tf.float32)
            mean, variance = tf.nn.moments(h, axes=[-1], keepdims=True)
            return tf.cast((h - mean) * tf.math.rsqrt(variance + 1e-5), dtype)

        h = tf.cast(x, dtype)
        q, k, v = tf.split(tf.einsum("bld,de->ble", norm(h), w["qkv"]), 3, axis=-1)
        q, k, v = (tf.reshape(t, (rows, length, heads, -1)) for t in (q, k, v))
        scores = tf.nn.softmax(tf.einsum("bqhd,bkhd->bhqk", q, k) * 0.25, axis=-1)
        context = tf.reshape(tf.einsum("bhqk,bkhd->bqhd", scores, v), (rows, length, -1))
        h = h + tf.einsum("bld,de->ble", context, w["out"])
        up = tf.nn.gelu(tf.einsum("bld,de->ble", norm(h), w["up"]))
        return h + tf.einsum("bld,de->ble", up, w["down"])

    def step_for(dtype):
        @tf.function
        def step():
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(tf.cast(layer(inputs, dtype), tf.float32)))
            for variable, gradient in zip(
                weights.values(), tape.gradient(loss, list(weights.values())), strict=True
            ):
                variable.assign_sub(1e-3 * gradient)
            return loss

        return step

    steps = {dtype: step_for(dtype) for dtype in (tf.float32, tf.bfloat16)}
    times: dict = {dtype: [] for dtype in steps}
    for step in steps.values():
        step().numpy()  # trace
    for _ in range(repeats):
        for dtype, step in steps.items():
            start = time.perf_counter()
            step().numpy()
            times[dtype].append(time.perf_counter() - start)
    median = {dtype: sorted(values)[len(values) // 2] for dtype, values in times.items()}
    return median[tf.float32] / max(median[tf.bfloat16], 1e-9)
