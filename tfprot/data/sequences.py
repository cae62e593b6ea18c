"""Validate and normalise protein sequences.

A protein sequence is upper-cased, stripped of white space (FASTA line breaks) and of one trailing
``*`` (a stop codon), and may then hold only the 20 standard amino acids plus the IUPAC extras
X (any), B (D/N), Z (E/Q), U (selenocysteine) and O (pyrrolysine). Anything else raises
:class:`~tfprot.errors.InvalidSequenceError` naming the record, the character and its position.

>>> clean_sequence("mkt ay\\nIAK*")
'MKTAYIAK'
>>> clean_sequence("MK1T", where="x.fasta, line 3, id 'p1'")
Traceback (most recent call last):
...
tfprot.errors.InvalidSequenceError: x.fasta, line 3, id 'p1': invalid character '1' at position 3 of 'MK1T'. ...
"""

from __future__ import annotations

import re

from tfprot.errors import InvalidSequenceError

__all__ = ["EXTENDED_RESIDUES", "RESIDUES", "STANDARD_RESIDUES", "clean_sequence"]

STANDARD_RESIDUES = "ACDEFGHIKLMNPQRSTVWY"
"""The 20 standard amino acids, in alphabetical order of one-letter code."""
EXTENDED_RESIDUES = "XBZUO"
"""Accepted extras: X any, B Asp/Asn, Z Glu/Gln, U selenocysteine, O pyrrolysine."""
RESIDUES = STANDARD_RESIDUES + EXTENDED_RESIDUES

_INVALID = re.compile(f"[^{RESIDUES}]")
_WHITESPACE = re.compile(r"\s+")
_NUCLEOTIDES = frozenset("ACGTUN")
# A real protein of this length made (almost) only of A, C, G, T/U, N letters, using at least three
# of them, is vanishingly rare; a DNA or RNA sequence always is. Short peptides are left alone.
_NUCLEOTIDE_MIN_LENGTH = 20
_NUCLEOTIDE_MIN_FRACTION = 0.95


def clean_sequence(raw: str, *, where: str = "sequence") -> str:
    """Return ``raw`` as a validated, upper-case protein sequence.

    Args:
        raw: the sequence as read (any case, may contain white space and a trailing ``*``).
        where: how to name the record in an error, e.g. ``"data.fasta, line 12, id 'P12345'"``.

    Returns:
        The sequence, upper-case, without white space or trailing ``*``.

    Raises:
        InvalidSequenceError: the sequence is empty, holds a character that is not one of
            ``RESIDUES`` (digits, ``J``, gaps, an inner ``*``...) or looks like DNA/RNA.

    >>> clean_sequence("ACDEFGHIKLMNPQRSTVWYXBZUO")
    'ACDEFGHIKLMNPQRSTVWYXBZUO'
    """
    if not isinstance(raw, str):
        raise InvalidSequenceError(
            f"{where}: a sequence must be a string of one-letter amino-acid codes, got "
            f"{type(raw).__name__} {raw!r}."
        )
    sequence = _WHITESPACE.sub("", raw).upper()
    if sequence.endswith("*"):
        sequence = sequence[:-1]
    if not sequence:
        raise InvalidSequenceError(
            f"{where}: empty sequence. Every record needs at least one residue; remove the record "
            "or fill in its sequence."
        )
    bad = _INVALID.search(sequence)
    if bad is not None:
        raise InvalidSequenceError(
            f"{where}: invalid character {bad.group()!r} at position {bad.start() + 1} of "
            f"{_excerpt(sequence, bad.start())}. {_advice(bad.group())}"
        )
    if _looks_like_nucleotides(sequence):
        raise InvalidSequenceError(
            f"{where}: {_excerpt(sequence, 0)} looks like a DNA/RNA sequence (only A, C, G, T/U, N "
            "letters), not a protein. Translate it to amino acids first."
        )
    return sequence


def _looks_like_nucleotides(sequence: str) -> bool:
    if len(sequence) < _NUCLEOTIDE_MIN_LENGTH:
        return False
    in_alphabet = sum(sequence.count(letter) for letter in _NUCLEOTIDES)
    distinct = len(_NUCLEOTIDES.intersection(sequence) - {"N"})
    return in_alphabet >= _NUCLEOTIDE_MIN_FRACTION * len(sequence) and distinct >= 3


def _advice(character: str) -> str:
    allowed = f"the 20 standard amino acids and {', '.join(EXTENDED_RESIDUES)}"
    if character in "-.":
        return f"Alignment gaps are not residues: remove the gaps. Allowed: {allowed}."
    if character == "*":
        return f"A stop codon '*' may only end a sequence. Allowed: {allowed}."
    if character.isdigit():
        return (
            f"Numbers are not residues (a numbered or GenBank-style sequence?). Allowed: {allowed}."
        )
    return f"Allowed: {allowed}; replace unknown residues by X."


def _excerpt(sequence: str, position: int, width: int = 30) -> str:
    """Quote the sequence, or the part of a long one around ``position``."""
    if len(sequence) <= 2 * width:
        return repr(sequence)
    start = max(0, position - width // 2)
    end = min(len(sequence), start + width)
    prefix = "..." if start > 0 else ""
    suffix = "..." if end < len(sequence) else ""
    return f"'{prefix}{sequence[start:end]}{suffix}' (length {len(sequence)})"
