"""Predictions → the page's Markdown: user text made safe, the one-line answers.

What each task shows (its answer per sequence, whether the page draws a probability chart or
coloured residues, the chart's rows, the API's JSON) is the task's own: see the "web page"
methods of :class:`tfprot.tasks.ProteinTask`.

>>> from types import SimpleNamespace as P
>>> from tfprot.tasks import task_for
>>> p = P(id="p|1", sequence="MKT", label="membrane", probabilities={"cytosol": 0.25, "membrane": 0.75})
>>> print(summary_markdown(task_for("classification"), [p]))
- **p\\|1**: membrane \\(75%\\)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

__all__ = ["markdown_text", "summary_markdown"]

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~])")


def markdown_text(text: str) -> str:
    """``text`` with Markdown's special characters escaped (ids come from users).

    >>> markdown_text("sp|P1|*x*")
    'sp\\\\|P1\\\\|\\\\*x\\\\*'
    """
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def summary_markdown(task: Any, predictions: Sequence[Any]) -> str:
    """The answers as a Markdown list, one line per sequence (``task``: a
    :class:`tfprot.tasks.ProteinTask`)."""
    return "\n".join(
        f"- **{markdown_text(p.id)}**: {markdown_text(task.answer(p))}" for p in predictions
    )
