"""Contact precision against a structure: contacts read from a PDB file (Cβ, Cα for glycine)
and precision of the top L, L/2, L/5 long-range pairs, against hand-written references."""

from __future__ import annotations

import numpy as np
import pytest

from tfprot.errors import DataFormatError
from tfprot.zeroshot import contact_precisions
from tfprot.zeroshot.contact_maps import structure_contacts

pytest.importorskip("Bio")


def _pdb(sequence: str, ca: np.ndarray, cb: np.ndarray, chain: str = "A") -> str:
    """PDB ATOM records (fixed columns) of Cα (and Cβ except glycine) per residue."""
    from Bio.Data.IUPACData import protein_letters_1to3

    lines, serial = [], 1
    for index, residue in enumerate(sequence):
        atoms = [("CA", ca[index])] + ([("CB", cb[index])] if residue != "G" else [])
        for name, (x, y, z) in atoms:
            lines.append(
                f"ATOM  {serial:5d}  {name:<3s} {protein_letters_1to3[residue].upper()} {chain}{index + 1:4d}    "
                f"{x:8.3f}{y:8.3f}{z:8.3f}  1.00  0.00           C"
            )
            serial += 1
    return "\n".join([*lines, "TER", "END"]) + "\n"


def test_structure_contacts_use_cb_and_ca_for_glycine(tmp_path):
    rng = np.random.default_rng(0)
    sequence = "".join(rng.choice(list("AGKLS"), 40))
    ca = rng.uniform(0, 25, size=(40, 3))
    cb = ca + rng.normal(0, 1.5, size=(40, 3))
    path = tmp_path / "x.pdb"
    path.write_text(_pdb(sequence, ca, cb))
    got = structure_contacts(path, sequence)
    expected = np.zeros((40, 40), bool)
    for i in range(40):
        for j in range(40):
            a = ca[i] if sequence[i] == "G" else cb[i]
            b = ca[j] if sequence[j] == "G" else cb[j]
            expected[i, j] = np.linalg.norm(np.round(a, 3) - np.round(b, 3)) < 8.0
    assert got.shape == (40, 40) and (got == expected).all()
    assert expected[np.triu_indices(40, 24)].any(), "the test needs long-range contacts"
    with pytest.raises(DataFormatError, match=r"x.pdb: no chain spells the 39-residue sequence"):
        structure_contacts(path, sequence[:-1])


def _brute_force(probabilities, truth, divisor, separation=24):
    length = len(probabilities)
    pairs = [(i, j) for i in range(length) for j in range(i + separation, length)]
    pairs.sort(key=lambda p: -probabilities[p])
    top = pairs[: max(length // divisor, 1)]
    return sum(truth[p] for p in top) / len(top)


def test_precision_at_l_matches_brute_force():
    rng = np.random.default_rng(1)
    length = 120
    probabilities = rng.uniform(size=(length, length))
    probabilities = (probabilities + probabilities.T) / 2
    truth = rng.uniform(size=(length, length)) < 0.1
    truth = truth | truth.T
    got = contact_precisions(probabilities, truth)
    for name, divisor in (("P@L", 1), ("P@L/2", 2), ("P@L/5", 5)):
        assert got[name] == pytest.approx(_brute_force(probabilities, truth, divisor))
    perfect = contact_precisions(truth.astype(float) + 0.01 * probabilities, truth)
    assert perfect["P@L/5"] == 1.0
