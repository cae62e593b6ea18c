"""The ``tfprot`` command line: ``tfprot <command> [options]``.

Each command is a module with ``create_parser()``, ``run(args)`` and ``main(argv)``. Errors that
tfprot raises on purpose, and failures of input and output (a full or read-only disk, text that
is not UTF-8, a damaged file), end the command with a one-line message and exit code 2 (the
traceback only with ``--debug``); a bug keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

COMMANDS = {
    "train": "tfprot.cli.train",
    "split": "tfprot.cli.split",
    "predict": "tfprot.cli.predict",
    "embed": "tfprot.cli.embed",
    "score": "tfprot.cli.score",
    "contacts": "tfprot.cli.contacts",
    "fold": "tfprot.cli.fold",
    "uniprot": "tfprot.cli.uniprot",
    "export": "tfprot.cli.export",
    "push": "tfprot.cli.push",
    "app": "tfprot.cli.app",
    "space": "tfprot.cli.space",
    "demo": "tfprot.cli.demo",
    "info": "tfprot.cli.info",
}
"""Command name → module; each module has ``create_parser()``, ``run(args)`` and ``main(argv)``."""


TORCH_FREE = frozenset(
    {
        "train",
        "split",
        "predict",
        "embed",
        "score",
        "contacts",
        "export",
        "push",
        "uniprot",
        "space",
    }
)
"""Commands that never run PyTorch. transformers imports torch at its own import when torch is
installed (as with ``tfprot[fold]``), 5.6 s of such a command's start on a 2-core AMD EPYC;
these commands load it as a TensorFlow-only program (:func:`import_transformers_without_torch`).
PyTorch checkpoints still load (tfprot converts their weights itself)."""


def import_transformers_without_torch() -> None:
    """Import transformers with ``USE_TF=1``, its documented switch for TensorFlow-only programs
    (read once, when it is imported), then put the variable back as it was, so that processes
    started from this one see the user's environment. A ``USE_TF`` or ``USE_TORCH`` the user set
    is left to decide; an already imported transformers is left as it is.
    """
    if "transformers" in sys.modules or "USE_TF" in os.environ or "USE_TORCH" in os.environ:
        return
    os.environ["USE_TF"] = "1"
    try:
        import transformers  # noqa: F401
    finally:
        del os.environ["USE_TF"]


def setup_logging(debug: bool = False) -> None:
    """Logging for the command line: tfprot's INFO messages, TensorFlow's C++ chatter off."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if debug else "2")
    # transformers configures its own handler (read once, at its import): errors only, unless
    # --debug; its "TF classes are deprecated" banner is not news to a tfprot user.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "info" if debug else "error")
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s" if debug else "%(message)s",
        stream=sys.stderr,
    )
    if not debug:
        for noisy in ("tensorflow", "absl", "h5py", "transformers", "urllib3", "matplotlib"):
            logging.getLogger(noisy).setLevel(logging.ERROR)


def import_tensorflow_quietly() -> None:
    """Import TensorFlow and initialise its devices with C++ stderr muted.

    TensorFlow's CUDA build prints lines such as "Could not find cuda drivers" and "failed call to
    cuInit" on machines without a GPU before its logging can be configured; the command line hides
    them unless ``--debug`` is given. Python exceptions are not affected.
    """
    if "tensorflow" in sys.modules:
        return
    stream = 2  # the process's stderr, where the C++ code writes (sys.stderr may be replaced)
    saved = os.dup(stream)
    null = os.open(os.devnull, os.O_WRONLY)
    sys.stderr.flush()
    os.dup2(null, stream)
    try:
        import tensorflow as tf

        tf.config.list_physical_devices()
    finally:
        sys.stderr.flush()
        os.dup2(saved, stream)
        os.close(saved)
        os.close(null)


def run_command(run, args: argparse.Namespace) -> int:
    """Run a command's ``run(args)``; turn tfprot errors and failures of input and output (any
    ``OSError``, undecodable text, damaged JSON or safetensors: see :mod:`tfprot.cli._errors`)
    into a one-line message and exit 2. Other exceptions (bugs) keep their traceback."""
    from tfprot.cli._errors import describe

    debug = getattr(args, "debug", False)
    setup_logging(debug)
    if not debug:
        import_tensorflow_quietly()
    try:
        return int(run(args) or 0)
    except Exception as error:
        line = describe(error)
        if debug or line is None:
            raise
        print(f"tfprot: error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tfprot: interrupted", file=sys.stderr)
        return 130


def add_common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")


PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
"""``tfprot.models.precision.POLICIES`` and ``'auto'`` (spelled out: importing the models would
load TensorFlow just to print ``--help``; a test checks the two agree)."""


def add_precision_option(parser: argparse.ArgumentParser) -> None:
    """``--precision auto|float32|mixed_float16|mixed_bfloat16`` (default ``auto``)."""
    parser.add_argument(
        "--precision",
        default="auto",
        choices=PRECISIONS,
        help="mixed-precision policy (default auto: chosen for this hardware)",
    )


def command_parser(name: str, doc: str, example: str) -> argparse.ArgumentParser:
    """The parser of ``tfprot NAME``: the module docstring's first paragraph as description, and
    an example in the epilog (shown by ``--help``)."""
    return argparse.ArgumentParser(
        prog=f"tfprot {name}",
        description=doc.split("\n\n")[0].strip(),
        epilog=f"Example:\n  {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def interactive() -> bool:
    """Whether stderr is a terminal: progress bars only then (never in logs, pipes or CI)."""
    isatty = getattr(sys.stderr, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:
        return False


def existing_path(path, what: str = "input"):
    """``path`` as a ``Path``; a missing one is a :class:`DataFileNotFoundError`."""
    from pathlib import Path

    from tfprot.errors import DataFileNotFoundError

    path = Path(path)
    if not path.exists():
        raise DataFileNotFoundError(f"{path}: no such file or folder (the {what}).")
    return path


def create_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tfprot",
        description="Fine-tune protein language models with TensorFlow/Keras.",
        epilog="Run 'tfprot COMMAND --help' for a command's options and an example.\n"
        "Example: tfprot demo",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=list(COMMANDS), help="what to do")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tfprot`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        create_parser().parse_args(argv[:1] or ["--help"])
    if argv[0] in TORCH_FREE:
        import_transformers_without_torch()
    try:
        module = importlib.import_module(COMMANDS[argv[0]])
    except ModuleNotFoundError as error:
        if error.name != COMMANDS[argv[0]]:
            raise
        print(
            f"tfprot: error: the {argv[0]!r} command is not available in this build.",
            file=sys.stderr,
        )
        return 2
    return module.main(argv[1:])
