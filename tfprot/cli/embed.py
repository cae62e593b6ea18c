"""``tfprot embed``: embeddings of sequences from a checkpoint's encoder, saved as HDF5 or .npz.

Per sequence (default): the mean over residues of the last hidden states; with --per-residue one
[residues, hidden] array per sequence. --dtype float16 halves the file.

--out x.h5 (or .hdf5): streamed, for any number of sequences (a proteome, a UniRef subset).
The input is read lazily, vectors are written as their batch finishes, memory stays bounded.
One dataset per sequence id at the root, as UniProt distributes embeddings (file["P69905"]; a
'/' in an id is written %2F); the file's attributes record checkpoint, pooling, dtype and tfprot
version. Rerunning the same command resumes: ids already in the file whole are skipped and
counted; a file made by another model or with other settings is refused. A run killed at any
point leaves only complete HDF5 files (finished parts wait in OUT.parts until the end).

--out x.npz: in memory, for small inputs. Per sequence: keys ``ids`` and ``embeddings``
[sequences, hidden]; per residue: ``ids`` and one array per sequence under
``residues/<index>``, its position in ``ids`` (ids never become member names). Load with
numpy.load (no pickle).

Both load with tfprot.Embeddings.load.

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
from tfprot.data.stream import EMBED_WINDOW

EXAMPLE = "tfprot embed --checkpoint tiny-esm --input proteins.fasta --out embeddings.h5"


def create_parser() -> argparse.ArgumentParser:
    parser = command_parser("embed", __doc__, EXAMPLE)
    parser.add_argument(
        "--checkpoint",
        default="esm2_t6_8M",
        help="preset, Hub id, checkpoint folder or a model saved by train (default esm2_t6_8M; "
        "'tiny-esm' is offline and untrained)",
    )
    parser.add_argument("--input", type=Path, required=True, help="sequences: FASTA or a table")
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        help="the file to write: .h5 (streamed, resumable) or .npz (in memory)",
    )
    parser.add_argument(
        "--per-residue", action="store_true", help="one vector per residue instead of the mean"
    )
    parser.add_argument(
        "--batch-tokens", type=int, default=16384, help="token budget per batch (default 16384)"
    )
    parser.add_argument(
        "--window",
        type=int,
        default=EMBED_WINDOW,
        help=f".h5: sequences read, sorted by length and batched together (default {EMBED_WINDOW})",
    )
    parser.add_argument(
        "--dtype",
        choices=("float32", "float16"),
        default="float32",
        help="stored values (default float32; float16 halves the file)",
    )
    add_precision_option(parser)
    add_duplicates_option(parser)
    add_common_options(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    import numpy as np

    import tfprot
    from tfprot.data import read_records
    from tfprot.data.stream import stream_records
    from tfprot.models.embedding_store import is_h5_path

    existing_path(args.input, "--input")
    check_output_file(args.out, inputs=[args.input], example="embeddings.h5")
    options = {
        "per_residue": args.per_residue,
        "batch_tokens": args.batch_tokens,
        "precision": args.precision,
        "dtype": args.dtype,
        "progress": interactive() or False,
    }
    if is_h5_path(args.out):
        stream = stream_records(args.input, duplicates=args.duplicates)
        summary = tfprot.embed(args.checkpoint, stream, out=args.out, window=args.window, **options)
        print(f"tfprot embed: {summary} ({args.checkpoint})")
        return 0
    records = read_records(args.input, duplicates=args.duplicates)
    result = tfprot.embed(args.checkpoint, records, **options)
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
