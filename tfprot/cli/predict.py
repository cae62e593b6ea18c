"""``tfprot predict``: label sequences with a model that ``tfprot train`` saved.

Writes one CSV row per sequence, in input order: id, the predicted label and one probability
column per class (classification, multilabel), the predicted value (regression), or the
per-residue labels, one per residue (token models).
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Sequence
from pathlib import Path

from tfprot.cli import add_common_options, command_parser, existing_path, interactive, run_command

EXAMPLE = "tfprot predict --model my_model/model --input proteins.fasta --out predictions.csv"


def create_parser() -> argparse.ArgumentParser:
    parser = command_parser("predict", __doc__, EXAMPLE)
    parser.add_argument("--model", type=Path, required=True, help="a folder saved by train")
    parser.add_argument(
        "--input", type=Path, required=True, help="sequences: FASTA (or a CSV/TSV table)"
    )
    parser.add_argument("--out", type=Path, required=True, help="the CSV file to write")
    parser.add_argument(
        "--batch-tokens", type=int, default=16384, help="token budget per batch (default 16384)"
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=0.5,
        help="multilabel: a class is predicted above this probability (default 0.5)",
    )
    add_common_options(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    import tfprot
    from tfprot._io import open_atomic
    from tfprot.data import read_records

    existing_path(args.model, "--model")
    records = read_records(existing_path(args.input, "--input"))
    model = tfprot.load_model(args.model, compile=False)
    predictions = model.predict_sequences(
        records,
        batch_tokens=args.batch_tokens,
        threshold=args.threshold,
        progress=interactive() or False,
    )
    task = model.task.value
    classes = list(model.label_encoder.classes)
    if task in ("classification", "multilabel"):
        header = ["id", "label", *(f"probability_{name}" for name in classes)]
    elif task == "regression":
        header = ["id", "prediction"]
    else:
        header = ["id", "sequence", "residue_labels"]
    with open_atomic(args.out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for p in predictions:
            if task in ("classification", "multilabel"):
                writer.writerow(
                    [p.id, p.label, *(f"{p.probabilities[name]:.6g}" for name in classes)]
                )
            elif task == "regression":
                writer.writerow([p.id, f"{p.label:.6g}"])
            else:
                labels = p.label if isinstance(p.label, str) else " ".join(p.label)
                writer.writerow([p.id, p.sequence, labels])
    print(f"tfprot predict: {len(predictions)} sequences ({task}) -> {args.out}")
    for p in predictions[:5]:
        shown = p.label if task != "regression" else f"{p.label:.4g}"
        shown = shown if len(str(shown)) <= 60 else str(shown)[:57] + "..."
        print(f"  {p.id:<16} {shown}")
    if len(predictions) > 5:
        print(f"  ... ({len(predictions) - 5} more in {args.out})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(run, create_parser().parse_args(argv))
