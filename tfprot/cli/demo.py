"""``tfprot demo``: the main job, offline, on the bundled data set.

Loads the bundled cytosol vs plasma-membrane data (MultiLoc), tokenizes it with the ESM-2
vocabulary of the offline ``tiny-esm`` preset, builds the training pipelines (token-budget
bucketing and the static-shape mode for XLA/TPU) and reports what it built.

Example:
    tfprot demo
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

from tfprot.cli import add_common_options, run_command


def create_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tfprot demo",
        description=__doc__.split("\n\n")[1],
        epilog="Example: tfprot demo --batch-tokens 4096",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--batch-tokens", type=int, default=4096, help="token budget per batch (default 4096)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the split and shuffling")
    add_common_options(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from tfprot.data import (
        EXAMPLES,
        Batching,
        ProteinDataset,
        ProteinTokenizer,
        padded_fraction,
        plain_batches_padded_fraction,
    )

    started = time.perf_counter()
    data = ProteinDataset.example(seed=args.seed)
    tokenizer = ProteinTokenizer.from_pretrained("tiny-esm")
    summary = data.summary()
    print("tfprot demo (offline)")
    print(f"  data      : {EXAMPLES['cytosol_membrane']}")
    print(f"  task      : {data.task.value}, classes {list(data.label_encoder.classes)}")
    for split in ("train", "validation", "test"):
        part = summary[split]
        counts = ", ".join(f"{name} {count}" for name, count in part["targets"].items())
        length = part["length"]
        print(
            f"  {split:<10}: {part['records']:>5} sequences ({counts}); length "
            f"{length['min']}-{length['max']}, median {length['median']:.0f}"
        )
    print(f"  tokenizer : {tokenizer}")

    batching = Batching(batch_tokens=args.batch_tokens, seed=args.seed)
    train = data.tf_dataset("train", tokenizer, batching)
    examples = data.encode("train", tokenizer)
    batches = sum(1 for _ in train)
    bucketed = padded_fraction(train)
    plain = plain_batches_padded_fraction(examples.lengths, 8)
    print(
        f"  bucketing : {batches} batches of <= {args.batch_tokens} tokens; padding "
        f"{bucketed:.1%} of token slots vs {plain:.1%} for plain batches of 8 in input order"
    )
    static = data.tf_dataset("train", tokenizer, batching, static_shapes=True)
    shapes = sorted({tuple(x["input_ids"].shape) for x, _, _ in static}, key=lambda s: s[1])
    print(
        f"  static    : {len(shapes)} batch shapes for XLA/TPU "
        f"{', '.join(f'{b}x{n}' for b, n in shapes)}; padding {padded_fraction(static):.1%}"
    )
    features, labels = next(iter(train))
    print(
        f"  a batch   : input_ids {features['input_ids'].dtype.name} {tuple(features['input_ids'].shape)}, "
        f"attention_mask {tuple(features['attention_mask'].shape)}, labels {labels.dtype.name} {tuple(labels.shape)}"
    )
    baseline = data.majority_baseline("test")
    print(
        f"  baseline  : always '{baseline['prediction']}' scores {baseline['accuracy']:.1%} test accuracy"
    )
    print(f"  done in {time.perf_counter() - started:.1f} s")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(run, create_parser().parse_args(argv))
