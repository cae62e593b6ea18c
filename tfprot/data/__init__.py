"""tfprot.data: protein records, readers, label vocabularies, tokenization and tf.data pipelines.

Nothing here imports TensorFlow until a ``tf.data`` pipeline is built, nor transformers until a
tokenizer is loaded.
"""

from tfprot.data.batching import (
    Batching,
    make_tf_dataset,
    padded_fraction,
    plain_batches_padded_fraction,
)
from tfprot.data.dataset import EXAMPLES, ProteinDataset, example_path
from tfprot.data.encoding import EncodedExamples, encode_records
from tfprot.data.fasta import iter_fasta, read_fasta
from tfprot.data.fasta_dir import read_fasta_dir
from tfprot.data.flip import read_flip
from tfprot.data.labels import IGNORE_INDEX, LabelEncoder, Task, infer_task
from tfprot.data.leakage import LeakageReport, leakage_report
from tfprot.data.memory import from_hf_dataset, from_lists
from tfprot.data.readers import FORMATS, detect_format, read_records
from tfprot.data.records import SPLITS, ProteinRecord, Source
from tfprot.data.sequences import RESIDUES, clean_sequence
from tfprot.data.splits import SplitReport, SplitResult, resolve_splits, split_records
from tfprot.data.table import read_table
from tfprot.data.tokenizer import ProteinTokenizer

__all__ = [
    "EXAMPLES",
    "FORMATS",
    "IGNORE_INDEX",
    "RESIDUES",
    "SPLITS",
    "Batching",
    "EncodedExamples",
    "LabelEncoder",
    "LeakageReport",
    "ProteinDataset",
    "ProteinRecord",
    "ProteinTokenizer",
    "Source",
    "SplitReport",
    "SplitResult",
    "Task",
    "clean_sequence",
    "detect_format",
    "encode_records",
    "example_path",
    "from_hf_dataset",
    "from_lists",
    "infer_task",
    "iter_fasta",
    "leakage_report",
    "make_tf_dataset",
    "padded_fraction",
    "plain_batches_padded_fraction",
    "read_fasta",
    "read_fasta_dir",
    "read_flip",
    "read_records",
    "read_table",
    "resolve_splits",
    "split_records",
]
