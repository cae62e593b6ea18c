"""``tfprot app``: a web page where anyone pastes a protein and gets the model's answer.

Loads a model saved by 'tfprot train' once, then serves a Gradio page: a text box (a raw
sequence, or FASTA with one or many records), a FASTA/CSV upload and examples; the answer per
sequence with a probability chart (sequence models), the residues coloured by class (token
models) or the value (regression), and a CSV download with 'tfprot predict''s columns. With
--fold-model the first sequence is folded by ESMFold: a 3D view coloured by pLDDT, the pLDDT
plot, the PAE heat map and the PDB file. Programs call the /predict endpoint (gradio_client).

The page asks no host but its own (no web fonts, CDNs or analytics) and binds 127.0.0.1 unless
--host says otherwise. Requests queue: the model answers one at a time. Ctrl+C stops it.
Needs the app extra: pip install "tfprot[app]" (and "tfprot[fold]" for folding).
"""

from __future__ import annotations

import argparse
import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

from tfprot.cli import add_common_options, command_parser, existing_path, run_command

EXAMPLE = "tfprot app --model demo_output/model --fold-model tiny-esmfold"

FOLD_MODEL_HELP = (
    "ESMFold for the 3D view: facebook/esmfold_v1, a local folder, tiny-esmfold (offline, "
    "UNTRAINED: shows the pipeline only) or none (default: no folding)"
)


def add_app_options(parser: argparse.ArgumentParser) -> None:
    """The options ``tfprot app`` and ``tfprot space`` share: folding and the limits."""
    from tfprot.app.settings import AppSettings

    defaults = AppSettings()
    parser.add_argument("--fold-model", default="none", metavar="NAME", help=FOLD_MODEL_HELP)
    parser.add_argument(
        "--max-sequences",
        type=int,
        default=defaults.max_sequences,
        help=f"most sequences per request (default {defaults.max_sequences})",
    )
    parser.add_argument(
        "--max-length",
        type=int,
        default=defaults.max_length,
        help=f"most residues per sequence (default {defaults.max_length})",
    )
    parser.add_argument(
        "--fold-max-length",
        type=int,
        default=defaults.fold_max_length,
        help=f"most residues of a folded sequence (default {defaults.fold_max_length})",
    )
    parser.add_argument(
        "--num-recycles",
        type=int,
        default=None,
        help="ESMFold trunk recycles (default: the model's)",
    )


def settings_from(args: argparse.Namespace, **extra):
    """The :class:`~tfprot.app.settings.AppSettings` the options ask for."""
    from tfprot.app.settings import AppSettings

    return AppSettings(
        max_sequences=args.max_sequences,
        max_length=args.max_length,
        fold_model=args.fold_model,
        fold_max_length=args.fold_max_length,
        num_recycles=args.num_recycles,
        **extra,
    )


def create_parser() -> argparse.ArgumentParser:
    parser = command_parser("app", __doc__, EXAMPLE)
    parser.add_argument("--model", type=Path, required=True, help="a folder saved by train")
    add_app_options(parser)
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0: every network)",
    )
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument(
        "--device",
        default="auto",
        help="where ESMFold runs: auto (a CUDA GPU when there is one), cpu, cuda...",
    )
    add_common_options(parser)
    return parser


def quiet_server() -> None:
    """No Gradio analytics; no line per HTTP request, nor Starlette's deprecation notes about
    Gradio's code, in the command's output."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message="'HTTP_\\d+_[A-Z_]+' is deprecated")


def run(args: argparse.Namespace) -> int:
    quiet_server()
    from tfprot.app import start

    existing_path(args.model, "--model")
    settings = settings_from(args, fold_device=args.device)
    app = start(args.model, settings, host=args.host, port=args.port)
    predictor = app.predictor
    classes = f", classes {predictor.classes}" if predictor.classes else ""
    print(f"tfprot app: {args.model} ({predictor.task}{classes})", flush=True)
    if predictor.fold_model is not None:
        fold = predictor.fold_model
        print(f"  folding   : {fold.name} on {fold.model.device}", flush=True)
    for warning in predictor.warnings:
        print(f"  warning   : {warning}", flush=True)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"  note      : bound to {args.host}: other machines can reach this page", flush=True)
    print(f"  serving   : {app.url}  (Ctrl+C stops it)", flush=True)
    try:
        app.wait()
    except KeyboardInterrupt:
        print("tfprot app: stopped", flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(run, create_parser().parse_args(argv))
