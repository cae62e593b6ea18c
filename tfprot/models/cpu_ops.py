"""tfprot's CPU ops: attention, layer norm, GELU and the QKV heads as C++ TensorFlow ops.

TensorFlow computes attention as separate kernels (two batched matmuls, the mask's addition, the
softmax, and as many again for the gradient), each a full pass through memory over the
``[batch, heads, length, length]`` scores, the model's largest tensor. On a CPU at ESM-2 sizes
(head size 16-64) those passes, not the multiply-adds, take most of the attention's time. The
attention op (``_ops/attention_op.cc`` and ``_ops/kernel.cc``) processes one (batch, head) pair at
a time with each query row's scores in a buffer that stays in the L1 cache, and its gradient
recomputes the probabilities from each row's log-sum-exp (as FlashAttention does). Arithmetic is
float32 whatever the inputs' type (float32 or bfloat16) except the products of bfloat16 inputs on
CPUs with AMX, which are bfloat16 tile products with float32 sums (the probabilities and their
gradient rounded to bfloat16 first, as TensorFlow's bfloat16 matmuls take them).

The same library holds layer norm, GELU and the QKV heads with the rotary embedding (one pass
through memory each way), which :mod:`tfprot.models.esm_fast` uses; :func:`custom_ops`.

**Code paths.** ``kernel.cc`` is compiled for this CPU (:mod:`tfprot.models.cpu_ops_build`:
``-march=native`` on first use, once, into ``~/.cache/tfprot/ops``; ``TFPROT_CPU_OPS_MARCH``
names another target) and takes one of four paths (:attr:`CpuOpsStatus.code_path`):
``amx-bf16`` (AVX-512, and bfloat16 attention products on AMX tiles: Intel Xeon from Sapphire
Rapids), ``avx512`` (AVX-512 F/BW/VL: AMD Zen 4 and later, Intel Skylake-SP and later),
``avx2`` (AVX2 and FMA: most other x86-64 CPUs since 2013) and
``portable`` (older x86-64, ARM64). :func:`attention` uses the op for the head sizes where it
measured faster than TensorFlow's kernels on its path (:data:`HEAD_SIZE_LIMITS`).

**Where they are used.** A CPU-only process (no GPU visible), outside a TPU strategy, not in a
function compiled with XLA (``jit_compile=True``) and not in a SavedModel (traces made while one
is written, and :func:`tfprot.models.export_saved_model`'s, which runs under :func:`disabled`), so
that an export loads without tfprot's library. Where there is no compiler or the build fails,
:func:`status` says why (one warning, once per process) and TensorFlow's kernels compute the same
function, slower. ``TFPROT_CPU_OPS=0`` turns the ops off (``TFPROT_FUSED_ATTENTION=0``, the old
name, too); ``TFPROT_REQUIRE_CPU_OPS=1`` makes an unavailable library a :class:`CpuOpsError`
(CI: a failed build fails the tests instead of skipping them). ``tfprot info`` shows the path in
use and why.

>>> import numpy as np, tensorflow as tf
>>> q = k = v = tf.constant(np.random.default_rng(0).normal(size=(1, 2, 5, 16)), tf.float32)
>>> mask = tf.zeros([1, 1, 1, 5])
>>> expected = tf.nn.softmax(tf.matmul(q, k, transpose_b=True) + mask) @ v
>>> bool(np.allclose(attention(q, k, v, mask), expected, atol=1e-5))
True
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import tensorflow as tf

from tfprot.errors import CpuOpsError
from tfprot.models import cpu_ops_build

__all__ = [
    "CODE_PATHS",
    "ENV_SWITCH",
    "ENV_SWITCH_ALIAS",
    "HEAD_SIZE_LIMITS",
    "REQUIRE_ENV",
    "CpuOpsStatus",
    "HeadSizeLimits",
    "attention",
    "custom_ops",
    "disabled",
    "fused",
    "is_enabled",
    "status",
]

logger = logging.getLogger(__name__)

ENV_SWITCH = "TFPROT_CPU_OPS"
"""Set to ``0`` to use TensorFlow's own kernels everywhere."""
ENV_SWITCH_ALIAS = "TFPROT_FUSED_ATTENTION"
"""The switch's earlier name, still obeyed."""
REQUIRE_ENV = "TFPROT_REQUIRE_CPU_OPS"
"""Set to ``1`` to make an unavailable library an error (:class:`CpuOpsError`), not a fallback."""

