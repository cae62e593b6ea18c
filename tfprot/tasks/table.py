"""A task's predictions as a table: ``tfprot predict``'s CSV and ``tfprot app``'s download.

``id``, then the task's own columns (:meth:`tfprot.tasks.ProteinTask.prediction_columns`); text
a user wrote (ids, label names) made safe for spreadsheets.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Sequence

from tfprot.tasks.base import ProteinTask
from tfprot.tasks.registry import task_for

__all__ = ["FORMULA_STARTS", "prediction_table", "spreadsheet_safe", "write_prediction_csv"]


def prediction_table(
    predictions: Sequence, task: ProteinTask | str, classes: Sequence[str]
) -> tuple[list[str], list[list[str]]]:
    """The header and rows of ``tfprot predict``'s CSV (also ``tfprot app``'s download): ``id``,
    then the task's columns (:meth:`tfprot.tasks.ProteinTask.prediction_columns`).

    Args:
        predictions: ``ProteinModel.predict_sequences``'s results.
        task: ``model.task`` (or its name).
        classes: ``model.label_encoder.classes``.

    >>> from types import SimpleNamespace as P
    >>> prediction_table([P(id="=p1", label="a", probabilities={"a": 0.75, "b": 0.25})],
    ...                  "classification", ["a", "b"])
    (['id', 'label', 'probability_a', 'probability_b'], [["'=p1", 'a', '0.75', '0.25']])
    >>> prediction_table([P(id="p1", sequence="MK", label=("H", "E"))], "token", ["E", "H"])[1]
    [['p1', 'MK', 'H E']]
    """
    task, classes = task_for(task), tuple(classes)
    header = ["id", *task.prediction_columns(classes)]
    rows = [
        [spreadsheet_safe(p.id), *task.prediction_cells(p, classes, spreadsheet_safe)]
        for p in predictions
    ]
    return header, rows


def write_prediction_csv(
    path: str | os.PathLike, predictions: Sequence, task: str, classes: Sequence[str]
) -> None:
    """Write :func:`prediction_table` to ``path`` (UTF-8, atomically)."""
    from tfprot._io import open_atomic

    header, rows = prediction_table(predictions, task, classes)
    with open_atomic(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet read a cell as a formula (OWASP, "CSV Injection")."""

_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def spreadsheet_safe(text: str) -> str:
    """``text`` with a leading ``'`` when a spreadsheet would run it as a formula (it starts with
    ``=``, ``+``, ``-``, ``@``, a tab or a carriage return and is not a plain number), as OWASP
    recommends against CSV injection; otherwise unchanged.

    >>> spreadsheet_safe("=1+2"), spreadsheet_safe("@SUM(A1)"), spreadsheet_safe("\\tx")
    ("'=1+2", "'@SUM(A1)", "'\\tx")
    >>> spreadsheet_safe("sp|P69905|HBA_HUMAN"), spreadsheet_safe("-1"), spreadsheet_safe("-1+2")
    ('sp|P69905|HBA_HUMAN', '-1', "'-1+2")
    """
    if text.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text
