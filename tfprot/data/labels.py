"""The label vocabulary that turns record labels into model targets, and task inference.

The vocabulary is built deterministically (classes sorted by name) from the training records and
travels with the data and, later, with the model as ``id2label``/``label2id``. A label that is not
in it is an error at encoding time, never a new class. What a label means (one class, several,
a number, one class per residue) is its task's (:mod:`tfprot.tasks`).

>>> from tfprot.data.memory import from_lists
>>> train = from_lists(["MKTAY", "GGSW", "MKKL"], labels=["membrane", "cytosol", "membrane"])
>>> encoder = LabelEncoder.fit(train, "classification")
>>> encoder.classes, encoder.encode(train[0]).item()
(('cytosol', 'membrane'), 1)
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tfprot.data.records import ProteinRecord
from tfprot.errors import LabelError
from tfprot.tasks import IGNORE_INDEX, ProteinTask, Task, task_for
from tfprot.tasks.regression import as_number

__all__ = ["IGNORE_INDEX", "LabelEncoder", "Task", "infer_task"]

logger = logging.getLogger(__name__)


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
        numbers = [as_number(r.label) for r in labelled]
        if all(n is not None for n in numbers) and (
            any(not float(n).is_integer() for n in numbers) or len(set(numbers)) > 20
        ):
            task = Task.REGRESSION
        else:
            task = Task.CLASSIFICATION
    logger.info("Task not given; the labels look like %r.", task.value)
    return task


@dataclass(frozen=True)
class LabelEncoder:
    """Maps the labels of a task to model targets and back.

    Attributes:
        task: the task (:class:`~tfprot.tasks.ProteinTask`; a name or :class:`Task` is accepted).
        classes: class names in target order (empty for regression).
        separator: splits a multi-label string (``'A;B'``).
    """

    task: ProteinTask
    classes: tuple[str, ...] = ()
    separator: str = ";"

    def __post_init__(self) -> None:
        object.__setattr__(self, "task", task_for(self.task))
        object.__setattr__(self, "classes", tuple(self.classes))
        self.task.check_classes(self.classes)
        if len(set(self.classes)) != len(self.classes):
            raise LabelError(f"Duplicate class names in {list(self.classes)}.")
        object.__setattr__(self, "_index", {name: i for i, name in enumerate(self.classes)})

    @classmethod
    def fit(
        cls,
        records: Iterable[ProteinRecord],
        task: ProteinTask | Task | str,
        *,
        separator: str = ";",
    ) -> LabelEncoder:
        """Build the vocabulary from (training) records: every class seen, sorted by name.

        Residues whose mask is 0 do not add classes.
        """
        task = task_for(task)
        records = list(records)
        names: set[str] = set()
        for record in records:
            names.update(task.class_names(record, separator))
        if len(names) < task.min_classes:
            raise LabelError(_too_few_classes(records, task, sorted(names)))
        return cls(task, tuple(sorted(names)), separator)

    @property
    def num_labels(self) -> int:
        """Number of model outputs: classes, or 1 for regression."""
        return len(self.task.output_names(self.classes))

    @property
    def id2label(self) -> dict[int, str]:
        """``{0: 'first class', ...}`` as transformers configs hold it."""
        return dict(enumerate(self.task.output_names(self.classes)))

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
        return self.task.encode(record, self)

    def decode(self, index: int) -> str:
        """Class name of a target index."""
        return self.classes[int(index)]

    def class_index(self, name: str, record: ProteinRecord, at: str = "") -> int:
        """The target index of class ``name`` of ``record`` (``at``: where in the record, for the
        message).

        Raises:
            LabelError: a class the vocabulary lacks, naming the record and the known classes.
        """
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
        return {"task": self.task.name, "classes": list(self.classes), "separator": self.separator}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LabelEncoder:
        """>>> LabelEncoder.from_dict(LabelEncoder("token", ("C", "E", "H")).to_dict()).classes
        ('C', 'E', 'H')
        """
        return cls(data["task"], tuple(data.get("classes", ())), data.get("separator", ";"))


def _too_few_classes(records: list[ProteinRecord], task: ProteinTask, names: list[str]) -> str:
    """Why a vocabulary fitted on ``records`` is too small: the files, the label column, advice."""
    paths = list(dict.fromkeys(r.source.path for r in records if r.source and r.source.path))
    files = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
    columns = list(dict.fromkeys(r.source.label_column for r in records if r.source))
    column = columns[0] if len(columns) == 1 and columns[0] else None
    what = "per-residue label" if task.per_residue else "label"
    found = f"the same {what} {names[0]!r}" if names else f"no {what} that counts"
    where = f" (label column {column!r})" if column else ""
    if column:
        advice = (
            "Check that this is the label column (name another with --label-column, or "
            "label_column=) and that the file holds every class"
        )
    elif task.per_residue:
        advice = "Check that the labels file (and its mask) belong to this data"
    else:
        advice = (
            "Check that the data holds every class (a folder needs one FASTA file per class; a "
            "single FASTA file carries no labels)"
        )
    return (
        f"{files or 'the records'}: every training record ({len(records)}) has {found}{where}, "
        f"but a {task.name} task needs at least {task.classes_needed}. {advice}; for numeric targets use "
        "the regression task."
    )
