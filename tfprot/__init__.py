"""tfprot: fine-tune protein language models with TensorFlow/Keras.

>>> import tfprot
>>> data = tfprot.ProteinDataset.example()
>>> tokenizer = tfprot.ProteinTokenizer.from_pretrained("tiny-esm")
>>> batches = data.tf_dataset("train", tokenizer)

Importing tfprot is cheap and silent: it selects Keras 2 (``tf_keras``) for transformers' TF
models (``TF_USE_LEGACY_KERAS=1``) but imports neither TensorFlow, transformers nor torch; they load
when first needed.
"""

from tfprot._keras import use_legacy_keras

use_legacy_keras()

from tfprot._version import __version__  # noqa: E402
from tfprot.data import (  # noqa: E402
    Batching,
    LabelEncoder,
    LeakageReport,
    ProteinDataset,
    ProteinRecord,
    ProteinTokenizer,
    SplitReport,
    Task,
    clean_sequence,
    from_hf_dataset,
    from_lists,
    leakage_report,
    read_fasta,
    read_fasta_dir,
    read_flip,
    read_records,
    read_table,
    split_records,
)
from tfprot.errors import (  # noqa: E402
    CheckpointError,
    CpuOpsError,
    DataFileNotFoundError,
    DataFormatError,
    DistributeError,
    HubError,
    InvalidSequenceError,
    LabelError,
    MissingDependencyError,
    MMseqsError,
    NonFiniteOutputError,
    OptionError,
    PrecisionError,
    TfprotError,
    UniProtError,
)
from tfprot.presets import PRESETS  # noqa: E402
from tfprot.zeroshot import (  # noqa: E402  (no TensorFlow until a model runs)
    ContactMap,
    VariantScores,
    contacts,
    score_variants,
)

# The model API needs TensorFlow; it loads on first use so that ``import tfprot`` stays light.
_LAZY_MODELS = (
    "Embeddings",
    "Prediction",
    "ProteinModel",
    "embed",
    "load_model",
    "sequence_classifier",
    "sequence_regressor",
    "token_classifier",
)


# Folding imports torch only when a model runs; still loaded on first use. ``tfprot.fold`` is
# the subpackage (its function is ``tfprot.fold.fold``), so the function is not re-exported.
_LAZY_FOLD = ("FoldOptions", "FoldReport", "load_esmfold")


def __getattr__(name: str):
    if name in _LAZY_MODELS:
        import tfprot.models

        return getattr(tfprot.models, name)
    if name in _LAZY_FOLD:
        import tfprot.fold

        return getattr(tfprot.fold, name)
    raise AttributeError(f"module 'tfprot' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "PRESETS",
    "Batching",
    "CheckpointError",
    "ContactMap",
    "CpuOpsError",
    "DataFileNotFoundError",
    "DataFormatError",
    "DistributeError",
    "Embeddings",
    "FoldOptions",
    "FoldReport",
    "HubError",
    "InvalidSequenceError",
    "LabelEncoder",
    "LabelError",
    "LeakageReport",
    "MMseqsError",
    "MissingDependencyError",
    "NonFiniteOutputError",
    "OptionError",
    "PrecisionError",
    "Prediction",
    "ProteinDataset",
    "ProteinModel",
    "ProteinRecord",
    "ProteinTokenizer",
    "SplitReport",
    "Task",
    "TfprotError",
    "UniProtError",
    "VariantScores",
    "__version__",
    "clean_sequence",
    "contacts",
    "embed",
    "from_hf_dataset",
    "from_lists",
    "leakage_report",
    "load_esmfold",
    "load_model",
    "read_fasta",
    "read_fasta_dir",
    "read_flip",
    "read_records",
    "read_table",
    "score_variants",
    "sequence_classifier",
    "sequence_regressor",
    "split_records",
    "token_classifier",
]
