"""``tfprot train``: fine-tune a protein language model on labelled data and evaluate it.

Reads the data (saying which format, columns and split it chose), fine-tunes the checkpoint,
evaluates on the train, validation and test splits beside the majority-class (or mean) baseline
on the same test set, and writes to --out, all at once (a crash leaves the previous output or
none): model/ (reload with tfprot.load_model or tfprot predict), metrics.json, history.csv,
learning_curves.png and, for classification, confusion_matrix.png.

Training saves resume checkpoints (weights, optimizer, data position) into OUT.resume beside
--out (or --resume-dir): rerunning the same command after a crash, a SIGKILL or a pre-empted
machine continues at the next batch; a changed command is refused rather than resumed; the
checkpoints are removed once the results are saved.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
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
from tfprot.tasks import task_names

EXAMPLE = (
    "tfprot train --task classification --data cytosol_membrane --checkpoint tiny-esm "
    "--epochs 6 --out my_model"
)
MARKER = "metrics.json"
"""The file that marks a folder as a ``tfprot train`` output (which a new run may replace)."""
CHECKPOINT_SECONDS = 300
"""Default resume-checkpoint interval: every 5 minutes of training. A pre-empted run loses at
most that much work, and saving costs little beside it (a checkpoint holds the weights and the
two Adam moments, 3 × 4 bytes per parameter: 0.1 GB for ESM-2 8M, 7.8 GB for 650M, seconds on a
local disk). A step count would mean minutes for one model and hours for another."""


def create_parser() -> argparse.ArgumentParser:
    parser = command_parser("train", __doc__, EXAMPLE)
    parser.add_argument(
        "--task", required=True, choices=task_names(), help="what the model predicts"
    )
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
    lora = parser.add_argument_group("parameter-efficient fine-tuning (big checkpoints on one GPU)")
    lora.add_argument(
        "--lora-rank",
        type=int,
        default=None,
        metavar="R",
        help="train LoRA adapters of rank R beside the frozen encoder, and the head (model/ "
        "then holds the merged weights, model/adapters/ the adapters alone)",
    )
    lora.add_argument(
        "--lora-alpha",
        type=float,
        default=None,
        help="scale of the adapters' update is ALPHA / R (default 2R)",
    )
    lora.add_argument(
        "--lora-dropout", type=float, default=0.0, help="dropout on the adapters' input (default 0)"
    )
    lora.add_argument(
        "--lora-targets",
        default="query,value",
        metavar="NAMES",
        help="layers that get adapters: comma-separated among query, key, value, "
        "attention_output, intermediate, output, or all-linear (default query,value)",
    )
    lora.add_argument(
        "--recompute",
        action="store_true",
        help="recompute encoder layers in the backward pass: less activation memory for long "
        "sequences and big batches, same gradients, about one more forward pass of compute",
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument(
        "--checkpoint-every",
        type=int,
        default=None,
        metavar="STEPS",
        help="save a resume checkpoint every STEPS training steps (default: about every "
        f"{CHECKPOINT_SECONDS // 60} minutes of training; 0: at the end of each epoch only)",
    )
    parser.add_argument(
        "--resume-dir",
        default=None,
        help="where resume checkpoints go (default OUT.resume beside --out; a gs:// path works "
        "on Cloud TPUs); removed when the run ends well",
    )
    add_common_options(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from tfprot.cli._resume import default_resume_dir, hold_resume_dir

    _check_options(args)
    resume_dir = args.resume_dir or default_resume_dir(args.out)
    _check_output(args.out)
    with hold_resume_dir(resume_dir):
        return _train(args, resume_dir)


def _check_options(args: argparse.Namespace) -> None:
    """The options that need no data: checked before anything is read or loaded."""
    from tfprot.errors import OptionError

    for name in ("epochs", "batch_tokens"):
        if getattr(args, name) < 1:
            raise OptionError(f"--{name.replace('_', '-')} must be 1 or more.")
    if args.max_length is not None and args.max_length < 3:
        raise OptionError("--max-length must be 3 or more (two special tokens and a residue).")
    if args.lora_rank is None and (
        args.lora_alpha is not None or args.lora_dropout or args.lora_targets != "query,value"
    ):
        raise OptionError("--lora-alpha, --lora-dropout and --lora-targets need --lora-rank R.")
    if args.lora_rank is not None:
        from tfprot.models.lora import LoraConfig

        LoraConfig(args.lora_rank, args.lora_alpha, args.lora_dropout, args.lora_targets)
    if args.checkpoint_every is not None and args.checkpoint_every < 0:
        raise OptionError(
            "--checkpoint-every must be 0 (at the end of each epoch only) or more steps."
        )


def _check_output(out: Path) -> None:
    """Before training, not after it: --out may be replaced, can be written, and holds no
    leftovers of a save killed midway (removed, and said)."""
    from tfprot._io import check_writable, clean_stale_staging, ensure_replaceable

    ensure_replaceable(out, MARKER, "a tfprot train output")
    check_writable(out, "--out")
    clean_stale_staging(out)


def _train(args: argparse.Namespace, resume_dir: str) -> int:
    import tensorflow as tf

    import tfprot
    from tfprot.distribute import check_run_identity, epoch_datasets, remove_checkpoints

    started = time.perf_counter()
    tf.keras.utils.set_random_seed(args.seed)
    data = _read_data(args)
    dataset = data.dataset
    tokenizer = tfprot.ProteinTokenizer.from_pretrained(args.checkpoint)
    _check_batch_tokens(dataset, tokenizer, args, data.path)
    identity = _run_identity(args, data)
    check_run_identity(resume_dir, identity)

    strategy, kind = _strategy(args)
    splits = {
        split: _batches(dataset, split, tokenizer, args, strategy)
        for split in ("train", "validation", "test")
        if dataset.records(split)
    }
    train_epochs = epoch_datasets(
        dataset, "train", tokenizer, seed=args.seed, **_batch_options(args, strategy)
    )
    model = _build(args, dataset, strategy, tokenizer)
    print(f"  model     : {args.checkpoint} (precision {model.info['precision']})")
    fitted = _fit(model, train_epochs, splits.get("validation"), args, resume_dir, identity, kind)
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
        "data": {"path": data.path, **data.choices, "summary": dataset.summary()},
        "epochs": args.epochs,
        "precision": model.info["precision"],
        "fit_seconds": round(fitted.seconds, 1),
        **(
            {"resumed_from_step": fitted.resumed_from, "steps": fitted.total}
            if fitted.resumed_from
            else {}
        ),
        **scores,
        "baseline": {**baseline, "what": dataset.task.baseline_what},
        **data.report(),  # the split made (--split homology|random|FILE) and the leakage report
    }
    _save(args, model, dataset, metrics, fitted.history, resume_dir)
    remove_checkpoints(resume_dir)
    _print_results(args, dataset.task, fitted, scores, baseline)
    for line in data.summary_lines():  # the leakage report: test sequences' training relatives
        print(f"  {line}")
    print(f"  done in {time.perf_counter() - started:.0f} s (resume checkpoints removed)")
    return 0


def _read_data(args: argparse.Namespace):
    """The training data (:func:`read_training_data`), described; an empty test split is
    refused (nothing could be evaluated)."""
    from tfprot.errors import OptionError

    data = read_training_data(args, args.task)
    print(f"tfprot train ({args.task})")
    for line in describe_choices(data):
        print(f"  {line}")
    for split in ("train", "validation", "test"):
        print(f"  {split:<10}: {len(data.dataset.records(split)):>6} records")
    if not data.dataset.records("test"):
        raise OptionError(
            f"{data.path}: the test split is empty, so nothing can be evaluated; give the data "
            "a test split (or none at all, for a seeded 80/10/10 split)."
        )
    return data


def _strategy(args: argparse.Namespace):
    """``(strategy, kind)`` of ``--strategy`` (said aloud), or ``(None, None)`` without one."""
    if args.strategy is None:
        return None, None
    from tfprot.distribute import choose_strategy

    choice = choose_strategy(args.strategy)
    print(f"  strategy  : {choice.kind}, {choice.num_replicas} replica(s): {choice.reason}")
    return choice.strategy, choice.kind


@dataclass(frozen=True)
class _Fitted:
    """What training did: Keras' history, seconds in this run, the step it resumed from (0: a
    fresh start) of ``total``."""

    history: dict[str, list[float]]
    seconds: float
    resumed_from: int
    total: int


def _fit(model, train_epochs, validation, args, resume_dir: str, identity, kind) -> _Fitted:
    """``fit_resumable`` with resume checkpoints in ``resume_dir``, continuing an earlier run of
    the same command (said aloud)."""
    from tfprot.distribute import fit_resumable

    every_steps, every_seconds = _checkpoint_interval(args, kind)
    steps = int(train_epochs(0).cardinality())
    total = steps * args.epochs
    print(f"  resume    : {_describe_interval(every_steps, every_seconds)} into {resume_dir}")
    resumed_from = _resumed_from(resume_dir, steps, total)
    # The command says it above; the library's own "Resuming from..." line would repeat it.
    logging.getLogger("tfprot.distribute.fault_tolerance").setLevel(logging.WARNING)
    started = time.perf_counter()
    result = fit_resumable(
        model,
        train_epochs,
        epochs=args.epochs,
        checkpoint_dir=resume_dir,
        save_every_steps=every_steps,
        save_every_seconds=every_seconds,
        validation_data=validation,
        keep=1,
        verbose=1 if interactive() else 2,
        run_identity=identity,
    )
    return _Fitted(result.history, time.perf_counter() - started, resumed_from, total)


def _resumed_from(resume_dir: str, steps: int, total: int) -> int:
    """The step an earlier run's checkpoint in ``resume_dir`` reached (0: none), said aloud."""
    from tfprot.distribute import latest_position

    position = latest_position(resume_dir)
    if position is None:
        return 0
    resumed_from = position[0] * steps + position[1]
    if resumed_from >= total:
        print(
            f"  resuming  : from step {total} of {total}: an earlier run of this command "
            "trained to the end; evaluating and saving only"
        )
    else:
        print(
            f"  resuming  : from step {resumed_from} of {total} (epoch {position[0] + 1}, "
            f"batch {position[1]} of {steps}), the checkpoint of an earlier run of this command"
        )
    return resumed_from


