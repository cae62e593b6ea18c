"""The checkpoint's own tokenizer, with the residue convention the checkpoint expects.

Protein language models tokenize one residue per token, but their tokenizers disagree on how the
text must look: ESM-2 reads ``'MKTAY'`` as it is and adds ``<cls>``/``<eos>``; ProtBERT-style
(WordPiece) tokenizers need residues separated by spaces (``'M K T A Y'``) and, by the Rostlab
convention, the rare residues U, Z, O, B written as X. :class:`ProteinTokenizer` detects the
convention by probing the tokenizer itself, and then encodes through a lookup table derived from
(and checked against) that tokenizer, which is much faster than calling it per sequence.

>>> tokenizer = ProteinTokenizer.from_pretrained("tiny-esm")
>>> tokenizer.encode("MKTAY").tolist()
[0, 20, 15, 11, 5, 19, 2]
>>> tokenizer.convention
'per-residue'
"""

from __future__ import annotations

import json
import logging
import os
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from tfprot._hub import load_checkpoint
from tfprot.data.sequences import RESIDUES, STANDARD_RESIDUES
from tfprot.errors import CheckpointError, DataFormatError
from tfprot.presets import resolve_preset

__all__ = ["ProteinTokenizer", "esm2_vocab_file"]

logger = logging.getLogger(__name__)

CONVENTION_FILE = "tfprot_tokenizer.json"
RARE_RESIDUES = "UZOB"
_PROBE = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQFEVVHSLAKWKRQTLGQHDFSAGEGLYTHMKALRPDEDRLSPLHSVYVDQWDWERVMGDGERQFSTLKSTVEAIWAGIKATEAAVSEEFGLAPFLPDQIHFVHSQELLSRYPDLDAKGRERAIAKDLGAVFLVGIGGKLSDGHRHDVRAPDYDDWUZOBX"


def esm2_vocab_file() -> Path:
    """Path of the 33-token ESM-2 vocabulary shipped with tfprot (identical for all ESM-2 sizes)."""
    return Path(str(resources.files("tfprot") / "_resources" / "esm2_vocab.txt"))


