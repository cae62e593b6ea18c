"""``tfprot fold``: predict 3D structures with ESMFold (PyTorch; pip install "tfprot[fold]").

For each sequence of the FASTA (chains of a complex joined by ':'), writes ID.pdb (pLDDT in the
B-factor column), ID.pae.npy, ID.json (pLDDT per residue, pTM), ID.plddt.png, ID.pae.png and an
offline 3D view ID.html, plus summary.tsv for all. A rerun into the same folder skips the
structures already folded from the same sequence, model and settings, and folds again (saying
why) those whose sequence, model or settings changed. A non-empty folder that tfprot fold did not
make is refused, and an unwritable one is reported before anything is folded.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from tfprot.cli import add_common_options, command_parser, existing_path, interactive, run_command

EXAMPLE = (
    "tfprot fold --input proteins.fasta --checkpoint tiny-esmfold --num-recycles 0 --out structures"
)


def _chunk_size(text: str) -> int | str | None:
    if text in ("auto", "none"):
        return None if text == "none" else "auto"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected 'auto', 'none' or a number, got {text!r}"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def create_parser() -> argparse.ArgumentParser:
    parser = command_parser("fold", __doc__, EXAMPLE)
    parser.add_argument("--input", type=Path, required=True, help="sequences (FASTA)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the structures")
    parser.add_argument(
        "--checkpoint",
        default="facebook/esmfold_v1",
        help="ESMFold: Hub id, local folder, or 'tiny-esmfold' (offline, UNTRAINED: for trying "
        "the pipeline only) (default facebook/esmfold_v1)",
    )
    parser.add_argument(
        "--chunk-size",
        type=_chunk_size,
        default="auto",
        help="trunk chunk size: a number, 'none' or 'auto' (from length and free GPU memory)",
    )
    parser.add_argument(
        "--num-recycles",
        type=_non_negative,
        default=None,
        help="trunk recycles (default: the model's, 4 for esmfold_v1)",
    )
    parser.add_argument(
        "--device", default="auto", help="'auto' (CUDA if present), 'cpu', 'cuda', 'cuda:1'..."
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="fold again sequences that have outputs"
    )
    parser.add_argument(
        "--compile",
        action="store_true",
        help="compile the folding trunk with torch.compile (CUDA graphs on a GPU): fewer kernel "
        "launches for many sequences, after a compilation of tens of seconds per shape",
    )
    add_common_options(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from tfprot.fold import fold

    report = fold(
        existing_path(args.input, "--input"),
        args.out,
        model=args.checkpoint,
        device=args.device,
        chunk_size=args.chunk_size,
        num_recycles=args.num_recycles,
        overwrite=args.overwrite,
        compile=args.compile,
        progress=interactive(),
    )
    note = " (UNTRAINED weights: the structures mean nothing)" if report.untrained else ""
    print(f"tfprot fold: {report.model or args.checkpoint} on {report.device or '-'}{note}")
    for result in report.results:
        if result.ok:
            scores = (
                f"pLDDT {result.mean_plddt:.1f}, pTM {result.ptm:.3f}"
                if result.mean_plddt is not None and result.ptm is not None
                else "scores in its .json"
            )
            print(
                f"  {result.id:<16} {result.status:<8} {result.length:>5} residues, {scores} -> "
                f"{args.out / (result.name + '.pdb')}"
            )
        else:
            print(f"  {result.id:<16} failed: {result.error}")
    print(f"  summary   : {report.summary_path}")
    if report.failed:
        print(
            f"tfprot: error: {len(report.failed)} of {len(report.results)} sequences failed; "
            f"see {report.summary_path}",
            file=sys.stderr,
        )
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(run, create_parser().parse_args(argv))
