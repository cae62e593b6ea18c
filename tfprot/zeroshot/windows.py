"""The window of a long sequence that the model sees when it scores one residue.

A model takes at most ``size`` residues (ESM-2: 1,022 between ``<cls>`` and ``<eos>``). A residue
of a longer sequence is scored in the ``size``-residue window centred on it, shifted inwards at
either end: ESM-1v's rule as ProteinGym's ``get_optimal_window`` writes it. A sequence that fits
is always seen whole.

>>> window_for(10, 1500, 1022), window_for(750, 1500, 1022), window_for(1490, 1500, 1022)
((0, 1022), (239, 1261), (478, 1500))
>>> window_for(99, 120, 1022)
(0, 120)
"""

from __future__ import annotations

__all__ = ["window_for"]


def window_for(position: int, length: int, size: int) -> tuple[int, int]:
    """``(start, end)`` (0-based, end excluded) of the window that scores the residue at 0-based
    ``position`` of a ``length``-residue sequence in a model of ``size`` residues."""
    if length <= size:
        return 0, length
    half = size // 2
    if position < half:
        return 0, size
    if position >= length - half:
        return length - size, length
    return max(0, position - half), min(length, position + half)
