"""``tfprot train``: fine-tune a protein language model on labelled data and evaluate it.

Reads the data (saying which format, columns and split it chose), fine-tunes the checkpoint,
evaluates on the train, validation and test splits beside the majority-class (or mean) baseline
on the same test set, and writes to --out, all at once (a crash leaves the previous output or
none): model/ (reload with tfprot.load_model or tfprot predict), metrics.json, history.csv,
learning_curves.png and, for classification, confusion_matrix.png.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tfprot.cli import (
    add_common_options,
    add_precision_option,
    command_parser,
    interactive,
    run_command,
)
from tfprot.cli._data import add_data_options, describe_choices, read_training_data

EXAMPLE = (
    "tfprot train --task classification --data cytosol_membrane --checkpoint tiny-esm "
    "--epochs 6 --out my_model"
)
TASKS = ("classification", "multilabel", "regression", "token")
MARKER = "metrics.json"
"""The file that marks a folder as a ``tfprot train`` output (which a new run may replace)."""


def create_parser() -> argparse.ArgumentParser:
    parser = command_parser("train", __doc__, EXAMPLE)
    parser.add_argument("--task", required=True, choices=TASKS, help="what the model predicts")
    add_data_options(parser)
    parser.add_argument(
        "--checkpoint",
        default="esm2_t6_8M",
        help="preset, Hub id or local folder to fine-tune (default esm2_t6_8M, which needs the "
        "Hub once; 'tiny-esm' is offline and untrained)",
    )
    parser.add_argument("--epochs", type=int, default=3, help="training epochs (default 3)")
    parser.add_argument(
        "--batch-tokens", type=int, default=4096, help="token budget per batch (default 4096)"
    )
    parser.add_argument(
        "--max-length",
        type=int,
        default=None,
        help="tokens per sequence; longer ones are truncated (default: the checkpoint's limit)",
    )
    parser.add_argument(
        "--learning-rate",
        type=float,
        default=None,
        help="peak learning rate (default 5e-5 for pretrained weights, 1e-3 for tiny-*)",
    )
    add_precision_option(parser)
    parser.add_argument(
        "--jit", action="store_true", help="compile with XLA (static-shape batches)"
    )
    parser.add_argument(
        "--strategy",
        default=None,
        choices=["auto", "tpu", "multi_worker", "mirrored", "default"],
        help="tf.distribute strategy (default: none); 'auto' picks a TPU, several workers "
        "(TF_CONFIG) or several GPUs when present, and says why",
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    add_common_options(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    import tensorflow as tf

    from tfprot._io import atomic_folder, ensure_replaceable, write_text_atomic
    from tfprot.cli._plots import confusion_matrix, plot_confusion_matrix, plot_learning_curves
    from tfprot.errors import OptionError

    for name in ("epochs", "batch_tokens"):
        if getattr(args, name) < 1:
            raise OptionError(f"--{name.replace('_', '-')} must be 1 or more.")
    ensure_replaceable(args.out, MARKER, "a tfprot train output")
    started = time.perf_counter()
    tf.keras.utils.set_random_seed(args.seed)
    data = read_training_data(args, args.task)
    dataset = data.dataset
    print(f"tfprot train ({args.task})")
    for line in describe_choices(data):
        print(f"  {line}")
    summary = dataset.summary()
    for split in ("train", "validation", "test"):
        print(f"  {split:<10}: {summary[split]['records']:>6} records")
    if not dataset.records("test"):
        raise OptionError(
            f"{data.path}: the test split is empty, so nothing can be evaluated; give the data "
            "a test split (or none at all, for a seeded 80/10/10 split)."
        )

    strategy = None
    if args.strategy is not None:
        from tfprot.distribute import choose_strategy

        choice = choose_strategy(args.strategy)
        strategy = choice.strategy
        print(f"  strategy  : {choice.kind}, {choice.num_replicas} replica(s): {choice.reason}")
    model = _build(args, dataset, strategy)
    print(f"  model     : {args.checkpoint} (precision {model.info['precision']})")
    splits = {
        split: _batches(dataset, split, model.tokenizer, args, strategy)
        for split in ("train", "validation", "test")
        if dataset.records(split)
    }
    fit_started = time.perf_counter()
    history = model.fit(
        splits["train"],
        validation_data=splits.get("validation"),
        epochs=args.epochs,
        verbose=1 if interactive() else 2,
    ).history
    fit_seconds = time.perf_counter() - fit_started
    scores = {
        split: {
            k: float(v) for k, v in model.evaluate(batches, return_dict=True, verbose=0).items()
        }
        for split, batches in splits.items()
    }
    baseline = dataset.majority_baseline("test")
    metrics = {
        "task": args.task,
        "checkpoint": args.checkpoint,
        "data": {"path": data.path, **data.choices, "summary": summary},
        "epochs": args.epochs,
        "precision": model.info["precision"],
        "fit_seconds": round(fit_seconds, 1),
        **scores,
        "baseline": {**baseline, "what": _baseline_what(args.task)},
    }

    ensure_replaceable(args.out, MARKER, "a tfprot train output")
    with atomic_folder(args.out) as staging:
        model.save_pretrained(staging / "model", extra_info={"test_metrics": scores["test"]})
        write_text_atomic(staging / MARKER, json.dumps(metrics, indent=2) + "\n")
        write_text_atomic(staging / "history.csv", _history_csv(history))
        plot_learning_curves(
            history, staging / "learning_curves.png", title=f"{dataset.name}: {args.checkpoint}"
        )
        if args.task == "classification":
            records = dataset.records("test")
            predicted = [
                p.label for p in model.predict_sequences(_as_trained(records, model, args))
            ]
            classes = dataset.label_encoder.classes
            matrix = confusion_matrix([str(r.label) for r in records], predicted, classes)
            plot_confusion_matrix(matrix, classes, staging / "confusion_matrix.png")
    out = args.out
    print(f"  training  : {args.epochs} epochs in {fit_seconds:.0f} s")
    for split in scores:
        print(f"  {split:<10}: {_format_scores(scores[split])}")
    print(f"  baseline  : {_format_baseline(args.task, baseline)} (same test set)")
    print(f"  saved     : {out / 'model'}/ (tfprot predict --model {out / 'model'} ...)")
    print(f"  metrics   : {out / MARKER}, {out / 'history.csv'}")
    pictures = [out / "learning_curves.png"]
    if args.task == "classification":
        pictures.append(out / "confusion_matrix.png")
    print(f"  pictures  : {', '.join(str(p) for p in pictures)}")
    print(f"  done in {time.perf_counter() - started:.0f} s")
    return 0


def _batches(dataset, split: str, tokenizer, args: argparse.Namespace, strategy):
    """The split's ``tf.data`` pipeline: token-budget batches (global ones under a strategy)."""
    if strategy is not None:
        from tfprot.distribute import for_strategy

        return for_strategy(
            dataset,
            split,
            tokenizer,
            strategy,
            batch_tokens_per_replica=args.batch_tokens,
            static_shapes=True if args.jit else None,
            max_length=args.max_length,
        )
    options: dict[str, Any] = {"batch_tokens": args.batch_tokens, "max_length": args.max_length}
    if args.jit:
        options["static_shapes"] = True
    return dataset.tf_dataset(split, tokenizer, **options)


