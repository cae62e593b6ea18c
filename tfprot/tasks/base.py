"""``ProteinTask``: one kind of prediction, from a record's label to the model card's words.

A task is the one place that knows, for its kind of prediction:

- the targets: which class names a record brings to the vocabulary, how its label encodes (dtype,
  shape, per residue or not), what pads it, how a random split keeps its balance;
- the model: transformers' head (``TFAutoModelFor{head}``), the head's config, the loss, the
  metrics, the model's output from the head's logits and their probabilities;
- the words: decoding logits into label names, the baseline a model must beat and how to say
  it, the prediction table's columns, the model card's output section, pipeline tag and tags.

The rest of tfprot asks the task and never branches on its name. Tasks are stateless: the
registry (:mod:`tfprot.tasks.registry`) holds one instance of each. This module imports neither
TensorFlow nor anything of tfprot but its errors: the data side uses tasks without TensorFlow,
and the methods that need Keras import it (and :mod:`tfprot.tasks.losses`, ``metrics``) when
called.

>>> from tfprot.tasks import task_for
>>> task = task_for("token")
>>> task.name, task.per_residue, task.head
('token', True, 'TokenClassification')
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, ClassVar, Protocol

import numpy as np

from tfprot.errors import LabelError

__all__ = ["IGNORE_INDEX", "LabelledRecord", "ProteinTask", "Vocabulary", "label_names"]

IGNORE_INDEX = -100
"""Target of a token that does not count: special tokens, padding, unresolved residues."""


class LabelledRecord(Protocol):
    """What a task reads of a record (:class:`tfprot.data.ProteinRecord` has it)."""

    label: Any
    residue_labels: Any
    mask: Any

    @property
    def where(self) -> str:
        """The record in words, for messages (file, line, id)."""


class Vocabulary(Protocol):
    """What a task reads of a label vocabulary (:class:`tfprot.data.LabelEncoder` has it)."""

    classes: tuple[str, ...]
    separator: str

    def class_index(self, name: str, record: LabelledRecord, at: str = "") -> int:
        """The target index of class ``name``; a :class:`LabelError` naming the record if it is
        not in the vocabulary."""


_COUNTS = {1: "one class", 2: "two classes"}


class ProteinTask(ABC):
    """Base of tfprot's tasks. A subclass sets the class attributes and implements
    :meth:`class_names`, :meth:`encode`, :meth:`target_summary`, :meth:`baseline`,
    :meth:`describe_baseline`, :meth:`loss`, :meth:`metrics` and :meth:`decode`; the other
    methods have defaults for a sequence-level head with one output per class.

    A task equals its name (and so the :class:`~tfprot.tasks.Task` member of that name):
    ``model.task == "token"``.
    """

    name: ClassVar[str]
    """The task's name: ``--task`` of ``tfprot train``, ``"task"`` in ``tfprot.json``."""
    description: ClassVar[str]
    """The model in words: 'sequence classifier (one class per protein)'."""
    baseline_what: ClassVar[str]
    """The baseline's constant prediction in words (``metrics.json``, the model card)."""
    head: ClassVar[str] = "SequenceClassification"
    """transformers' head: ``TFAutoModelFor{head}``, ``TFEsmFor{head}``, ``AutoModelFor{head}``."""
    problem_type: ClassVar[str | None] = None
    """transformers' ``problem_type`` of the head config, if the task sets one."""
    per_residue: ClassVar[bool] = False
    """One target (and output) per residue rather than per sequence."""
    min_classes: ClassVar[int] = 2
    """The fewest classes the vocabulary may have."""
    label_padding: ClassVar[Any] = np.int32(0)
    """What pads targets in a batch (per-residue targets: :data:`IGNORE_INDEX`)."""
    factory: ClassVar[str | None] = None
    """The factory that builds a model of the task, for messages (default: ``build_model``)."""
    pipeline_tag: ClassVar[str] = "text-classification"
    """The 🤗 Hub pipeline of the model (transformers' sequence heads also do regression)."""
    hub_tags: ClassVar[tuple[str, ...]] = ()
    """Tags of the model card beside ``tfprot-<name>``."""
    confusion_matrix: ClassVar[bool] = False
    """One class per sequence: ``tfprot train`` draws the test split's confusion matrix."""

    # -- identity ------------------------------------------------------------------------------
    @property
    def value(self) -> str:
        """The name, as :class:`~tfprot.tasks.Task`'s members have it (so code written when
        ``model.task`` was a ``Task`` keeps working)."""
        return self.name

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ProteinTask):
            return self.name == other.name
        if isinstance(other, str):  # a name, or a Task member (a str)
            return self.name == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

    @property
    def builder(self) -> str:
        """How a user builds a model of this task, for messages."""
        return self.factory or f"build_model(checkpoint, {self.name!r}, labels)"

    # -- labels and targets (numpy only) -------------------------------------------------------
    @property
    def classes_needed(self) -> str:
        """:attr:`min_classes` in words: 'two classes'."""
        return _COUNTS.get(self.min_classes, f"{self.min_classes} classes")

    def check_classes(self, classes: tuple[str, ...]) -> None:
        """Refuse a vocabulary too small for the task."""
        if len(classes) < self.min_classes:
            raise LabelError(
                f"A {self.name} task needs at least {self.classes_needed}, got {list(classes)}. "
                "Check the label column, or use a regression task for numbers."
            )

    @abstractmethod
    def class_names(self, record: LabelledRecord, separator: str) -> Iterable[str]:
        """The class names ``record`` brings to a vocabulary fitted on it."""

    @abstractmethod
    def encode(self, record: LabelledRecord, vocabulary: Vocabulary) -> np.ndarray:
        """The target of one record; a :class:`LabelError` naming it if its label is missing,
        unknown or invalid."""

    def stratify_key(self, separator: str) -> Callable[[LabelledRecord], Hashable] | None:
        """What a seeded random split keeps the proportions of (``None``: nothing)."""
        return None

    @abstractmethod
    def target_summary(self, targets: Sequence[np.ndarray], classes: tuple[str, ...]) -> dict:
        """Counts per class (or statistics) of encoded targets, for data summaries."""

    @abstractmethod
    def baseline(
        self,
        train: Sequence[np.ndarray],
        test: Sequence[np.ndarray],
        classes: tuple[str, ...],
    ) -> dict[str, Any]:
        """Scores on ``test`` of the constant prediction learnt from ``train`` (targets)."""

    @abstractmethod
    def describe_baseline(self, baseline: dict[str, Any]) -> str:
        """:meth:`baseline`'s result in words."""

    # -- the model (TensorFlow imported when called) ---------------------------------------------
    def output_names(self, classes: tuple[str, ...]) -> tuple[str, ...]:
        """The head's outputs (its ``id2label``): one per class by default."""
        return tuple(classes)

    def head_config(self, classes: tuple[str, ...]) -> dict[str, Any]:
        """transformers' config values of the head: ``num_labels``, ``id2label``...

        >>> from tfprot.tasks import task_for
        >>> task_for("regression").head_config(())
        {'num_labels': 1, 'id2label': {0: 'target'}, 'label2id': {'target': 0}, 'problem_type': 'regression'}
        """
        names = self.output_names(classes)
        config: dict[str, Any] = {
            "num_labels": len(names),
            "id2label": dict(enumerate(names)),
            "label2id": {name: index for index, name in enumerate(names)},
        }
        if self.problem_type:
            config["problem_type"] = self.problem_type
        return config

    @abstractmethod
    def loss(self):
        """The Keras loss (from float32 logits)."""

    @abstractmethod
    def metrics(self, num_labels: int) -> list:
        """The Keras metrics, for ``compile(weighted_metrics=...)``."""

    def outputs(self, logits):
        """The model's output from the head's float32 logits (a tensor)."""
        return logits

    def probabilities(self, logits):
        """Probabilities of the model's outputs, in TensorFlow (for SavedModel serving)."""
        import tensorflow as tf

        return tf.nn.softmax(logits, axis=-1)

    @abstractmethod
    def decode(
        self, logits: np.ndarray, vocabulary: Vocabulary, *, threshold: float = 0.5
    ) -> tuple[Any, Any]:
        """``(label, probabilities)`` of one sequence's logits (see
        :class:`tfprot.models.Prediction`)."""

    # -- words ---------------------------------------------------------------------------------
    def card_output(self, classes: tuple[str, ...]) -> list[str]:
        """The model card's section on what the model outputs (Markdown lines)."""
        if not classes:
            return []
        where = "per residue" if self.per_residue else "per sequence"
        lines = ["## Labels", "", f"{len(classes)} classes, predicted {where}:", ""]
        lines += [f"- `{index}`: `{label}`" for index, label in enumerate(classes)]
        return [*lines, ""]

    def prediction_columns(self, classes: tuple[str, ...]) -> list[str]:
        """The columns after ``id`` of a prediction table (``tfprot predict``'s CSV)."""
        return ["label", *(f"probability_{name}" for name in classes)]

    def prediction_cells(
        self, prediction: Any, classes: tuple[str, ...], text: Callable[[str], str]
    ) -> list[str]:
        """A prediction's cells under :meth:`prediction_columns`; ``text`` makes a user's text
        (label names) safe for the table."""
        return [
            text(prediction.label),
            *(f"{prediction.probabilities[name]:.6g}" for name in classes),
        ]

    def show(self, label: Any) -> str:
        """A predicted label in a line of text."""
        return label if isinstance(label, str) else " ".join(map(str, label))

    # -- the web page (tfprot app) and its /predict API -----------------------------------------
    shows_chart: ClassVar[bool] = False
    """Whether ``tfprot app`` draws a probability bar chart (rows from :meth:`chart_rows`)."""
    shows_residues: ClassVar[bool] = False
    """Whether ``tfprot app`` colours the residues by their predicted class."""
    chart_x: ClassVar[str] = "id"
    """The chart's bars: one per sequence (``'id'``, its classes stacked) or one per sequence
    and class (``'bar'``)."""

    def answer(self, prediction: Any) -> str:
        """One sequence's answer in a few words (the page's summary)."""
        return self.show(prediction.label)

    def api_record(self, prediction: Any) -> dict[str, Any]:
        """One sequence's JSON in the ``/predict`` API."""
        return {"id": prediction.id, "label": self.show(prediction.label)}

    def chart_rows(self, predictions: Sequence[Any]) -> list[dict[str, Any]]:
        """Rows ``(id, class, probability, bar)`` of the page's probability chart."""
        return []