def _save(args: argparse.Namespace, model, dataset, metrics, history, resume_dir: str) -> None:
    """Write --out at once: the model, metrics.json, history.csv and the pictures (the test
    split's confusion matrix where the task has one); a failure is one :class:`OutputError`."""
    from tfprot._io import atomic_folder, ensure_replaceable, write_text_atomic
    from tfprot.cli._plots import confusion_matrix, plot_confusion_matrix, plot_learning_curves

    out = args.out
    ensure_replaceable(out, MARKER, "a tfprot train output")
    try:
        with atomic_folder(out) as staging:
            model.save_pretrained(staging / "model", extra_info={"test_metrics": metrics["test"]})
            write_text_atomic(staging / MARKER, json.dumps(metrics, indent=2) + "\n")
            write_text_atomic(staging / "history.csv", _history_csv(history))
            plot_learning_curves(
                history, staging / "learning_curves.png", title=f"{dataset.name}: {args.checkpoint}"
            )
            if dataset.task.confusion_matrix:
                records = dataset.records("test")
                predicted = [
                    p.label for p in model.predict_sequences(_as_trained(records, model, args))
                ]
                classes = dataset.label_encoder.classes
                matrix = confusion_matrix([str(r.label) for r in records], predicted, classes)
                plot_confusion_matrix(matrix, classes, staging / "confusion_matrix.png")
    except Exception as error:
        raise _save_failed(error, out, resume_dir) from error