def _build(args: argparse.Namespace, dataset, strategy=None):
    import tfprot

    options: dict[str, Any] = {
        "precision": args.precision,
        "learning_rate": args.learning_rate,
        "jit_compile": args.jit,
    }
    if strategy is not None:
        options["strategy"] = strategy
    if args.task == "classification":
        return tfprot.sequence_classifier(args.checkpoint, dataset, **options)
    if args.task == "multilabel":
        return tfprot.sequence_classifier(args.checkpoint, dataset, multi_label=True, **options)
    if args.task == "regression":
        return tfprot.sequence_regressor(args.checkpoint, dataset, **options)
    return tfprot.token_classifier(args.checkpoint, dataset, **options)


def _as_trained(records, model, args: argparse.Namespace):
    """The records as training and evaluation saw them: cut to ``--max-length`` tokens."""
    import dataclasses

    if args.max_length is None:
        return records
    tokenizer = model.tokenizer
    special = tokenizer.max_length - tokenizer.max_residues
    keep = max(args.max_length - special, 1)
    return [dataclasses.replace(r, sequence=r.sequence[:keep]) for r in records]


def _baseline_what(task: str) -> str:
    return {
        "classification": "always the training set's most common class",
        "multilabel": "always the label set of classes held by most training records",
        "regression": "always the training set's mean target",
        "token": "every residue the training set's most common residue class",
    }[task]


def _format_scores(scores: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.3f}" for name, value in scores.items())


def _format_baseline(task: str, baseline: dict[str, Any]) -> str:
    if task == "regression":
        return f"predicting the mean {baseline['prediction']:.3g} gives MSE {baseline['mse']:.3f}"
    if task == "multilabel":
        return f"the majority label set matches exactly {baseline['exact_match']:.1%}"
    return f"always {baseline['prediction']!r} scores accuracy {baseline['accuracy']:.1%}"


def _history_csv(history: dict[str, list[float]]) -> str:
    names = list(history)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["epoch", *names])
    epochs = len(next(iter(history.values()), []))
    for epoch in range(epochs):
        writer.writerow([epoch + 1, *(repr(float(history[n][epoch])) for n in names)])
    return buffer.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(run, create_parser().parse_args(argv))