CODE_PATHS = ("amx-bf16", "avx512", "avx2", "portable")

_LOCK = threading.Lock()
_LOADED: dict[str, object] = {}
_DISABLED = threading.local()


@dataclasses.dataclass(frozen=True)
class CpuOpsStatus:
    """Whether the CPU ops are in use in this process, and why (not).

    Attributes:
        available: the library is built and loaded.
        reason: why (not), in words: the code path and what chose it, or what failed.
        library: the shared library's path, if built.
        code_path: one of :data:`CODE_PATHS`, if built.
        target: the ``-march`` target it was built for.
    """

    available: bool
    reason: str
    library: Path | None = None
    code_path: str | None = None
    target: str | None = None

    @property
    def amx(self) -> bool:
        """bfloat16 attention products run on AMX tiles."""
        return self.code_path == "amx-bf16"


def status() -> CpuOpsStatus:
    """Builds (first call on this machine; about 20 s) and loads the library; says whether it
    is available.

    Raises:
        CpuOpsError: it is not, and ``TFPROT_REQUIRE_CPU_OPS=1``.

    >>> status().available in (True, False)
    True
    """
    switch = _switched_off()
    if switch:
        return CpuOpsStatus(False, f"turned off by {switch}=0")
    with _LOCK:
        if "status" not in _LOADED:
            _LOADED["status"] = _load()
        found: CpuOpsStatus = _LOADED["status"]  # type: ignore[assignment]
    if not found.available and _required():
        raise CpuOpsError(f"tfprot's CPU ops are not available ({REQUIRE_ENV}=1): {found.reason}")
    return found


def custom_ops():
    """The loaded library's ops (``tfprot_attention``, ``tfprot_gelu``... and their gradients).

    Raises:
        CpuOpsError: the library is not available here (:func:`status` says why).
    """
    found = status()
    if not found.available:
        raise CpuOpsError(f"tfprot's CPU ops are not available: {found.reason}")
    return _LOADED["ops"]


def is_enabled() -> bool:
    """Whether the CPU ops serve a trace made now on this thread."""
    if getattr(_DISABLED, "depth", 0) > 0 or _switched_off():
        return False
    if tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU"):
        return False
    if tf.distribute.has_strategy() and _is_tpu(tf.distribute.get_strategy()):
        return False
    if _in_xla_or_saved_model():
        return False
    return status().available


@contextlib.contextmanager
def disabled() -> Iterator[None]:
    """Within this block (on this thread), the ops are not used (TensorFlow's kernels are): for
    XLA compilation and for exports that must load without tfprot's library."""
    _DISABLED.depth = getattr(_DISABLED, "depth", 0) + 1
    try:
        yield
    finally:
        _DISABLED.depth -= 1


@dataclasses.dataclass(frozen=True)
class HeadSizeLimits:
    """The largest head size for which :func:`attention` uses the op on one code path, when
    training (forward and gradient) and outside training (forward only), per input type; 0:
    never."""

    training: int
    training_bfloat16: int
    inference: int
    inference_bfloat16: int

    def limit(self, dtype: tf.DType, training: bool) -> int:
        if dtype == tf.bfloat16:
            return self.training_bfloat16 if training else self.inference_bfloat16
        return self.training if training else self.inference


