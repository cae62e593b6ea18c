"""tfprot's layer CPU ops (GELU, layer norm, QKV heads) vs TensorFlow's kernels, side by side.

For the ops that :mod:`tfprot.models.esm_fast` uses besides attention, at an ESM-2 layer's sizes
(``--tokens`` rows of ``--width``; GELU on the feed-forward's ``4 × width``; heads of 16), times
forward and gradient of the op (``tfprot_gelu``, ``tfprot_layer_norm``, ``tfprot_heads`` and
their gradients) and of the TensorFlow computation the layer uses without it (written out here
as esm_fast writes it: GELU ``x·Φ(x)`` in float32 with its hand-written derivative, Keras'
``LayerNormalization``, split, rotary embedding and transposes), alternating the two in every
round. It prints the median of each round's ratio TensorFlow / op (above 1: the op is faster).

The op's code path is this CPU's; another is measured on the same machine by building the
library for a lower target (``TFPROT_CPU_OPS_MARCH=x86-64-v3`` or ``x86-64``, see
``attention_cpu.py``). These readings are why :mod:`tfprot.models.esm_fast` uses these ops on
every code path (see :data:`tfprot.models.cpu_ops.HEAD_SIZE_LIMITS`' notes).

Run: ``python -m benchmarks.layer_ops_cpu [--tokens 2560] [--width 320] [--rounds 7]``
"""

from __future__ import annotations

import argparse
import json
import statistics

import numpy as np

import tfprot  # noqa: F401  (selects Keras 2 before TensorFlow is imported)
from benchmarks.attention_cpu import seconds


def create_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=2560, help="rows (batch × length)")
    parser.add_argument("--length", type=int, default=320, help="sequence length (heads)")
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--head-size", type=int, default=16)
    parser.add_argument("--dtypes", nargs="*", default=["float32", "bfloat16"])
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds (median)")
    parser.add_argument("--repeats", type=int, default=3, help="calls timed per round (minimum)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    return parser


def pairs(args: argparse.Namespace, dtype):
    """``{name: (op function, TensorFlow function, inputs)}``; each function returns the
    output and the gradients for a fixed upstream gradient."""
    import tensorflow as tf

    from tfprot._keras import keras
    from tfprot.models import cpu_ops

    ops = cpu_ops.custom_ops()
    rng = np.random.default_rng(0)

    def tensor(*shape):
        return tf.cast(tf.constant(rng.normal(size=shape)), dtype)

    def with_gradient(function):
        def run(*inputs):
            with tf.GradientTape() as tape:
                tape.watch(inputs)
                out = function(*inputs)
            outs = out if isinstance(out, (list, tuple)) else [out]
            upstream = [tf.ones_like(o) for o in outs]
            return [*outs, *tape.gradient(outs, inputs, output_gradients=upstream)]

        return tf.function(run)

    @tf.custom_gradient
    def gelu_op(x):
        return ops.tfprot_gelu(x), lambda dy: ops.tfprot_gelu_grad(x, dy)

    @tf.custom_gradient
    def gelu_tensorflow(x):
        def cdf_of(wide):
            return 0.5 * tf.math.erfc(wide * -0.7071067811865476)

        def gradient(dy):
            wide = tf.cast(x, tf.float32)
            density = tf.exp(-0.5 * tf.square(wide)) * 0.3989422804014327
            return tf.cast(tf.cast(dy, tf.float32) * (cdf_of(wide) + wide * density), x.dtype)

        wide = tf.cast(x, tf.float32)
        return tf.cast(wide * cdf_of(wide), x.dtype), gradient

    width = args.width
    gamma = tf.constant(rng.normal(1.0, 0.1, size=width), tf.float32)
    beta = tf.constant(rng.normal(0.0, 0.1, size=width), tf.float32)
    policy = "mixed_bfloat16" if dtype == tf.bfloat16 else "float32"
    norm = keras().layers.LayerNormalization(epsilon=1e-5, dtype=policy)
    norm.build((None, width))
    norm.set_weights([gamma.numpy(), beta.numpy()])

    @tf.custom_gradient
    def norm_op(x):
        y, mean, rstd = ops.tfprot_layer_norm(x, gamma, beta, epsilon=1e-5)
        return y, lambda dy: ops.tfprot_layer_norm_grad(x, gamma, mean, rstd, dy)[0]

    length, size = args.length, args.head_size
    batch, heads = args.tokens // length, width // size
    inv_freq = 1.0 / (10000 ** (np.arange(0, size, 2) / size))
    angles = np.arange(length)[:, None] * inv_freq[None, :]
    angles = np.concatenate([angles, angles], axis=-1)
    cos, sin = (tf.constant(f(angles), tf.float32) for f in (np.cos, np.sin))

    @tf.custom_gradient
    def heads_op(qkv):
        outs = ops.tfprot_heads(qkv, cos, sin, heads=heads)
        return outs, lambda *d: ops.tfprot_heads_grad(*d, cos, sin)

    def heads_tensorflow(qkv):
        q, k, v = tf.split(tf.reshape(qkv, [batch, length, 3, heads, size]), 3, axis=2)
        c, s = (tf.cast(t[:, None, :], dtype) for t in (cos, sin))

        def rotate(x):
            first, second = tf.split(x, 2, axis=-1)
            return x * c + tf.concat([-second, first], axis=-1) * s

        q, k, v = (x[:, :, 0] for x in (q, k, v))
        return [tf.transpose(x, [0, 2, 1, 3]) for x in (rotate(q), rotate(k), v)]

    found = {
        "gelu": (gelu_op, gelu_tensorflow, (tensor(args.tokens, 4 * width),)),
        "layer_norm": (norm_op, norm, (tensor(args.tokens, width),)),
        "heads": (heads_op, heads_tensorflow, (tensor(batch, length, 3 * width),)),
    }
    return found, with_gradient


def compare(args: argparse.Namespace, dtype_name: str) -> list[dict]:
    import tensorflow as tf

    found, with_gradient = pairs(args, getattr(tf, dtype_name))
    rows = []
    for name, (op, reference, inputs) in found.items():
        op_run, reference_run = with_gradient(op), with_gradient(reference)
        op_run(*inputs)
        reference_run(*inputs)
        ratios, op_ms = [], []
        for _ in range(args.rounds):
            a = seconds(op_run, inputs, args.repeats)
            b = seconds(reference_run, inputs, args.repeats)
            ratios.append(b / a)
            op_ms.append(a * 1e3)
        rows.append(
            {
                "op": name,
                "dtype": dtype_name,
                "speedup": statistics.median(ratios),
                "op_ms": statistics.median(op_ms),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    args = create_parser().parse_args(argv)
    from tfprot.models import cpu_ops, cpu_ops_build

    found = cpu_ops.status()
    print(f"CPU: {cpu_ops_build.cpu_model()}")
    print(f"tfprot's CPU ops: {found.reason}")
    if not found.available:
        return 1
    print(
        f"{args.tokens} tokens × {args.width} (GELU × {4 * args.width}), forward and gradient; "
        f"median of {args.rounds} rounds"
    )
    print(f"{'op':>10} {'dtype':>9} {'TF/op':>7} {'op ms':>8}")
    rows = []
    for dtype_name in args.dtypes:
        for row in compare(args, dtype_name):
            rows.append(row)
            print(
                f"{row['op']:>10} {row['dtype']:>9} {row['speedup']:>7.2f} {row['op_ms']:>8.1f}",
                flush=True,
            )
    if args.json:
        print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
