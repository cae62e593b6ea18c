"""``tfprot uniprot``: a labelled data set from a UniProtKB query, written for ``tfprot train``.

Downloads the query (paginated, retried, checked, cached under ~/.cache/tfprot/uniprot or
$TFPROT_CACHE, so a rerun works offline) and, with --labeler, labels the rows and says how many it
kept and why it dropped the others. Output: sequence labelers write a CSV (or .tsv) table
id,sequence,label (several classes joined by ';'); the per-residue labeler writes a FLIP folder
(sequences.fasta, labels.fasta, mask.fasta). Without --labeler, the raw UniProt TSV of --fields.
$TFPROT_UNIPROT_URL (or --url) points at a mirror.
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Sequence
from pathlib import Path

from tfprot.cli import add_common_options, command_parser, interactive, run_command
from tfprot.tasks import task_for

EXAMPLE = (
    "tfprot uniprot --query 'organism_id:9606 AND reviewed:true AND length:[80 TO 500]' "
    "--labeler cytosol-membrane --out cytosol_membrane.csv"
)


def create_parser() -> argparse.ArgumentParser:
    from tfprot.uniprot import LABELERS

    parser = command_parser("uniprot", __doc__, EXAMPLE)
    parser.add_argument("--query", required=True, help="UniProtKB query")
    parser.add_argument(
        "--fields",
        default=None,
        help="comma-separated return fields, e.g. accession,sequence,cc_subcellular_location "
        "(default with --labeler: the fields it needs)",
    )
    parser.add_argument("--labeler", choices=sorted(LABELERS), help="how to label the rows")
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        help="a .csv/.tsv file (sequence labels, raw rows) or a folder (secondary-structure)",
    )
    parser.add_argument(
        "--url",
        default=None,
        help="REST server (default $TFPROT_UNIPROT_URL or https://rest.uniprot.org)",
    )
    parser.add_argument(
        "--retries", type=int, default=None, help="retries of a failing request (default 6)"
    )
    parser.add_argument("--refresh", action="store_true", help="download again, ignoring the cache")
    parser.add_argument("--cache-dir", type=Path, default=None, help="cache folder")
    add_common_options(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from tfprot.errors import OptionError
    from tfprot.uniprot import LABELERS, ClientConfig, RetryPolicy, fetch

    labeler = LABELERS[args.labeler]() if args.labeler else None
    if args.fields:
        fields = tuple(name.strip() for name in args.fields.split(",") if name.strip())
    elif labeler is not None:
        fields = tuple(labeler.fields)
    else:
        raise OptionError("Give --fields (e.g. accession,sequence,...) or a --labeler.")
    if args.retries is not None and args.retries < 0:
        raise OptionError(f"--retries must be 0 or more, got {args.retries}.")
    retry = RetryPolicy() if args.retries is None else RetryPolicy(max_retries=args.retries)
    config = ClientConfig(base_url=args.url, retry=retry)
    result = fetch(
        args.query,
        fields,
        format="tsv",
        config=config,
        cache_dir=args.cache_dir,
        refresh=args.refresh,
        progress=interactive(),
    )
    origin = "cache" if result.from_cache else "UniProt"
    release = f", release {result.release}" if result.release else ""
    print(f"tfprot uniprot: {result.count:,} rows from {origin}{release}")
    if labeler is None:
        from tfprot._io import write_text_atomic

        write_text_atomic(args.out, result.text)
        print(f"  wrote     : {args.out} (UniProt TSV, columns {list(result.header)})")
        return 0
    labelled = labeler.label(result)
    print(f"  labeler   : {args.labeler}: {labelled.summary}")
    if not labelled.records:
        raise OptionError(f"{args.labeler} kept no row of the query; nothing to write.")
    if task_for(labelled.task).per_residue:  # per-residue labels need FLIP's three files
        _write_flip(labelled.records, args.out)
        print(
            f"  wrote     : {args.out}/ (FLIP layout; train with: tfprot train --task token "
            f"--data {args.out} ...)"
        )
    else:
        _write_table(labelled.records, args.out)
        print(
            f"  wrote     : {args.out} (train with: tfprot train --task {labelled.task} "
            f"--data {args.out} ...)"
        )
    return 0


def _write_table(records, path: Path) -> None:
    from tfprot._io import open_atomic

    delimiter = "\t" if path.name.lower().endswith((".tsv", ".tab")) else ","
    with open_atomic(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=delimiter, lineterminator="\n")
        writer.writerow(["id", "sequence", "label"])
        for record in records:
            label = ";".join(record.label) if isinstance(record.label, tuple) else record.label
            writer.writerow([record.id, record.sequence, label])


def _write_flip(records, folder: Path) -> None:
    from tfprot._io import atomic_folder, ensure_replaceable

    ensure_replaceable(folder, "sequences.fasta", "a FLIP folder")
    sequences, labels, mask = [], [], []
    for record in records:
        flags = record.mask or (True,) * len(record.sequence)
        sequences.append(f">{record.id}\n{record.sequence}\n")
        labels.append(f">{record.id}\n{''.join(record.residue_labels)}\n")
        mask.append(f">{record.id}\n{''.join('1' if f else '0' for f in flags)}\n")
    with atomic_folder(folder) as staging:
        for name, lines in (("sequences", sequences), ("labels", labels), ("mask", mask)):
            (staging / f"{name}.fasta").write_text("".join(lines), encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(run, create_parser().parse_args(argv))
