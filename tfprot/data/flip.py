"""Read FLIP-style benchmark splits (Dallago et al. 2021, github.com/J-SNACKKB/FLIP).

A FLIP split is a labels FASTA whose headers carry ``SET=train|test`` and ``VALIDATION=True|False``
and, for sequence-level tasks, ``TARGET=<value>``. Its body is:

- one label character per residue (token tasks), with the sequences in ``sequences.fasta`` beside
  it and, optionally, ``mask.fasta`` holding ``1`` (resolved, counts) or ``0`` (unresolved,
  excluded from loss and metrics) per residue;
- or, with ``TARGET=``, the sequence itself (FLIP's single-file format), unless a
  ``sequences.fasta`` is given, in which case the body may be empty or must equal that sequence.

``SET=train`` with ``VALIDATION=True`` is the validation split.

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "sequences.fasta").write_text(">a\\nMKTAY\\n>b\\nGGSW\\n")
>>> _ = (folder / "sampled.fasta").write_text(
...     ">a SET=train VALIDATION=False\\nCCHHC\\n>b SET=test VALIDATION=False\\nCEEC\\n")
>>> _ = (folder / "mask.fasta").write_text(">a\\n01111\\n>b\\n1110\\n")
>>> [(r.id, r.residue_labels, r.mask, r.split) for r in read_flip(folder)]
[('a', 'CCHHC', (False, True, True, True, True), 'train'), ('b', 'CEEC', (True, True, True, False), 'test')]
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from tfprot.data._files import stem
from tfprot.data.duplicates import check_duplicates_option, resolve_duplicates
from tfprot.data.fasta import FastaEntry, iter_fasta
from tfprot.data.fasta_dir import fasta_files
from tfprot.data.records import ProteinRecord, Source
from tfprot.data.sequences import clean_sequence
from tfprot.data.table import parse_split
from tfprot.errors import DataFileNotFoundError, DataFormatError

__all__ = ["flip_split_names", "read_flip"]

logger = logging.getLogger(__name__)

SEQUENCES_FILE = "sequences"
MASK_FILE = "mask"


def flip_split_names(folder: str | os.PathLike) -> list[str]:
    """The split (labels) files in a FLIP task folder: every FASTA but sequences and mask."""
    return [stem(p) for p in fasta_files(folder) if stem(p) not in (SEQUENCES_FILE, MASK_FILE)]


def read_flip(
    path: str | os.PathLike,
    *,
    split: str | None = None,
    sequences: str | os.PathLike | None = None,
    mask: str | os.PathLike | None = None,
    duplicates: str = "error",
) -> list[ProteinRecord]:
    """Read a FLIP split into records with ``split`` set from ``SET``/``VALIDATION``.

    Args:
        path: a FLIP task folder (``sequences.fasta``, one or more split files, optional
            ``mask.fasta``) or a split file itself.
        split: which split file of a folder to read (e.g. ``'sampled'``); needed only when the
            folder holds several.
        sequences, mask: override the ``sequences.fasta``/``mask.fasta`` found beside the split.
        duplicates: an id listed twice in the split file with different labels or sets is an
            error (``'error'``), or keeps its ``'first'`` or ``'last'`` entry; exact repeats are
            kept once (and logged). See :func:`tfprot.data.duplicates.resolve_duplicates`.

    Returns:
        One record per id of the split file, in its order: per-residue labels (``residue_labels``
        and ``mask``) for token tasks, ``label`` (the TARGET text) for sequence tasks.

    Raises:
        DataFormatError: a label string whose length differs from its sequence, an id missing from
            ``sequences.fasta`` or ``mask.fasta``, a bad mask character, an unknown SET value, ids
            repeated with different labels or sets, a file that is not UTF-8 text.
        OptionError: an unknown ``duplicates`` value.
    """
    check_duplicates_option(duplicates)
    labels_path, sequences_path, mask_path = _locate(Path(path), split, sequences, mask)
    sequence_entries = _by_id(sequences_path) if sequences_path else None
    mask_entries = _by_id(mask_path) if mask_path else None
    records: list[ProteinRecord] = []
    for entry in iter_fasta(labels_path, unique_ids=False):
        keys = _header_keys(entry)
        record_split = _split_of(keys, entry)
        source = Source(entry.path, line=entry.line)
        if "TARGET" in keys:
            sequence = _sequence_for_target(entry, sequence_entries, sequences_path)
            records.append(
                ProteinRecord(
                    entry.id, sequence, label=keys["TARGET"], split=record_split, source=source
                )
            )
            continue
        if sequence_entries is None:
            raise DataFormatError(
                f"{entry.where}: no TARGET= in the header, so the body is per-residue labels, but there "
                f"is no {SEQUENCES_FILE}.fasta beside {labels_path}; pass sequences=..."
            )
        sequence_entry = _lookup(sequence_entries, entry, sequences_path)
        sequence = clean_sequence(sequence_entry.body, where=sequence_entry.where)
        if len(entry.body) != len(sequence):
            raise DataFormatError(
                f"{entry.where}: {len(entry.body)} residue labels for a sequence of {len(sequence)} "
                f"residues ({sequence_entry.where}). Each residue needs exactly one label."
            )
        record_mask = None
        if mask_entries is not None:
            record_mask = _parse_mask(_lookup(mask_entries, entry, mask_path), len(sequence))
        records.append(
            ProteinRecord(
                entry.id,
                sequence,
                residue_labels=entry.body,
                mask=record_mask,
                split=record_split,
                description=entry.description,
                source=source,
            )
        )
    if not records:
        raise DataFormatError(f"{labels_path}: no entries in this FLIP split file.")
    records = resolve_duplicates(records, duplicates)
    if sequence_entries is not None and len(sequence_entries) > len(records):
        logger.info(
            "%s: %d of %d sequences in %s are not in this split and are not used.",
            labels_path,
            len(sequence_entries) - len(records),
            len(sequence_entries),
            sequences_path,
        )
    return records


def _locate(path: Path, split, sequences, mask) -> tuple[Path, Path | None, Path | None]:
    if not path.exists():
        raise DataFileNotFoundError(f"{path}: no such FLIP folder or split file.")
    if path.is_dir():
        names = flip_split_names(path)
        if split is None:
            if len(names) != 1:
                raise DataFormatError(
                    f"{path}: {'no split file' if not names else 'several split files'} "
                    f"({', '.join(names) or 'none'}); choose one with split=NAME."
                )
            split = names[0]
        files = {stem(p): p for p in fasta_files(path)}
        if split not in files or split in (SEQUENCES_FILE, MASK_FILE):
            raise DataFormatError(f"{path}: no split {split!r}; the splits here are {names}.")
        labels_path, folder = files[split], path
    else:
        labels_path, folder = path, path.parent
        files = {stem(p): p for p in fasta_files(folder)}
    sequences_path = Path(sequences) if sequences else files.get(SEQUENCES_FILE)
    mask_path = Path(mask) if mask else files.get(MASK_FILE)
    return labels_path, sequences_path, mask_path


def _by_id(path: Path) -> dict[str, FastaEntry]:
    return {entry.id: entry for entry in iter_fasta(path)}


def _lookup(entries: dict[str, FastaEntry], entry: FastaEntry, path: Path | None) -> FastaEntry:
    found = entries.get(entry.id)
    if found is None:
        raise DataFormatError(f"{entry.where}: id {entry.id!r} is not in {path}.")
    return found


def _header_keys(entry: FastaEntry) -> dict[str, str]:
    keys = {}
    for word in entry.description.split():
        if "=" in word:
            key, value = word.split("=", 1)
            keys[key.upper()] = value
    return keys


def _split_of(keys: dict[str, str], entry: FastaEntry) -> str | None:
    if "SET" not in keys:
        return None
    split = parse_split(keys["SET"], entry.where)
    if keys.get("VALIDATION", "False").strip().lower() == "true":
        if split != "train":
            raise DataFormatError(
                f"{entry.where}: VALIDATION=True on a {split!r} entry; only train entries can be validation."
            )
        split = "validation"
    return split


def _sequence_for_target(entry: FastaEntry, sequence_entries, sequences_path) -> str:
    if sequence_entries is None:
        return clean_sequence(entry.body, where=entry.where)
    sequence_entry = _lookup(sequence_entries, entry, sequences_path)
    sequence = clean_sequence(sequence_entry.body, where=sequence_entry.where)
    if entry.body and clean_sequence(entry.body, where=entry.where) != sequence:
        raise DataFormatError(
            f"{entry.where}: the body differs from the sequence in {sequence_entry.where}."
        )
    return sequence


def _parse_mask(entry: FastaEntry, length: int) -> tuple[bool, ...]:
    if len(entry.body) != length:
        raise DataFormatError(
            f"{entry.where}: {len(entry.body)} mask digits for a sequence of {length} residues."
        )
    bad = next((i for i, c in enumerate(entry.body) if c not in "01"), None)
    if bad is not None:
        raise DataFormatError(
            f"{entry.where}: mask character {entry.body[bad]!r} at position {bad + 1}; a mask holds "
            "only 1 (resolved) and 0 (unresolved)."
        )
    return tuple(c == "1" for c in entry.body)
