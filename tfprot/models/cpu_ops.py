"""Fused attention on CPUs: ``softmax(query·keyᵀ + mask)·value`` as one TensorFlow op.

TensorFlow computes attention as separate kernels (two batched matmuls, the mask's addition, the
softmax, and as many again for the gradient), each a full pass through memory over the
``[batch, heads, length, length]`` scores, the model's largest tensor. On a CPU at ESM-2 sizes
(head size 16-64) those passes, not the multiply-adds, take most of the attention's time. The op
here (``_ops/attention_op.cc`` and ``_ops/kernel.cc``) processes one (batch, head) pair at a time
with each query row's scores in a buffer that stays in the L1 cache, and its gradient recomputes
the probabilities from each row's log-sum-exp (as FlashAttention does). Arithmetic is float32
whatever the inputs' type (float32 or bfloat16) except the products of bfloat16 inputs on CPUs
with AMX, which are bfloat16 tile products with float32 sums (the probabilities and their
gradient rounded to bfloat16 first, as TensorFlow's bfloat16 matmuls take them); AVX-512 where the
CPU has it.

The op is C++, in one library with tfprot's other CPU ops (layer norm, GELU, QKV heads with the
rotary embedding, which :mod:`tfprot.models.esm_fast` uses; :func:`custom_ops`). The library is
compiled for this machine (``g++ -march=native``, TensorFlow's headers from ``tf.sysconfig``) on
first use, once per source, flags, TensorFlow version and CPU, into ``$TFPROT_CACHE_DIR/ops``
(default ``~/.cache/tfprot/ops``). Where there is no compiler or the build fails, :func:`status`
says why and :func:`attention` is TensorFlow's own computation: same results, slower.
``TFPROT_FUSED_ATTENTION=0`` turns all the ops off.

It is used only where it can run: a CPU-only process (no GPU visible), outside a TPU strategy,
not in a function compiled with XLA (``jit_compile=True``) and not in a SavedModel (traces made
while one is written, and :func:`tfprot.models.export_saved_model`'s, which runs under
:func:`disabled`), so that an export loads without tfprot's library.

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
import fcntl
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import tensorflow as tf

__all__ = [
    "MAX_DEPTH_INFERENCE",
    "MAX_DEPTH_TRAINING",
    "MAX_DEPTH_TRAINING_AMX",
    "FusedAttentionStatus",
    "attention",
    "custom_ops",
    "disabled",
    "fused",
    "is_enabled",
    "status",
]

logger = logging.getLogger(__name__)

SOURCES = Path(__file__).parent / "_ops"
ENV_SWITCH = "TFPROT_FUSED_ATTENTION"
"""Set to ``0`` to use TensorFlow's own attention everywhere."""

KERNEL_FLAGS = ("-O3", "-march=native", "-std=c++17", "-fopenmp-simd", "-ffp-contract=off")
"""How ``_ops/kernel.cc`` is compiled: for this CPU, without contracting ``a·b + c`` into one
rounding (element-wise results then equal TensorFlow's op-by-op float32 arithmetic; the explicit
FMA intrinsics are unaffected)."""

_LOCK = threading.Lock()
_LOADED: dict[str, object] = {}
_DISABLED = threading.local()


@dataclasses.dataclass(frozen=True)
class FusedAttentionStatus:
    """Whether the fused op is in use in this process, and why (not).

    Attributes:
        available: the op is built and loaded.
        reason: what was found: the library's path and code path, or why not.
        library: the shared library's path, if built.
        amx: its bfloat16 products run on AMX tiles.
    """

    available: bool
    reason: str
    library: Path | None = None
    amx: bool = False


def status() -> FusedAttentionStatus:
    """Builds (first call; about 15 s) and loads the op; says whether it is available.

    >>> status().available in (True, False)
    True
    """
    with _LOCK:
        if "status" not in _LOADED:
            _LOADED["status"] = _load()
        return _LOADED["status"]  # type: ignore[return-value]


def custom_ops():
    """The loaded op library (``tfprot_attention``, ``tfprot_gelu``... and their gradients).

    Raises:
        RuntimeError: it is not available here (:func:`status` says why).
    """
    found = status()
    if not found.available:
        raise RuntimeError(f"tfprot's CPU ops are not available: {found.reason}")
    return _LOADED["ops"]


