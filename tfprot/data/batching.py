"""``tf.data`` pipelines from encoded examples: token-budget length bucketing and static shapes.

Two modes, both pure ``tf.data`` (so they shard under ``tf.distribute`` and prefetch in C++):

- **Bucketed** (default): examples are shuffled (seeded, reshuffled every epoch), grouped into
  length buckets whose upper lengths grow by ``bucket_ratio``, and batched so that
  ``batch size × padded length <= batch_tokens``: a batch of short sequences holds more sequences
  than one of long sequences, and each batch is padded only to its longest member. Every example
  appears exactly once per epoch; the last, partial batch of each bucket is kept.
- **Static shapes** (``static_shapes=True``, for XLA and TPU): a small fixed set of bucket lengths;
  every batch is padded to its bucket's length *and* to its bucket's batch size, so only
  ``len(bucket_lengths)`` distinct shapes ever occur (one when there is one bucket, and then the
  ``element_spec`` itself is fully static). Rows added to fill the last batch of a bucket have
  ``sample_weight`` 0 (and ignored token labels), so no example is dropped and none is counted
  twice; ``remainder="drop"`` instead drops those partial batches (``drop_remainder=True``) and
  logs how many examples that skips.

Elements are ``(features, labels)`` (bucketed) or ``(features, labels, sample_weight)`` (static),
with ``features = {"input_ids": int32 [B, T], "attention_mask": int32 [B, T]}``: what ``fit`` of a
transformers TF model and of tfprot's models accepts.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from tfprot.data.encoding import EncodedExamples
from tfprot.errors import DataFormatError

__all__ = [
    "Batching",
    "count_batches",
    "length_sorted_batches",
    "make_tf_dataset",
    "pad_batch",
    "padded_fraction",
    "plain_batches_padded_fraction",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Batching:
    """How to batch examples.

    Attributes:
        batch_tokens: token budget of a batch (batch size × padded length).
        max_batch_size: cap on sequences per batch (``None``: no cap).
        bucket_ratio: bucketed mode: each bucket's upper length is about this times the previous.
        length_multiple: bucket lengths are rounded up to a multiple of this (8 suits GPUs).
        static_shapes: use the static-shape mode for XLA/TPU.
        bucket_lengths: static mode: the padded lengths; ``None``: 64, 96, 128, 192, 256, 384...
            up to the longest example (capped at the tokenizer's ``max_length``).
        batch_multiple: static mode: every batch size is a multiple of this (e.g. 8 × TPU cores).
        remainder: static mode: ``'pad'`` fills partial batches with zero-weight rows; ``'drop'``
            drops them.
        seed: shuffle seed.

    >>> Batching(batch_tokens=2048, static_shapes=True, bucket_lengths=(128, 256)).batch_sizes((128, 256))
    (16, 8)
    """

    batch_tokens: int = 4096
    max_batch_size: int | None = None
    bucket_ratio: float = 1.1
    length_multiple: int = 8
    static_shapes: bool = False
    bucket_lengths: tuple[int, ...] | None = None
    batch_multiple: int = 1
    remainder: str = "pad"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.batch_tokens < 1:
            raise DataFormatError(f"batch_tokens must be positive, got {self.batch_tokens}.")
        if self.max_batch_size is not None and self.max_batch_size < 1:
            raise DataFormatError(f"max_batch_size must be positive, got {self.max_batch_size}.")
        if self.bucket_ratio <= 1:
            raise DataFormatError(f"bucket_ratio must be above 1, got {self.bucket_ratio}.")
        if self.length_multiple < 1 or self.batch_multiple < 1:
            raise DataFormatError("length_multiple and batch_multiple must be positive.")
        if self.remainder not in ("pad", "drop"):
            raise DataFormatError(f"remainder must be 'pad' or 'drop', got {self.remainder!r}.")
        if self.bucket_lengths is not None:
            lengths = tuple(int(n) for n in self.bucket_lengths)
            if not lengths or list(lengths) != sorted(set(lengths)) or lengths[0] < 1:
                raise DataFormatError(
                    f"bucket_lengths must be increasing positive lengths, got {self.bucket_lengths}."
                )
            object.__setattr__(self, "bucket_lengths", lengths)

    def batch_sizes(self, upper_lengths: tuple[int, ...]) -> tuple[int, ...]:
        """Batch size of each bucket: the most sequences of its length under the budget."""
        sizes = []
        for length in upper_lengths:
            size = self.batch_tokens // length
            if self.max_batch_size:
                size = min(size, self.max_batch_size)
            if self.static_shapes:
                size -= size % self.batch_multiple
            if size < 1:
                need = length * (self.batch_multiple if self.static_shapes else 1)
                raise DataFormatError(
                    f"batch_tokens={self.batch_tokens} cannot hold a batch of length {length} "
                    f"(needs at least {need}); raise batch_tokens or lower max_length."
                )
            sizes.append(size)
        return tuple(sizes)

    def upper_lengths(self, lengths: np.ndarray, max_length: int) -> tuple[int, ...]:
        """The bucket lengths for examples of these token ``lengths``."""
        longest = int(lengths.max())
        if self.static_shapes:
            if self.bucket_lengths is not None:
                return tuple(n for n in self.bucket_lengths if n <= max_length) or (max_length,)
            # 64, 96, 128, 192, 256, 384, 512, 768, 1024...: steps of x1.5 and x1.33 keep padding
            # near 15% with few shapes (power-of-two steps alone cost about 25%).
            buckets, power = [], 64
            while True:
                for length in (power, power * 3 // 2):
                    buckets.append(min(length, max_length))
                    if length >= min(longest, max_length):
                        return tuple(sorted(set(buckets)))
                power *= 2
        bounds, length = [], _round_up(int(lengths.min()), self.length_multiple)
        while length < longest:
            bounds.append(length)
            length = _round_up(
                max(length + 1, math.ceil(length * self.bucket_ratio)), self.length_multiple
            )
        bounds.append(longest)
        return tuple(bounds)


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def make_tf_dataset(
    examples: EncodedExamples,
    batching: Batching | None = None,
    *,
    shuffle: bool = False,
    with_labels: bool | None = None,
):
    """Build the ``tf.data.Dataset`` of batches for ``examples``.

    Args:
        examples: encoded examples (in static mode their length must not exceed the largest
            bucket: encode with ``max_length=max(bucket_lengths)``).
        batching: the batching configuration (default :class:`Batching`).
        shuffle: shuffle examples (seeded, a new order each epoch): use for training.
        with_labels: yield labels (and sample weights in static mode); ``False`` yields features
            only, for prediction; ``None``: labels when the examples have them.

    Returns:
        A dataset of ``(features, labels)``, ``(features, labels, sample_weight)`` in static mode,
        or ``features`` without labels.
    """
    import tensorflow as tf

    batching = batching or Batching()
    if with_labels and examples.labels is None:
        raise DataFormatError(
            "These examples were encoded without labels; encode them with a label encoder."
        )
    with_labels = examples.labels is not None if with_labels is None else with_labels
    lengths = examples.lengths
    upper = batching.upper_lengths(lengths, examples.max_length)
    if lengths.max() > upper[-1]:
        raise DataFormatError(
            f"An example has {int(lengths.max())} tokens, more than the largest bucket ({upper[-1]}); "
            "encode with max_length set to the largest bucket."
        )
    sizes = batching.batch_sizes(upper)
    task = examples.task
    pad_id = examples.pad_id

    flat_ids = tf.constant(np.concatenate(examples.input_ids), dtype=tf.int32)
    starts = tf.constant(np.concatenate([[0], np.cumsum(lengths)]), dtype=tf.int64)
    token_labels = with_labels and task.per_residue
    if token_labels:
        flat_labels = tf.constant(np.concatenate(examples.labels), dtype=tf.int32)
    elif with_labels:
        table_labels = tf.constant(examples.labels)

    @tf.autograph.experimental.do_not_convert  # static Python only
    def example(index):
        start, end = starts[index], starts[index + 1]
        ids = flat_ids[start:end]
        element = {"input_ids": ids, "attention_mask": tf.ones_like(ids)}
        if token_labels:
            element["labels"] = flat_labels[start:end]
        elif with_labels:
            element["labels"] = table_labels[index]
        return element

    padding = {"input_ids": pad_id, "attention_mask": 0}
    if with_labels:
        padding["labels"] = task.label_padding

    dataset = tf.data.Dataset.range(len(examples))
    if shuffle:
        dataset = dataset.shuffle(len(examples), seed=batching.seed, reshuffle_each_iteration=True)
    dataset = dataset.map(example, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    drop = batching.static_shapes and batching.remainder == "drop"
    dataset = dataset.bucket_by_sequence_length(
        element_length_func=lambda element: tf.shape(element["input_ids"])[0],
        bucket_boundaries=[n + 1 for n in upper],
        bucket_batch_sizes=[*sizes, 1],
        padding_values=padding,
        pad_to_bucket_boundary=batching.static_shapes,
        drop_remainder=drop,
    )
    if batching.static_shapes:
        _log_static_plan(lengths, upper, sizes, drop)
        dataset = dataset.map(
            _fill_batch_fn(upper, sizes, padding, with_labels, token_labels),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
    else:
        dataset = dataset.map(
            _split_fn(with_labels), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
        )
    # Bucketing hides the number of batches from tf.data; Keras needs it for the epoch length
    # (progress bar, learning-rate schedule, distribution), and it does not depend on the order.
    batches = count_batches(lengths, upper, sizes, drop_remainder=drop)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(batches))
    # tf.data's autotuner is off: the pipeline is a few cheap ops, and with it on, destroying
    # the iterator at the end of every ``fit`` waited up to 7 s (TF 2.21, 2 cores) for its thread.
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.prefetch(2).with_options(options)


def count_batches(
    lengths: np.ndarray,
    upper_lengths: tuple[int, ...],
    batch_sizes: tuple[int, ...],
    *,
    drop_remainder: bool = False,
) -> int:
    """Number of batches in one epoch of bucketed batching, whatever the shuffle order.

    Each bucket holds the examples no longer than its upper length (and longer than the previous
    one's) and emits full batches, then its partial one at the end of the epoch (unless dropped):
    ``sum(ceil(count / size))`` over buckets.

    >>> count_batches(np.array([10, 12, 30, 31, 32]), (16, 32), (4, 2))
    3
    >>> count_batches(np.array([10, 12, 30, 31, 32]), (16, 32), (4, 2), drop_remainder=True)
    1
    """
    bucket = np.searchsorted(np.asarray(upper_lengths), np.asarray(lengths), side="left")
    counts = np.bincount(bucket, minlength=len(upper_lengths))[: len(upper_lengths)]
    sizes = np.asarray(batch_sizes)
    full = counts // sizes
    return int(full.sum() if drop_remainder else (full + (counts % sizes > 0)).sum())


def _split_fn(with_labels: bool):
    import tensorflow as tf

    @tf.autograph.experimental.do_not_convert  # static Python only
    def split(batch):
        features = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
        return (features, batch["labels"]) if with_labels else features

    return split


def _fill_batch_fn(upper, sizes, padding, with_labels: bool, token_labels: bool):
    """Pad a bucket's batch to the bucket's batch size, with zero-weight rows."""
    import tensorflow as tf

    per_token = {"input_ids", "attention_mask", *(["labels"] if token_labels else [])}
    lengths_t = tf.constant(upper, dtype=tf.int32)
    sizes_t = tf.constant(sizes, dtype=tf.int32)
    single = len(upper) == 1

    @tf.autograph.experimental.do_not_convert  # static Python only
    def fill(batch):
        length = tf.shape(batch["input_ids"])[1]
        size = tf.gather(sizes_t, tf.searchsorted(lengths_t, tf.reshape(length, [1]))[0])
        rows = tf.shape(batch["input_ids"])[0]
        missing = size - rows

        def pad_rows(tensor, value):
            paddings = tf.concat(
                [[[0, missing]], tf.zeros([tf.rank(tensor) - 1, 2], tf.int32)], axis=0
            )
            return tf.pad(tensor, paddings, constant_values=tf.cast(value, tensor.dtype))

        out = {key: pad_rows(batch[key], padding[key]) for key in batch}
        weights = pad_rows(tf.ones([rows], tf.float32), 0.0)
        if single:  # one bucket: make the element_spec itself fully static
            out = {
                key: tf.ensure_shape(
                    value,
                    [sizes[0], upper[0]] if key in per_token else [sizes[0], *value.shape[1:]],
                )
                for key, value in out.items()
            }
            weights = tf.ensure_shape(weights, [sizes[0]])
        features = {"input_ids": out["input_ids"], "attention_mask": out["attention_mask"]}
        if not with_labels:
            return features
        return features, out["labels"], weights

    return fill


def _log_static_plan(lengths: np.ndarray, upper, sizes, drop: bool) -> None:
    bucket_of = np.searchsorted(np.asarray(upper), lengths)
    counts = np.bincount(bucket_of, minlength=len(upper))[: len(upper)]
    partial = sum(int(c % s) for c, s in zip(counts, sizes, strict=False))
    shapes = ", ".join(f"{s}x{n}" for n, s in zip(upper, sizes, strict=False))
    if drop:
        logger.warning(
            "Static shapes %s with remainder='drop': %d of %d examples fall into partial batches and "
            "are skipped each epoch.",
            shapes,
            partial,
            len(lengths),
        )
    else:
        logger.info(
            "Static shapes %s: partial batches are filled with %d zero-weight rows per epoch.",
            shapes,
            sum(int(-c % s) for c, s in zip(counts, sizes, strict=False) if c % s),
        )


def padded_fraction(dataset) -> float:
    """Fraction of token slots that are padding over one pass of a dataset built here.

    Zero-weight filler rows of the static mode count as padding.
    """
    real = total = 0
    for element in dataset:
        features = element[0] if isinstance(element, tuple) else element
        mask = features["attention_mask"].numpy()
        real += int(mask.sum())
        total += mask.size
    return 1.0 - real / total if total else 0.0


def plain_batches_padded_fraction(lengths: np.ndarray, batch_size: int = 8) -> float:
    """Padding fraction of plain batches of ``batch_size`` in input order, each padded to its
    longest member (what ``prepare_tf_dataset(batch_size=8)`` of the reference notebook does).

    >>> plain_batches_padded_fraction(np.array([2, 4, 4, 4]), batch_size=2)  # 2 pad slots of 16
    0.125
    """
    lengths = np.asarray(lengths)
    total = 0
    for start in range(0, len(lengths), batch_size):
        chunk = lengths[start : start + batch_size]
        total += int(chunk.max()) * len(chunk)
    return 1.0 - float(lengths.sum()) / total if total else 0.0


def length_sorted_batches(
    lengths: np.ndarray,
    batch_tokens: int,
    max_batch_size: int | None = None,
    max_length_ratio: float | None = None,
) -> list[np.ndarray]:
    """Indices of examples grouped for inference: sorted by length, each group filled while
    ``group size × its longest length <= batch_tokens`` (fair-esm's ``get_batch_indices``) and,
    with ``max_length_ratio``, while its longest is at most that times its shortest (which keeps
    padding low when the budget is large).

    An example longer than ``batch_tokens`` forms a group of its own.

    >>> [b.tolist() for b in length_sorted_batches(np.array([5, 2, 9, 3]), batch_tokens=10)]
    [[1, 3], [0], [2]]
    >>> [b.tolist() for b in length_sorted_batches(np.array([20, 21, 40]), 1000, max_length_ratio=1.1)]
    [[0, 1], [2]]
    """
    order = np.argsort(np.asarray(lengths), kind="stable")
    batches, current, longest, shortest = [], [], 0, 0
    for index in order:
        length = int(lengths[index])
        grown = max(longest, length)
        full = max_batch_size is not None and len(current) >= max_batch_size
        wide = max_length_ratio is not None and grown > shortest * max_length_ratio
        if current and (grown * (len(current) + 1) > batch_tokens or full or wide):
            batches.append(np.array(current))
            current, grown = [], length
        if not current:
            shortest = length
        current.append(int(index))
        longest = grown
    if current:
        batches.append(np.array(current))
    return batches


def pad_batch(input_ids, indices: np.ndarray, pad_id: int) -> dict[str, np.ndarray]:
    """``input_ids`` and ``attention_mask`` (int32 ``[len(indices), longest]``) of some examples.

    >>> pad_batch([np.array([0, 5, 2]), np.array([0, 2])], np.array([1, 0]), pad_id=1)["input_ids"].tolist()
    [[0, 2, 1], [0, 5, 2]]
    """
    longest = max(len(input_ids[i]) for i in indices)
    ids = np.full((len(indices), longest), pad_id, dtype=np.int32)
    mask = np.zeros((len(indices), longest), dtype=np.int32)
    for row, index in enumerate(indices):
        length = len(input_ids[index])
        ids[row, :length] = input_ids[index]
        mask[row, :length] = 1
    return {"input_ids": ids, "attention_mask": mask}