def _print_results(args: argparse.Namespace, task, fitted: _Fitted, scores, baseline) -> None:
    if fitted.resumed_from:
        print(
            f"  training  : {args.epochs} epochs, resumed from step {fitted.resumed_from} of "
            f"{fitted.total}: {fitted.seconds:.0f} s in this run"
        )
    else:
        print(f"  training  : {args.epochs} epochs in {fitted.seconds:.0f} s")
    for split in scores:
        print(f"  {split:<10}: {_format_scores(scores[split])}")
    out = args.out
    print(f"  baseline  : {task.describe_baseline(baseline)} (same test set)")
    print(f"  saved     : {out / 'model'}/ (tfprot predict --model {out / 'model'} ...)")
    print(f"  metrics   : {out / MARKER}, {out / 'history.csv'}")
    pictures = [out / "learning_curves.png"]
    if task.confusion_matrix:
        pictures.append(out / "confusion_matrix.png")
    print(f"  pictures  : {', '.join(str(p) for p in pictures)}")


def _check_batch_tokens(dataset, tokenizer, args: argparse.Namespace, path: str) -> None:
    """Refuse a ``--batch-tokens`` that cannot hold the longest sequence, before the model is
    built, naming the option and the sequence (the batching would name neither)."""
    import numpy as np

    from tfprot.data import Batching
    from tfprot.errors import OptionError

    records = [r for split in ("train", "validation", "test") for r in dataset.records(split)]
    longest = max(records, key=len)
    limit = args.max_length or tokenizer.max_length
    special = tokenizer.max_length - tokenizer.max_residues
    need = min(len(longest) + special, limit)
    what = f"{need} tokens"
    if args.jit:  # padded to its static-shape bucket
        padded = max(Batching(static_shapes=True).upper_lengths(np.array([need]), limit))
        if padded > need:
            need, what = padded, f"{what}, padded to {padded} for --jit"
    if args.batch_tokens < need:
        raise OptionError(
            f"--batch-tokens {args.batch_tokens} cannot hold one sequence: {longest.id!r} in "
            f"{path} takes {what}. Give --batch-tokens {need} or more, or a smaller --max-length."
        )


