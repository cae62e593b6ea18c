"""Reading the ``--data`` of ``tfprot train`` (and ``tfprot split``): format, table columns, the
split and what to do with repeated ids (``--duplicates``), said aloud; and the leakage report of
the split.

A table's columns are resolved before reading (given names must exist; the others are detected
when the header makes them obvious), so the command can say what it chose.

``--split`` of ``tfprot train`` takes one of:

- ``homology`` or ``random``: make that split (``--max-identity``, ``--coverage`` for homology),
  replacing any split the data carries;
- a split file (``.csv``) written by ``tfprot split``: its ``set`` column is the split;
- for FLIP data, the name of a split file in the folder (e.g. ``sampled``).

Whenever the data has a training and a test split, the leakage report says how many test
sequences have a close training relative (MMseqs2; when it is not installed the report says so).
"""

from __future__ import annotations

import argparse
import csv
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfprot.errors import DataFileNotFoundError, DataFormatError, OptionError

__all__ = [
    "DataRecords",
    "TrainingData",
    "add_data_options",
    "add_duplicates_option",
    "read_data_records",
    "read_training_data",
]

TABLE_OPTIONS = ("sequence_column", "label_column", "id_column", "split_column")
SPLIT_METHODS = ("homology", "random")
DEFAULT_MAX_IDENTITY = 0.3
DEFAULT_COVERAGE = 0.8
SPLIT_FILE_SUFFIXES = (".csv", ".csv.gz")


@dataclass(frozen=True)
class DataRecords:
    """The records of ``--data`` and what was chosen to read them."""

    records: list
    path: Path
    format: str
    choices: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainingData:
    """The data set and what was chosen to read it (for the report and ``metrics.json``)."""

    dataset: Any
    path: str
    format: str
    choices: dict[str, Any] = field(default_factory=dict)
    split: Any = None
    """The :class:`tfprot.data.SplitReport` of ``--split homology|random``, else ``None``."""
    split_file: dict[str, Any] | None = None
    """``{'path': ..., 'removed': [ids]}`` of ``--split FILE.csv``, else ``None``."""
    leakage: Any = None
    """The :class:`tfprot.data.LeakageReport` of the test split against training, or ``None``
    (``leakage_note`` says why)."""
    leakage_note: str | None = None

    def report(self) -> dict[str, Any]:
        """The split and the leakage report, for ``metrics.json``."""
        out: dict[str, Any] = {}
        if self.split is not None:
            split = self.split.as_dict()
            split.pop("leakage", None)
            out["split"] = split
        elif self.split_file is not None:
            out["split"] = {"file": self.split_file["path"], "removed": self.split_file["removed"]}
        if self.leakage is not None:
            out["leakage"] = self.leakage.as_dict()
        elif self.leakage_note:
            out["leakage"] = {"measured": False, "why": self.leakage_note}
        return out

    def summary_lines(self) -> list[str]:
        """The leakage lines of the command's summary."""
        if self.leakage is not None:
            shares = self.leakage.shares
            lines = [
                "leakage   : test sequences with a training relative above "
                + " / ".join(f"{t:.0%}" for t in shares)
                + " identity: "
                + " / ".join(f"{share:.1%}" for share in shares.values())
                + f" (MMseqs2, alignments covering {self.leakage.coverage:.0%} of both)"
            ]
            if self.leakage.warning:
                lines.append(f"warning   : {self.leakage.warning}")
            return lines
        if self.leakage_note:
            return [f"leakage   : not measured ({self.leakage_note})"]
        return []


def add_data_options(parser: argparse.ArgumentParser, *, split_methods: bool = True) -> None:
    """``--data`` and how to read it; with ``split_methods``, ``--split`` also takes
    ``homology``, ``random`` or a split file, with ``--max-identity`` and ``--coverage``."""
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
    if split_methods:
        parser.add_argument(
            "--split",
            default=None,
            metavar="HOW",
            help="'homology': no validation or test sequence has a relative above "
            "--max-identity in another split (MMseqs2); 'random': a seeded stratified split; "
            "a split file (.csv) written by 'tfprot split'; or, for FLIP data, the split file "
            "of the folder (e.g. 'sampled'). Default: the data's own split, else random",
        )
        parser.add_argument(
            "--max-identity",
            type=float,
            default=None,
            help=f"--split homology: the largest identity allowed between splits (default "
            f"{DEFAULT_MAX_IDENTITY})",
        )
        parser.add_argument(
            "--coverage",
            type=float,
            default=None,
            help="--split homology and the leakage report: the share of both sequences an "
            f"alignment must cover to count (default {DEFAULT_COVERAGE})",
        )
    else:
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


