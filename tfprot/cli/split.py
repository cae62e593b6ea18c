"""``tfprot split``: a train/validation/test split to reuse and publish, as a CSV of id,set,cluster.

--method homology (the default) places MMseqs2 clusters whole and then guarantees that no
validation or test sequence has a relative in another split above --max-identity over --coverage
of both sequences; sequences that cannot be placed without breaking it are moved or removed, and
listed (set 'removed' in the file). --method random is a seeded split, stratified by class. The
report says how far the sizes and class balance are from the request and, for the test split,
how many sequences have a close training relative (the leakage report).

Train on the split with: tfprot train --data SAME_DATA --split split.csv ...
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path

from tfprot.cli import add_common_options, command_parser, run_command
from tfprot.cli._data import (
    DEFAULT_COVERAGE,
    DEFAULT_MAX_IDENTITY,
    add_data_options,
    describe_choices,
    read_data_records,
)

EXAMPLE = (
    "tfprot split --data cytosol_membrane --method homology --max-identity 0.3 --out split.csv"
)


def create_parser() -> argparse.ArgumentParser:
    from tfprot.data.splits import METHODS

    parser = command_parser("split", __doc__, EXAMPLE)
    add_data_options(parser, split_methods=False)
    parser.add_argument(
        "--method",
        default="homology",
        choices=METHODS,
        help="homology (MMseqs2 clusters, no relatives across splits; default) or random",
    )
    parser.add_argument(
        "--max-identity",
        type=float,
        default=None,
        help=f"homology: the largest identity allowed between splits (default "
        f"{DEFAULT_MAX_IDENTITY})",
    )
    parser.add_argument(
        "--coverage",
        type=float,
        default=DEFAULT_COVERAGE,
        help="the share of both sequences an alignment must cover to count as related "
        f"(default {DEFAULT_COVERAGE})",
    )
    parser.add_argument(
        "--fractions",
        default="0.8,0.1,0.1",
        help="train,validation,test shares (default 0.8,0.1,0.1)",
    )
    parser.add_argument(
        "--task",
        default=None,
        help="what to stratify by: classification (classes), multilabel (label sets), "
        "regression or token (nothing); default: guessed from the labels",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="MMseqs2 threads (default: all CPUs)"
    )
    parser.add_argument("--out", type=Path, required=True, help="the split file (CSV) to write")
    parser.add_argument(
        "--report", type=Path, default=None, help="also write the full report here (JSON)"
    )
    add_common_options(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from tfprot._io import write_text_atomic
    from tfprot.cli._outputs import check_output_file
    from tfprot.data import split_records
    from tfprot.data.split_file import write_split_file
    from tfprot.errors import OptionError

    fractions = _fractions(args.fractions)
    if args.max_identity is not None and args.method != "homology":
        raise OptionError("--max-identity applies to --method homology.")
    data_path = Path(args.data)
    check_output_file(args.out, inputs=[data_path], example="split.csv")
    if args.report is not None:
        check_output_file(args.report, inputs=[data_path, args.out], example="split.json")
    data = read_data_records(args, flip_split=args.split)
    print(f"tfprot split ({args.method})")
    for line in describe_choices(data):
        print(f"  {line}")
    # the command prints the report; the library's summary and warning lines would repeat it
    for name in ("tfprot.data.splits", "tfprot.data.leakage"):
        logging.getLogger(name).setLevel(logging.ERROR)
    carried = sum(r.split is not None for r in data.records)
    if carried:
        print(f"  note      : the split the data carries ({carried} records) is replaced")
    records, report = split_records(
        data.records,
        args.method,
        max_identity=args.max_identity or DEFAULT_MAX_IDENTITY,
        coverage=args.coverage,
        fractions=fractions,
        seed=args.seed,
        task=args.task,
        threads=args.threads,
    )
    where = {r.id: r.split for r in records}
    write_split_file(
        args.out,
        ((r.id, where.get(r.id, "removed"), report.cluster_of.get(r.id, "")) for r in data.records),
    )
    for line in report.describe():
        print(f"  {line}")
    if report.removed:
        print(
            f"  removed   : {', '.join(r.id for r in report.removed)} (set 'removed' in the file)"
        )
    if args.report is not None:
        write_text_atomic(args.report, json.dumps(report.as_dict(), indent=2) + "\n")
        print(f"  report    : {args.report}")
    print(f"  written   : {args.out} (id,set,cluster: {len(data.records):,} rows)")
    print(f"  train on it: tfprot train --data {args.data} --split {args.out} ...")
    return 0


def _fractions(text: str) -> tuple[float, float, float]:
    from tfprot.errors import OptionError

    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3:
        raise OptionError(
            f"--fractions takes three shares, train,validation,test (e.g. 0.8,0.1,0.1), got "
            f"{text!r}."
        )
    return values


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(run, create_parser().parse_args(argv))
