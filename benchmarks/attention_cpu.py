"""tfprot's CPU attention op vs TensorFlow's kernels: attention alone, side by side in one process.

For each head size (``--depths``; ESM-2's are 16 at 8M, 24 at 35M, 32 at 150M, 64 at 650M) and
type (float32, bfloat16), times the op (:func:`tfprot.models.cpu_ops.fused`) and
TensorFlow's kernels (:func:`~tfprot.models.cpu_ops.attention` under
:func:`~tfprot.models.cpu_ops.disabled`: batched matmuls, mask add and softmax, with
tfprot's hand-written gradient), alternating the two in every round:

- forward: ``softmax(q·kᵀ + mask)·v`` (what embedding and prediction run);
- train: forward and the gradient for query, key and value.

Inputs are ``[batch, heads, length, depth]`` with ESM-2's 20 heads and a padding mask. It prints
the median over rounds of each round's ratio TensorFlow / fused (above 1: the op is faster);
ratios from one round are measured side by side, so they survive this shared machine's noise
better than absolute times. These readings set the head-size limits per code path in
:mod:`tfprot.models.cpu_ops` (``HEAD_SIZE_LIMITS``).

The op's code path is this CPU's (``-march=native``); another is measured on the same machine by
building the library for a lower target, e.g. ``TFPROT_CPU_OPS_MARCH=x86-64-v3`` (AVX2) or
``x86-64`` (portable loops). TensorFlow's own kernels still use every instruction the CPU has
(oneDNN picks them at run time); ``ONEDNN_MAX_CPU_ISA=AVX2`` (or ``SSE41``) caps its matmuls too,
as on a CPU of that level.

Run: ``python -m benchmarks.attention_cpu [--depths 16 24 32 64] [--length 320] [--rounds 15]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

import tfprot  # noqa: F401  (selects Keras 2 before TensorFlow is imported)


def create_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depths", nargs="*", type=int, default=[16, 24, 32, 64])
    parser.add_argument("--dtypes", nargs="*", default=["float32", "bfloat16"])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--heads", type=int, default=20)
    parser.add_argument("--length", type=int, default=320)
    parser.add_argument("--rounds", type=int, default=15, help="alternating rounds (median)")
    parser.add_argument("--repeats", type=int, default=3, help="calls timed per round (minimum)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    return parser


def inputs(batch: int, heads: int, length: int, depth: int, dtype, seed: int = 0):
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    shape = (batch, heads, length, depth)
    query, key = (tf.constant(rng.normal(size=shape) * 0.5, dtype) for _ in range(2))
    value = tf.constant(rng.normal(size=shape), dtype)
    lengths = rng.integers(length // 2, length + 1, size=batch)
    mask = np.where(np.arange(length) < lengths[:, None], 0.0, -1e4)[:, None, None, :]
    return query, key, value, tf.constant(mask, dtype)


def functions(attention):
    """(forward, train) ``tf.function``s of ``attention``."""
    import tensorflow as tf

    def forward(query, key, value, mask):
        return attention(query, key, value, mask)

    def train(query, key, value, mask):
        with tf.GradientTape() as tape:
            tape.watch([query, key, value])
            out = attention(query, key, value, mask)
        return tape.gradient(out, [query, key, value], output_gradients=tf.ones_like(out))

    return tf.function(forward), tf.function(train)


def seconds(function, args, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        result = function(*args)
        for tensor in result if isinstance(result, list) else [result]:
            tensor.numpy()
        best = min(best, time.perf_counter() - start)
    return best


def compare(depth: int, dtype_name: str, args: argparse.Namespace) -> dict:
    import tensorflow as tf

    from tfprot.models import cpu_ops

    data = inputs(args.batch, args.heads, args.length, depth, getattr(tf, dtype_name))
    fused_forward, fused_train = functions(cpu_ops.fused)
    reference_forward, reference_train = functions(cpu_ops.attention)
    with cpu_ops.disabled():  # traced now, under disabled(): TensorFlow's kernels
        reference_forward(*data)
        reference_train(*data)
    fused_forward(*data)
    fused_train(*data)
    ratios: dict[str, list[float]] = {"forward": [], "train": []}
    fused_ms: dict[str, list[float]] = {"forward": [], "train": []}
    for _ in range(args.rounds):
        for name, fused, reference in (
            ("forward", fused_forward, reference_forward),
            ("train", fused_train, reference_train),
        ):
            a = seconds(fused, data, args.repeats)
            b = seconds(reference, data, args.repeats)
            ratios[name].append(b / a)
            fused_ms[name].append(a * 1e3)
    return {
        "depth": depth,
        "dtype": dtype_name,
        **{f"{name}_speedup": statistics.median(values) for name, values in ratios.items()},
        **{f"{name}_fused_ms": statistics.median(values) for name, values in fused_ms.items()},
    }


def main(argv: list[str] | None = None) -> int:
    args = create_parser().parse_args(argv)
    import os

    from tfprot.models import cpu_ops, cpu_ops_build

    found = cpu_ops.status()
    print(f"CPU: {cpu_ops_build.cpu_model()}")
    print(f"tfprot's CPU ops: {found.reason}")
    if not found.available:
        return 1
    if os.environ.get("ONEDNN_MAX_CPU_ISA"):
        print(
            f"TensorFlow's matmuls capped at ONEDNN_MAX_CPU_ISA={os.environ['ONEDNN_MAX_CPU_ISA']}"
        )
    print(
        f"batch {args.batch}, {args.heads} heads, length {args.length}; median of {args.rounds} rounds"
    )
    print(
        f"{'depth':>5} {'dtype':>9} {'forward TF/fused':>17} {'train TF/fused':>15} {'fused fwd ms':>13} {'fused train ms':>15}"
    )
    rows = []
    for depth in args.depths:
        for dtype_name in args.dtypes:
            row = compare(depth, dtype_name, args)
            rows.append(row)
            print(
                f"{depth:>5} {dtype_name:>9} {row['forward_speedup']:>17.2f} {row['train_speedup']:>15.2f}"
                f" {row['forward_fused_ms']:>13.1f} {row['train_fused_ms']:>15.1f}",
                flush=True,
            )
    if args.json:
        print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
