"""Chunk-size choice and out-of-memory detection."""

import pytest

from tfprot.fold._torch import is_out_of_memory
from tfprot.fold.memory import (
    CHUNK_LADDER,
    choose_chunk_size,
    estimate_trunk_bytes,
    smaller_chunk_size,
)


def test_less_free_memory_or_longer_sequences_never_get_a_larger_chunk():
    def rank(size):
        return CHUNK_LADDER.index(size)

    for length in (50, 200, 400, 800, 1500):
        ranks = [rank(choose_chunk_size(length, gib * 2**30)) for gib in (80, 40, 16, 4, 1)]
        assert ranks == sorted(ranks), (length, ranks)
    for gib in (4, 16, 80):
        ranks = [rank(choose_chunk_size(n, gib * 2**30)) for n in (50, 200, 400, 800, 1500)]
        assert ranks == sorted(ranks), (gib, ranks)


def test_chosen_chunk_fits_the_budget_by_the_estimate():
    free = 8 * 2**30
    for length in (300, 700, 1000):
        chunk = choose_chunk_size(length, free)
        assert estimate_trunk_bytes(length, chunk) <= 0.6 * free or chunk == CHUNK_LADDER[-1]


def test_cpu_chooses_by_length():
    assert choose_chunk_size(100) is None
    assert choose_chunk_size(1000) == 64


def test_the_retry_ladder_walks_down_to_nothing():
    sizes, size = [], None
    while True:
        size = smaller_chunk_size(size)
        if size is None:
            break
        sizes.append(size)
    assert sizes == list(CHUNK_LADDER[1:])


def test_out_of_memory_errors_are_recognised():
    torch = pytest.importorskip("torch")
    assert is_out_of_memory(torch.cuda.OutOfMemoryError("CUDA out of memory."))
    assert is_out_of_memory(RuntimeError("DefaultCPUAllocator: can't allocate memory"))
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
