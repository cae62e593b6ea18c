"""Inference plumbing shared by prediction and embeddings.

Sequences are encoded with the checkpoint's tokenizer, sorted by length and padded in batches under
a token budget and a length ratio (:func:`run_batches`); one compiled forward pass (:data:`BATCH_SIGNATURE`) serves
every batch shape. Per-residue outputs drop special tokens and padding; sequences longer than the
model run in overlapping windows stitched back (:func:`residue_windows`). Outputs come back in
input order. Every batch's outputs are checked to be finite: NaN or infinity (corrupt weights, a
diverged training run) is a :class:`~tfprot.errors.NonFiniteOutputError`, never a row of
results. A progress bar is shown on long work when stderr is a terminal or a notebook
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
from tfprot.errors import DataFormatError, NonFiniteOutputError

__all__ = [
    "BATCH_SIGNATURE",
    "check_finite",
    "hidden_states",
    "iter_residue_outputs",
    "non_finite_error",
    "progress_bar",
    "residue_outputs",
    "residue_windows",
    "run_batches",
    "sequence_bar",
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


LIKELY_CAUSES = (
    "Likely cause: corrupt or mismatched weights (save, copy or download the model again), or a "
    "training run that diverged (train again with a lower learning rate)."
)
"""What usually makes a model's outputs NaN or infinite, for error messages."""


def non_finite_error(source: str, what: str) -> NonFiniteOutputError:
    """The error for non-finite outputs of ``source`` (e.g. ``'the model in run/model'``).

    >>> str(non_finite_error("the model in m", "a NaN loss"))[:37]
    'the model in m gave a NaN loss. Likel'
    """
    return NonFiniteOutputError(f"{source} gave {what}. {LIKELY_CAUSES}")


def check_finite(outputs: np.ndarray, attention_mask: np.ndarray, source: str) -> None:
    """Raise :func:`non_finite_error` when an output of a real token is NaN or infinite.

    ``outputs`` is ``[batch, ...]``; per-token outputs (3 or more dimensions: ``[batch, tokens,
    ...]``) count only the positions the attention mask keeps, so padding never raises. One
    vectorised pass when everything is finite (the usual case).

    >>> mask = np.array([[1, 1, 0]])
    >>> check_finite(np.array([[[0.5], [1.0], [np.nan]]]), mask, "m")  # padding: fine
    >>> check_finite(np.array([[np.inf, 0.0]]), mask, "m")
    Traceback (most recent call last):
    ...
    tfprot.errors.NonFiniteOutputError: m gave non-finite outputs (NaN or infinity) for 1 of 1 sequences in a batch. Likely cause: ...
    """
    finite = np.isfinite(outputs)
    if finite.all():
        return
    rows = len(outputs)
    if outputs.ndim >= 3 and outputs.shape[:2] == np.shape(attention_mask):
        tokens = finite.reshape(*outputs.shape[:2], -1).all(axis=-1)
        bad = (~tokens & (np.asarray(attention_mask) != 0)).any(axis=1)
    else:
        bad = ~finite.reshape(rows, -1).all(axis=1)
    if bad.any():
        raise non_finite_error(
            source,
            f"non-finite outputs (NaN or infinity) for {int(bad.sum())} of {rows} sequences in "
            "a batch",
        )


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
    source: str = "the model",
) -> list[np.ndarray]:
    """Per-residue outputs ``[len(sequence), ...]`` of each record, in record order.

    ``forward`` maps a padded batch (``input_ids``, ``attention_mask``) to per-token outputs
    ``[batch, tokens, ...]``. Special tokens and padding are dropped; sequences longer than
    ``tokenizer.max_residues`` run in windows (:func:`residue_windows`) stitched back.
    ``source`` names the model in the error for non-finite outputs.
    """
    out: list[np.ndarray | None] = [None] * len(records)
    for number, outputs in iter_residue_outputs(
        records,
        tokenizer,
        forward,
        batch_tokens=batch_tokens,
        overlap=overlap,
        progress=progress,
        desc=desc,
        source=source,
    ):
        out[number] = outputs
    return out  # type: ignore[return-value]


def iter_residue_outputs(
    records: Sequence[ProteinRecord],
    tokenizer: ProteinTokenizer,
    forward: Forward,
    *,
    batch_tokens: int,
    overlap: int | None = None,
    progress: bool | None = False,
    desc: str = "predict",
    source: str = "the model",
) -> Iterator[tuple[int, np.ndarray]]:
    """:func:`residue_outputs` as they finish: ``(record number, outputs)`` once the last window
    of that record has run, in length-sorted batch order. A caller that writes and drops each
    one holds at most the records some of whose windows are still to run."""
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
    pending: dict[int, np.ndarray] = {}
    missing = np.bincount([owner[0] for owner in owners], minlength=len(records))
    offset = tokenizer.residue_offset
    for index, row in run_batches(
        chunks,
        int(tokenizer.pad_id),
        forward,
        batch_tokens=batch_tokens,
        progress=progress,
        desc=desc,
        source=source,
    ):
        number, start, keep_from, keep_to = owners[index]
        part = row[offset + keep_from - start : offset + keep_to - start]
        if missing[number] == 1 and keep_from == 0 and keep_to == len(records[number]):
            missing[number] = 0
            yield number, part.copy()  # not a view that keeps the whole batch alive
            continue
        if number not in pending:
            pending[number] = np.empty((len(records[number]), *part.shape[1:]), part.dtype)
        pending[number][keep_from:keep_to] = part
        missing[number] -= 1
        if not missing[number]:
            yield number, pending.pop(number)


def sequence_outputs(
    records: Sequence[ProteinRecord],
    tokenizer: ProteinTokenizer,
    forward: Forward,
    *,
    batch_tokens: int,
    progress: bool | None = None,
    desc: str = "predict",
    source: str = "the model",
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
        source=source,
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
    source: str = "the model",
) -> Iterator[tuple[int, np.ndarray]]:
    """Run ``forward`` over length-sorted, padded batches under ``batch_tokens``; yield
    ``(example index, output row)`` pairs.

    Raises:
        NonFiniteOutputError: a batch's outputs hold NaN or infinity (:func:`check_finite`);
            ``source`` names the model in the message.
    """
    if batch_tokens < 1:
        raise DataFormatError(f"batch_tokens must be positive, got {batch_tokens}.")
    lengths = np.fromiter((len(ids) for ids in input_ids), dtype=np.int64, count=len(input_ids))
    batches = length_sorted_batches(lengths, batch_tokens, max_length_ratio=MAX_LENGTH_RATIO)
    for indices in progress_bar(batches, progress, desc):
        batch = pad_batch(input_ids, indices, pad_id)
        outputs = forward(batch)
        check_finite(outputs, batch["attention_mask"], source)
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


def sequence_bar(total: int, progress: bool | None, desc: str) -> Any:
    """A ``tqdm`` bar over ``total`` sequences (their rate per second and the time left) for
    streamed work, or ``None``; ``progress=None``: when there is work and stderr is interactive
    (as :func:`progress_bar`). The caller calls ``update`` and ``close``."""
    if progress is None:
        progress = total > 0 and _interactive(sys.stderr)
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="seq", file=sys.stderr, smoothing=0.1)


def _interactive(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        if isatty is not None and isatty():
            return True
    except ValueError:  # a closed stream
        return False
    return type(stream).__module__.startswith("ipykernel")  # a notebook's stderr
