"""Inference plumbing shared by prediction and embeddings.

Sequences are encoded with the checkpoint's tokenizer, sorted by length and padded in batches under
a token budget and a length ratio (:func:`run_batches`); one compiled forward pass (:data:`BATCH_SIGNATURE`) serves
every batch shape. Per-residue outputs drop special tokens and padding; sequences longer than the
model run in overlapping windows stitched back (:func:`residue_windows`). Outputs come back in
input order. A progress bar is shown on long work when stderr is a terminal or a notebook
(``progress=None``), and can be forced on or off.
"""

from __future__ import annotations

import itertools
import logging
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from tfprot.data.batching import length_sorted_batches, pad_batch
from tfprot.data.encoding import encode_records
from tfprot.data.records import ProteinRecord
from tfprot.data.tokenizer import ProteinTokenizer
from tfprot.errors import DataFormatError

__all__ = [
    "BATCH_SIGNATURE",
    "hidden_states",
    "progress_bar",
    "residue_outputs",
    "residue_windows",
    "run_batches",
    "sequence_outputs",
]

logger = logging.getLogger(__name__)

BATCH_SIGNATURE = [
    {
        "input_ids": tf.TensorSpec([None, None], tf.int32, name="input_ids"),
        "attention_mask": tf.TensorSpec([None, None], tf.int32, name="attention_mask"),
    }
]
"""The inference batch every compiled forward pass takes: one trace serves every batch shape."""

Forward = Callable[[dict[str, np.ndarray]], np.ndarray]

MAX_LENGTH_RATIO = 1.1
"""An inference batch's longest sequence is at most this times its shortest: with the default
16,384-token budget, length-sorted batches alone pad 16% of a typical protein set (lengths
80-500), these 4%."""


def hidden_states(transformer, batch) -> tf.Tensor:
    """The float32 last hidden states ``[batch, tokens, hidden]`` of a transformers model's
    encoder (any head: its main layer is used)."""
    prefix = getattr(transformer, "base_model_prefix", "")
    main = getattr(transformer, prefix, None) or transformer
    outputs = main(
        input_ids=tf.cast(batch["input_ids"], tf.int32),
        attention_mask=tf.cast(batch["attention_mask"], tf.int32),
        return_dict=True,
        training=False,
    )
    return tf.cast(outputs.last_hidden_state, tf.float32)


