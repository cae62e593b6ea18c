"""Where a training epoch's time goes: TensorFlow's profiler, summed by op type and by op.

Trains tfprot's sequence classifier (or, with ``--upstream``, the same model on transformers' own
encoder layer) for one warm-up epoch, then profiles one epoch with ``tf.profiler`` and sums the
time of every executed op from the trace (``*.xplane.pb``): by op type (``_MklMatMul``,
``_MklBatchMatMulV2``, ``Mul``...) and by op name with the layer number removed (so the six layers'
attention softmax is one line). Ops of the two CPU threads overlap, so the op total exceeds the
wall time; the shares are what matters.

Run: ``python -m benchmarks.profile_step [--size esm2_t6_8M] [--precision auto] [--upstream]``
"""

from __future__ import annotations

import argparse
import collections
import re
import tempfile
import time
from pathlib import Path

from benchmarks.common import SIZES, checkpoint_folder, load_subset


def op_times(logdir: Path) -> tuple[collections.Counter, collections.Counter]:
    """Seconds per op type and per op name (layer number removed) in a profiler trace."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    by_type: collections.Counter = collections.Counter()
    by_name: collections.Counter = collections.Counter()
    for path in logdir.glob("plugins/profile/*/*.xplane.pb"):
        space = xplane_pb2.XSpace()
        space.ParseFromString(path.read_bytes())
        for plane in space.planes:
            metadata = plane.event_metadata
            for line in plane.lines:
                for event in line.events:
                    name = metadata[event.metadata_id].name
                    if ":" not in name or name.startswith(("Eager", "Kernel", "Executor")):
                        continue
                    op, kind = name.rsplit(":", 1)
                    if "Iterator" in name or "Dataset" in name or op.startswith("tf_data"):
                        continue
                    seconds = event.duration_ps / 1e12
                    by_type[kind] += seconds
                    op = re.sub(r"layer_\._\d+", "layer_N", op)
                    op = re.sub(r"(attention|gelu)_gradient_\d+", r"\1_gradient", op)
                    op = re.sub(r"(protein_model/)?tf_esm_for_\w+/esm/(encoder/)?", "", op)
                    by_name[f"{op} ({kind})"] += seconds
    return by_type, by_name


def _area(op: str) -> str:
    """A coarse part of the training step for an op name (layers merged, as :func:`op_times`)."""
    kind = op.rsplit("(", 1)[-1].rstrip(")")
    if op.startswith("AdamW"):
        return "optimizer (AdamW, gradient clipping)"
    # oneDNN's kernels (Intel CPUs, AVX-512 AMD) or Eigen's (where TensorFlow leaves oneDNN off)
    dense = ("_MklMatMul", "_MklNativeFusedMatMul", "MatMul", "_FusedMatMul", "BiasAddGrad")
    if kind in dense and "layer_N/" in op:
        return "dense matmuls (QKV, output, FFN)"
    if kind in ("TfprotAttention", "TfprotAttentionGrad"):
        return "attention, fused op (tfprot.models.cpu_ops) and its gradient"
    if kind in ("_MklBatchMatMulV2", "BatchMatMulV2"):
        return "attention matmuls (QK^T, PV and their gradients)"
    if "attention_gradient" in op or kind == "_MklSoftmax" or "layer_N/add_1 " in op:
        return "attention softmax, mask and their gradient"
    if "LayerNorm" in op:
        return "layer norms"
    if "gelu" in op.lower() or "Erfc" in op:
        return "GELU"
    if "layer_N/" in op:
        return "other element-wise in layers (rotary, residuals, casts)"
    return "embeddings, head, loss, metrics, weight casts"


def _on_transformers_layer(model) -> None:
    """Give this model (built from a folder: not called yet) transformers' own encoder layer
    instead of tfprot's fused one, which is a subclass of it with the same weights; tfprot's
    mixed-precision fixes stay. Only this instance changes, transformers' class does not."""
    from transformers.models.esm.modeling_tf_esm import TFEsmLayer

    for layer in model.transformer.esm.encoder.layer:
        layer.__class__ = TFEsmLayer
    model.first_token_only = False  # computing only <cls> is the fused layer's


def profile(size_name: str, count: int, precision: str, upstream: bool, top: int, kinds=()) -> str:
    import tensorflow as tf

    import tfprot
    from tfprot.data.memory import from_lists

    subset = load_subset(count)
    records = from_lists(list(subset.sequences), [str(y) for y in subset.labels])
    data = tfprot.ProteinDataset(records, "classification", fractions=(1.0, 0.0, 0.0))
    model = tfprot.sequence_classifier(
        checkpoint_folder(SIZES[size_name]), data, precision=precision, total_steps=100_000
    )
    if upstream:
        _on_transformers_layer(model)
    train = data.tf_dataset("train", model.tokenizer)
    model.fit(train, epochs=1, verbose=0)
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        start = time.perf_counter()
        model.fit(train, epochs=1, verbose=0)
        wall = time.perf_counter() - start
        tf.profiler.experimental.stop()
        by_type, by_name = op_times(Path(logdir))
    total = sum(by_type.values())
    areas: collections.Counter = collections.Counter()
    for op, seconds in by_name.items():
        areas[_area(op)] += seconds
    lines = [
        f"{size_name}, {model.info['precision']}, "
        f"{'transformers layer' if upstream else 'tfprot fused layer'}: one epoch of {count} "
        f"sequences, {wall:.1f} s wall under the profiler, {total:.1f} s of op time",
        "",
        "| part of the step | seconds | share |",
        "|---|---|---|",
        *(f"| {area} | {t:.2f} | {100 * t / total:.1f}% |" for area, t in areas.most_common()),
        "",
        "| op type | seconds | share |",
        "|---|---|---|",
        *(f"| {kind} | {t:.2f} | {100 * t / total:.1f}% |" for kind, t in by_type.most_common(top)),
        "",
        "| op (layers merged) | seconds | share |",
        "|---|---|---|",
        *(f"| {op} | {t:.2f} | {100 * t / total:.1f}% |" for op, t in by_name.most_common(top)),
    ]
    for kind in kinds:
        ops = [(op, t) for op, t in by_name.most_common() if op.endswith(f"({kind})")]
        lines += ["", f"| {kind} ops | seconds | share |", "|---|---|---|"]
        lines += [f"| {op} | {t:.2f} | {100 * t / total:.1f}% |" for op, t in ops[:top]]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="esm2_t6_8M", choices=sorted(SIZES))
    parser.add_argument("--count", type=int, default=160)
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--upstream", action="store_true", help="transformers' encoder layer")
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--kinds", nargs="*", default=(), help="also list these op types' ops")
    args = parser.parse_args()
    print(profile(args.size, args.count, args.precision, args.upstream, args.top, args.kinds))


if __name__ == "__main__":
    main()
