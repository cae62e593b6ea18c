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
"""

from __future__ import annotations

__all__ = ["CHUNK_LADDER", "choose_chunk_size", "estimate_trunk_bytes", "smaller_chunk_size"]

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
