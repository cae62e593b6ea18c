"""``tfprot contacts``: unsupervised contact maps from an ESM-2 checkpoint's attention.

Per sequence, in --out: NAME.contacts.npy (an L x L float32 array of contact probabilities over
the residues, special tokens removed; load with numpy.load) and NAME.contacts.png, where NAME is
the id made safe as a file name (as tfprot fold names its files); contacts.tsv lists them. With
--pdb (a structure of a single input sequence, or a folder of NAME.pdb files such as tfprot fold
writes), the precision of the top L, L/2 and L/5 long-range pairs (|i-j| >= 24; contact: C-beta
closer than 8 A, C-alpha for glycine) goes into contacts.tsv and the pictures show the
structure's contacts below the diagonal.
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
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

EXAMPLE = "tfprot contacts --checkpoint esm2_t33_650M --input proteins.fasta --out contacts/"
SUMMARY = "contacts.tsv"
PRECISIONS = ("P@L", "P@L/2", "P@L/5")

logger = logging.getLogger("tfprot.cli.contacts")


def create_parser() -> argparse.ArgumentParser:
    parser = command_parser("contacts", __doc__, EXAMPLE)
    parser.add_argument(
        "--checkpoint",
        default="esm2_t6_8M",
        help="an ESM-2 checkpoint with its contact head: preset, Hub id or folder (default "
        "esm2_t6_8M; 'tiny-esm' is offline and untrained)",
    )
    parser.add_argument("--input", type=Path, required=True, help="sequences: FASTA or a table")
    parser.add_argument("--out", type=Path, required=True, help="the folder to write")
    parser.add_argument(
        "--pdb",
        type=Path,
        default=None,
        help="a structure (PDB or mmCIF) of the one input sequence, or a folder of NAME.pdb files",
    )
    parser.add_argument(
        "--batch-tokens", type=int, default=16384, help="token budget per batch (default 16384)"
    )
    add_precision_option(parser)
    add_duplicates_option(parser)
    add_common_options(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from tfprot._io import check_writable, write_text_atomic
    from tfprot.data import read_records
    from tfprot.errors import OptionError, OutputError
    from tfprot.fold.names import safe_names
    from tfprot.zeroshot import contact_precisions, contacts, load_masked_lm
    from tfprot.zeroshot.contact_maps import structure_contacts
    from tfprot.zeroshot.pictures import plot_contacts

    existing_path(args.input, "--input")
    if args.pdb is not None:
        existing_path(args.pdb, "--pdb")
    if args.out.exists() and not args.out.is_dir():
        raise OutputError(f"--out {args.out} is a file; give a folder such as contacts/.")
    check_writable(args.out, "--out")
    records = read_records(args.input, duplicates=args.duplicates)
    if args.pdb is not None and args.pdb.is_file() and len(records) != 1:
        raise OptionError(
            f"--pdb {args.pdb} is one structure but --input has {len(records)} sequences; give a "
            "folder of NAME.pdb files (as tfprot fold writes) instead."
        )
    names = safe_names([record.id for record in records])
    model = load_masked_lm(args.checkpoint, precision=args.precision)
    maps = contacts(model, records, batch_tokens=args.batch_tokens, progress=interactive() or False)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for record, name, contact_map in zip(records, names, maps, strict=True):
        structure = _structure_for(args.pdb, name)
        truth = None
        if structure is not None:
            truth = structure_contacts(structure, record.sequence)
        _save_array(args.out / f"{name}.contacts.npy", contact_map.probabilities)
        plot_contacts(
            args.out / f"{name}.contacts.png",
            contact_map.probabilities,
            true_contacts=truth,
            title=f"{record.id} ({len(record.sequence)} residues, {args.checkpoint})",
        )
        row = {"id": record.id, "length": len(record.sequence), "file": f"{name}.contacts.npy"}
        row["structure"] = str(structure) if structure is not None else ""
        if truth is not None:
            for key, value in contact_precisions(contact_map.probabilities, truth).items():
                row[key] = f"{value:.4f}"
        rows.append(row)
    write_text_atomic(args.out / SUMMARY, _summary(rows))
    scored = [row for row in rows if row.get("P@L")]
    line = f"tfprot contacts: {len(maps)} contact maps ({args.checkpoint}) -> {args.out}"
    if scored:
        line += "; long-range precision " + ", ".join(
            f"{key} {row[key]}" for row in scored[:1] for key in PRECISIONS
        )
        if len(scored) > 1:
            line += f" (first of {len(scored)}; all in {SUMMARY})"
    print(line)
    if not model.pretrained:
        print(
            f"tfprot contacts: {args.checkpoint} is untrained (random weights): the maps mean "
            "nothing."
        )
    return 0


def _structure_for(pdb: Path | None, name: str) -> Path | None:
    if pdb is None:
        return None
    if pdb.is_file():
        return pdb
    for suffix in (".pdb", ".cif"):
        if (pdb / f"{name}{suffix}").is_file():
            return pdb / f"{name}{suffix}"
    logger.info("No structure %s.pdb in %s: no precision for that sequence.", name, pdb)
    return None


def _save_array(path: Path, array) -> None:
    import numpy as np

    from tfprot._io import atomic_path

    with atomic_path(path) as temporary, open(temporary, "wb") as handle:
        np.save(handle, array)


def _summary(rows: list[dict]) -> str:
    buffer = io.StringIO()
    columns = ["id", "length", "file", "structure", *PRECISIONS]
    writer = csv.DictWriter(buffer, columns, delimiter="\t", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(run, create_parser().parse_args(argv))
