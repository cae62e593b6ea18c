"""``tfprot predict``: label sequences with a model that ``tfprot train`` saved.

Writes one CSV row per sequence, in input order: id, the predicted label and one probability
column per class (classification, multilabel), the predicted value (regression), or the
per-residue labels, one per residue (token models).

Text that a spreadsheet would run as a formula is neutralised as OWASP recommends ("CSV
Injection"): an id or label that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return gets a leading ``'`` (plain numbers such as ``-1`` stay as they are). Per-residue label
strings are written as they are: one character per residue.

Inputs of any size stream: sequences are read lazily and predicted in windows of --window
sequences, each window's rows appended to OUT.partial as soon as it is done. A run that stops
(killed, out of time) is resumed by the same command: the rows already there are kept (those
of the same sequences), the rest predicted; rows made by another model or threshold are refused.
The final CSV is written in input order at the end, and the partial files removed.

--out is checked before the model loads: it may not be the input file, a folder, or unwritable.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from tfprot.cli import add_common_options, command_parser, existing_path, interactive, run_command
from tfprot.cli._data import add_duplicates_option
from tfprot.cli._outputs import check_output_file
from tfprot.errors import LabelError

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
    parser.add_argument(
        "--window",
        type=int,
        default=1024,
        help="sequences predicted together and written as one block (default 1024)",
    )
    add_duplicates_option(parser)
    add_common_options(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    import tfprot
    from tfprot.cli._predict_stream import first_labels, predict_to_csv
    from tfprot.data.stream import stream_records

    existing_path(args.model, "--model")
    existing_path(args.input, "--input")
    check_output_file(args.out, inputs=[args.input], example="predictions.csv")
    if not 0.0 <= args.threshold <= 1.0:
        raise LabelError(f"--threshold must be a probability in [0, 1], got {args.threshold!r}.")
    stream = stream_records(args.input, duplicates=args.duplicates)
    model = tfprot.load_model(args.model, compile=False)
    counts, shown = predict_to_csv(
        model,
        stream,
        args.out,
        batch_tokens=args.batch_tokens,
        threshold=args.threshold,
        window=args.window,
        progress=interactive() or False,
    )
    task = model.task.value
    print(f"tfprot predict: {counts.sequences} sequences ({task}) -> {args.out}")
    rate = counts.predicted / counts.seconds if counts.seconds > 0 else 0.0
    print(
        f"  {counts.predicted} predicted ({rate:.1f} sequences/s), {counts.resumed} kept from "
        "an interrupted run"
    )
    for line in first_labels(shown):
        print(line)
    if counts.sequences > len(shown):
        print(f"  ... ({counts.sequences - len(shown)} more in {args.out})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(run, create_parser().parse_args(argv))