HEAD_SIZE_LIMITS = {
    "amx-bf16": HeadSizeLimits(
        training=16, training_bfloat16=64, inference=64, inference_bfloat16=64
    ),
    "avx512": HeadSizeLimits(
        training=32, training_bfloat16=64, inference=64, inference_bfloat16=64
    ),
    "avx2": HeadSizeLimits(training=32, training_bfloat16=64, inference=64, inference_bfloat16=64),
    "portable": HeadSizeLimits(training=0, training_bfloat16=0, inference=0, inference_bfloat16=0),
}
"""Per code path, the head sizes for which the op measured faster than TensorFlow's kernels
(``python -m benchmarks.attention_cpu``, 8 × 20 heads × 320 tokens, TensorFlow time / op time,
median of the rounds; above 1: the op is faster), all on a 2-core Xeon with AMX (a shared,
noisy machine: ratios are side by side in each round, yet move by 0.1-0.2 between runs). The
lower paths were built there with ``TFPROT_CPU_OPS_MARCH`` and TensorFlow's matmuls capped with
``ONEDNN_MAX_CPU_ISA`` at what such a CPU has.

- ``amx-bf16`` (9 rounds): float32 forward and gradient with the op's AVX-512 multiply-adds:
  head size 16 1.50, 24: 1.03, 32: 0.94, 64: 0.76; bfloat16 on AMX tiles: 1.82, 1.55, 1.44,
  1.14. Forward only, float32: 1.89, 1.43, 1.40, 1.14; bfloat16: 1.75, 1.60, 1.70, 1.47.
- ``avx512`` (``x86-64-v4``; TensorFlow at ``AVX512_CORE_BF16``, as on AMD Zen 4; 5 and 7
  rounds): bfloat16 forward and gradient 16: 1.97-2.21, 24: 1.48-1.51, 32: 1.38-1.55, 64:
  1.21-1.21; forward only 1.90-2.09, 1.54-2.02, 1.84-2.09, 1.39-1.69 (TensorFlow's bfloat16
  matmuls without AMX tiles are slow). float32 as on ``amx-bf16`` (the same code): training
  1.82-1.98, 1.24-1.27, 1.11-1.21, 0.88-0.89 there. On a real AVX-512 CPU without AMX (a 2-core
  Intel Xeon, family 6 model 207, AMX hidden by its hypervisor; TensorFlow's oneDNN at
  ``AVX512_CORE_FP16``; 15 rounds, 2026-12-06): float32 training 16: 1.70, 24: 1.17, 32: 1.09,
  forward 1.97, 1.53, 1.39; so float32 training goes up to 32 on this path (``esm2_t12_35M``,
  head size 24, then trained 1.15-1.23× faster there: 2.36 and 2.23 against 2.06 and 1.82
  sequences/s, ``benchmarks.tfprot_train``, alternating runs). ``amx-bf16`` keeps 16. Since the
  workspace is cache-line aligned and float32 rows are read and written in place (2026-12-07,
  the same Xeon, 11 rounds): float32 training 16: 2.03, 24: 1.38, 32: 1.26, 64: 0.92 (so still
  32), forward 2.31, 1.72, 1.63, 1.33; the float32 gradient on ``amx-bf16`` runs the same code
  and was not measured again there (no AMX machine lent since).
- ``avx2`` (``x86-64-v3``: the AVX-512 path's register-blocked code on pairs of 8-lane
  registers, half the rows per block), measured on an AVX2-only CPU (2-core AMD EPYC, first Zen
  generation, 2026-12-06; TensorFlow runs Eigen's kernels there, oneDNN being off by default on
  such CPUs): float32 forward and gradient 16: 2.46, 24: 1.74, 32: 1.75, 64: 1.13 (kept at 32);
  forward only 3.63, 2.86, 2.94, 1.91; bfloat16 3.16, 2.62, 2.40, 1.39 and forward only 4.28,
  3.93, 3.93, 2.66 (7 and 5 rounds). Before this path (the portable loops vectorised for AVX2)
  the same machine measured float32 training 0.87, 0.79, 0.70, 0.50.
- ``portable`` (``x86-64``): never. float32 head size 16 and 64, forward 0.80 and 0.55, with
  gradient 0.66 and 0.48 (on the Xeon, TensorFlow capped at ``SSE41``).

tfprot's other CPU ops (GELU, layer norm, QKV heads) measured faster than TensorFlow's on every
path (``python -m benchmarks.layer_ops_cpu``, 2,560 tokens × 320, forward and gradient, 5
rounds; float32 / bfloat16): GELU 2.47 / 3.23 (``avx512``), 1.99 / 2.55 (``avx2``), 1.43 /
1.44 (``portable``); layer norm 2.42 / 3.61, 2.40 / 3.15, 2.53 / 3.26; heads 1.45 / 1.76,
1.61 / 1.50, 1.56 / 1.70; so :mod:`tfprot.models.esm_fast` uses them wherever the library is
loaded. The heads op now rotates straight from its input to its outputs (a float32 scratch row
written with masked stores and read back stalled on every head): on the Xeon without AMX
(2026-12-07, 7 rounds, float32) heads 1.59 (``avx512``), 1.88 (``avx2``), 1.93 (``portable``);
GELU 2.41, 2.06, 1.12; layer norm 2.77, 2.52, 2.07; in ``esm2_t6_8M`` embeddings the heads op's
share of op time fell from 9.3% to 4.2%.
"""


