"""Keras models around transformers' TF protein language models.

>>> import tfprot
>>> model = tfprot.sequence_classifier("tiny-esm", ["cytosol", "membrane"], precision="float32")
>>> type(model).__name__, model.task.value
('ProteinModel', 'classification')

Importing this package imports TensorFlow and transformers, and changes neither: the models
tfprot builds get tfprot's ESM layers (:mod:`tfprot.models.esm_layers`), other models are
transformers' own.
"""

from tfprot.models.embeddings import Embeddings, embed
from tfprot.models.factories import (
    build_model,
    compile_model,
    load_model,
    sequence_classifier,
    sequence_regressor,
    token_classifier,
)
from tfprot.models.precision import PrecisionChoice, resolve_precision
from tfprot.models.protein_model import Prediction, ProteinModel
from tfprot.tasks import loss_for_task, metrics_for_task
from tfprot.tasks.losses import MaskedSparseCategoricalCrossentropy
from tfprot.tasks.metrics import (
    MacroF1,
    MaskedAccuracy,
    MatthewsCorrelation,
    SpearmanCorrelation,
)

__all__ = [
    "Embeddings",
    "MacroF1",
    "MaskedAccuracy",
    "MaskedSparseCategoricalCrossentropy",
    "MatthewsCorrelation",
    "PrecisionChoice",
    "Prediction",
    "ProteinModel",
    "SpearmanCorrelation",
    "build_model",
    "compile_model",
    "embed",
    "load_model",
    "loss_for_task",
    "metrics_for_task",
    "resolve_precision",
    "sequence_classifier",
    "sequence_regressor",
    "token_classifier",
]
