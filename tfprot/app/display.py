"""Predictions → what the page shows and what the ``/predict`` API returns, per task type.

Everything that depends on the task lives here, one class per task (keyed on
``model.task.value``), so that it can move into the task classes later: the one-line answer per
sequence, whether the page draws a probability chart or coloured residues, the chart's rows and
the API's JSON.

>>> from types import SimpleNamespace as P
>>> view = view_for("classification")
>>> p = P(id="p1", sequence="MKT", label="membrane", probabilities={"cytosol": 0.25, "membrane": 0.75})
>>> view.answer(p), view.chart, view.residues
('membrane (75%)', True, False)
>>> view.record(p)
{'id': 'p1', 'label': 'membrane', 'probabilities': {'cytosol': 0.25, 'membrane': 0.75}}
>>> [(row["class"], row["probability"]) for row in view.chart_rows([p])]
[('cytosol', 0.25), ('membrane', 0.75)]
>>> view_for("token").answer(P(id="p1", sequence="MKTAY", label="HHHEC", probabilities=None))
'5 residues: H 60%, E 20%, C 20%'
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any, ClassVar

__all__ = ["TaskView", "markdown_text", "summary_markdown", "view_for"]


class TaskView:
    """How one task's predictions are shown (the base: a label per sequence)."""

    task: ClassVar[str] = ""
    chart: ClassVar[bool] = False
    """Whether the page draws a probability bar chart."""
    residues: ClassVar[bool] = False
    """Whether the page colours the residues by their predicted class."""
    chart_x: ClassVar[str] = "id"
    """The chart's bars: one per sequence (``'id'``, its classes stacked) or one per sequence
    and class (``'bar'``)."""

    def answer(self, prediction: Any) -> str:
        """The answer for one sequence, in a few words."""
        return str(prediction.label)

    def record(self, prediction: Any) -> dict[str, Any]:
        """The API's JSON for one sequence."""
        return {"id": prediction.id, "label": str(prediction.label)}

    def chart_rows(self, predictions: Sequence[Any]) -> list[dict[str, Any]]:
        """Rows ``(id, class, probability)`` of the probability chart."""
        return []


class ClassificationView(TaskView):
    """One class per sequence, a probability per class."""

    task = "classification"
    chart = True

    def answer(self, prediction: Any) -> str:
        return f"{prediction.label} ({prediction.probabilities[prediction.label]:.0%})"

    def record(self, prediction: Any) -> dict[str, Any]:
        return {
            "id": prediction.id,
            "label": prediction.label,
            "probabilities": _probabilities(prediction),
        }

    def chart_rows(self, predictions: Sequence[Any]) -> list[dict[str, Any]]:
        return [
            {"id": p.id, "class": name, "probability": value, "bar": f"{p.id} {name}"}
            for p in predictions
            for name, value in _probabilities(p).items()
        ]


class MultilabelView(ClassificationView):
    """Any number of classes per sequence (those above the threshold), a probability per class."""

    task = "multilabel"
    chart_x = "bar"  # the probabilities of a sequence's classes need not add up to 1

    def answer(self, prediction: Any) -> str:
        return str(prediction.label) or "no class above the threshold"


class RegressionView(TaskView):
    """One number per sequence."""

    task = "regression"

    def answer(self, prediction: Any) -> str:
        return f"{float(prediction.label):.4g}"

    def record(self, prediction: Any) -> dict[str, Any]:
        return {"id": prediction.id, "value": float(prediction.label)}


class TokenView(TaskView):
    """One class per residue, shown as coloured residues with a legend."""

    task = "token"
    residues = True

    def answer(self, prediction: Any) -> str:
        labels = list(prediction.label)
        counts = Counter(labels)
        shares = ", ".join(
            f"{name} {count / len(labels):.0%}" for name, count in counts.most_common()
        )
        return f"{len(labels)} residues: {shares}"

    def record(self, prediction: Any) -> dict[str, Any]:
        return {
            "id": prediction.id,
            "sequence": prediction.sequence,
            "residue_labels": [str(label) for label in prediction.label],
        }


VIEWS: dict[str, TaskView] = {
    view.task: view
    for view in (ClassificationView(), MultilabelView(), RegressionView(), TokenView())
}
"""The view of each task, by ``model.task.value``."""


def view_for(task: str) -> TaskView:
    """The view of ``task`` (``model.task.value``); a task the app does not know yet (one
    registered by a user) gets the plain view: its label per sequence, no chart.

    >>> type(view_for("token")).__name__, type(view_for("binary")).__name__
    ('TokenView', 'TaskView')
    """
    return VIEWS.get(task, PLAIN)


PLAIN = TaskView()
"""The view of a task without its own: the label as text."""


def _probabilities(prediction: Any) -> dict[str, float]:
    return {str(name): round(float(value), 6) for name, value in prediction.probabilities.items()}


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~])")


def markdown_text(text: str) -> str:
    """``text`` with Markdown's special characters escaped (ids come from users).

    >>> markdown_text("sp|P1|*x*")
    'sp\\\\|P1\\\\|\\\\*x\\\\*'
    """
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def summary_markdown(view: TaskView, predictions: Sequence[Any]) -> str:
    """The answers as a Markdown list, one line per sequence."""
    return "\n".join(
        f"- **{markdown_text(p.id)}**: {markdown_text(view.answer(p))}" for p in predictions
    )
