"""``tfprot score``: zero-shot variant-effect scores from a checkpoint's masked-LM head.

--mutations is a CSV (or .tsv) with a 'mutant' column in the field's notation: A24G, or A24G:K30R
for a multi-mutant (1-based positions, checked against --wildtype; a mismatch names the row). The
output CSV keeps every input column and adds 'score' (higher: likelier than the wild type). A
ProteinGym DMS file (mutant, mutated_sequence, DMS_score) also works: then Spearman's rho between
score and DMS_score, and the variant count, are printed and written to --metrics (default
metrics.json beside --out).

Methods: masked-marginal (default; one forward pass per distinct mutated position), wt-marginal
(one pass), pseudo-likelihood (L passes per variant: slow). A wild type longer than the model's
window is scored in the window centred on each position (ESM-1v).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path

from tfprot.cli import (
    add_common_options,
    add_precision_option,
    command_parser,
    existing_path,
    interactive,
    run_command,
)
from tfprot.cli._outputs import check_output_file

EXAMPLE = (
    "tfprot score --checkpoint esm2_t33_650M --wildtype GB1.fasta --mutations GB1_dms.csv "
    "--out scores.csv"
)
METHODS = ("masked-marginal", "wt-marginal", "pseudo-likelihood")
"""tfprot.zeroshot.METHODS, spelled out so that --help loads no TensorFlow (a test checks)."""


def create_parser() -> argparse.ArgumentParser:
    parser = command_parser("score", __doc__, EXAMPLE)
    parser.add_argument(
        "--checkpoint",
        default="esm2_t6_8M",
        help="an ESM-2 masked-LM checkpoint: preset, Hub id or folder (default esm2_t6_8M; "
        "'tiny-esm' is offline and untrained: its scores mean nothing)",
    )
    parser.add_argument(
        "--wildtype", type=Path, required=True, help="FASTA file with the wild-type sequence"
    )
    parser.add_argument(
        "--mutations", type=Path, required=True, help="CSV/TSV with a 'mutant' column"
    )
    parser.add_argument("--method", choices=METHODS, default=METHODS[0], help="scoring method")
    parser.add_argument("--out", type=Path, required=True, help="the CSV to write")
    parser.add_argument(
        "--metrics",
        type=Path,
        default=None,
        help="where Spearman's rho goes when the table has DMS_score (default: metrics.json "
        "beside --out)",
    )
    parser.add_argument(
        "--batch-tokens", type=int, default=16384, help="token budget per batch (default 16384)"
    )
    add_precision_option(parser)
    add_common_options(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from tfprot._io import write_text_atomic
    from tfprot.zeroshot import load_masked_lm, read_mutation_table
    from tfprot.zeroshot.scoring import read_wildtype, score_with

    existing_path(args.wildtype, "--wildtype")
    existing_path(args.mutations, "--mutations")
    inputs = [args.wildtype, args.mutations]
    out = check_output_file(args.out, inputs=inputs, example="scores.csv")
    wildtype = read_wildtype(args.wildtype)
    table = read_mutation_table(args.mutations, wildtype)
    metrics_path = None
    if table.measurements is not None:
        metrics_path = check_output_file(
            args.metrics or out.with_name("metrics.json"),
            inputs=[*inputs, out],
            option="--metrics",
            example="metrics.json",
        )
    model = load_masked_lm(args.checkpoint, precision=args.precision)
    scores = score_with(
        model,
        wildtype,
        [row["mutant"] for row in table.rows],
        table.mutants,
        args.method,
        batch_tokens=args.batch_tokens,
        progress=interactive() or False,
    )
    write_text_atomic(out, _table_text(table, scores.scores, out))
    line = (
        f"tfprot score: {len(scores)} variants, {args.method}, {scores.passes} forward passes "
        f"({args.checkpoint}) -> {out}"
    )
    if metrics_path is not None:
        rho = scores.spearman(table.measurements)
        metrics = {
            "spearman": rho if math.isfinite(rho) else None,
            "variants": len(scores),
            "method": args.method,
            "checkpoint": str(args.checkpoint),
            "pretrained": model.pretrained,
            "mutations": str(args.mutations),
        }
        write_text_atomic(metrics_path, json.dumps(metrics, indent=2) + "\n")
        line += f"; Spearman rho {rho:.4f} with DMS_score -> {metrics_path}"
    print(line)
    if not model.pretrained:
        print(
            f"tfprot score: {args.checkpoint} is untrained (random weights): the scores mean nothing."
        )
    return 0


def _table_text(table, scores, out: Path) -> str:
    """The input columns and ``score``, comma- or tab-separated as ``out``'s extension says."""
    delimiter = "\t" if out.suffix.lower() in (".tsv", ".tab") else ","
    buffer = io.StringIO()
    columns = [c for c in table.columns if c != "score"] + ["score"]
    writer = csv.DictWriter(buffer, columns, delimiter=delimiter, lineterminator="\n")
    writer.writeheader()
    for row, score in zip(table.rows, scores, strict=True):
        writer.writerow({**row, "score": f"{score:.6g}"})
    return buffer.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(run, create_parser().parse_args(argv))
