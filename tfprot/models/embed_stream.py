"""Embeddings streamed to an HDF5 file: what ``tfprot.embed(..., out="x.h5")`` runs.

Memory stays bounded whatever the input's size: records are read lazily
(:func:`tfprot.data.stream.stream_records`) in windows of ``window`` sequences; each window is
sorted by length and batched under the token budget, as in memory
(:func:`tfprot.models.inference.iter_residue_outputs`), and each sequence's vectors are written
(:class:`tfprot.models.embedding_store.EmbeddingStore`) and dropped once its last batch has run.
What stays is one window of sequences, one batch of outputs, and the id, length and sequence
digest of every input record. Ids already in the file whole are skipped (a rerun after a kill
resumes); the progress bar counts sequences (per second, time left) and the end returns an
:class:`EmbedSummary`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tfprot.data.stream import RecordStream, batched
from tfprot.models.embedding_store import EmbeddingStore, StoreHeader, check_dtype, parts_folder
from tfprot.models.inference import Forward, iter_residue_outputs, sequence_bar

__all__ = ["EmbedSummary", "embed_to_file", "weights_digest"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmbedSummary:
    """What a streamed run did.

    Attributes:
        path: the HDF5 file.
        sequences: ids in the input (once each).
        embedded: computed by this run.
        skipped: already in the file whole, from the same sequence: not computed again.
        recomputed: in the file but stale (another sequence, shape or dtype): computed again
            (counted in ``embedded`` too).
        residues: residues embedded by this run.
        seconds: wall time of the run.
        assembly_seconds: of which the end: copying what the run had not yet copied into the
            final file (its last window), the file's fsync and its rename over ``OUT``.
        per_residue, dtype, hidden_size: what each dataset holds.
    """

    path: Path
    sequences: int
    embedded: int
    skipped: int
    recomputed: int
    residues: int
    seconds: float
    assembly_seconds: float
    per_residue: bool
    dtype: str
    hidden_size: int

    def __str__(self) -> str:
        kind = "per residue" if self.per_residue else "per sequence (mean)"
        rate = self.embedded / self.seconds if self.seconds > 0 else 0.0
        return (
            f"{self.sequences} sequences in {self.path} ({kind}, {self.dtype}, "
            f"{self.hidden_size} values): {self.embedded} embedded ({self.residues} residues, "
            f"{rate:.1f} sequences/s), {self.skipped} already there"
            + (f", {self.recomputed} stale ones embedded again" if self.recomputed else "")
        )


def weights_digest(transformer: Any) -> str:
    """SHA-256 of a model's encoder weights (names below the model's own, shapes, float32
    values): the identity a resumed file is checked against. The same for the checkpoint loaded
    again under any precision, and with any head (a classifier's encoder, the bare encoder)."""
    main = getattr(transformer, getattr(transformer, "base_model_prefix", ""), None) or transformer
    named = {}
    for weight in main.weights:
        name = weight.name.split("/", 1)[-1]  # without the model's own name ("tf_esm_model_1/")
        if not any(part in name for part in _NOT_ENCODER):
            named[name] = weight
    digest = hashlib.sha256()
    for name in sorted(named):
        values = np.ascontiguousarray(named[name].numpy(), dtype=np.float32)
        digest.update(f"{name}\0{values.shape}\n".encode())
        digest.update(values.tobytes())
    return digest.hexdigest()


_NOT_ENCODER = ("pooler/", "contact_head/")
"""Weights a bare encoder may carry that do not shape its hidden states."""


def embed_to_file(
    transformer: Any,
    forward: Forward,
    tokenizer: Any,
    stream: RecordStream,
    out: str | os.PathLike,
    *,
    per_residue: bool,
    dtype: str,
    batch_tokens: int,
    window: int,
    overlap: int | None,
    progress: bool | None,
    source: str,
    checkpoint: str,
) -> EmbedSummary:
    """Embed ``stream`` into ``out`` (see the module doc); ``forward`` maps a padded batch to
    float32 hidden states."""
    started = time.perf_counter()
    check_dtype(dtype)
    hidden = int(transformer.config.hidden_size)
    header = StoreHeader(
        checkpoint=checkpoint,
        weights_sha256=weights_digest(transformer),
        per_residue=per_residue,
        dtype=dtype,
        hidden_size=hidden,
        precision=str(getattr(transformer, "compute_dtype", "")),
    )
    with EmbeddingStore(out, header) as store:
        found = store.completed(stream.lengths, stream.digests)
        todo = len(stream) - found["complete"]
        if found["complete"] or found["stale"]:
            logger.info(
                "%s: %d of %d sequences are already there and are skipped%s.",
                out,
                found["complete"],
                len(stream),
                f"; {found['stale']} stored from another sequence or shape are embedded again"
                if found["stale"]
                else "",
            )
        if todo:
            logger.info(
                "Embedding %d sequences into %s (finished parts wait in %s until the end).",
                todo,
                out,
                parts_folder(out),
            )
        residues = 0
        order = stream.ids
        bar = sequence_bar(todo, progress, "embed")
        try:
            remaining = (r for r in stream if r.id not in store.sources)
            for records in batched(remaining, window):
                for number, states in iter_residue_outputs(
                    records,
                    tokenizer,
                    forward,
                    batch_tokens=batch_tokens,
                    overlap=overlap,
                    progress=False,
                    desc="embed",
                    source=source,
                ):
                    record = records[number]
                    vectors = states if per_residue else states.mean(axis=0)
                    store.add(record.id, vectors, stream.digests[record.id])  # cast there, once
                    residues += len(record)
                    if bar is not None:
                        bar.update(1)
                store.flush()  # a finished window is kept, whatever comes next
                store.extend_final(order)  # the input's finished prefix, in its place
        finally:
            if bar is not None:
                bar.close()
        assembling = time.perf_counter()
        path = store.finish(order)
        assembly_seconds = time.perf_counter() - assembling
    return EmbedSummary(
        path=path,
        sequences=len(stream),
        embedded=todo,
        skipped=found["complete"],
        recomputed=found["stale"],
        residues=residues,
        seconds=time.perf_counter() - started,
        assembly_seconds=assembly_seconds,
        per_residue=per_residue,
        dtype=dtype,
        hidden_size=hidden,
    )