class ProteinTokenizer:
    """Turns protein sequences into the token ids a checkpoint expects.

    Args:
        tokenizer: a 🤗 tokenizer (``EsmTokenizer``, ``BertTokenizer``...).
        spaced: residues must be separated by spaces; ``None`` detects it.
        rare_residues_to_x: write U, Z, O, B as X; ``None``: yes for spaced (ProtBERT/ProtT5
            convention), no otherwise.
        max_length: the most tokens (special tokens included) the model takes; ``None``: the
            tokenizer's ``model_max_length`` when it is finite, else 1024.

    Raises:
        CheckpointError: the tokenizer does not give one token per residue in either convention.
    """

    def __init__(
        self,
        tokenizer: Any,
        *,
        spaced: bool | None = None,
        rare_residues_to_x: bool | None = None,
        max_length: int | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.spaced = self._detect_spaced() if spaced is None else bool(spaced)
        self.rare_residues_to_x = (
            self.spaced if rare_residues_to_x is None else bool(rare_residues_to_x)
        )
        model_max = getattr(tokenizer, "model_max_length", None) or 0
        self.max_length = int(max_length or (model_max if 0 < model_max < 1_000_000 else 1024))
        if self.pad_id is None:
            raise CheckpointError(
                f"{type(tokenizer).__name__} has no padding token; tfprot needs one to batch."
            )
        self._table, self.prefix, self.suffix = self._build_table()
        if self.max_length <= len(self.prefix) + len(self.suffix):
            raise DataFormatError(f"max_length {self.max_length} leaves no room for residues.")

    # ----------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, checkpoint: str | os.PathLike, **kwargs: Any) -> ProteinTokenizer:
        """Load the tokenizer of a preset (``'tiny-esm'``, ``'esm2_t6_8M'``), a local folder or a
        Hub id. A folder saved by :meth:`save_pretrained` keeps its convention."""
        name = os.fspath(checkpoint)
        preset = resolve_preset(name)
        if preset is not None and preset.checkpoint is None:
            from transformers import EsmTokenizer

            hf = EsmTokenizer(vocab_file=str(esm2_vocab_file()), model_max_length=1024)
            return cls(hf, **kwargs)
        if preset is not None:
            name = preset.checkpoint
        from transformers import AutoTokenizer

        hf = load_checkpoint(AutoTokenizer.from_pretrained, name, "tokenizer")
        saved = Path(name) / CONVENTION_FILE
        if saved.is_file():
            stored = json.loads(saved.read_text())
            for key in ("spaced", "rare_residues_to_x", "max_length"):
                kwargs.setdefault(key, stored.get(key))
        return cls(hf, **kwargs)

    def save_pretrained(self, folder: str | os.PathLike) -> None:
        """Save the 🤗 tokenizer and tfprot's convention beside it."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.tokenizer.save_pretrained(str(folder))
        from tfprot._io import write_text_atomic

        write_text_atomic(folder / CONVENTION_FILE, json.dumps(self.get_config(), indent=2) + "\n")

    def get_config(self) -> dict[str, Any]:
        return {
            "spaced": self.spaced,
            "rare_residues_to_x": self.rare_residues_to_x,
            "max_length": self.max_length,
        }

    # ----------------------------------------------------------------------------------------
    @property
    def convention(self) -> str:
        """``'per-residue'`` (ESM-2) or ``'spaced'`` (ProtBERT)."""
        return "spaced" if self.spaced else "per-residue"

    @property
    def pad_id(self) -> int | None:
        return self.tokenizer.pad_token_id

    @property
    def vocab_size(self) -> int:
        return len(self.tokenizer)

    @property
    def residue_offset(self) -> int:
        """Index of the first residue's token (the number of special tokens before it)."""
        return len(self.prefix)

    @property
    def max_residues(self) -> int:
        """The most residues that fit in ``max_length`` tokens."""
        return self.max_length - len(self.prefix) - len(self.suffix)

    def text(self, sequence: str) -> str:
        """The text the 🤗 tokenizer must see for ``sequence`` under this convention.

        >>> ProteinTokenizer.from_pretrained("tiny-esm").text("MKU")
        'MKU'
        """
        if self.rare_residues_to_x:
            sequence = sequence.translate(_RARE_TO_X)
        return " ".join(sequence) if self.spaced else sequence

    def encode(self, sequence: str, *, add_special_tokens: bool = True) -> np.ndarray:
        """Token ids (int32) of a validated sequence, one per residue, not truncated."""
        codes = np.frombuffer(sequence.encode("ascii"), dtype=np.uint8)
        ids = self._table[codes]
        if (ids < 0).any():
            bad = sequence[int(np.argmax(ids < 0))]
            raise DataFormatError(
                f"residue {bad!r} has no token; validate sequences with clean_sequence first."
            )
        if not add_special_tokens:
            return ids
        return np.concatenate([self.prefix, ids, self.suffix]).astype(np.int32)

    def __repr__(self) -> str:
        return (
            f"ProteinTokenizer({type(self.tokenizer).__name__}, convention={self.convention!r}, "
            f"rare_residues_to_x={self.rare_residues_to_x}, max_length={self.max_length})"
        )

    # ----------------------------------------------------------------------------------------
    def _ids(self, text: str, special: bool = False) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=special)["input_ids"])

    def _detect_spaced(self) -> bool:
        single = [self._ids(r) for r in "ACDE"]
        if any(len(ids) != 1 for ids in single):
            raise CheckpointError(
                f"{type(self.tokenizer).__name__} does not tokenize single residues to one token "
                f"each ({dict(zip('ACDE', single, strict=False))}); tfprot needs a per-residue protein tokenizer."
            )
        expected = [ids[0] for ids in single]
        if self._ids("ACDE") == expected:
            return False
        if self._ids("A C D E") == expected:
            return True
        raise CheckpointError(
            f"{type(self.tokenizer).__name__} tokenizes neither 'ACDE' nor 'A C D E' one residue per "
            "token; tfprot needs a per-residue protein tokenizer."
        )

    def _build_table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        table = np.full(256, -1, dtype=np.int32)
        unknown = []
        for residue in RESIDUES:
            ids = self._ids(self.text(residue))
            if len(ids) != 1:
                raise CheckpointError(
                    f"{type(self.tokenizer).__name__} splits residue {residue!r} into {ids}; tfprot "
                    "needs one token per residue."
                )
            table[ord(residue)] = ids[0]
            if ids[0] == self.tokenizer.unk_token_id:
                unknown.append(residue)
        standard_unknown = [r for r in unknown if r in STANDARD_RESIDUES]
        if standard_unknown:
            raise CheckpointError(
                f"{type(self.tokenizer).__name__} has no token for the standard residues "
                f"{''.join(standard_unknown)} (does it lower-case its input?); it is not a protein "
                "tokenizer tfprot can use."
            )
        if unknown:
            logger.warning(
                "%s has no token for residues %s; they are encoded as the unknown token.",
                type(self.tokenizer).__name__,
                "".join(unknown),
            )
        with_special = self._ids(self.text("A"), special=True)
        at = with_special.index(int(table[ord("A")]))
        prefix = np.array(with_special[:at], dtype=np.int32)
        suffix = np.array(with_special[at + 1 :], dtype=np.int32)
        # The table must reproduce the tokenizer itself on a long, varied sequence.
        expected = self._ids(self.text(_PROBE), special=True)
        got = np.concatenate(
            [prefix, table[np.frombuffer(_PROBE.encode(), np.uint8)], suffix]
        ).tolist()
        if got != expected:
            raise CheckpointError(
                f"{type(self.tokenizer).__name__} does not encode a protein as one token per residue "
                "between its special tokens; tfprot cannot align per-residue labels with it."
            )
        return table, prefix, suffix


_RARE_TO_X = str.maketrans({residue: "X" for residue in RARE_RESIDUES})
