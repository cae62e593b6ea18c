"""Choose the Keras mixed-precision policy for the hardware at hand, and say why.

``precision="auto"`` picks:

- TPU: ``mixed_bfloat16`` (the TPU's native matmul type);
- NVIDIA GPU of compute capability 7.0 or newer: ``mixed_float16``, with loss scaling (Keras
  wraps the optimiser in a ``LossScaleOptimizer`` when it compiles a model built under that
  policy); an older GPU: ``float32``;
- CPU: ``float32``, unless the CPU has native bfloat16 instructions (AMX-BF16 or AVX512-BF16)
  *and* a measurement here shows a bfloat16 training step at least
  ``CPU_BF16_SPEEDUP_THRESHOLD`` (1.3×) faster than a float32 one.

The measurement (:func:`_measured_bf16_speedup`, one or two seconds) times one training step of the
model's own encoder layer (transformers' ``TFEsmLayer`` of the model's hidden size, through
tfprot's fused path), float32 against ``mixed_bfloat16``: matmuls, the casts around them, softmax,
GELU, LayerNorm, backward pass and update. A bare matmul is no guide: on a 2-core AMD EPYC with
AVX512-BF16 (no AMX) a large matmul runs 1.8× faster in bfloat16, a whole ``esm2_t6_8M`` train step
about 1.5× (``python -m benchmarks``), and the probe reads 1.4-1.6× at widths 320 and 480 but
1.05-1.25× at width 64 (``tiny-esm``), which keeps float32: a 10% gain does not pay for bfloat16's
rounding. A CPU with AMX gains far more, one with slow (emulated) bfloat16 nothing. The threshold
sits between those readings, so that noise does not flip the choice from one run to the next.

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
def _measured_bf16_speedup(hidden_size: int, repeats: int = 5) -> float:
    """float32 time over bfloat16 time of one training step of an ESM encoder layer.

    The layer is transformers' ``TFEsmLayer`` of the model's hidden size (16-wide heads, a 4x
    feed-forward network), through the fused path tfprot trains with
    (:mod:`tfprot.models.esm_fast`), built once under ``float32`` and once under
    ``mixed_bfloat16``; a step is its forward and backward pass on four 256-token rows and an SGD
    update of its weights. The two alternate ``repeats`` times and the medians are compared, so a
    busy machine affects both. About 1.5 s at width 320.
    """
    import tensorflow as tf
    from transformers import EsmConfig
    from transformers.models.esm.modeling_tf_esm import TFEsmLayer

    from tfprot._keras import keras
    from tfprot.models import esm_fast

    esm_fast.apply()
    rows, length = 4, 256
    heads = max(1, hidden_size // 16)
    config = EsmConfig(
        vocab_size=33,
        hidden_size=heads * 16,
        num_hidden_layers=1,
        num_attention_heads=heads,
        intermediate_size=4 * heads * 16,
        position_embedding_type="rotary",
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    inputs = tf.random.stateless_normal((rows, length, config.hidden_size), seed=(0, 1))
    mask = tf.zeros((rows, 1, 1, length))

    def step_under(policy: str):
        k = keras()
        previous = k.mixed_precision.global_policy()
        k.mixed_precision.set_global_policy(policy)
        try:
            layer = TFEsmLayer(config, name=f"probe_{policy}")
            layer.build(None)
        finally:
            k.mixed_precision.set_global_policy(previous)

        @tf.function
        def step():
            with tf.GradientTape() as tape:
                hidden = layer(
                    tf.cast(inputs, layer.compute_dtype), tf.cast(mask, layer.compute_dtype)
                )[0]
                loss = tf.reduce_mean(tf.square(tf.cast(hidden, tf.float32)))
            variables = layer.trainable_variables
            for variable, gradient in zip(variables, tape.gradient(loss, variables), strict=True):
                variable.assign_sub(1e-3 * gradient)
            return loss

        return step

    steps = {policy: step_under(policy) for policy in ("float32", "mixed_bfloat16")}
    times: dict[str, list[float]] = {policy: [] for policy in steps}
    for step in steps.values():
        step().numpy()  # trace
    for _ in range(repeats):
        for policy, step in steps.items():
            start = time.perf_counter()
            step().numpy()
            times[policy].append(time.perf_counter() - start)
    median = {policy: sorted(values)[len(values) // 2] for policy, values in times.items()}
    return median["float32"] / max(median["mixed_bfloat16"], 1e-9)