def label_names(record: LabelledRecord, separator: str | None) -> tuple[str, ...]:
    """The class names of a record's label: a tuple's items, a string split at ``separator``
    (``None``: the whole string; an integral float ``1.0`` reads ``'1'``), stripped.

    >>> from tfprot.data import from_lists
    >>> label_names(from_lists(["MKT"], ["a; b"])[0], ";"), label_names(from_lists(["MKT"], [2.0])[0], None)
    (('a', 'b'), ('2',))
    """
    label = record.label
    if label is None:
        raise LabelError(
            f"{record.where}: no label. Every training and evaluation record needs one."
        )
    if isinstance(label, tuple):
        names = tuple(str(name).strip() for name in label)
    elif separator is not None:
        names = tuple(part.strip() for part in str(label).split(separator))
    elif isinstance(label, float) and label.is_integer():
        names = (str(int(label)),)
    else:
        names = (str(label).strip(),)
    names = tuple(name for name in names if name)
    if not names:
        raise LabelError(f"{record.where}: empty label {label!r}.")
    return names


def class_probabilities(prediction: Any) -> dict[str, float]:
    """A prediction's probability per class, JSON-ready (names as text, 6 decimals).

    >>> from types import SimpleNamespace as P
    >>> class_probabilities(P(probabilities={"a": np.float32(0.25), 1: 0.7500001}))
    {'a': 0.25, '1': 0.75}
    """
    return {str(name): round(float(value), 6) for name, value in prediction.probabilities.items()}


def probability_chart_rows(predictions: Sequence[Any]) -> list[dict[str, Any]]:
    """One chart row ``(id, class, probability, bar)`` per sequence and class."""
    return [
        {"id": p.id, "class": name, "probability": value, "bar": f"{p.id} {name}"}
        for p in predictions
        for name, value in class_probabilities(p).items()
    ]


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, in numpy.

    >>> softmax(np.log(np.array([1.0, 3.0]))).tolist()
    [0.25, 0.75]
    """
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)