def residue_windows(length: int, size: int, overlap: int) -> list[tuple[int, int, int]]:
    """Overlapping windows of ``size`` residues that cover a sequence of ``length`` residues.

    Returns one ``(start, keep_from, keep_to)`` per window: the window holds residues
    ``[start, start + size)`` and supplies the outputs of residues ``[keep_from, keep_to)``.
    Consecutive windows share ``overlap`` residues (more for the last one, which ends with the
    sequence); the shared residues are split at their middle, so each residue's output comes
    from the window where it is farthest from an edge.

    >>> residue_windows(5, 8, 2)
    [(0, 0, 5)]
    >>> residue_windows(10, 6, 2)
    [(0, 0, 5), (4, 5, 10)]
    """
    if size < 1 or not 0 <= overlap < size:
        raise DataFormatError(
            f"window overlap must be between 0 and {size - 1} residues (the window holds {size}), "
            f"got {overlap}."
        )
    if length <= size:
        return [(0, 0, length)]
    starts = [*range(0, length - size, size - overlap), length - size]
    cuts = [(after + before + size) // 2 for before, after in itertools.pairwise(starts)]
    bounds = [0, *cuts, length]
    return [(start, bounds[k], bounds[k + 1]) for k, start in enumerate(starts)]


def residue_outputs(
    records: Sequence[ProteinRecord],
    tokenizer: ProteinTokenizer,
    forward: Forward,
    *,
    batch_tokens: int,
    overlap: int | None = None,
    progress: bool | None = None,
    desc: str = "predict",
) -> list[np.ndarray]:
    """Per-residue outputs ``[len(sequence), ...]`` of each record, in record order.

    ``forward`` maps a padded batch (``input_ids``, ``attention_mask``) to per-token outputs
    ``[batch, tokens, ...]``. Special tokens and padding are dropped; sequences longer than
    ``tokenizer.max_residues`` run in windows (:func:`residue_windows`) stitched back.
    """
    size = tokenizer.max_residues
    overlap = size // 4 if overlap is None else int(overlap)
    chunks: list[np.ndarray] = []
    owners: list[tuple[int, int, int, int]] = []
    for number, record in enumerate(records):
        ids = tokenizer.encode(record.sequence, add_special_tokens=False)
        for start, keep_from, keep_to in residue_windows(len(ids), size, overlap):
            window = ids[start : start + size]
            chunks.append(np.concatenate([tokenizer.prefix, window, tokenizer.suffix]))
            owners.append((number, start, keep_from, keep_to))
    windowed = len(chunks) - len(records)
    if windowed:
        logger.info(
            "Sequences longer than %d residues run in overlapping windows (%d extra windows).",
            size,
            windowed,
        )
    out: list[np.ndarray | None] = [None] * len(records)
    offset = tokenizer.residue_offset
    for index, row in run_batches(
        chunks,
        int(tokenizer.pad_id),
        forward,
        batch_tokens=batch_tokens,
        progress=progress,
        desc=desc,
    ):
        number, start, keep_from, keep_to = owners[index]
        part = row[offset + keep_from - start : offset + keep_to - start]
        if out[number] is None:
            out[number] = np.empty((len(records[number]), *part.shape[1:]), dtype=part.dtype)
        out[number][keep_from:keep_to] = part  # type: ignore[index]
    return out  # type: ignore[return-value]


def sequence_outputs(
    records: Sequence[ProteinRecord],
    tokenizer: ProteinTokenizer,
    forward: Forward,
    *,
    batch_tokens: int,
    progress: bool | None = None,
    desc: str = "predict",
) -> list[np.ndarray]:
    """One output row per record (``forward`` gives ``[batch, ...]``), in record order; sequences
    longer than ``max_length`` are truncated as in training (logged)."""
    examples = encode_records(records, tokenizer)
    out: list[np.ndarray | None] = [None] * len(records)
    for index, row in run_batches(
        examples.input_ids,
        examples.pad_id,
        forward,
        batch_tokens=batch_tokens,
        progress=progress,
        desc=desc,
    ):
        out[index] = row
    return out  # type: ignore[return-value]


def run_batches(
    input_ids: Sequence[np.ndarray],
    pad_id: int,
    forward: Forward,
    *,
    batch_tokens: int,
    progress: bool | None = None,
    desc: str = "predict",
) -> Iterator[tuple[int, np.ndarray]]:
    """Run ``forward`` over length-sorted, padded batches under ``batch_tokens``; yield
    ``(example index, output row)`` pairs."""
    if batch_tokens < 1:
        raise DataFormatError(f"batch_tokens must be positive, got {batch_tokens}.")
    lengths = np.fromiter((len(ids) for ids in input_ids), dtype=np.int64, count=len(input_ids))
    batches = length_sorted_batches(lengths, batch_tokens, max_length_ratio=MAX_LENGTH_RATIO)
    for indices in progress_bar(batches, progress, desc):
        outputs = forward(pad_batch(input_ids, indices, pad_id))
        for row, index in enumerate(indices):
            yield int(index), outputs[row]


def progress_bar(items: Sequence[Any], progress: bool | None, desc: str) -> Iterable[Any]:
    """``items`` wrapped in a ``tqdm`` bar on stderr when ``progress`` says so (``None``: when
    there is more than one item and stderr is interactive: a terminal or a Jupyter kernel).

    >>> progress_bar([1, 2], False, "predict")
    [1, 2]
    """
    if progress is None:
        progress = len(items) > 1 and _interactive(sys.stderr)
    if not progress:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit="batch", file=sys.stderr)


def _interactive(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        if isatty is not None and isatty():
            return True
    except ValueError:  # a closed stream
        return False
    return type(stream).__module__.startswith("ipykernel")  # a notebook's stderr
