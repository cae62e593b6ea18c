"""The tasks tfprot knows, by name: ``--task`` of ``tfprot train``, ``"task"`` in ``tfprot.json``.

>>> task_for("regression")
<SequenceRegression 'regression'>
>>> task_for(Task.TOKEN) is task_for("token")
True
>>> task_names()
('classification', 'multilabel', 'regression', 'token')
"""

from __future__ import annotations

from enum import Enum

from tfprot.errors import LabelError
from tfprot.tasks.base import ProteinTask
from tfprot.tasks.classification import SequenceClassification
from tfprot.tasks.multilabel import MultiLabelClassification
from tfprot.tasks.regression import SequenceRegression
from tfprot.tasks.token import TokenClassification

__all__ = ["Task", "loss_for_task", "metrics_for_task", "register", "task_for", "task_names"]

_TASKS: dict[str, ProteinTask] = {}


def register(task: ProteinTask) -> ProteinTask:
    """Make ``task`` known by its name (to :func:`task_for`, the data sets, the factories, the
    CLI's ``--task``); returns it. Refuses a name already taken by another task."""
    known = _TASKS.get(task.name)
    if known is not None and type(known) is not type(task):
        raise LabelError(f"The task name {task.name!r} is taken by {known!r}.")
    _TASKS[task.name] = task
    return task


for _task in (
    SequenceClassification(),
    MultiLabelClassification(),
    SequenceRegression(),
    TokenClassification(),
):
    register(_task)


class Task(str, Enum):
    """tfprot's built-in tasks by name (``task_for`` gives the :class:`ProteinTask`)."""

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


def task_for(task: ProteinTask | Task | str) -> ProteinTask:
    """The registered task of a name, a :class:`Task` or a :class:`ProteinTask`.

    Raises:
        LabelError: an unknown name, naming the known ones.
    """
    if isinstance(task, ProteinTask):
        return task
    name = task.value if isinstance(task, Task) else str(task).strip().lower()
    found = _TASKS.get(name)
    if found is None:
        raise LabelError(f"Unknown task {task!r}. Expect one of {list(_TASKS)}.")
    return found


def task_names() -> tuple[str, ...]:
    """The names of the registered tasks, in registration order."""
    return tuple(_TASKS)


def loss_for_task(task: ProteinTask | Task | str):
    """The default loss of a task (from logits, never probabilities): ``task_for(task).loss()``.

    >>> type(loss_for_task("token")).__name__
    'MaskedSparseCategoricalCrossentropy'
    """
    return task_for(task).loss()


def metrics_for_task(task: ProteinTask | Task | str, num_labels: int, **options) -> list:
    """The default metrics of a task (pass them to ``compile`` as ``weighted_metrics``):
    ``task_for(task).metrics(num_labels, **options)``.

    >>> [m.name for m in metrics_for_task("token", 3)]
    ['accuracy', 'macro_f1', 'token_cross_entropy']
    """
    return task_for(task).metrics(num_labels, **options)
