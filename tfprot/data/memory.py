"""Records from Python lists and from 🤗 ``datasets.Dataset`` / ``DatasetDict`` objects.

>>> records = from_lists(["MKTAY", "GGSW"], labels=["membrane", "cytosol"], ids=["p1", "p2"])
>>> [(r.id, r.sequence, r.label) for r in records]
[('p1', 'MKTAY', 'membrane'), ('p2', 'GGSW', 'cytosol')]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tfprot.data.duplicates import check_duplicates_option, resolve_duplicates
from tfprot.data.records import ProteinRecord, Source
from tfprot.data.sequences import clean_sequence
from tfprot.data.table import detect_columns, parse_split
from tfprot.errors import DataFormatError

__all__ = ["from_hf_dataset", "from_lists"]


def from_lists(
    sequences: Sequence[str],
    labels: Sequence[Any] | None = None,
    *,
    ids: Sequence[str] | None = None,
    residue_labels: Sequence[Any] | None = None,
    masks: Sequence[Sequence[bool]] | None = None,
    splits: Sequence[str | None] | None = None,
    name: str = "<list>",
    duplicates: str = "error",
) -> list[ProteinRecord]:
    """Build validated records from parallel lists.

    Args:
        sequences: amino-acid sequences.
        labels: one sequence-level label each (class name, ``'A;B'``, list of names, or number).
        ids: unique ids; default ``seq0``, ``seq1``...
        residue_labels: one per-residue label string (or list) each, for token tasks.
        masks: one per-residue 0/1 (or bool) list each; 0 residues do not count.
        splits: ``'train'``/``'validation'``/``'test'`` (or ``None``) each.
        name: how to call this collection in error messages.
        duplicates: an id repeated with different contents is an error (``'error'``), or keeps
            its ``'first'`` or ``'last'`` occurrence; exact repeats are kept once (and logged).
            See :func:`tfprot.data.duplicates.resolve_duplicates`.

    Raises:
        DataFormatError: lists of different lengths, ids repeated with different contents.
        InvalidSequenceError: a bad sequence, naming its position in the list and id.
        OptionError: an unknown ``duplicates`` value.
    """
    check_duplicates_option(duplicates)
    return resolve_duplicates(
        _records_from_lists(sequences, labels, ids, residue_labels, masks, splits, name),
        duplicates,
    )


def _records_from_lists(
    sequences, labels, ids, residue_labels, masks, splits, name, label_column=None
) -> list[ProteinRecord]:
    if isinstance(sequences, str):
        raise DataFormatError(
            f"{name}: expected a list of sequences, got one string; wrap it in [...]."
        )
    count = len(sequences)
    if count == 0:
        raise DataFormatError(f"{name}: no sequences.")
    for what, values in (
        ("labels", labels),
        ("ids", ids),
        ("residue_labels", residue_labels),
        ("masks", masks),
        ("splits", splits),
    ):
        if values is not None and len(values) != count:
            raise DataFormatError(f"{name}: {count} sequences but {len(values)} {what}.")
    records = []
    for index, raw in enumerate(sequences):
        record_id = str(ids[index]) if ids is not None else f"seq{index}"
        source = Source(name, row=index + 1, label_column=label_column)
        where = f"{source.describe()}, id {record_id!r}"
        label = _normalise_label(labels[index]) if labels is not None else None
        split = splits[index] if splits is not None else None
        records.append(
            ProteinRecord(
                id=record_id,
                sequence=clean_sequence(raw, where=where),
                label=label,
                residue_labels=_normalise_residue_labels(residue_labels[index])
                if residue_labels is not None
                else None,
                mask=tuple(bool(int(flag)) for flag in masks[index]) if masks is not None else None,
                split=parse_split(split, where) if split else None,
                source=source,
            )
        )
    return records


def from_hf_dataset(
    dataset: Any,
    *,
    sequence_column: str | None = None,
    label_column: str | None = None,
    id_column: str | None = None,
    split_column: str | None = None,
    residue_label_column: str | None = None,
    mask_column: str | None = None,
    duplicates: str = "error",
) -> list[ProteinRecord]:
    """Build records from a 🤗 ``datasets.Dataset``, or a ``DatasetDict`` whose keys are splits.

    ``ClassLabel`` columns are turned back into their names (and ``Sequence(ClassLabel)`` into a
    tuple of names for multi-label tasks), so the label vocabulary is the one of the data set.
    ``duplicates`` is as for :func:`from_lists`, over all splits together.

    >>> import datasets
    >>> ds = datasets.Dataset.from_dict({"sequence": ["MKTAY", "GGSW"], "label": [1, 0]},
    ...     features=datasets.Features({"sequence": datasets.Value("string"),
    ...                                 "label": datasets.ClassLabel(names=["cytosol", "membrane"])}))
    >>> [(r.sequence, r.label) for r in from_hf_dataset(ds)]
    [('MKTAY', 'membrane'), ('GGSW', 'cytosol')]
    """
    check_duplicates_option(duplicates)
    columns = {
        "sequence_column": sequence_column,
        "label_column": label_column,
        "id_column": id_column,
        "residue_label_column": residue_label_column,
        "mask_column": mask_column,
    }
    if isinstance(dataset, Mapping):  # a DatasetDict: its keys are the splits
        parts = [
            (part, parse_split(str(key), f"DatasetDict key {key!r}"), f"<dataset[{key!r}]>", None)
            for key, part in dataset.items()
        ]
    else:
        parts = [(dataset, None, "<dataset>", split_column)]
    records = [
        record
        for part, split, name, split_col in parts
        for record in _from_one_dataset(part, split, name, split_column=split_col, **columns)
    ]
    return resolve_duplicates(records, duplicates)


def _from_one_dataset(
    dataset,
    split: str | None,
    name: str,
    *,
    sequence_column: str | None,
    label_column: str | None,
    id_column: str | None,
    split_column: str | None,
    residue_label_column: str | None,
    mask_column: str | None,
) -> list[ProteinRecord]:
    column_names = list(getattr(dataset, "column_names", []) or [])
    if not column_names:
        raise DataFormatError(
            f"{name}: expected a datasets.Dataset with named columns, got {type(dataset).__name__}."
        )
    special = {residue_label_column, mask_column} - {None}
    columns = detect_columns(
        [c for c in column_names if c not in special],
        sequence_column=sequence_column,
        label_column=label_column,
        id_column=id_column,
        split_column=split_column,
        where=name,
    )
    if residue_label_column and label_column is None:
        columns = type(columns)(
            columns.sequence, None, columns.id, columns.split, columns.validation
        )
    for column in special:
        if column not in column_names:
            raise DataFormatError(f"{name}: no column {column!r}; the columns are {column_names}.")
    features = getattr(dataset, "features", {}) or {}
    labels = _decoded(dataset, columns.label, features) if columns.label else None
    residue_labels = (
        _decoded(dataset, residue_label_column, features) if residue_label_column else None
    )
    splits = list(dataset[columns.split]) if columns.split else None
    if split is not None:
        splits = [split] * len(dataset)
    return _records_from_lists(
        list(dataset[columns.sequence]),
        labels,
        [str(i) for i in dataset[columns.id]]
        if columns.id
        else [f"{name.strip('<>')}:{i}" for i in range(len(dataset))],
        residue_labels,
        list(dataset[mask_column]) if mask_column else None,
        splits,
        name,
        label_column=columns.label,
    )


def _decoded(dataset, column: str, features) -> list[Any]:
    """Column values with ClassLabel ids mapped back to names."""
    values = list(dataset[column])
    feature = features.get(column) if hasattr(features, "get") else None
    names = getattr(feature, "names", None)
    inner = getattr(feature, "feature", None)
    if inner is None and isinstance(feature, list) and feature:
        inner = feature[0]
    inner_names = getattr(inner, "names", None)
    if names is not None:
        return [names[v] if v is not None and v >= 0 else None for v in values]
    if inner_names is not None:
        return [tuple(inner_names[i] for i in v) if v is not None else None for v in values]
    return values


def _normalise_label(label: Any):
    if label is None:
        return None
    if isinstance(label, str):
        return label.strip() or None
    if isinstance(label, bool):
        return str(label)
    if isinstance(label, int):
        return str(label)
    if isinstance(label, float):
        return label
    if isinstance(label, Sequence):
        return tuple(str(item) for item in label)
    if hasattr(label, "item"):  # numpy scalar
        return _normalise_label(label.item())
    raise DataFormatError(f"unsupported label {label!r} of type {type(label).__name__}.")


def _normalise_residue_labels(labels: Any):
    if labels is None or isinstance(labels, str):
        return labels
    return tuple(str(label) for label in labels)
