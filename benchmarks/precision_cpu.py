"""Does bfloat16 pay on this CPU? float32 vs mixed_bfloat16, whole train steps and inference.

Builds ESM-2 token classifiers from their config with random weights (no download) at two sizes,
``tiny-esm`` (2 layers, hidden 64) and the ``esm2_t6_8M`` architecture (6 layers, hidden 320,
20 heads), once under each policy, and times, alternating the two policies in every round:

- a train step: forward, backward and AdamW update (``ProteinModel.train_on_batch``, the same
  compiled ``train_function`` that ``fit`` runs);
- inference: a compiled forward pass (``tf.function`` of the model's ``call``).

It prints the median seconds per step of each policy and the ratio float32 / bfloat16 (above 1:
bfloat16 is faster), then the single-shape probe that ``precision='auto'`` runs
(:func:`tfprot.models.precision._measured_bf16_speedup`), so the two can be compared.

Run: ``.venv/bin/python benchmarks/precision_cpu.py [--batch 8] [--tokens 256] [--rounds 5]``
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import tfprot  # noqa: F401  (selects Keras 2 before TensorFlow is imported)
from tfprot._keras import keras
from tfprot.data.labels import LabelEncoder, Task
from tfprot.data.tokenizer import ProteinTokenizer
from tfprot.models.checkpoints import tiny_config
from tfprot.models.factories import _silence_unused_weights, compile_model
from tfprot.models.protein_model import ProteinModel
from tfprot.presets import PRESETS

POLICIES = ("float32", "mixed_bfloat16")
SIZES = ("tiny-esm", "esm2_t6_8M")


def create_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8, help="sequences per batch")
    parser.add_argument("--tokens", type=int, default=256, help="tokens per sequence")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (median)")
    parser.add_argument("--steps", type=int, default=2, help="steps timed per round")
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=SIZES)
    return parser


def build(size: str, policy: str) -> ProteinModel:
    """A token classifier of the ``size`` architecture under ``policy``, compiled like tfprot's."""
    from transformers import TFEsmForTokenClassification

    k = keras()
    config = tiny_config(
        PRESETS[size], token_dropout=True, max_position_embeddings=1026, num_labels=3
    )
    previous = k.mixed_precision.global_policy()
    k.mixed_precision.set_global_policy(policy)
    try:
        transformer = TFEsmForTokenClassification(config)
        transformer(transformer.dummy_inputs, training=False)
        _silence_unused_weights(transformer)  # contact head, unused position table
        model = ProteinModel(
            transformer,
            Task.TOKEN,
            LabelEncoder(Task.TOKEN, ("H", "E", "C")),
            ProteinTokenizer.from_pretrained("tiny-esm"),
        )
    finally:
        k.mixed_precision.set_global_policy(previous)
    return compile_model(model, learning_rate=1e-4, total_steps=1000)


def batch(size: int, tokens: int, seed: int = 0) -> tuple[dict, np.ndarray]:
    rng = np.random.default_rng(seed)
    ids = rng.integers(4, 24, size=(size, tokens)).astype("int32")
    ids[:, 0], ids[:, -1] = 0, 2
    labels = rng.integers(0, 3, size=(size, tokens)).astype("int32")
    labels[:, 0] = labels[:, -1] = -100
    return {"input_ids": ids, "attention_mask": np.ones_like(ids)}, labels


def timed(step, repeats: int) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    return (time.perf_counter() - start) / repeats


def run(args: argparse.Namespace) -> dict:
    import tensorflow as tf

    from tfprot.models.precision import _measured_bf16_speedup

    x, y = batch(args.batch, args.tokens)
    results = {}
    for size in args.sizes:
        hidden = PRESETS[size].hidden_size
        probe_before = _measured_bf16_speedup.__wrapped__(hidden)
        models = {policy: build(size, policy) for policy in POLICIES}
        train = {p: (lambda m=m: m.train_on_batch(x, y)) for p, m in models.items()}
        forward = {
            p: tf.function(lambda batch, m=m: m(batch, training=False)) for p, m in models.items()
        }
        infer = {p: (lambda f=f: f(x).numpy()) for p, f in forward.items()}
        for step in (*train.values(), *infer.values()):  # trace and warm up
            step()
            step()
        times = {(kind, p): [] for kind in ("train", "infer") for p in POLICIES}
        for _ in range(args.rounds):
            for kind, steps in (("train", train), ("infer", infer)):
                for policy in POLICIES:
                    times[kind, policy].append(timed(steps[policy], args.steps))
        start = time.perf_counter()
        probe = _measured_bf16_speedup.__wrapped__(hidden)
        probe_s = time.perf_counter() - start
        results[size] = {key: statistics.median(values) for key, values in times.items()}
        results[size]["probe"] = probe
        print(
            f"\n{size} (hidden {hidden}), batch {args.batch} x {args.tokens} tokens, "
            f"median of {args.rounds} rounds x {args.steps} steps"
        )
        for kind, label in (("train", "train step (fwd+bwd+AdamW)"), ("infer", "inference")):
            f32, bf16 = results[size][kind, "float32"], results[size][kind, "mixed_bfloat16"]
            print(
                f"  {label:28s} float32 {f32 * 1e3:8.1f} ms   mixed_bfloat16 {bf16 * 1e3:8.1f} ms"
                f"   float32/bf16 = {f32 / bf16:.2f}x"
            )
        print(
            f"  {'auto probe':28s} float32/bf16 = {probe_before:.2f}x before the models, "
            f"{probe:.2f}x after ({probe_s:.2f} s)"
        )
    return results


def main() -> None:
    run(create_parser().parse_args())


if __name__ == "__main__":
    main()
