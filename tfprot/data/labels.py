"""Tasks and the label vocabulary that turns record labels into model targets.

The vocabulary is built deterministically (classes sorted by name) from the training records and
travels with the data and, later, with the model as ``id2label``/``label2id``. A label that is not
in it is an error at encoding time, never a new class.

>>> from tfprot.data.memory import from_lists
>>> train = from_lists(["MKTAY", "GGSW", "MKKL"], labels=["membrane", "cytosol", "membrane"])
>>> encoder = LabelEncoder.fit(train, "classification")
>>> encoder.classes, encoder.encode(train[0]).item()
(('cytosol', 'membrane'), 1)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np

from tfprot.data.records import ProteinRecord
from tfprot.errors import LabelError

__all__ = ["IGNORE_INDEX", "LabelEncoder", "Task", "infer_task"]

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100
"""Target of a token that does not count: special tokens, padding, unresolved residues."""


class Task(str, Enum):
    """What a model predicts."""

    CLASSIFICATION = "classification"
    """One class per sequence."""
    MULTILABEL = "multilabel"
    """Any number of classes per sequence (labels like ``'Cytoplasm;Nucleus'``)."""
    REGRESSION = "regression"
    """One finite number per sequence."""
    TOKEN = "token"
    """One class per residue (e.g. secondary structure)."""

    @classmethod
    def parse(cls, value: Task | str) -> Task:
        """Accept a Task or its name.

        >>> Task.parse("token")
        <Task.TOKEN: 'token'>
        """
        if isinstance(value, Task):
            return value
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            raise LabelError(
                f"Unknown task {value!r}. Expect one of {[task.value for task in cls]}."
            ) from None


def infer_task(records: Sequence[ProteinRecord], separator: str = ";") -> Task:
    """Guess the task from the labels, and log the guess.

    Per-residue labels mean ``token``; a label list or a ``separator`` in labels means
    ``multilabel``; labels that are all numbers with a fraction, or more than 20 distinct integers,
    mean ``regression``; anything else ``classification``.
    """
    labelled = [r for r in records if r.label is not None or r.residue_labels is not None]
    if not labelled:
        raise LabelError(
            "No record has a label, so there is nothing to learn; give labels or a task."
        )
    if any(r.residue_labels is not None for r in labelled):
        task = Task.TOKEN
    elif any(
        isinstance(r.label, tuple) or (isinstance(r.label, str) and separator in r.label)
        for r in labelled
    ):
        task = Task.MULTILABEL
    else:
        numbers = [_as_float(r.label) for r in labelled]
        if all(n is not None for n in numbers) and (
            any(not float(n).is_integer() for n in numbers) or len(set(numbers)) > 20
        ):
            task = Task.REGRESSION
        else:
            task = Task.CLASSIFICATION
    logger.info("Task not given; the labels look like %r.", task.value)
    return task


def _as_float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class LabelEncoder:
    """Maps the labels of a task to model targets and back.

    Attributes:
        task: the task.
        classes: class names in target order (empty for regression).
        separator: splits a multi-label string (``'A;B'``).
    """

    task: Task
    classes: tuple[str, ...] = ()
    separator: str = ";"

    def __post_init__(self) -> None:
        object.__setattr__(self, "task", Task.parse(self.task))
        object.__setattr__(self, "classes", tuple(self.classes))
        if (
            self.task is not Task.REGRESSION
            and len(self.classes) < 2
            and self.task is not Task.MULTILABEL
        ):
            raise LabelError(
                f"A {self.task.value} task needs at least two classes, got {list(self.classes)}. "
                "Check the label column, or use a regression task for numbers."
            )
        if self.task is Task.MULTILABEL and not self.classes:
            raise LabelError("A multilabel task needs at least one class.")
        if len(set(self.classes)) != len(self.classes):
            raise LabelError(f"Duplicate class names in {list(self.classes)}.")
        if self.task is Task.REGRESSION and self.classes:
            raise LabelError("A regression task has no classes.")
        object.__setattr__(self, "_index", {name: i for i, name in enumerate(self.classes)})

    @classmethod
    def fit(
        cls, records: Iterable[ProteinRecord], task: Task | str, *, separator: str = ";"
    ) -> LabelEncoder:
        """Build the vocabulary from (training) records: every class seen, sorted by name.

        Residues whose mask is 0 do not add classes.
        """
        task = Task.parse(task)
        if task is Task.REGRESSION:
            return cls(task, (), separator)
        records = list(records)
        names: set[str] = set()
        for record in records:
            if task is Task.TOKEN:
                labels = _residue_labels(record)
                names.update(
                    label
                    for label, keep in zip(labels, record.mask or _always(labels), strict=False)
                    if keep
                )
            else:
                names.update(_sequence_labels(record, task, separator))
        if len(names) < 2 and task is not Task.MULTILABEL:
            raise LabelError(_too_few_classes(records, task, sorted(names)))
        return cls(task, tuple(sorted(names)), separator)

    @property
    def num_labels(self) -> int:
        """Number of model outputs: classes, or 1 for regression."""
        return 1 if self.task is Task.REGRESSION else len(self.classes)

    @property
    def id2label(self) -> dict[int, str]:
        """``{0: 'first class', ...}`` as transformers configs hold it."""
        return dict(enumerate(self.classes)) if self.classes else {0: "target"}

    @property
    def label2id(self) -> dict[str, int]:
        return {name: i for i, name in self.id2label.items()}

    def encode(self, record: ProteinRecord) -> np.ndarray:
        """The target of one record.

        Returns:
            classification: int32 scalar class index; multilabel: float32 multi-hot ``[classes]``;
            regression: float32 scalar; token: int32 ``[residues]`` with ``IGNORE_INDEX`` where the
            mask is 0.

        Raises:
            LabelError: missing label, unknown class, or a regression target that is not a finite
                number; the message names the record.
        """
        if self.task is Task.TOKEN:
            labels = np.asarray(list(_residue_labels(record)), dtype=str)
            names, inverse = np.unique(labels, return_inverse=True)
            keep = (
                np.ones(len(labels), bool) if record.mask is None else np.asarray(record.mask, bool)
            )
            lookup = np.full(len(names), IGNORE_INDEX, dtype=np.int32)
            for k, name in enumerate(names):
                index = self._index.get(str(name))  # type: ignore[attr-defined]
                if index is None and keep[inverse == k].any():
                    position = int(np.flatnonzero((inverse == k) & keep)[0])
                    self._class_index(str(name), record, f" at residue {position + 1}")
                lookup[k] = IGNORE_INDEX if index is None else index
            return np.where(keep, lookup[inverse], IGNORE_INDEX).astype(np.int32)
        if self.task is Task.REGRESSION:
            return np.float32(_finite_target(record))
        names = _sequence_labels(record, self.task, self.separator)
        if self.task is Task.CLASSIFICATION:
            return np.int32(self._class_index(names[0], record))
        hot = np.zeros(len(self.classes), dtype=np.float32)
        for name in names:
            hot[self._class_index(name, record)] = 1.0
        return hot

    def decode(self, index: int) -> str:
        """Class name of a target index."""
        return self.classes[int(index)]

    def _class_index(self, name: str, record: ProteinRecord, at: str = "") -> int:
        index = self._index.get(name)  # type: ignore[attr-defined]
        if index is None:
            raise LabelError(
                f"{record.where}: unknown label {name!r}{at}; the known classes are "
                f"{list(self.classes)}. A label the training data never had cannot be learned: fix "
                "the label or retrain with it."
            )
        return index

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; :meth:`from_dict` inverts it."""
        return {"task": self.task.value, "classes": list(self.classes), "separator": self.separator}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LabelEncoder:
        """>>> LabelEncoder.from_dict(LabelEncoder("token", ("C", "E", "H")).to_dict()).classes
        ('C', 'E', 'H')
        """
        return cls(
            Task.parse(data["task"]), tuple(data.get("classes", ())), data.get("separator", ";")
        )


