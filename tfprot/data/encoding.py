"""Encode records into token ids and targets, with per-residue labels aligned to tokens.

Residue ``i`` (0-based) of a sequence is token ``tokenizer.residue_offset + i``: the ``<cls>`` (or
``[CLS]``) token comes first. Per-residue targets therefore start with ``IGNORE_INDEX`` on the
special token; putting residue ``i``'s label on token ``i``, as a widely copied notebook does, shifts
every label by one residue. Special tokens, padding, masked (unresolved) residues and residues cut
off by truncation all get ``IGNORE_INDEX`` (-100).

Sequences longer than ``max_length`` tokens are truncated (their first residues kept, the closing
special token kept) and counted; the count is logged. For training tfprot truncates rather than
windowing per-residue tasks: every record stays one example, the epoch does not grow with long
chains, and the residues beyond the cut do not count in loss or metrics (the log says how many
records were cut). Prediction and embeddings do not truncate per-residue outputs: they run long
sequences in overlapping windows and stitch them back (``tfprot.models.protein_model``), so every
residue gets an output.

>>> from tfprot.data.memory import from_lists
>>> from tfprot.data.labels import LabelEncoder
>>> from tfprot.data.tokenizer import ProteinTokenizer
>>> records = from_lists(["MKT"], residue_labels=["HEC"], masks=[[1, 0, 1]])
>>> encoder = LabelEncoder("token", ("C", "E", "H"))
>>> encoded = encode_records(records, ProteinTokenizer.from_pretrained("tiny-esm"), encoder)
>>> encoded.input_ids[0].tolist(), encoded.labels[0].tolist()
([0, 20, 15, 11, 2], [-100, 2, -100, 0, -100])
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tfprot.data.labels import IGNORE_INDEX, LabelEncoder
from tfprot.data.records import ProteinRecord
from tfprot.data.tokenizer import ProteinTokenizer
from tfprot.errors import DataFormatError
from tfprot.tasks import ProteinTask

__all__ = ["EncodedExamples", "encode_records"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EncodedExamples:
    """Token ids and targets of a list of records, in record order.

    Attributes:
        ids: record ids.
        input_ids: one int32 array per record, special tokens included.
        labels: targets (``None`` when encoded without labels): one array per record for token
            tasks, else one stacked array (``[N]`` class ids or values, ``[N, C]`` multi-hot).
        task: the task, or ``None`` without labels.
        pad_id: the tokenizer's padding id.
        truncated: how many records were cut to ``max_length``.
        max_length: the token limit applied.
    """

    ids: tuple[str, ...]
    input_ids: tuple[np.ndarray, ...]
    labels: tuple[np.ndarray, ...] | np.ndarray | None
    task: ProteinTask | None
    pad_id: int
    truncated: int
    max_length: int

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def lengths(self) -> np.ndarray:
        """Token count of each example (special tokens included)."""
        return np.fromiter(
            (len(ids) for ids in self.input_ids), dtype=np.int64, count=len(self.ids)
        )


def encode_records(
    records: Sequence[ProteinRecord],
    tokenizer: ProteinTokenizer,
    label_encoder: LabelEncoder | None = None,
    *,
    max_length: int | None = None,
) -> EncodedExamples:
    """Tokenize records and encode their targets.

    Args:
        records: validated records.
        tokenizer: the checkpoint's tokenizer.
        label_encoder: the label vocabulary; ``None`` encodes inputs only (for prediction).
        max_length: token limit; default ``tokenizer.max_length`` (and never above it).

    Raises:
        DataFormatError: no records, or a ``max_length`` too small for any residue.
        LabelError: a missing or unknown label, naming the record.
    """
    if not records:
        raise DataFormatError("No records to encode: the split or input is empty.")
    limit = min(max_length or tokenizer.max_length, tokenizer.max_length)
    keep_residues = limit - len(tokenizer.prefix) - len(tokenizer.suffix)
    if keep_residues < 1:
        raise DataFormatError(f"max_length {limit} leaves no room for residues.")
    task = label_encoder.task if label_encoder else None
    input_ids, labels = [], []
    truncated = 0
    for record in records:
        residues = tokenizer.encode(record.sequence, add_special_tokens=False)
        if len(residues) > keep_residues:
            truncated += 1
            residues = residues[:keep_residues]
        input_ids.append(
            np.concatenate([tokenizer.prefix, residues, tokenizer.suffix]).astype(np.int32)
        )
        if label_encoder is None:
            continue
        target = label_encoder.encode(record)
        if task.per_residue:  # residue i's target on token residue_offset + i
            aligned = np.full(len(input_ids[-1]), IGNORE_INDEX, dtype=np.int32)
            start = tokenizer.residue_offset
            aligned[start : start + len(residues)] = target[: len(residues)]
            target = aligned
        labels.append(target)
    if truncated:
        logger.warning(
            "%d of %d sequences are longer than %d residues (max_length %d tokens) and were "
            "truncated; residues past the cut do not count.",
            truncated,
            len(records),
            keep_residues,
            limit,
        )
    stacked: tuple[np.ndarray, ...] | np.ndarray | None
    if label_encoder is None:
        stacked = None
    elif task.per_residue:  # one array per record: their lengths differ
        stacked = tuple(labels)
    else:
        stacked = np.stack(labels)
    return EncodedExamples(
        ids=tuple(r.id for r in records),
        input_ids=tuple(input_ids),
        labels=stacked,
        task=task,
        pad_id=int(tokenizer.pad_id),
        truncated=truncated,
        max_length=limit,
    )
