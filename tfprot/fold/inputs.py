"""Everything a user may pass to ``fold``, as checked folding inputs (or problems, by id).

Accepted: one sequence string, a list of strings (ids ``seq0``, ``seq1``...), ``(id, sequence)``
pairs, a ``{id: sequence}`` dict, a FASTA file (other formats through
:func:`tfprot.data.read_records`), :class:`~tfprot.data.ProteinRecord` lists, and the integer
outputs of the data pipeline: a ``tf.data.Dataset`` of batches (``{"input_ids", "attention_mask"}``
or ``(features, labels)``), tensors or arrays of token ids. Token ids are decoded with the
tokenizer that made them (default: the ESM-2 vocabulary) back to residues; ESMFold gets AlphaFold
indices from those (see :mod:`tfprot.fold.residues`).

A sequence written ``'SEQ_A:SEQ_B'`` is a complex of two chains. A sequence that fails
validation does not stop the others: it comes back as an :class:`InputProblem` naming its id,
and ``fold`` reports it in the summary.

>>> items = collect_inputs({"dimer": "MKTAY:GGSW", "bad": "MK1"})
>>> items[0]
FoldInput(id='dimer', chains=('MKTAY', 'GGSW'))
>>> items[1].message
"<memory>, id 'bad': invalid character '1' at position 3 of 'MK1'. ..."
>>> decode_token_ids([[0, 20, 15, 11, 2, 1]])  # ESM-2 ids of <cls> M K T <eos> <pad>
['MKT']
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from tfprot.data.records import ProteinRecord
from tfprot.data.sequences import clean_sequence
from tfprot.errors import DataFormatError, InvalidSequenceError

__all__ = ["FoldInput", "InputProblem", "collect_inputs", "decode_token_ids"]

CHAIN_SEPARATOR = ":"
_FASTA_SUFFIXES = (".fasta", ".fa", ".faa", ".fas", ".fasta.gz", ".fa.gz", ".faa.gz")


@dataclass(frozen=True)
class FoldInput:
    """One structure to predict: an id and one chain (monomer) or several (complex)."""

    id: str
    chains: tuple[str, ...]

    @property
    def length(self) -> int:
        """Residues over all chains, linkers excluded."""
        return sum(len(chain) for chain in self.chains)

    @property
    def sequence(self) -> str:
        """The chains joined by ``':'``, as a user writes a complex."""
        return CHAIN_SEPARATOR.join(self.chains)


@dataclass(frozen=True)
class InputProblem:
    """An input that cannot be folded: its id and why."""

    id: str
    message: str
    sequence: str = ""


def parse_chains(raw: str, *, where: str) -> tuple[str, ...]:
    """Validated chains of ``raw`` (``'A:B'`` for a complex); raises InvalidSequenceError."""
    if not isinstance(raw, str):
        raise InvalidSequenceError(
            f"{where}: a sequence must be a string of one-letter amino-acid codes, got "
            f"{type(raw).__name__}."
        )
    parts = raw.split(CHAIN_SEPARATOR)
    if len(parts) == 1:
        return (clean_sequence(raw, where=where),)
    return tuple(
        clean_sequence(part, where=f"{where}, chain {chr(ord('A') + i)}")
        for i, part in enumerate(parts)
    )


def _from_pairs(pairs: Iterable[tuple[str, str]], where: str) -> list[FoldInput | InputProblem]:
    items: list[FoldInput | InputProblem] = []
    seen: set[str] = set()
    for identifier, raw in pairs:
        identifier = str(identifier)
        if identifier in seen:
            raise DataFormatError(
                f"{where}: the id {identifier!r} appears twice; give each sequence its own id "
                "(outputs are named after it)."
            )
        seen.add(identifier)
        try:
            items.append(
                FoldInput(identifier, parse_chains(raw, where=f"{where}, id {identifier!r}"))
            )
        except InvalidSequenceError as error:
            items.append(InputProblem(identifier, str(error), raw if isinstance(raw, str) else ""))
    return items


def _from_file(path: Path) -> list[FoldInput | InputProblem]:
    from tfprot.data.fasta import iter_fasta
    from tfprot.data.readers import read_records

    if path.is_file() and path.name.lower().endswith(_FASTA_SUFFIXES):
        items: list[FoldInput | InputProblem] = []
        for entry in iter_fasta(path):  # raw bodies: each one validated on its own
            try:
                items.append(FoldInput(entry.id, parse_chains(entry.body, where=entry.where)))
            except InvalidSequenceError as error:
                items.append(InputProblem(entry.id, str(error), entry.body))
        return items
    return [FoldInput(record.id, (record.sequence,)) for record in read_records(path)]


def collect_inputs(inputs: Any, *, tokenizer: Any = None) -> list[FoldInput | InputProblem]:
    """Folding inputs from any accepted form, in input order.

    Args:
        inputs: see the module docstring.
        tokenizer: the :class:`~tfprot.data.ProteinTokenizer` that produced token ids, when the
            inputs are ids from a tokenizer other than ESM-2's.

    Raises:
        DataFormatError: empty input, duplicate ids, or a type tfprot cannot read.
        DataFileNotFoundError: a path that does not exist.
    """
    if isinstance(inputs, (str, os.PathLike)):
        text = os.fspath(inputs)
        path = Path(text)
        if isinstance(inputs, os.PathLike) or (
            len(text) < 4096 and (path.exists() or os.sep in text or "." in text)
        ):
            if not path.exists():
                from tfprot.errors import DataFileNotFoundError

                raise DataFileNotFoundError(f"{text}: no such file or folder.")
            items = _from_file(path)
        else:
            items = _from_pairs([("seq0", text)], "<memory>")
    elif isinstance(inputs, Mapping):
        items = _from_pairs(inputs.items(), "<memory>")
    elif _is_token_source(inputs):
        sequences = decode_token_ids(inputs, tokenizer=tokenizer)
        items = _from_pairs(((f"seq{i}", s) for i, s in enumerate(sequences)), "token ids")
    else:
        values = list(inputs)
        if values and all(isinstance(v, ProteinRecord) for v in values):
            items = _from_pairs(((r.id, r.sequence) for r in values), "records")
        elif values and all(isinstance(v, str) for v in values):
            items = _from_pairs(((f"seq{i}", s) for i, s in enumerate(values)), "<memory>")
        elif values and all(isinstance(v, (tuple, list)) and len(v) == 2 for v in values):
            items = _from_pairs(((str(i), s) for i, s in values), "<memory>")
        elif values:
            raise DataFormatError(
                f"Cannot fold {type(values[0]).__name__} items: pass sequence strings, "
                "(id, sequence) pairs, ProteinRecords, a FASTA path or token ids."
            )
        else:
            items = []
    if not items:
        raise DataFormatError("No sequences given: the input is empty.")
    return items


def _is_token_source(inputs: Any) -> bool:
    module = type(inputs).__module__
    return isinstance(inputs, np.ndarray) or module.startswith(("tensorflow", "torch"))


def _vocabulary(tokenizer: Any) -> list[str]:
    if tokenizer is None:
        text = (resources.files("tfprot") / "_resources" / "esm2_vocab.txt").read_text()
        return text.split()
    hf = getattr(tokenizer, "tokenizer", tokenizer)
    vocabulary = hf.get_vocab()
    tokens = [""] * (max(vocabulary.values()) + 1)
    for token, index in vocabulary.items():
        tokens[index] = token
    return tokens


def _rows(source: Any) -> Iterable[tuple[np.ndarray, np.ndarray | None]]:
    """(ids, mask) rows of a dataset of batches, a batch, or one tensor/array."""
    module = type(source).__module__
    if module.startswith("tensorflow") and hasattr(source, "as_numpy_iterator"):
        for element in source.as_numpy_iterator():
            yield from _rows_of_batch(element)
        return
    yield from _rows_of_batch(source)


def _rows_of_batch(element: Any) -> Iterable[tuple[np.ndarray, np.ndarray | None]]:
    if isinstance(element, tuple):  # (features, labels[, sample_weight])
        element = element[0]
    if isinstance(element, Mapping):
        ids = np.asarray(element["input_ids"])
        mask = element.get("attention_mask")
        mask = None if mask is None else np.asarray(mask)
    else:
        ids, mask = np.asarray(element), None
    if ids.ndim == 1:
        ids = ids[None, :]
        mask = None if mask is None else mask[None, :]
    if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
        raise DataFormatError(
            f"Token ids must be an integer array [batch, length] or [length], got {ids.dtype} "
            f"with shape {ids.shape}."
        )
    for row in range(ids.shape[0]):
        yield ids[row], None if mask is None else mask[row]


def decode_token_ids(source: Any, *, tokenizer: Any = None) -> list[str]:
    """Residue strings of token-id rows (special tokens and padding removed).

    Args:
        source: a ``tf.data.Dataset`` of batches, a dict with ``input_ids`` (and
            ``attention_mask``), or an integer tensor/array ``[batch, length]`` or ``[length]``.
        tokenizer: the ProteinTokenizer (or 🤗 tokenizer) that made the ids; default ESM-2.

    Returns:
        One string per row; a row holding a token that is not a residue (``<mask>``, ``<unk>``,
        a gap) comes back with that token in it, so validation names the row.
    """
    vocabulary = _vocabulary(tokenizer)
    sequences = []
    for ids, mask in _rows(source):
        if mask is not None:
            ids = ids[np.asarray(mask) != 0]
        letters = []
        for index in ids.tolist():
            token = vocabulary[index] if 0 <= index < len(vocabulary) else f"<id {index}>"
            if token in ("<cls>", "<eos>", "<pad>", "[CLS]", "[SEP]", "[PAD]"):
                continue
            # A token that is not a residue stays in the text: validation names it and the row.
            letters.append(token)
        sequences.append("".join(letters))
    return sequences


def split_inputs(
    items: Sequence[FoldInput | InputProblem],
) -> tuple[list[FoldInput], list[InputProblem]]:
    """The foldable inputs and the problems, each in input order."""
    good = [item for item in items if isinstance(item, FoldInput)]
    bad = [item for item in items if isinstance(item, InputProblem)]
    return good, bad
