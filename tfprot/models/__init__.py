"""Keras models around transformers' TF protein language models.

>>> import tfprot
>>> model = tfprot.sequence_classifier("tiny-esm", ["cytosol", "membrane"], precision="float32")
>>> type(model).__name__, model.task.value
('ProteinModel', 'classification')

Importing this package imports TensorFlow and patches transformers' TF ESM for mixed precision
(:mod:`tfprot.models.esm_fixes`) and for speed (:mod:`tfprot.models.esm_fast`).
"""

from tfprot.models import esm_fast, esm_fixes

esm_fixes.apply()
esm_fast.apply()

from tfprot.models.embeddings import Embeddings, embed  # noqa: E402
from tfprot.models.factories import (  # noqa: E402
    build_model,
    compile_model,
    load_model,
    sequence_classifier,
    sequence_regressor,
    token_classifier,
)
from tfprot.models.precision import PrecisionChoice, resolve_precision  # noqa: E402
from tfprot.models.protein_model import Prediction, ProteinModel  # noqa: E402
from tfprot.tasks import loss_for_task, metrics_for_task  # noqa: E402
from tfprot.tasks.losses import MaskedSparseCategoricalCrossentropy  # noqa: E402
from tfprot.tasks.metrics import (  # noqa: E402
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