def is_enabled() -> bool:
    """Whether :func:`attention` uses the fused op for a trace made now on this thread."""
    if getattr(_DISABLED, "depth", 0) > 0:
        return False
    if os.environ.get(ENV_SWITCH, "1").strip().lower() in ("0", "false", "no", "off"):
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
    """Within this block (on this thread), :func:`attention` is TensorFlow's own computation:
    for XLA compilation and for exports that must load without tfprot's library."""
    _DISABLED.depth = getattr(_DISABLED, "depth", 0) + 1
    try:
        yield
    finally:
        _DISABLED.depth -= 1


MAX_DEPTH_TRAINING = 16
"""The largest head size for which :func:`attention` uses the op when training, unless
:data:`MAX_DEPTH_TRAINING_AMX` applies. Side by side with TensorFlow's kernels
(``python -m benchmarks.attention_cpu``, 8 × 20 heads × 320 tokens, 2-core Xeon with AMX, median
of 9 rounds; TensorFlow time / op time), forward and gradient with the op's float32
multiply-adds: head size 16 1.50 (float32) / 1.35 (bfloat16); 24: 1.03 / 0.82; 32: 0.94 / 0.73;
64: 0.76 / 0.52. They grow with the head size; TensorFlow's bfloat16 matmuls run on AMX."""

MAX_DEPTH_TRAINING_AMX = 64
"""The same for bfloat16 on a CPU with AMX, where the op's products are AMX tile products too:
head size 16 1.82, 24: 1.55, 32: 1.44, 64: 1.14 (same readings)."""

MAX_DEPTH_INFERENCE = 64
"""The largest head size for which :func:`attention` uses the op outside training (forward only,
same readings: float32 16: 1.89, 24: 1.43, 32: 1.40, 64: 1.14; bfloat16, whose forward pass runs
on AMX tiles where the CPU has them: 1.75, 1.60, 1.70, 1.47)."""


def attention(
    query: tf.Tensor, key: tf.Tensor, value: tf.Tensor, mask: tf.Tensor, *, training: bool = True
) -> tf.Tensor:
    """``softmax(query·keyᵀ + mask)·value`` with its gradient for query, key and value: the fused
    op where it is enabled (:func:`is_enabled`) and faster (head sizes up to
    :data:`MAX_DEPTH_TRAINING`, :data:`MAX_DEPTH_TRAINING_AMX` for bfloat16 on AMX, or
    :data:`MAX_DEPTH_INFERENCE` when not ``training``), TensorFlow's kernels otherwise. Either way
    the gradient exists.

    Args:
        query: ``[batch, heads, queries, depth]`` (float32 or bfloat16; already scaled).
        key, value: ``[batch, heads, keys, depth]``, the query's type.
        mask: added to the scores: ``[batch, 1, 1, keys]`` (transformers' extended attention
            mask) for the fused op; any broadcastable shape for TensorFlow's computation.
        training: whether a gradient will be taken (chooses the head-size limit).
    """
    limit = MAX_DEPTH_INFERENCE
    if training is not False:
        amx = query.dtype == tf.bfloat16 and status().amx
        limit = MAX_DEPTH_TRAINING_AMX if amx else MAX_DEPTH_TRAINING
    depth = query.shape[-1]
    if depth is not None and depth <= limit and _fusable(query, mask) and is_enabled():
        return fused(query, key, value, mask)
    return _reference(query, key, value, mask)


