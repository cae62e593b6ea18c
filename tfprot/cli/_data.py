"""Reading the ``--data`` of ``tfprot train``: format, table columns, FLIP split and what to do with
repeated ids (``--duplicates``), said aloud.

A table's columns are resolved before reading (given names must exist; the others are detected
when the header makes them obvious), so the command can say what it chose.
"""

from __future__ import annotations

import argparse
import csv
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfprot.errors import DataFileNotFoundError, DataFormatError, OptionError

__all__ = ["TrainingData", "add_data_options", "add_duplicates_option", "read_training_data"]

TABLE_OPTIONS = ("sequence_column", "label_column", "id_column", "split_column")


@dataclass(frozen=True)
class TrainingData:
    """The data set and what was chosen to read it (for the report and ``metrics.json``)."""

    dataset: Any
    path: str
    format: str
    choices: dict[str, Any] = field(default_factory=dict)


def add_data_options(parser: argparse.ArgumentParser) -> None:
    from tfprot.data import FORMATS

    parser.add_argument(
        "--data",
        required=True,
        help="labelled data: a CSV/TSV table, a folder of FASTA files (one per class), a FLIP "
        "folder or file, or the name of a bundled data set ('cytosol_membrane')",
    )
    parser.add_argument(
        "--format", default="auto", choices=FORMATS, help="data format (default: from the path)"
    )
    parser.add_argument(
        "--split", default=None, help="FLIP: the split file of a folder (e.g. 'sampled')"
    )
    for name in TABLE_OPTIONS:
        role = name.removesuffix("_column")
        parser.add_argument(
            f"--{role}-column",
            dest=name,
            default=None,
            help=f"table: the {role} column (default: detected from the header)",
        )
    add_duplicates_option(parser)
    parser.add_argument("--seed", type=int, default=0, help="seed of the split and shuffling")


def add_duplicates_option(parser: argparse.ArgumentParser) -> None:
    """``--duplicates error|first|last`` (default ``error``), read as ``args.duplicates``."""
    from tfprot.data.duplicates import DUPLICATES

    parser.add_argument(
        "--duplicates",
        default="error",
        choices=DUPLICATES,
        help="an id repeated with a different sequence, label or split: refuse it (error, the "
        "default), or keep its first or last occurrence; exact repeats are always kept once",
    )


def read_training_data(args: argparse.Namespace, task: str) -> TrainingData:
    """Read ``args.data`` as ``args.format`` into a :class:`tfprot.ProteinDataset` of ``task``."""
    from tfprot.data import EXAMPLES, ProteinDataset, detect_format, example_path
    from tfprot.data.table import detect_columns

    path = Path(args.data)
    if not path.exists() and args.data in EXAMPLES:
        path = example_path(args.data)
    if not path.exists():
        raise DataFileNotFoundError(
            f"{args.data}: no such file or folder (the --data). Bundled data sets: "
            f"{sorted(EXAMPLES)}."
        )
    chosen = detect_format(path) if args.format == "auto" else args.format
    choices: dict[str, Any] = {"format": chosen}
    options: dict[str, Any] = {}
    given = {name: getattr(args, name) for name in TABLE_OPTIONS if getattr(args, name)}
    is_table = chosen in ("csv", "tsv") or (chosen == "flip" and _is_table(path))
    if given and not is_table:
        raise OptionError(
            f"--{next(iter(given)).replace('_', '-')} applies to CSV/TSV tables, but {path} is "
            f"read as {chosen!r}."
        )
    if args.split is not None:
        if chosen != "flip":
            raise OptionError(f"--split names a FLIP split file, but {path} is read as {chosen!r}.")
        options["split"] = args.split
        choices["split"] = args.split
    if is_table:
        header = _header(path, "\t" if chosen == "tsv" else None)
        columns = detect_columns(header, **given, where=str(path))
        for role in ("sequence", "label", "id", "split"):
            name = getattr(columns, role)
            if name is not None:
                options[f"{role}_column"] = name
        choices["columns"] = {
            role: getattr(columns, role)
            for role in ("sequence", "label", "id", "split", "validation")
        }
        choices["detected"] = sorted(
            role
            for role in ("sequence", "label", "id", "split")
            if f"{role}_column" not in given and getattr(columns, role) is not None
        )
        if columns.label is None:
            raise DataFormatError(
                f"{path}: cannot tell which column holds the labels; the columns are "
                f"{list(header)}. Name it with --label-column."
            )
    if is_table:  # the command says which columns it chose; the reader need not say it again
        logging.getLogger("tfprot.data.table").setLevel(logging.WARNING)
    duplicates = getattr(args, "duplicates", "error")
    if duplicates != "error":
        choices["duplicates"] = duplicates
    dataset = ProteinDataset.from_path(
        path,
        task,
        format=chosen,
        reader_options=options,
        duplicates=duplicates,
        seed=args.seed,
        name=path.name.split(".")[0] or str(path),
    )
    return TrainingData(dataset, str(path), chosen, choices)


def _is_table(path: Path) -> bool:
    name = path.name.lower().removesuffix(".gz")
    return path.is_file() and name.endswith((".csv", ".tsv", ".tab"))


def _header(path: Path, delimiter: str | None) -> list[str]:
    from tfprot.data._files import read_lines

    lines = read_lines(path)
    try:
        first = next(lines, "")
    finally:
        lines.close()
    if not first.strip():
        raise DataFormatError(f"{path}: the table is empty.")
    if delimiter is None:
        name = path.name.lower().removesuffix(".gz")
        delimiter = "\t" if name.endswith((".tsv", ".tab")) else ","
    return next(csv.reader([first], delimiter=delimiter))


def describe_choices(data: TrainingData) -> list[str]:
    """Lines saying how the data was read: format, columns (detected or given), split."""
    lines = [f"data      : {data.path} (read as {data.format})"]
    columns = data.choices.get("columns")
    if columns:
        detected = set(data.choices.get("detected", ()))
        parts = []
        for role in ("sequence", "label", "id", "split", "validation"):
            name = columns.get(role)
            if name is None:
                continue
            how = "detected" if role in detected or role == "validation" else "given"
            parts.append(f"{role}={name!r} ({how})")
        lines.append("columns   : " + ", ".join(parts))
    if "split" in data.choices:
        lines.append(f"FLIP split: {data.choices['split']}")
    if "duplicates" in data.choices:
        lines.append(
            f"duplicates: the {data.choices['duplicates']} occurrence of a repeated id kept"
        )
    return lines
