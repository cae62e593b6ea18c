"""Memory safety for long sequences: the trunk chunk size, chosen from length and free memory.

ESMFold's folding trunk holds an ``L x L`` pair representation; its triangular attention
materialises ``heads x L x L x L`` scores unless it runs in chunks of ``chunk_size`` rows.
Smaller chunks use less memory and more time. tfprot picks the largest chunk (``None`` = no
chunking) whose estimated peak fits in the free memory, and on an out-of-memory error retries the
same sequence with the next smaller chunk of :data:`CHUNK_LADDER`.

>>> choose_chunk_size(200)  # short: no chunking on CPU
>>> choose_chunk_size(900)
64
>>> choose_chunk_size(400, free_bytes=2 * 2**30)
32
>>> smaller_chunk_size(None), smaller_chunk_size(128), smaller_chunk_size(4)
(128, 64, None)

On a GPU, ``batch_tokens='auto'`` sizes each batch by the same model: as many sequences of a
length as fit the free memory unchunked (or with the chunk one of them alone would need), at most
:data:`AUTO_MAX_BATCH_TOKENS` residues in all, grouped by :func:`memory_sized_batches`.

>>> auto_batch_size(300, free_bytes=120 * 2**30)  # an H200 after loading esmfold_v1
27
>>> auto_batch_size(300, free_bytes=8 * 2**30), auto_batch_size(1000, free_bytes=8 * 2**30)
(2, 1)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

__all__ = [
    "AUTO_MAX_BATCH_TOKENS",
    "CHUNK_LADDER",
    "auto_batch_size",
    "choose_chunk_size",
    "estimate_trunk_bytes",
    "memory_sized_batches",
    "smaller_chunk_size",
]

CHUNK_LADDER: tuple[int | None, ...] = (None, 128, 64, 32, 16, 8, 4)
"""Chunk sizes tried in order; ``None`` means no chunking."""

CPU_UNCHUNKED_MAX_LENGTH = 400
"""Without a free-memory figure (CPU), chunk above this length."""

CPU_CHUNK_SIZE = 64
"""Without a free-memory figure (CPU), the chunk size for long sequences."""


def estimate_trunk_bytes(
    length: int,
    chunk_size: int | None,
    *,
    pair_dim: int = 128,
    pair_heads: int = 4,
    bytes_per_value: int = 4,
    batch: int = 1,
) -> int:
    """Rough peak bytes of the folding trunk: pair activations plus triangle-attention scores.

    >>> estimate_trunk_bytes(100, None) > estimate_trunk_bytes(100, 16)
    True
    """
    rows = length if chunk_size is None else min(chunk_size, length)
    pair = 12 * length * length * pair_dim  # a dozen live pair-sized tensors in a block
    scores = 3 * pair_heads * rows * length * length  # logits, softmax and gated output
    return batch * bytes_per_value * (pair + scores)


def choose_chunk_size(
    length: int,
    free_bytes: int | None = None,
    *,
    pair_dim: int = 128,
    pair_heads: int = 4,
    bytes_per_value: int = 4,
    headroom: float = 0.6,
) -> int | None:
    """The largest chunk size of :data:`CHUNK_LADDER` expected to fit.

    Args:
        length: residues the model sees (linkers included).
        free_bytes: free accelerator memory; ``None`` (CPU) chooses by length only.
        pair_dim, pair_heads: the trunk's pair state size and pair attention heads.
        bytes_per_value: 4 for float32 activations.
        headroom: the share of ``free_bytes`` the trunk may use (the rest is for the stem,
            the structure module and fragmentation).
    """
    if free_bytes is None:
        return None if length <= CPU_UNCHUNKED_MAX_LENGTH else CPU_CHUNK_SIZE
    budget = headroom * free_bytes
    for chunk_size in CHUNK_LADDER:
        needed = estimate_trunk_bytes(
            length,
            chunk_size,
            pair_dim=pair_dim,
            pair_heads=pair_heads,
            bytes_per_value=bytes_per_value,
        )
        if needed <= budget:
            return chunk_size
    return CHUNK_LADDER[-1]


def smaller_chunk_size(chunk_size: int | None) -> int | None:
    """The next chunk size to try after an out-of-memory error, or ``None`` when none is left
    (``None`` as input means "was not chunking": the next is the largest chunk)."""
    if chunk_size is None:
        return CHUNK_LADDER[1]
    smaller = [size for size in CHUNK_LADDER[1:] if size < chunk_size]
    return smaller[0] if smaller else None


AUTO_MAX_BATCH_TOKENS = 8192
"""The most residues (sequences times the longest) ``batch_tokens='auto'`` puts in one GPU batch,
whatever the free memory: 8 times the fixed 1,024 of earlier versions, which left 128 of an
H200's 141 GB unused. Beyond it a batch gains little (the trunk's kernels are already large) and
one out-of-memory error costs more; ``benchmarks/fold_gpu.py`` measures it."""


def auto_batch_size(
    length: int,
    free_bytes: int,
    *,
    pair_dim: int = 128,
    pair_heads: int = 4,
    bytes_per_value: int = 4,
    headroom: float = 0.6,
    max_tokens: int = AUTO_MAX_BATCH_TOKENS,
) -> int:
    """How many sequences of ``length`` residues one batch may hold in ``free_bytes``.

    Each counts the trunk's estimated peak with the chunk size one such sequence alone gets
    (:func:`choose_chunk_size`), so that batching never forces a smaller chunk; the batch stays
    within ``headroom`` of the free memory and ``max_tokens`` residues, and is at least 1.
    """
    dims = {"pair_dim": pair_dim, "pair_heads": pair_heads, "bytes_per_value": bytes_per_value}
    chunk_size = choose_chunk_size(length, free_bytes, headroom=headroom, **dims)
    each = estimate_trunk_bytes(length, chunk_size, **dims)
    by_memory = int(headroom * free_bytes // each)
    return max(1, min(by_memory, max_tokens // max(length, 1)))


def memory_sized_batches(
    lengths: Sequence[int],
    batch_size: Callable[[int], int],
    max_length_ratio: float | None = None,
) -> list[list[int]]:
    """Indices grouped by ascending length, each group at most ``batch_size(its longest)``
    long and, with ``max_length_ratio``, its longest at most that times its shortest.

    >>> memory_sized_batches([50, 300, 60, 310, 55], lambda n: 2 if n > 100 else 3)
    [[0, 4, 2], [1, 3]]
    >>> memory_sized_batches([100, 105, 130], lambda n: 8, max_length_ratio=1.1)
    [[0, 1], [2]]
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    groups: list[list[int]] = []
    current: list[int] = []
    for index in order:
        length = lengths[index]
        wide = (
            current
            and max_length_ratio is not None
            and length > lengths[current[0]] * max_length_ratio
        )
        if current and (len(current) + 1 > batch_size(length) or wide):
            groups.append(current)
            current = []
        current.append(index)
    if current:
        groups.append(current)
    return groups