def fused(query: tf.Tensor, key: tf.Tensor, value: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """:func:`attention` through the op whatever the head size (any depth; vectorised up to 64),
    for tests and benchmarks; the mask must be ``[batch, 1, 1, keys]``.

    Raises:
        RuntimeError: the op is not available here (:func:`status` says why).
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


@tf.custom_gradient
def _reference(query, key, value, mask):
    """TensorFlow's kernels; the gradient uses ``rowsum(dP ∘ P) = rowsum(dO ∘ O)`` (as
    FlashAttention does): a sum over the head size instead of two passes (a product and a sum)
    over the ``queries × keys`` scores."""
    probabilities = tf.nn.softmax(tf.matmul(query, key, transpose_b=True) + mask, axis=-1)
    context = tf.matmul(probabilities, value)

    def gradient(d_context):
        with tf.name_scope("attention_gradient"):  # named, for profiles
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


# -- building and loading ---------------------------------------------------------------------


def _load() -> FusedAttentionStatus:
    if os.environ.get(ENV_SWITCH, "1").strip().lower() in ("0", "false", "no", "off"):
        return FusedAttentionStatus(False, f"turned off by {ENV_SWITCH}=0")
    try:
        library = _build()
        _LOADED["ops"] = tf.load_op_library(str(library))
    except _BuildError as error:
        logger.info("Fused CPU attention unavailable (TensorFlow's own is used): %s", error)
        return FusedAttentionStatus(False, str(error))
    except OSError as error:  # the cache folder cannot be written
        message = (
            f"cannot build in {_cache_dir()} ({error}); set TFPROT_CACHE_DIR to a writable folder"
        )
        logger.info("Fused CPU attention unavailable (TensorFlow's own is used): %s", message)
        return FusedAttentionStatus(False, message)
    except tf.errors.OpError as error:
        message = f"the built library did not load: {error.message}"
        logger.info("Fused CPU attention unavailable (TensorFlow's own is used): %s", message)
        return FusedAttentionStatus(False, message)
    isa = _isa(library)
    return FusedAttentionStatus(True, f"{library} ({isa} kernels)", library, "amx-bf16" in isa)


class _BuildError(RuntimeError):
    pass


def _compiler() -> str:
    compiler = os.environ.get("CXX", "g++")
    path = shutil.which(compiler)
    if path is None:
        raise _BuildError(f"no C++ compiler {compiler!r} on PATH (set CXX to one)")
    return path


def _cache_dir() -> Path:
    root = os.environ.get("TFPROT_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "tfprot"
    )
    return Path(root) / "ops"


def _cpu_flags() -> str:
    """The CPU's model and feature flags: a library built with ``-march=native`` runs only there."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        import platform

        return platform.processor() or platform.machine()
    lines = [x for x in text.splitlines() if x.startswith(("model name", "flags"))]
    return "\n".join(sorted(set(lines)))


def _build_key(compiler: str) -> str:
    digest = hashlib.sha256()
    for path in sorted(SOURCES.glob("*")):
        digest.update(path.name.encode() + path.read_bytes())
    version = subprocess.run(
        [compiler, "--version"], capture_output=True, text=True, check=False
    ).stdout
    for part in (
        tf.__version__,
        version,
        _cpu_flags(),
        *KERNEL_FLAGS,
        *tf.sysconfig.get_compile_flags(),
    ):
        digest.update(part.encode())
    return digest.hexdigest()[:16]


def _build() -> Path:
    compiler = _compiler()
    folder = _cache_dir() / _build_key(compiler)
    library = folder / "tfprot_attention.so"
    if library.exists():
        return library
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:  # one build at a time (parallel test workers)
        fcntl.flock(lock, fcntl.LOCK_EX)
        if library.exists():
            return library
        logger.info("Building tfprot's fused CPU attention op in %s (once per machine).", folder)
        with tempfile.TemporaryDirectory(dir=folder) as scratch:
            kernel = Path(scratch) / "kernel.o"
            built = Path(scratch) / library.name
            # Only the arithmetic is compiled for this CPU: TensorFlow's headers (Eigen) do not
            # compile with every -march=native (AVX512-FP16), and need not.
            _run(
                [
                    compiler,
                    "-c",
                    "-fPIC",
                    *KERNEL_FLAGS,
                    str(SOURCES / "kernel.cc"),
                    "-o",
                    str(kernel),
                ]
            )
            tensorflow_flags = tf.sysconfig.get_compile_flags() + tf.sysconfig.get_link_flags()
            sources = [*(str(p) for p in sorted(SOURCES.glob("*_op.cc"))), str(kernel)]
            _run(
                [
                    compiler,
                    "-shared",
                    "-fPIC",
                    "-O2",
                    "-w",
                    *sources,
                    "-o",
                    str(built),
                    *tensorflow_flags,
                ]
            )
            os.replace(built, library)  # atomic: a reader sees no library or a whole one
    return library


def _run(command: list[str]) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise _BuildError(f"{command[0]} failed to run: {error}") from error
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-8:])
        raise _BuildError(f"the build failed ({' '.join(command[:3])} ...):\n{tail}")


def _isa(library: Path) -> str:
    import ctypes

    try:
        function = ctypes.CDLL(str(library)).tfprot_attention_kernel_isa
    except (OSError, AttributeError):
        return "unknown"
    function.restype = ctypes.c_char_p
    return function().decode()
