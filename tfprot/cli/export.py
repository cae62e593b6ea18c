"""``tfprot export``: a model saved by ``tfprot train`` as a TensorFlow SavedModel for serving.

The folder holds the SavedModel (signatures serving_default with int32 and serving_int64 with
int64 input_ids/attention_mask; outputs logits and probabilities), labels.json (task, id2label,
residue offset, padding id, max length) and the tokenizer. Load it with tf.saved_model.load or
serve it with TensorFlow Serving.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from tfprot.cli import add_common_options, command_parser, existing_path, run_command

EXAMPLE = "tfprot export --model my_model/model --out serving"


def create_parser() -> argparse.ArgumentParser:
    parser = command_parser("export", __doc__, EXAMPLE)
    parser.add_argument("--model", type=Path, required=True, help="a folder saved by train")
    parser.add_argument("--out", type=Path, required=True, help="the SavedModel folder to write")
    add_common_options(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    import tfprot

    model = tfprot.load_model(existing_path(args.model, "--model"), compile=False)
    folder = model.export_saved_model(args.out)
    print(
        f"tfprot export: {model.task.value} model -> {folder}/ (SavedModel, signatures "
        "serving_default and serving_int64; labels.json; tokenizer/)"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(run, create_parser().parse_args(argv))
