"""Accuracy after a fixed token budget: does tfprot's faster precision learn as well as float32?

The same ``esm2_t6_8M``-sized token classifier (random weights, seeded), the same batches in the
same order (tfprot's seeded bucketed pipeline, epochs repeated until the budget), trained under
``float32`` and under ``mixed_bfloat16`` for the same number of real tokens, with test accuracy
measured every ``--every`` tokens, for each of ``--seeds`` seeds. ``precision="auto"``'s choice
on this machine is recorded beside them. Writes ``benchmarks/results/curves.json`` and
``curves.png``.

The task is FLIP secondary structure (Q3 over the resolved residues of held-out test chains),
not the throughput benchmark's cytoplasmic-vs-membrane question: from random weights, within a
budget this machine trains in minutes (a few hundred thousand tokens), the sequence classifier
stays at the majority class under either precision (seen: 0.60 = majority after 200,000 tokens,
loss 0.71), which would show nothing; a per-residue task gets a label per token and learns.

Run: ``python -m benchmarks.curves [--tokens 150000] [--every 50000] [--seeds 0 1]``
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from benchmarks.common import DATA, ROOT, SIZES, checkpoint_folder, replaced, write_text

RESULTS = ROOT / "benchmarks" / "results"
POLICIES = ("float32", "mixed_bfloat16")


def secondary_structure(test_count: int, max_residues: int = 500):
    """FLIP secondary structure (3 states per residue, unresolved residues not counted): its
    training chains and the first ``test_count`` test chains, each at most ``max_residues``."""
    import tfprot

    records = tfprot.read_flip(DATA.parent / "flip_secondary_structure", split="sampled")
    short = [r for r in records if len(r) <= max_residues]
    train = [r for r in short if r.split in ("train", "validation")]
    test = [r for r in short if r.split == "test"][:test_count]
    return tfprot.ProteinDataset([*train, *test], "token"), test


def train_curve(
    policy: str,
    budget: int,
    every: int,
    test_count: int,
    lr: float,
    seed: int,
    batch_tokens: int,
) -> dict:
    import tensorflow as tf

    import tfprot
    from tfprot.data import IGNORE_INDEX

    folder = checkpoint_folder(SIZES["esm2_t6_8M"])
    data, test = secondary_structure(test_count)
    tokenizer = tfprot.ProteinTokenizer.from_pretrained(folder)
    pipeline = data.tf_dataset("train", tokenizer, batch_tokens=batch_tokens)
    batches, seen, evaluate_after = [], 0, []
    while seen < budget:  # whole epochs of the seeded pipeline, cut at the budget
        for features, labels in pipeline:
            batches.append((features, labels))
            seen += int(np.asarray(features["attention_mask"]).sum())
            if seen >= every * (len(evaluate_after) + 1):
                evaluate_after.append((len(batches) - 1, seen))
            if seen >= budget:
                break
    tf.keras.utils.set_random_seed(seed)
    model = tfprot.token_classifier(
        folder, data, precision=policy, learning_rate=lr, total_steps=len(batches)
    )
    truth = np.concatenate([data.label_encoder.encode(r) for r in test])
    counted = truth != IGNORE_INDEX

    def accuracy() -> float:  # Q3 over the resolved residues of the test chains
        logits = model.predict_logits(test, progress=False)
        predicted = np.concatenate([values.argmax(axis=-1) for values in logits])
        return float(np.mean(predicted[counted] == truth[counted]))

    points = [(0, accuracy())]

    class Evaluate(tf.keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            for index, tokens in evaluate_after:
                if index == batch:
                    points.append((tokens, accuracy()))

    dataset = tf.data.Dataset.from_generator(
        lambda: iter(batches), output_signature=pipeline.element_spec
    )
    start = time.perf_counter()
    history = model.fit(
        dataset, epochs=1, steps_per_epoch=len(batches), callbacks=[Evaluate()], verbose=0
    )
    return {
        "policy": policy,
        "chosen_precision": model.info["precision"],
        "seed": seed,
        "tokens": [p[0] for p in points],
        "test_accuracy": [p[1] for p in points],
        "final_loss": float(history.history["loss"][-1]),
        "steps": len(batches),
        "seconds": round(time.perf_counter() - start, 1),
        "test_chains": len(test),
        "test_residues": int(counted.sum()),
        "learning_rate": lr,
        "batch_tokens": batch_tokens,
        "majority_baseline": float(data.majority_baseline("test")["accuracy"]),
    }


def plot(curves: list[dict], path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6.4, 4))
    colours = {"float32": "tab:blue", "mixed_bfloat16": "tab:orange"}
    for curve in curves:
        axis.plot(
            np.array(curve["tokens"]) / 1e3,
            curve["test_accuracy"],
            marker="o",
            color=colours[curve["policy"]],
            linestyle="-" if curve["seed"] == curves[0]["seed"] else "--",
            label=f"{curve['policy']}, seed {curve['seed']}",
        )
    axis.axhline(curves[0]["majority_baseline"], color="grey", linestyle=":", label="majority")
    axis.set_xlabel("real tokens trained (thousands)")
    axis.set_ylabel(f"test Q3 ({curves[0]['test_residues']:,} residues)")
    axis.set_title("esm2_t6_8M size, random init: FLIP secondary structure (3 states)")
    axis.legend(fontsize=8)
    figure.tight_layout()
    with replaced(path) as temporary:
        figure.savefig(temporary, format="png", dpi=120)
    plt.close(figure)


def main() -> None:
    import os
    import subprocess
    import sys

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=150_000)
    parser.add_argument("--every", type=int, default=50_000)
    parser.add_argument("--test-count", type=int, default=120, help="test chains")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument(
        "--batch-tokens", type=int, default=2048, help="more steps per token than the default"
    )
    parser.add_argument("--policy", choices=POLICIES, help="one policy (a child process)")
    args = parser.parse_args()
    if args.policy:
        for seed in args.seeds:
            curve = train_curve(
                args.policy,
                args.tokens,
                args.every,
                args.test_count,
                args.lr,
                seed,
                args.batch_tokens,
            )
            print(json.dumps(curve), flush=True)
        return
    curves = []
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONWARNINGS": "ignore"}
    for policy in POLICIES:  # one process each: a policy is process-wide state in Keras
        command = [sys.executable, "-m", "benchmarks.curves", "--policy", policy]
        command += ["--tokens", str(args.tokens), "--every", str(args.every)]
        command += ["--test-count", str(args.test_count), "--lr", str(args.lr)]
        command += ["--seeds", *map(str, args.seeds), "--batch-tokens", str(args.batch_tokens)]
        done = subprocess.run(
            command, capture_output=True, text=True, cwd=ROOT, env=env, check=False
        )
        if done.returncode != 0:
            sys.stderr.write(done.stdout[-3000:] + done.stderr[-6000:])
            raise SystemExit(f"benchmarks.curves --policy {policy} failed ({done.returncode}).")
        curves += [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    auto = auto_choice()
    result = {"curves": curves, "auto_choice": auto}
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_text(RESULTS / "curves.json", json.dumps(result, indent=2) + "\n")
    plot(curves, RESULTS / "curves.png")
    print(json.dumps(result))


def auto_choice() -> dict:
    """What ``precision='auto'`` picks for the esm2_t6_8M size on this machine, and why."""
    from tfprot.models.precision import resolve_precision

    auto = resolve_precision("auto", hidden_size=SIZES["esm2_t6_8M"].hidden)
    return {"policy": auto.policy, "reason": auto.reason}


if __name__ == "__main__":
    main()
