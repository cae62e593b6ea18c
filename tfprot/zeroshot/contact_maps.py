"""Unsupervised contact maps from a masked language model's attention (``tfprot.contacts``).

ESM-2 checkpoints carry a contact head: a logistic regression over every layer's and head's
attention maps, symmetrised and corrected by the average product (Rao et al. 2021). transformers'
``predict_contacts`` computes it; here it runs in length-sorted batches under a token budget (one
compiled pass) and each sequence's ``L × L`` map of contact probabilities over its residues comes
back with the special tokens removed. tfprot's fused encoder layer hands attention maps over to
transformers' own computation, so the maps are transformers'.

:func:`contact_precisions` scores a map against a structure's contacts the way the field does:
precision of the top L, L/2 and L/5 predicted pairs at sequence separation ≥ 24 (long range);
:func:`structure_contacts` reads those contacts from a PDB file (Cβ–Cβ < 8 Å, Cα for glycine).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tfprot.errors import CheckpointError, DataFormatError
from tfprot.zeroshot.model import MaskedLanguageModel, load_masked_lm

__all__ = [
    "LONG_RANGE",
    "ContactMap",
    "contact_precisions",
    "contacts",
    "contacts_with",
    "structure_contacts",
]

LONG_RANGE = 24
"""The smallest sequence separation |i − j| of a long-range contact."""
CONTACT_DISTANCE = 8.0
"""Two residues are in contact when their Cβ atoms (Cα for glycine) are closer (Å)."""


@dataclass(frozen=True)
class ContactMap:
    """One sequence's contact probabilities ``[L, L]`` (float32, symmetric) over its residues."""

    id: str
    sequence: str
    probabilities: np.ndarray


def contacts(
    checkpoint: str | os.PathLike | MaskedLanguageModel,
    sequences: Any,
    *,
    precision: str = "auto",
    batch_tokens: int = 16384,
    progress: bool | None = None,
) -> list[ContactMap]:
    """Contact maps of ``sequences`` from a checkpoint's contact head.

    Args:
        checkpoint: an ESM-2 preset (``'esm2_t33_650M'``; ``'tiny-esm'`` is offline and
            untrained), Hub id or folder (PyTorch-only ones converted), or a loaded model.
        sequences: a FASTA/table path, sequence strings, or ``ProteinRecord``s.
        precision: the precision policy.
        batch_tokens: token budget of a batch.
        progress: progress bar (``None``: in a terminal or notebook).

    Returns:
        One :class:`ContactMap` per sequence, in input order.

    Raises:
        CheckpointError: the model has no contact head (not an ESM model), or the checkpoint
            lacks its weights.
        DataFormatError: a sequence longer than the model's window, naming it.

    >>> maps = contacts("tiny-esm", ["MKTAYIAKQR", "GGS"], precision="float32")
    >>> [m.probabilities.shape for m in maps]
    [(10, 10), (3, 3)]
    """
    from tfprot.data.readers import as_records

    records = as_records(sequences)
    model = load_masked_lm(checkpoint, precision=precision)
    return contacts_with(model, records, batch_tokens=batch_tokens, progress=progress)


def contacts_with(
    model: MaskedLanguageModel,
    records: Sequence[Any],
    *,
    batch_tokens: int = 16384,
    progress: bool | None = None,
) -> list[ContactMap]:
    """:func:`contacts` with a loaded model and ``ProteinRecord``s."""
    from tfprot.models.inference import run_batches

    if not hasattr(model.transformer, "predict_contacts"):
        raise CheckpointError(
            f"{model.name} ({type(model.transformer).__name__}) has no contact head; contact maps "
            "need an ESM-2 checkpoint."
        )
    untrained = [name for name in model.new_weights if "contact_head" in name]
    if untrained:
        raise CheckpointError(
            f"{model.name} has no contact head weights (missing: {', '.join(untrained)}); a "
            "random contact head's maps mean nothing. Use an ESM-2 checkpoint that carries one, "
            "such as facebook/esm2_t33_650M_UR50D."
        )
    for record in records:
        if len(record.sequence) > model.window:
            raise DataFormatError(
                f"{record.where}: {len(record.sequence)} residues, more than the "
                f"{model.window} {model.name} sees at once; contact maps are not stitched from "
                "windows. Split the sequence into domains."
            )
    input_ids = [model.tokenizer.encode(record.sequence) for record in records]
    maps: list[np.ndarray | None] = [None] * len(records)
    for index, row in run_batches(
        input_ids,
        int(model.tokenizer.pad_id),
        _contact_forward(model),
        batch_tokens=batch_tokens,
        progress=progress,
        desc="contacts",
        source=f"the checkpoint {model.name}",
    ):
        length = len(records[index].sequence)
        maps[index] = np.asarray(row[:length, :length], dtype=np.float32)
    return [
        ContactMap(record.id, record.sequence, probabilities)
        for record, probabilities in zip(records, maps, strict=True)
    ]


