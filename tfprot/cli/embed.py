"""``tfprot embed``: embeddings of sequences from a checkpoint's encoder, saved as .npz.

Per sequence (default): the mean over residues of the last hidden states, keys ``ids`` and
``embeddings`` [sequences, hidden]. With --per-residue: ``ids`` and one [residues, hidden] array
per sequence under ``residues/<index>``, its position in ``ids`` (ids never become member names).
Load with numpy.load (no pickle) or tfprot.Embeddings.load.

--out is checked before the model loads: it may not be the input file, a folder, or unwritable.
"""

from __future__ import annotations

import argparse
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
from tfprot.cli._data import add_duplicates_option
from tfprot.cli._outputs import check_output_file

EXAMPLE = "tfprot embed --checkpoint tiny-esm --input proteins.fasta --out embeddings.npz"


def create_parser() -> argparse.ArgumentParser:
    parser = command_parser("embed", __doc__, EXAMPLE)
    parser.add_argument(
        "--checkpoint",
        default="esm2_t6_8M",
        help="preset, Hub id, checkpoint folder or a model saved by train (default esm2_t6_8M; "
        "'tiny-esm' is offline and untrained)",
    )
    parser.add_argument("--input", type=Path, required=True, help="sequences: FASTA or a table")
    parser.add_argument("--out", type=Path, required=True, help="the .npz file to write")
    parser.add_argument(
        "--per-residue", action="store_true", help="one vector per residue instead of the mean"
    )
    parser.add_argument(
        "--batch-tokens", type=int, default=16384, help="token budget per batch (default 16384)"
    )
    add_precision_option(parser)
    add_duplicates_option(parser)
    add_common_options(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    import numpy as np

    import tfprot
    from tfprot.data import read_records

    existing_path(args.input, "--input")
    check_output_file(args.out, inputs=[args.input], example="embeddings.npz")
    records = read_records(args.input, duplicates=args.duplicates)
    result = tfprot.embed(
        args.checkpoint,
        records,
        per_residue=args.per_residue,
        batch_tokens=args.batch_tokens,
        precision=args.precision,
        progress=interactive() or False,
    )
    path = result.save(args.out)
    if result.per_residue:
        hidden = result.vectors[0].shape[-1] if len(result) else 0
        residues = sum(len(v) for v in result.vectors)
        shape = f"{residues} residue vectors of {hidden} values"
    else:
        shape = "x".join(str(n) for n in np.shape(result.vectors))
    print(f"tfprot embed: {len(result)} sequences, {shape} ({args.checkpoint}) -> {path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(run, create_parser().parse_args(argv))