def attention(
    query: tf.Tensor, key: tf.Tensor, value: tf.Tensor, mask: tf.Tensor, *, training: bool = True
) -> tf.Tensor:
    """``softmax(query·keyᵀ + mask)·value`` with its gradient for query, key and value: the op
    where it is enabled (:func:`is_enabled`) and faster (head sizes up to its code path's
    :data:`HEAD_SIZE_LIMITS`), TensorFlow's kernels otherwise. Either way the gradient exists.

    Args:
        query: ``[batch, heads, queries, depth]`` (float32 or bfloat16; already scaled).
        key, value: ``[batch, heads, keys, depth]``, the query's type.
        mask: added to the scores: ``[batch, 1, 1, keys]`` (transformers' extended attention
            mask) for the op; any broadcastable shape for TensorFlow's computation.
        training: whether a gradient will be taken (chooses the head-size limit).
    """
    depth = query.shape[-1]
    if depth is not None and _fusable(query, mask) and is_enabled():
        limits = HEAD_SIZE_LIMITS.get(status().code_path or "", HEAD_SIZE_LIMITS["portable"])
        if depth <= limits.limit(query.dtype, training is not False):
            return fused(query, key, value, mask)
    return _reference(query, key, value, mask)


def fused(query: tf.Tensor, key: tf.Tensor, value: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """:func:`attention` through the op whatever the head size (any depth; vectorised up to 64
    on the AVX-512 paths), for tests and benchmarks; the mask must be ``[batch, 1, 1, keys]``.

    Raises:
        CpuOpsError: the op is not available here (:func:`status` says why).
    """
    custom_ops()
    batch, keys = tf.shape(key)[0], tf.shape(key)[2]
    return _fused(query, key, value, tf.reshape(tf.cast(mask, tf.float32), [batch, keys]))


def _fusable(query, mask) -> bool:
    shape = mask.shape
    return (
        query.dtype in (tf.float32, tf.bfloat16)
        and query.shape.rank == 4
        and shape.rank == 4
        and shape[1] == 1
        and shape[2] == 1
    )


@tf.custom_gradient
def _fused(query, key, value, mask_rows):
    ops = _LOADED["ops"]
    context, logsumexp = ops.tfprot_attention(query, key, value, mask_rows)

    def gradient(d_context):
        d_query, d_key, d_value = ops.tfprot_attention_grad(
            query, key, value, mask_rows, context, logsumexp, d_context
        )
        return d_query, d_key, d_value, None

    return context, gradient


def _probabilities(query, key, mask):
    return tf.nn.softmax(tf.matmul(query, key, transpose_b=True) + mask, axis=-1)


@tf.custom_gradient
def _reference(query, key, value, mask):
    """TensorFlow's kernels. The gradient computes the probabilities again from the query and
    key, with the same kernels on the same tensors (so the same numbers), instead of keeping
    them from the forward pass: they are ``heads × keys`` values per token, as many as a
    640-wide layer's other saved activations together at 256 tokens (20 heads), and growing
    with the length. One more ``q·kᵀ`` and softmax per layer in the backward pass (as
    FlashAttention and Megatron's selective recomputation do). It uses
    ``rowsum(dP ∘ P) = rowsum(dO ∘ O)`` (as FlashAttention does): a sum over the head size
    instead of two passes (a product and a sum) over the ``queries × keys`` scores."""
    context = tf.matmul(_probabilities(query, key, mask), value)

    def gradient(d_context):
        # Named, for profiles. The control dependency keeps the recomputation after the
        # gradient arrives, and apart from the forward pass's (Grappler would otherwise merge
        # the two identical subgraphs into one kept tensor).
        with tf.name_scope("attention_gradient"), tf.control_dependencies([d_context]):
            probabilities = _probabilities(query, key, mask)
            d_value = tf.matmul(probabilities, d_context, transpose_a=True)
            d_probabilities = tf.matmul(d_context, value, transpose_b=True)
            wide = tf.float64 if context.dtype == tf.float64 else tf.float32
            row = tf.cast(d_context, wide) * tf.cast(context, wide)
            row = tf.reduce_sum(row, axis=-1, keepdims=True)
            d_scores = probabilities * (d_probabilities - tf.cast(row, d_probabilities.dtype))
            d_query = tf.matmul(d_scores, key)
            d_key = tf.matmul(d_scores, query, transpose_a=True)
            return d_query, d_key, d_value, None

    return context, gradient


def _is_tpu(strategy) -> bool:
    return type(strategy).__name__.startswith("TPUStrategy")


def _in_xla_or_saved_model() -> bool:
    """A trace for XLA (``jit_compile=True``; XLA cannot compile a custom op) or one made while
    writing a SavedModel (which must load without tfprot's library)."""
    from tensorflow.python.framework import ops
    from tensorflow.python.ops import control_flow_util
    from tensorflow.python.saved_model import save_context

    graph = ops.get_default_graph()
    return save_context.in_save_context() or control_flow_util.GraphOrParentsInXlaContext(graph)


# -- switches, loading ---------------------------------------------------------------------------

_OFF = ("0", "false", "no", "off")


def _switched_off() -> str | None:
    """The variable that turns the ops off, if one does."""
    for name in (ENV_SWITCH, ENV_SWITCH_ALIAS):
        if os.environ.get(name, "1").strip().lower() in _OFF:
            return name
    return None


def _required() -> bool:
    return os.environ.get(REQUIRE_ENV, "0").strip().lower() not in ("", *_OFF)


def _load() -> CpuOpsStatus:
    refused = cpu_ops_build.unsupported_platform()
    if refused:
        return _unavailable(refused)
    try:
        target = cpu_ops_build.march()
        built = cpu_ops_build.build(cpu_ops_build.compiler(), target)
        ops = tf.load_op_library(str(built.library))
    except cpu_ops_build.BuildError as error:
        return _unavailable(str(error))
    except OSError as error:  # the cache folder cannot be written
        folder = cpu_ops_build.cache_dir()
        return _unavailable(
            f"cannot build in {folder} ({error}); set TFPROT_CACHE_DIR to a writable folder"
        )
    except tf.errors.OpError as error:
        return _unavailable(f"the built library did not load: {error.message}")
    _LOADED["ops"] = ops
    path, note = _code_path(built.library)
    why = _WHY.get(path, "")
    reason = f"the {path} code path ({why}{'; ' + note if note else ''}), built for -march="
    reason += f"{target} ({built.description}): {built.library}"
    return CpuOpsStatus(True, reason, built.library, path, target)


_WHY = {
    "amx-bf16": "the target has AVX-512 and AMX-BF16, and Linux grants the tile registers: "
    "bfloat16 attention products on AMX tiles, the rest AVX-512",
    "avx512": "the target has AVX-512 F/BW/VL but not AMX-BF16",
    "avx2": "the target has AVX2 and FMA but not AVX-512: attention blocked on 8-lane registers",
    "portable": "the target has neither AVX-512 nor AVX2: portable loops",
}


def _unavailable(reason: str) -> CpuOpsStatus:
    logger.warning(
        "tfprot's CPU ops are not used (TensorFlow's kernels are: same results, slower): %s",
        reason,
    )
    return CpuOpsStatus(False, reason)


def _code_path(library: Path) -> tuple[str, str]:
    """The library's code path (one of :data:`CODE_PATHS`) and any note it adds."""
    import ctypes

    try:
        function = ctypes.CDLL(str(library)).tfprot_cpu_ops_code_path
    except (OSError, AttributeError):
        return "portable", "the library does not say its code path"
    function.restype = ctypes.c_char_p
    path, _, note = function().decode().partition(" ")
    return path, note.strip("()")