def _contact_forward(model: MaskedLanguageModel):
    import tensorflow as tf

    from tfprot.models.inference import BATCH_SIGNATURE

    transformer = model.transformer

    @tf.function(input_signature=BATCH_SIGNATURE, autograph=False)
    def forward(batch):
        maps = transformer.predict_contacts(batch["input_ids"], batch["attention_mask"])
        return tf.cast(maps, tf.float32)

    return lambda batch: forward(batch).numpy()


def contact_precisions(
    probabilities: np.ndarray,
    true_contacts: np.ndarray,
    *,
    min_separation: int = LONG_RANGE,
) -> dict[str, float]:
    """Precision of the top ``L``, ``L/2`` and ``L/5`` predicted pairs (i < j, j − i ≥
    ``min_separation``) against ``true_contacts`` (a boolean ``[L, L]`` map), as fair-esm's
    ``compute_precisions`` does; NaN where no pair is far enough apart.

    >>> true = np.zeros((30, 30), bool); true[0, 29] = true[29, 0] = True
    >>> guess = np.zeros((30, 30)); guess[0, 29] = guess[29, 0] = 0.9
    >>> contact_precisions(guess, true)
    {'P@L': 0.047..., 'P@L/2': 0.066..., 'P@L/5': 0.166...}
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    true_contacts = np.asarray(true_contacts, dtype=bool)
    if probabilities.shape != true_contacts.shape or probabilities.ndim != 2:
        raise DataFormatError(
            f"A contact map {probabilities.shape} and the structure's contacts "
            f"{true_contacts.shape} must be the same square size."
        )
    length = len(probabilities)
    rows, columns = np.triu_indices(length, k=min_separation)
    order = np.argsort(-probabilities[rows, columns], kind="stable")
    hits = true_contacts[rows, columns][order]
    result = {}
    for name, divisor in (("P@L", 1), ("P@L/2", 2), ("P@L/5", 5)):
        top = min(max(length // divisor, 1), len(hits))
        result[name] = float(hits[:top].mean()) if top else float("nan")
    return result


def structure_contacts(
    path: str | os.PathLike,
    sequence: str,
    *,
    chain: str | None = None,
    distance: float = CONTACT_DISTANCE,
) -> np.ndarray:
    """The boolean ``[L, L]`` contact map of a PDB (or mmCIF, ``.cif``) structure of
    ``sequence``: Cβ–Cβ (Cα for glycine, or where Cβ is missing) closer than ``distance`` Å.
    The chain is ``chain`` or the first one whose residues spell ``sequence``.

    Raises:
        DataFormatError: no chain of the file spells the sequence, naming the file and the chains'
            lengths.
        MissingDependencyError: Biopython is not installed.
    """
    coordinates = _chain_coordinates(path, sequence, chain)
    deltas = coordinates[:, None, :] - coordinates[None, :, :]
    return np.sqrt((deltas**2).sum(axis=-1)) < distance


def _chain_coordinates(path: str | os.PathLike, sequence: str, chain: str | None) -> np.ndarray:
    try:
        from Bio.PDB import MMCIFParser, PDBParser
        from Bio.PDB.Polypeptide import index_to_one, is_aa, three_to_index
    except ImportError as error:
        from tfprot.errors import MissingDependencyError

        raise MissingDependencyError(
            'Reading a structure needs Biopython: pip install "tfprot[zeroshot]".'
        ) from error
    parser = (
        MMCIFParser(QUIET=True) if str(path).lower().endswith(".cif") else PDBParser(QUIET=True)
    )
    structure = parser.get_structure("structure", os.fspath(path))
    model = next(iter(structure))
    found = []
    for candidate in model:
        if chain is not None and candidate.id != chain:
            continue
        residues = [r for r in candidate if is_aa(r, standard=False) and "CA" in r]
        letters = "".join(
            _one_letter(r.get_resname(), three_to_index, index_to_one) for r in residues
        )
        if letters == sequence:
            return np.array(
                [
                    (r["CB"] if "CB" in r and r.get_resname() != "GLY" else r["CA"]).coord
                    for r in residues
                ],
                dtype=np.float64,
            )
        found.append(f"chain {candidate.id!r}: {len(letters)} residues")
    which = f"chain {chain!r}" if chain else "no chain"
    raise DataFormatError(
        f"{path}: {which} spells the {len(sequence)}-residue sequence "
        f"({'; '.join(found) or 'no protein chains'}). Give the structure of this sequence "
        "(e.g. from tfprot fold)."
    )


def _one_letter(name: str, three_to_index, index_to_one) -> str:
    try:
        return index_to_one(three_to_index(name))
    except (KeyError, ValueError):
        return "X"
