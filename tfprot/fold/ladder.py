"""Batches and the out-of-memory ladder: how a group of jobs gets folded, whatever happens.

Jobs are grouped by length (:func:`batches`): under ``batch_tokens``, or with ``'auto'`` on a
GPU as many as the free memory holds by the trunk's memory model, each group's longest at most
``max_length_ratio`` times its shortest; on a CPU one at a time. A group is folded in one forward
pass (:func:`fold_batch`). When it runs out of memory it is halved, and each half retried with
the same chunk size, down to single sequences; a single sequence out of memory is retried with
the next smaller trunk chunk size and fails (with the reason) only when the smallest fails too.
Any other error folds the group's sequences one by one, so one bad sequence loses no others.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import replace

import numpy as np

from tfprot.data.batching import length_sorted_batches
from tfprot.fold.jobs import Job, Run, failed, reason
from tfprot.fold.memory import (
    auto_batch_size,
    choose_chunk_size,
    memory_sized_batches,
    smaller_chunk_size,
)
from tfprot.fold.options import AUTO, FoldOptions
from tfprot.fold.outputs import FoldResult, StructureFiles

__all__ = ["batches", "fold_batch"]

logger = logging.getLogger(__name__)

Outcome = tuple[Job, "FoldResult | StructureFiles"]


def batches(run: Run, jobs: list[Job]) -> list[list[Job]]:
    """``jobs`` in length-sorted groups, each folded in one forward pass."""
    options, loaded = run.options, run.loaded
    lengths = [job.length for job in jobs]
    if options.batch_tokens != AUTO:
        groups = length_sorted_batches(
            np.array(lengths, dtype=np.int64),
            int(options.batch_tokens),
            max_length_ratio=options.max_length_ratio,
        )
        return [[jobs[int(i)] for i in group] for group in groups]
    free = loaded.free_memory()
    if free is None:  # a CPU: padding only adds work
        return [[job] for job in sorted(jobs, key=lambda job: job.length)]
    pair_dim, pair_heads = loaded.trunk_dims
    size = auto_batch_size_for(free, pair_dim, pair_heads)
    groups = memory_sized_batches(lengths, size, options.max_length_ratio)
    return [[jobs[i] for i in group] for group in groups]


def auto_batch_size_for(free: int, pair_dim: int, pair_heads: int):
    """``length -> sequences per batch`` for ``batch_tokens='auto'`` with ``free`` bytes."""

    def size(length: int) -> int:
        return auto_batch_size(length, free, pair_dim=pair_dim, pair_heads=pair_heads)

    return size


def _chunk_size_for(loaded, batch: list[Job], options: FoldOptions) -> int | None:
    if options.chunk_size != AUTO:
        return options.chunk_size
    longest = max(job.length for job in batch)
    free = loaded.free_memory()
    pair_dim, pair_heads = loaded.trunk_dims
    return choose_chunk_size(
        longest,
        None if free is None else free // len(batch),
        pair_dim=pair_dim,
        pair_heads=pair_heads,
    )


def fold_batch(run: Run, batch: list[Job], options: FoldOptions) -> Iterator[Outcome]:
    """Yield ``(job, outcome)`` for every job of ``batch``: the structure to write, or a failed
    result."""
    from tfprot.fold._torch import is_out_of_memory

    loaded = run.loaded
    chunk_size = _chunk_size_for(loaded, batch, options)
    for job in batch:
        job.attempts += 1
        job.tried.append(chunk_size)
    start = time.perf_counter()
    try:
        predictions = loaded.predict(
            [job.layout for job in batch],
            num_recycles=options.num_recycles,
            chunk_size=chunk_size,
        )
    except Exception as error:  # any failure: retry smaller, so no sequence loses the others
        if is_out_of_memory(error):
            loaded.release_memory()
        yield from _retry(run, batch, replace(options, chunk_size=chunk_size), error)
        return
    seconds = (time.perf_counter() - start) / len(batch)
    for job, prediction in zip(batch, predictions, strict=True):
        job.chunk_size = chunk_size
        yield job, run.structure(job, prediction, seconds)


def _retry(run: Run, batch: list[Job], options: FoldOptions, error: Exception):
    """After ``batch`` failed with ``options.chunk_size``: halve it (out of memory), fold its
    sequences one by one (another error), or walk down the chunk sizes (a single sequence)."""
    from tfprot.fold._torch import is_out_of_memory

    out_of_memory = is_out_of_memory(error)
    if len(batch) > 1 and out_of_memory:
        half = (len(batch) + 1) // 2
        logger.warning(
            "batch of %d out of memory (%s); halving it to %d and %d with the same chunk size",
            len(batch),
            reason(error),
            half,
            len(batch) - half,
        )
        for part in (batch[:half], batch[half:]):
            yield from fold_batch(run, part, options)
        return
    if len(batch) > 1:
        logger.warning(
            "batch of %d failed (%s); folding its sequences one by one", len(batch), reason(error)
        )
        for job in batch:
            yield from fold_batch(run, [job], options)
        return
    job = batch[0]
    if not out_of_memory:
        yield job, failed(job, f"id {job.item.id!r}: folding failed ({reason(error)}).")
        return
    chunk_size = options.chunk_size
    smaller = smaller_chunk_size(chunk_size)
    if smaller is None or smaller == chunk_size:
        message = (
            f"id {job.item.id!r}: out of memory with {job.length} residues even with trunk chunk "
            f"size {chunk_size} (tried {job.tried}). Fold it on a GPU with more memory, or fold "
            "domains separately."
        )
        yield job, failed(job, message)
        return
    logger.warning(
        "%s: out of memory with chunk size %s; retrying with %s", job.item.id, chunk_size, smaller
    )
    yield from fold_batch(run, [job], replace(options, chunk_size=smaller))
