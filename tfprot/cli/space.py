"""``tfprot space``: write a 🤗 Spaces folder that serves a model with ``tfprot app``.

The folder holds app.py, requirements.txt (tfprot's requirements pinned to the versions
installed here), README.md with the Spaces header (sdk gradio, sdk_version, app_file), the
model's files (model/) and tfprot's source (tfprot/). Upload it with
'tfprot push --space USER/NAME --model OUT', or try it first: cd OUT && python app.py.
An earlier Space folder at --out is replaced; any other non-empty folder is refused.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from tfprot.cli import add_common_options, command_parser, existing_path, run_command
from tfprot.cli.app import add_app_options, settings_from

EXAMPLE = "tfprot space --model demo_output/model --out space/"


def create_parser() -> argparse.ArgumentParser:
    parser = command_parser("space", __doc__, EXAMPLE)
    parser.add_argument("--model", type=Path, required=True, help="a folder saved by train")
    parser.add_argument("--out", type=Path, required=True, help="the Space folder to write")
    add_space_options(parser)
    add_common_options(parser)
    return parser


def add_space_options(parser: argparse.ArgumentParser) -> None:
    """The app's options and the Space's title (shared with ``tfprot push --space``)."""
    add_app_options(parser)
    parser.add_argument(
        "--title", default=None, help="the Space's title (default: tfprot: <data set name>)"
    )


def run(args: argparse.Namespace) -> int:
    from tfprot.app.space import write_space

    existing_path(args.model, "--model")
    written = write_space(args.model, args.out, settings_from(args), title_text=args.title)
    describe(written)
    print(f"try it    : cd {written.path} && python app.py")
    print(f"upload it : tfprot push --space USER/NAME --model {written.path}")
    return 0


def describe(written) -> None:
    """What a Space folder holds, in a few lines."""
    model_files = [name for name in written.files if name.startswith("model/")]
    package_files = [name for name in written.files if name.startswith("tfprot/")]
    top = [name for name in written.files if "/" not in name]
    facts = written.facts
    print(f"tfprot space: {written.path}/ ({facts.task} model, base {facts.base_checkpoint})")
    print(f"  files     : {', '.join(top)}")
    print(f"  model/    : {', '.join(name[6:] for name in model_files)}")
    print(f"  tfprot/   : {len(package_files)} files (tfprot's source)")
    requirements = (written.path / "requirements.txt").read_text(encoding="utf-8").split()
    print(f"  pinned    : {', '.join(requirements)}")
    for item in written.skipped:
        print(f"  left out  : {item}")


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(run, create_parser().parse_args(argv))
