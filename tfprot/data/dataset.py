"""``ProteinDataset``: labelled records of one task, split, with their label vocabulary.

It is the object the rest of tfprot consumes: it checks every label once when built (so a bad
label fails here, naming its record, and not mid-training), keeps the vocabulary that the model
will carry as ``id2label``, and builds the ``tf.data`` pipeline of each split for a tokenizer.

>>> import tfprot
>>> data = tfprot.ProteinDataset.example()            # bundled cytosol vs plasma membrane
>>> data.task.value, data.label_encoder.classes
('classification', ('cytoplasmic', 'plasma_membrane'))
>>> tokenizer = tfprot.ProteinTokenizer.from_pretrained("tiny-esm")
>>> train = data.tf_dataset("train", tokenizer, batch_tokens=4096)
>>> sorted(train.element_spec[0])
['attention_mask', 'input_ids']
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from tfprot.data.batching import Batching, make_tf_dataset
from tfprot.data.encoding import EncodedExamples, encode_records
from tfprot.data.labels import LabelEncoder, infer_task
from tfprot.data.readers import read_records
from tfprot.data.records import SPLITS, ProteinRecord
from tfprot.data.splits import resolve_splits
from tfprot.data.tokenizer import ProteinTokenizer
from tfprot.errors import DataFormatError, LabelError
from tfprot.tasks import ProteinTask, Task, task_for

__all__ = ["EXAMPLES", "ProteinDataset", "example_path"]

logger = logging.getLogger(__name__)

EXAMPLES = {
    "cytosol_membrane": (
        "Cytoplasmic vs plasma-membrane proteins: 1,411 + 1,238 UniProt sequences from the "
        "homology-reduced MultiLoc data set (Höglund et al. 2006, Bioinformatics 22:1158)."
    ),
}


def example_path(name: str = "cytosol_membrane") -> Path:
    """Folder of a data set bundled with tfprot (one FASTA per class).

    >>> sorted(p.name for p in example_path().glob("*.fasta.gz"))
    ['cytoplasmic.fasta.gz', 'plasma_membrane.fasta.gz']
    """
    if name not in EXAMPLES:
        raise DataFormatError(
            f"Unknown bundled data set {name!r}. Expect one of {sorted(EXAMPLES)}."
        )
    return Path(str(resources.files("tfprot") / "data" / "bundled" / name))


class ProteinDataset:
    """Records of one task, split into train/validation/test, with the label vocabulary.

    Args:
        records: the records (from any reader).
        task: ``'classification'``, ``'multilabel'``, ``'regression'``, ``'token'`` (any name
            :func:`tfprot.tasks.task_names` lists, or a :class:`~tfprot.tasks.ProteinTask`);
            ``None`` infers it from the labels and logs the guess.
        label_encoder: a vocabulary to reuse (e.g. a trained model's); by default built from the
            training split.
        separator: splits multi-label strings.
        fractions: train/validation/test shares when the records carry no split.
        validation_fraction: share of train moved to validation when the data has no validation.
        seed: seed of the random split.
        name: a name for summaries.

    Raises:
        DataFormatError: no records, or no training records.
        LabelError: any missing, unknown or invalid label in any split, naming its record.
    """

    def __init__(
        self,
        records: Iterable[ProteinRecord],
        task: ProteinTask | Task | str | None = None,
        *,
        label_encoder: LabelEncoder | None = None,
        separator: str = ";",
        fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
        validation_fraction: float = 0.1,
        seed: int = 0,
        name: str = "data",
    ) -> None:
        records = list(records)
        if not records:
            raise DataFormatError(f"{name}: no records.")
        if task is None:
            task = label_encoder.task if label_encoder else infer_task(records, separator)
        self.task = task_for(task)
        self.name = name
        self.splits = resolve_splits(
            records,
            fractions=fractions,
            validation_fraction=validation_fraction,
            seed=seed,
            stratify_key=self.task.stratify_key(separator),
        )
        if not self.splits["train"]:
            raise DataFormatError(
                f"{name}: no training records; check the split column or fractions."
            )
        if label_encoder is not None and label_encoder.task != self.task:
            raise LabelError(
                f"{name}: the label encoder is for {label_encoder.task.name!r}, the task is "
                f"{self.task.name!r}."
            )
        self.label_encoder = label_encoder or LabelEncoder.fit(
            self.splits["train"], self.task, separator=separator
        )
        for split in SPLITS:  # every label is checked now, not mid-training
            for record in self.splits[split]:
                self.label_encoder.encode(record)
        self._encoded: dict[tuple[str, ProteinTokenizer, int], EncodedExamples] = {}

    # ---------------------------------------------------------------------------------------
    @classmethod
    def from_path(
        cls,
        path: str | os.PathLike,
        task: ProteinTask | Task | str | None = None,
        *,
        format: str = "auto",
        reader_options: dict[str, Any] | None = None,
        duplicates: str = "error",
        **options: Any,
    ) -> ProteinDataset:
        """Read records with :func:`tfprot.data.read_records` and build the data set.

        ``reader_options`` go to the reader (column names, FLIP ``split``); ``duplicates``
        (``'error'``, ``'first'``, ``'last'``) says what to do with ids repeated with different
        contents (see :func:`tfprot.data.duplicates.resolve_duplicates`); ``options`` go to the
        constructor (``seed``, ``fractions``...).
        """
        records = read_records(path, format=format, duplicates=duplicates, **(reader_options or {}))
        options.setdefault("name", Path(path).name)
        return cls(records, task, **options)

    @classmethod
    def example(cls, name: str = "cytosol_membrane", **options: Any) -> ProteinDataset:
        """A data set bundled with tfprot (see ``EXAMPLES``), seeded 80/10/10 split."""
        options.setdefault("name", name)
        return cls.from_path(example_path(name), "classification", **options)

    # ---------------------------------------------------------------------------------------
    def records(self, split: str) -> tuple[ProteinRecord, ...]:
        """The records of ``split`` (``'train'``, ``'validation'`` or ``'test'``)."""
        if split not in SPLITS:
            raise DataFormatError(f"Unknown split {split!r}. Expect one of {SPLITS}.")
        return self.splits[split]

    def encode(
        self, split: str, tokenizer: ProteinTokenizer, *, max_length: int | None = None
    ) -> EncodedExamples:
        """Token ids and targets of a split (cached per tokenizer and ``max_length``)."""
        key = (split, tokenizer, max_length or tokenizer.max_length)
        if key not in self._encoded:
            records = self.records(split)
            if not records:
                raise DataFormatError(f"{self.name}: the {split!r} split is empty.")
            self._encoded[key] = encode_records(
                records, tokenizer, self.label_encoder, max_length=max_length
            )
        return self._encoded[key]

    def tf_dataset(
        self,
        split: str,
        tokenizer: ProteinTokenizer,
        batching: Batching | None = None,
        *,
        shuffle: bool | None = None,
        max_length: int | None = None,
        **batching_options: Any,
    ):
        """The ``tf.data.Dataset`` of batches of ``split`` for ``tokenizer``.

        Args:
            split: ``'train'``, ``'validation'`` or ``'test'``.
            tokenizer: the checkpoint's :class:`ProteinTokenizer`.
            batching: a :class:`Batching`; keyword options (``batch_tokens=...``,
                ``static_shapes=True``...) override its fields.
            shuffle: default: shuffle the training split only.
            max_length: token limit (default: the tokenizer's; in static mode at most the largest
                bucket).
        """
        batching = dataclasses.replace(batching or Batching(), **batching_options)
        if batching.static_shapes:
            limit = max_length or tokenizer.max_length
            if batching.bucket_lengths:
                limit = min(limit, max(batching.bucket_lengths))
            max_length = limit
        examples = self.encode(split, tokenizer, max_length=max_length)
        return make_tf_dataset(
            examples, batching, shuffle=split == "train" if shuffle is None else shuffle
        )

    # ---------------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """Counts per split, class balance (or target statistics) and sequence lengths."""
        out: dict[str, Any] = {
            "name": self.name,
            "task": self.task.name,
            "labels": list(self.label_encoder.classes),
        }
        for split in SPLITS:
            records = self.splits[split]
            lengths = np.array([len(r) for r in records]) if records else np.zeros(0)
            entry: dict[str, Any] = {"records": len(records)}
            if records:
                entry["length"] = {
                    "min": int(lengths.min()),
                    "median": float(np.median(lengths)),
                    "max": int(lengths.max()),
                }
                entry["targets"] = self._target_summary(records)
            out[split] = entry
        return out

    def majority_baseline(self, split: str = "test") -> dict[str, Any]:
        """Score on ``split`` of the task's constant prediction learnt from the training split
        (the majority class, residue class or label set, or the mean target): the number a
        trained model has to beat (:meth:`tfprot.tasks.ProteinTask.baseline`)."""
        train = [self.label_encoder.encode(r) for r in self.splits["train"]]
        targets = [self.label_encoder.encode(r) for r in self.records(split)]
        if not targets:
            raise DataFormatError(f"{self.name}: the {split!r} split is empty.")
        return self.task.baseline(train, targets, self.label_encoder.classes)

    def _target_summary(self, records) -> dict[str, Any]:
        targets = [self.label_encoder.encode(r) for r in records]
        return self.task.target_summary(targets, self.label_encoder.classes)

    def __len__(self) -> int:
        return sum(len(part) for part in self.splits.values())

    def __repr__(self) -> str:
        sizes = ", ".join(f"{split}={len(self.splits[split])}" for split in SPLITS)
        return (
            f"ProteinDataset({self.name!r}, task={self.task.name!r}, {sizes}, "
            f"classes={list(self.label_encoder.classes)})"
        )