def _too_few_classes(records: list[ProteinRecord], task: Task, names: list[str]) -> str:
    """Why a vocabulary fitted on ``records`` is too small: the files, the label column, advice."""
    paths = list(dict.fromkeys(r.source.path for r in records if r.source and r.source.path))
    files = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
    columns = list(dict.fromkeys(r.source.label_column for r in records if r.source))
    column = columns[0] if len(columns) == 1 and columns[0] else None
    what = "per-residue label" if task is Task.TOKEN else "label"
    found = f"the same {what} {names[0]!r}" if names else f"no {what} that counts"
    where = f" (label column {column!r})" if column else ""
    if column:
        advice = (
            "Check that this is the label column (name another with --label-column, or "
            "label_column=) and that the file holds every class"
        )
    elif task is Task.TOKEN:
        advice = "Check that the labels file (and its mask) belong to this data"
    else:
        advice = (
            "Check that the data holds every class (a folder needs one FASTA file per class; a "
            "single FASTA file carries no labels)"
        )
    return (
        f"{files or 'the records'}: every training record ({len(records)}) has {found}{where}, "
        f"but a {task.value} task needs at least two classes. {advice}; for numeric targets use "
        "the regression task."
    )


def _always(labels) -> tuple[bool, ...]:
    return (True,) * len(labels)


def _residue_labels(record: ProteinRecord):
    if record.residue_labels is None:
        raise LabelError(
            f"{record.where}: no per-residue labels, but the task is token classification."
        )
    return record.residue_labels


def _sequence_labels(record: ProteinRecord, task: Task, separator: str) -> tuple[str, ...]:
    label = record.label
    if label is None:
        raise LabelError(
            f"{record.where}: no label. Every training and evaluation record needs one."
        )
    if isinstance(label, tuple):
        names = tuple(str(name).strip() for name in label)
    elif task is Task.MULTILABEL:
        names = tuple(part.strip() for part in str(label).split(separator))
    else:
        names = (_class_name(label),)
    names = tuple(name for name in names if name)
    if not names:
        raise LabelError(f"{record.where}: empty label {label!r}.")
    if task is Task.CLASSIFICATION and len(names) != 1:
        raise LabelError(
            f"{record.where}: {len(names)} labels {list(names)} for a single-label task; use "
            "task='multilabel' for several labels per sequence."
        )
    return names


def _class_name(label: Any) -> str:
    if isinstance(label, float) and label.is_integer():
        return str(int(label))
    return str(label).strip()


def _finite_target(record: ProteinRecord) -> float:
    if record.label is None:
        raise LabelError(f"{record.where}: no target value. Every regression record needs one.")
    value = _as_float(record.label)
    if value is None or not math.isfinite(value):
        raise LabelError(
            f"{record.where}: regression target {record.label!r} is not a finite number. Fix or "
            "remove the record."
        )
    return value