def read_data_records(
    args: argparse.Namespace, flip_split: str | None = None, *, split_methods: bool = False
) -> DataRecords:
    """Read ``args.data`` as ``args.format`` (columns, ``flip_split``, ``--duplicates``);
    ``split_methods``: ``--split`` also takes methods and files (for the messages)."""
    from tfprot.data import EXAMPLES, detect_format, example_path, read_records
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
    if flip_split is not None:
        if chosen != "flip":
            raise OptionError(
                f"--split {flip_split!r} names a FLIP split file, but {path} is read as "
                f"{chosen!r}."
                + (
                    f" --split takes {' or '.join(SPLIT_METHODS)}, or a split file (.csv) "
                    "written by tfprot split."
                    if split_methods
                    else ""
                )
            )
        options["split"] = flip_split
        choices["split"] = flip_split
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
    records = read_records(path, format=chosen, duplicates=duplicates, **options)
    return DataRecords(records, path, chosen, choices)


def read_training_data(args: argparse.Namespace, task: str) -> TrainingData:
    """Read ``args.data`` as ``args.format`` into a :class:`tfprot.ProteinDataset` of ``task``,
    split as ``args.split`` says, with the leakage report of its test split."""
    from tfprot.data import ProteinDataset

    how, value = _split_choice(args)
    data = read_data_records(args, flip_split=value if how == "flip" else None, split_methods=True)
    records, split, split_file = data.records, None, None
    if how == "method":
        from tfprot.data import split_records

        # the split is described with the data; the library's summary line would repeat it
        logging.getLogger("tfprot.data.splits").setLevel(logging.WARNING)

        records, split = split_records(
            records,
            value,
            max_identity=args.max_identity or DEFAULT_MAX_IDENTITY,
            coverage=_coverage(args),
            seed=args.seed,
            task=task,
            leakage=False,
        )
    elif how == "file":
        from tfprot.data.split_file import apply_split_file

        records, removed = apply_split_file(records, value)
        split_file = {"path": str(value), "removed": removed}
    dataset = ProteinDataset(
        records, task, seed=args.seed, name=data.path.name.split(".")[0] or str(data.path)
    )
    leakage, note = _leakage(
        dataset, _coverage(args), required=how == "method" and value == "homology"
    )
    return TrainingData(
        dataset,
        str(data.path),
        data.format,
        data.choices,
        split=split,
        split_file=split_file,
        leakage=leakage,
        leakage_note=note,
    )


def _split_choice(args: argparse.Namespace) -> tuple[str | None, Any]:
    """What ``--split`` asks for: ``('method', 'homology'|'random')``, ``('file', Path)``,
    ``('flip', name)`` or ``(None, None)``; ``--max-identity`` only with homology."""
    value = getattr(args, "split", None)
    max_identity = getattr(args, "max_identity", None)
    coverage = getattr(args, "coverage", None)
    if max_identity is not None and value != "homology":
        raise OptionError(
            f"--max-identity applies to --split homology (the split here: {value or 'the default'})."
        )
    if max_identity is not None and not 0 < max_identity < 1:
        raise OptionError(
            f"--max-identity must be between 0 and 1 (0.3 for 30% identity), got {max_identity}."
        )
    if coverage is not None and not 0 <= coverage <= 1:
        raise OptionError(f"--coverage must be between 0 and 1 (e.g. 0.8), got {coverage}.")
    if value is None:
        return None, None
    if value in SPLIT_METHODS and hasattr(args, "max_identity"):
        return "method", value
    if hasattr(args, "max_identity") and value.lower().endswith(SPLIT_FILE_SUFFIXES):
        path = Path(value)
        if not path.is_file():
            raise DataFileNotFoundError(
                f"{value}: no such split file (the --split). Write one with tfprot split --data "
                "... --out split.csv."
            )
        return "file", path
    return "flip", value


def _coverage(args: argparse.Namespace) -> float:
    coverage = getattr(args, "coverage", None)
    return DEFAULT_COVERAGE if coverage is None else coverage


def _leakage(dataset, coverage: float, *, required: bool) -> tuple[Any, str | None]:
    """The leakage report of the data set's test split against its training split, or why
    there is none (no test split; MMseqs2 not installed, unless ``required``)."""
    from tfprot.data import leakage_report
    from tfprot.data.mmseqs import find_mmseqs
    from tfprot.errors import MissingDependencyError

    train, test = dataset.records("train"), dataset.records("test")
    if not train or not test:
        return None, "no training or no test split"
    try:
        tool = find_mmseqs()
    except MissingDependencyError as error:
        if required:
            raise
        return None, " ".join(str(error).split())
    return leakage_report(train, test, coverage=coverage, mmseqs=tool), None


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


def describe_choices(data: TrainingData | DataRecords) -> list[str]:
    """Lines saying how the data was read: format, columns (detected or given), split."""
    split, split_file = getattr(data, "split", None), getattr(data, "split_file", None)
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
    if split is not None:
        described = split.describe()
        lines += [f"split     : {described[0]}", *(f"            {line}" for line in described[1:])]
    elif split_file is not None:
        removed = split_file["removed"]
        line = f"split     : from {split_file['path']}"
        if removed:
            line += f" ({len(removed)} records it marks removed left out: {', '.join(removed[:5])}"
            line += ", ...)" if len(removed) > 5 else ")"
        lines.append(line)
    if "duplicates" in data.choices:
        lines.append(
            f"duplicates: the {data.choices['duplicates']} occurrence of a repeated id kept"
        )
    return lines
