"""Does bfloat16 pay on this CPU? float32 vs mixed_bfloat16, whole train steps and inference.

Builds ESM-2 token classifiers from their config with random weights (no download) at two sizes,
``tiny-esm`` (2 layers, hidden 64) and the ``esm2_t6_8M`` architecture (6 layers, hidden 320,
20 heads), once under each policy, and times, alternating the two policies in every round:

- a train step: forward, backward and AdamW update (``ProteinModel.train_on_batch``, the same
  compiled ``train_function`` that ``fit`` runs);
- inference: a compiled forward pass (``tf.function`` of the model's ``call``).

It prints the median seconds per step of each policy and the ratio float32 / bfloat16 (above 1:
bfloat16 is faster). Then, for each of ``--widths``, one encoder layer's training step
(:func:`layer_step_speedup`, ``--trials`` times): the measurements behind ``precision='auto'``'s
CPU rule, bfloat16 from 256 wide (:mod:`tfprot.models.precision`).

Run: ``python -m benchmarks.precision_cpu [--batch 8] [--tokens 256] [--rounds 5] [--widths 64 320]``
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

import tfprot  # (first: selects Keras 2 before TensorFlow is imported)
from tfprot.models.checkpoints import tiny_config
from tfprot.presets import PRESETS

POLICIES = ("float32", "mixed_bfloat16")
SIZES = ("tiny-esm", "esm2_t6_8M")


def create_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8, help="sequences per batch")
    parser.add_argument("--tokens", type=int, default=256, help="tokens per sequence")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (median)")
    parser.add_argument("--steps", type=int, default=2, help="steps timed per round")
    parser.add_argument("--sizes", nargs="*", default=list(SIZES), choices=SIZES)
    parser.add_argument("--widths", nargs="*", type=int, default=[64, 128, 256, 320, 480, 640])
    parser.add_argument("--trials", type=int, default=3, help="layer-step readings per width")
    return parser


def build(size: str, policy: str, folder: Path) -> tfprot.ProteinModel:
    """A token classifier of the ``size`` architecture under ``policy``, from random weights
    saved in ``folder`` (written once), built by tfprot's factory as a user builds one."""
    if not (folder / "config.json").is_file():
        from transformers import TFEsmForTokenClassification

        config = tiny_config(
            PRESETS[size], token_dropout=True, max_position_embeddings=1026, num_labels=3
        )
        transformer = TFEsmForTokenClassification(config)
        transformer(transformer.dummy_inputs, training=False)  # create the weights
        transformer.save_pretrained(str(folder))
    return tfprot.token_classifier(
        folder,
        ["H", "E", "C"],
        precision=policy,
        learning_rate=1e-4,
        total_steps=1000,
        tokenizer=tfprot.ProteinTokenizer.from_pretrained("tiny-esm"),
    )


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
    import tempfile

    import tensorflow as tf

    x, y = batch(args.batch, args.tokens)
    results = {}
    for size in args.sizes:
        hidden = PRESETS[size].hidden_size
        with tempfile.TemporaryDirectory(prefix="tfprot-precision-") as checkpoint:
            models = {policy: build(size, policy, Path(checkpoint)) for policy in POLICIES}
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
        results[size] = {key: statistics.median(values) for key, values in times.items()}
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
    if args.widths:
        print("\none encoder layer's train step, float32/bf16 (each reading: the best of 10)")
    for width in args.widths:
        readings = [layer_step_speedup(width) for _ in range(args.trials)]
        results[f"layer_{width}"] = readings
        print(f"  width {width:5d}: " + ", ".join(f"{r:.2f}x" for r in readings))
    return results


def layer_step_speedup(hidden_size: int, repeats: int = 10) -> float:
    """float32 time over bfloat16 time of one training step of an ESM encoder layer.

    The layer is tfprot's fused ``TfprotEsmLayer`` (:mod:`tfprot.models.esm_fast`, the layer
    tfprot trains with) of the model's hidden size (16-wide heads, a 4x feed-forward network),
    built once under ``float32`` and once under ``mixed_bfloat16``; a step is its forward and
    backward pass on four 256-token rows and an SGD update of its weights. The two alternate ``repeats`` times and their fastest steps are compared
    (on a shared machine other work only ever adds time). About 2 s at width 320. The readings
    behind ``precision='auto'``'s CPU rule (:mod:`tfprot.models.precision`).
    """
    import tensorflow as tf
    from transformers import EsmConfig

    from tfprot.models.esm_fast import TfprotEsmLayer

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
        previous = tf.keras.mixed_precision.global_policy()
        tf.keras.mixed_precision.set_global_policy(policy)
        try:
            layer = TfprotEsmLayer(config, name=f"probe_{policy}")
            layer.build(None)
        finally:
            tf.keras.mixed_precision.set_global_policy(previous)

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
    fastest = {policy: min(values) for policy, values in times.items()}
    return fastest["float32"] / max(fastest["mixed_bfloat16"], 1e-9)


def main() -> None:
    run(create_parser().parse_args())


if __name__ == "__main__":
    main()
