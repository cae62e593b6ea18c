"""tfprot.tasks: one class per kind of prediction, and the registry of them by name.

Each task (:class:`ProteinTask`) owns what its kind of prediction means everywhere in tfprot:
how a label encodes, the head, the loss and metrics, decoding predictions, the baseline and the
model card's words. The rest of tfprot asks ``task_for(name)`` and never branches on a name.

Importing this package imports neither TensorFlow nor transformers: the methods that need them
import them.

>>> task_for("multilabel").problem_type
'multi_label_classification'
"""

from tfprot.tasks.base import IGNORE_INDEX, LabelledRecord, ProteinTask, Vocabulary
from tfprot.tasks.classification import SequenceClassification
from tfprot.tasks.multilabel import MultiLabelClassification
from tfprot.tasks.registry import (
    Task,
    loss_for_task,
    metrics_for_task,
    register,
    task_for,
    task_names,
)
from tfprot.tasks.regression import SequenceRegression
from tfprot.tasks.token import TokenClassification

__all__ = [
    "IGNORE_INDEX",
    "LabelledRecord",
    "MultiLabelClassification",
    "ProteinTask",
    "SequenceClassification",
    "SequenceRegression",
    "Task",
    "TokenClassification",
    "Vocabulary",
    "loss_for_task",
    "metrics_for_task",
    "register",
    "task_for",
    "task_names",
]
