"""Write a predicted structure as PDB text: chains A, B..., per-chain numbering, pLDDT B-factors.

Every atom of a residue carries that residue's pLDDT (0-100) in the B-factor column, the
AlphaFold DB convention, so a viewer colouring by B-factor colours by confidence.

>>> import numpy as np
>>> positions = np.zeros((1, 37, 3)); mask = np.zeros((1, 37)); mask[0, :3] = 1
>>> text = structure_to_pdb(np.array([0]), positions, mask, np.array([87.5]),
...                         chain_index=np.array([0]), residue_number=np.array([1]))
>>> print(text.splitlines()[0])
ATOM      1  N   ALA A   1       0.000   0.000   0.000  1.00 87.50           N
"""

from __future__ import annotations

import numpy as np

__all__ = ["ATOM_TYPES", "CHAIN_IDS", "structure_to_pdb"]

ATOM_TYPES = tuple(
    [
        "N",
        "CA",
        "C",
        "CB",
        "O",
        "CG",
        "CG1",
        "CG2",
        "OG",
        "OG1",
        "SG",
        "CD",
        "CD1",
        "CD2",
        "ND1",
        "ND2",
        "OD1",
        "OD2",
        "SD",
        "CE",
        "CE1",
        "CE2",
        "CE3",
        "NE",
        "NE1",
        "NE2",
        "OE1",
        "OE2",
        "CH2",
        "NH1",
        "NH2",
        "OH",
        "CZ",
        "CZ2",
        "CZ3",
        "NZ",
        "OXT",
    ]
)
"""The 37 atom names of AlphaFold's atom37 layout, in order."""

_RESIDUE_NAMES = tuple(
    [
        "ALA",
        "ARG",
        "ASN",
        "ASP",
        "CYS",
        "GLN",
        "GLU",
        "GLY",
        "HIS",
        "ILE",
        "LEU",
        "LYS",
        "MET",
        "PHE",
        "PRO",
        "SER",
        "THR",
        "TRP",
        "TYR",
        "VAL",
        "UNK",
    ]
)
CHAIN_IDS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
"""PDB chain ids given to chains 0, 1, 2..."""


def structure_to_pdb(
    aatype: np.ndarray,
    positions: np.ndarray,
    atom_mask: np.ndarray,
    plddt: np.ndarray,
    *,
    chain_index: np.ndarray,
    residue_number: np.ndarray,
    remarks: tuple[str, ...] = (),
) -> str:
    """PDB text for one structure.

    Args:
        aatype: AlphaFold residue indices ``[L]`` (20 = unknown, written ``UNK``).
        positions: atom37 coordinates in ångström, ``[L, 37, 3]``.
        atom_mask: 1 where the atom exists, ``[L, 37]``.
        plddt: per-residue pLDDT (0-100), ``[L]``; written as every atom's B-factor.
        chain_index: chain number of each residue, ``[L]``.
        residue_number: residue number within its chain (from 1), ``[L]``.
        remarks: lines written as ``REMARK 250`` records at the top.
    """
    if int(chain_index.max(initial=0)) >= len(CHAIN_IDS):
        raise ValueError(f"At most {len(CHAIN_IDS)} chains fit in a PDB file.")
    lines = [f"REMARK 250 {remark}"[:80] for remark in remarks]
    serial = 1
    count = len(aatype)
    for i in range(count):
        name = _RESIDUE_NAMES[int(aatype[i])]
        chain = CHAIN_IDS[int(chain_index[i])]
        number = int(residue_number[i])
        for atom in np.flatnonzero(atom_mask[i] > 0.5):
            atom_name = ATOM_TYPES[atom]
            x, y, z = (float(v) for v in positions[i, atom])
            padded = atom_name if len(atom_name) == 4 else f" {atom_name}"
            lines.append(
                f"ATOM  {serial:>5} {padded:<4} {name:>3} {chain}{number:>4}    "
                f"{x:>8.3f}{y:>8.3f}{z:>8.3f}{1.0:>6.2f}{float(plddt[i]):>6.2f}          "
                f"{atom_name[0]:>2}"
            )
            serial += 1
        if i == count - 1 or chain_index[i + 1] != chain_index[i]:
            lines.append(f"TER   {serial:>5}      {name:>3} {chain}{number:>4}")
            serial += 1
    lines.append("END")
    return "\n".join(lines) + "\n"