def _run_identity(args: argparse.Namespace, data) -> dict[str, Any]:
    """What makes this training run: a rerun resumes its checkpoints only if all of it is equal
    (``--out``, ``--resume-dir``, ``--checkpoint-every`` and ``--debug`` may change)."""
    from tfprot.cli._resume import records_digest

    options = (
        "task",
        "checkpoint",
        "epochs",
        "batch_tokens",
        "max_length",
        "learning_rate",
        "precision",
        "jit",
        "strategy",
        "seed",
        "lora_rank",
        "lora_alpha",
        "lora_dropout",
        "lora_targets",
        "recompute",
    )
    return {
        "command": "tfprot train",
        **{name: getattr(args, name) for name in options},
        "data_format": data.choices,
        "data_sha256": records_digest(data.dataset),
    }


def _checkpoint_interval(args: argparse.Namespace, kind: str | None):
    """``(save_every_steps, save_every_seconds)`` for ``fit_resumable``."""
    if args.checkpoint_every is not None:
        return (args.checkpoint_every or None), None
    if kind == "multi_worker":  # workers must save at the same step: no clock-based saves
        return None, None
    return None, CHECKPOINT_SECONDS


def _describe_interval(every_steps: int | None, every_seconds: float | None) -> str:
    if every_steps:
        return f"checkpoints every {every_steps} steps and at each epoch's end"
    if every_seconds:
        return f"checkpoints every {every_seconds / 60:.0f} minutes and at each epoch's end"
    return "checkpoints at each epoch's end"


def _save_failed(error: Exception, out: Path, resume_dir: str) -> Exception:
    """A failure to write the results, as one message naming --out (nothing was written there:
    the save is atomic) and saying that a rerun does not train again."""
    import errno

    from tfprot.cli._errors import is_safetensors_error
    from tfprot.errors import OutputError, TfprotError

    if isinstance(error, TfprotError) or not (
        isinstance(error, OSError) or is_safetensors_error(error)
    ):
        return error
    if isinstance(error, OSError):
        reason = error.strerror or " ".join(str(error).split())
        if error.filename:
            reason = f"{reason}: {error.filename}"
    else:
        reason = " ".join(str(error).split())
    if "os error 28" in reason or getattr(error, "errno", None) == errno.ENOSPC:
        reason = f"the disk is full: {reason}"
    return OutputError(
        f"{out}: could not save the results ({reason}); nothing was written there. Free space "
        f"or fix the folder and rerun the same command: training is not repeated (its checkpoint "
        f"waits in {resume_dir})."
    )


def _batches(dataset, split: str, tokenizer, args: argparse.Namespace, strategy):
    """The split's ``tf.data`` pipeline: token-budget batches (global ones under a strategy)."""
    options = _batch_options(args, strategy)
    if strategy is not None:
        from tfprot.distribute import for_strategy

        return for_strategy(dataset, split, tokenizer, **options)
    return dataset.tf_dataset(split, tokenizer, **options)


def _batch_options(args: argparse.Namespace, strategy) -> dict[str, Any]:
    """The batching options of ``--batch-tokens``, ``--max-length`` and ``--jit``."""
    if strategy is not None:
        return {
            "strategy": strategy,
            "batch_tokens_per_replica": args.batch_tokens,
            "static_shapes": True if args.jit else None,
            "max_length": args.max_length,
        }
    options: dict[str, Any] = {"batch_tokens": args.batch_tokens, "max_length": args.max_length}
    if args.jit:
        options["static_shapes"] = True
    return options


def _build(args: argparse.Namespace, dataset, strategy=None, tokenizer=None):
    from tfprot.models import build_model

    options: dict[str, Any] = {
        "precision": args.precision,
        "learning_rate": args.learning_rate,
        "jit_compile": args.jit,
        "tokenizer": tokenizer,
        "recompute": args.recompute,
    }
    if args.lora_rank is not None:
        options.update(
            lora_rank=args.lora_rank,
            lora_alpha=args.lora_alpha,
            lora_dropout=args.lora_dropout,
            lora_targets=args.lora_targets,
        )
    if strategy is not None:
        options["strategy"] = strategy
    return build_model(args.checkpoint, dataset.task, dataset, **options)


def _as_trained(records, model, args: argparse.Namespace):
    """The records as training and evaluation saw them: cut to ``--max-length`` tokens."""
    import dataclasses

    if args.max_length is None:
        return records
    tokenizer = model.tokenizer
    special = tokenizer.max_length - tokenizer.max_residues
    keep = max(args.max_length - special, 1)
    return [dataclasses.replace(r, sequence=r.sequence[:keep]) for r in records]


def _format_scores(scores: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.3f}" for name, value in scores.items())


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
