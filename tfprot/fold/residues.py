"""Sequences to the residue indices ESMFold's ``forward`` expects: AlphaFold order, not ESM-2 ids.

``EsmForProteinFolding.forward`` takes residue types in AlphaFold's order (``ARNDCQEGHILKMFPSTWYV``
then ``X`` = 20) and maps them to ESM-2 ids itself. ESM-2 tokenizer ids (``L`` = 4, ``A`` = 5...,
with ``<cls>``/``<eos>``) are a different code: fed to the model they fold the wrong residues, or
raise an ``IndexError`` for ids above 20. Everything that enters the model goes through
:func:`to_aatype`.

Multimers (``'SEQ_A:SEQ_B'``) are folded as ESMFold does it: the chains joined by a flexible
glycine linker, with the residue index jumping by ``residue_index_offset`` at each new chain so
the trunk sees them as separate chains; the linker is removed from every output.

>>> to_aatype("ARNX").tolist()
[0, 1, 2, 20]
>>> layout = chain_layout(("MK", "GS"), linker_length=2, residue_index_offset=100)
>>> layout.aatype.tolist(), layout.residue_index.tolist(), layout.keep.tolist()
([12, 11, 7, 7, 7, 15], [0, 1, 2, 3, 104, 105], [True, True, False, False, True, True])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["AF2_RESIDUES", "ChainLayout", "chain_layout", "to_aatype"]

AF2_RESIDUES = "ARNDCQEGHILKMFPSTWYV"
"""AlphaFold's residue order; index 20 is ``X``. B, Z, U, O fold as ``X``, as in ESMFold."""
UNKNOWN = len(AF2_RESIDUES)

_TABLE = np.full(128, UNKNOWN, dtype=np.int64)
for _index, _letter in enumerate(AF2_RESIDUES):
    _TABLE[ord(_letter)] = _index


def to_aatype(sequence: str) -> np.ndarray:
    """AlphaFold residue indices (int64) of a validated, upper-case sequence.

    Non-standard residues (X, B, Z, U, O) become 20 (``X``), as ESMFold's own ``infer`` does.
    """
    codes = np.frombuffer(sequence.encode("ascii"), dtype=np.uint8)
    return _TABLE[codes]


@dataclass(frozen=True)
class ChainLayout:
    """One folding input laid out for the model.

    Attributes:
        aatype: AlphaFold residue indices of the chains and linkers, ``[T]``.
        residue_index: position ids for the trunk, ``[T]``; jumps by the offset at each chain.
        keep: ``True`` for real residues, ``False`` for linker residues, ``[T]``.
        chain_index: chain number (0, 1...) of each kept residue, ``[L]``.
        residue_number: 1-based residue number within its chain for each kept residue, ``[L]``.
    """

    aatype: np.ndarray
    residue_index: np.ndarray
    keep: np.ndarray
    chain_index: np.ndarray
    residue_number: np.ndarray

    @property
    def total_length(self) -> int:
        """Residues the model sees, linkers included."""
        return int(self.aatype.shape[0])


def chain_layout(
    chains: tuple[str, ...], *, linker_length: int = 25, residue_index_offset: int = 512
) -> ChainLayout:
    """Join ``chains`` with glycine linkers and number them the way ESMFold does for complexes.

    Args:
        chains: validated chain sequences (one for a monomer).
        linker_length: glycines between consecutive chains (ESMFold uses 25).
        residue_index_offset: added to the residue index at each new chain (ESMFold uses 512).
    """
    aatype, residue_index, keep, chain_index, numbers = [], [], [], [], []
    linker = "G" * linker_length
    position = 0
    for number, chain in enumerate(chains):
        if number > 0:
            aatype.append(to_aatype(linker))
            # The linker carries the previous chain's offset, as in ESMFold's own encoding.
            previous = (number - 1) * residue_index_offset
            residue_index.append(np.arange(position, position + linker_length) + previous)
            keep.append(np.zeros(linker_length, dtype=bool))
            position += linker_length
        offset = number * residue_index_offset
        aatype.append(to_aatype(chain))
        residue_index.append(np.arange(position, position + len(chain)) + offset)
        keep.append(np.ones(len(chain), dtype=bool))
        chain_index.append(np.full(len(chain), number, dtype=np.int64))
        numbers.append(np.arange(1, len(chain) + 1))
        position += len(chain)
    return ChainLayout(
        aatype=np.concatenate(aatype),
        residue_index=np.concatenate(residue_index).astype(np.int64),
        keep=np.concatenate(keep),
        chain_index=np.concatenate(chain_index),
        residue_number=np.concatenate(numbers).astype(np.int64),
    )
