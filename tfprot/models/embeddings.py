"""Embeddings from a protein language model's encoder, per sequence or per residue.

Per-residue embeddings are the last hidden states of the residue tokens (special tokens and
padding dropped): one ``[len(sequence), hidden]`` array per sequence. Per-sequence embeddings are
their mean over the residues, as fair-esm's ``extract`` does. Inference runs in length-sorted
batches under a token budget; results come back in input order with their ids. Sequences longer
than the model's ``max_length`` run in overlapping windows stitched back, so every residue has an
embedding and the mean covers the whole sequence (see :mod:`tfprot.models.protein_model`).
NaN or infinite hidden states (corrupt or mismatched weights) raise a
:class:`~tfprot.errors.NonFiniteOutputError` naming the checkpoint.

Small outputs come back in memory (and save as ``.npz``). At proteome scale, ``out='x.h5'``
streams them into HDF5 instead (one dataset per id, as UniProt distributes embeddings), with
memory bounded whatever the input's size, resumable after a kill
(:mod:`tfprot.models.embed_stream`, :mod:`tfprot.models.embedding_store`).

>>> import tfprot
>>> result = tfprot.embed("tiny-esm", ["MKTAYIAK", "GGSW"], precision="float32")
>>> result.ids, result.vectors.shape
(('seq0', 'seq1'), (2, 64))
"""

from __future__ import annotations

import os
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tfprot._io import open_atomic
from tfprot.data.readers import as_records
from tfprot.data.stream import EMBED_WINDOW
from tfprot.data.tokenizer import ProteinTokenizer
from tfprot.errors import DataFormatError, OptionError

if TYPE_CHECKING:
    from tfprot.models.embed_stream import EmbedSummary

__all__ = ["LAYOUT", "RESIDUE_KEY", "Embeddings", "embed", "embed_with"]

RESIDUE_KEY = "residues/{index}"
"""Key of a sequence's per-residue array in a saved ``.npz``: its position in ``ids`` (an id is
never part of a member name, so no id can make a path such as ``residues/../../x.npy``)."""

LAYOUT = "residues/<index>"
"""The ``layout`` entry of a per-residue ``.npz``: members named by index. Files without it
(tfprot 0.1 before this layout) named members ``residues/<id>``; :meth:`Embeddings.load` reads
both."""

_LEGACY_RESIDUE_KEY = "residues/{id}"


@dataclass(frozen=True)
class Embeddings:
    """Embeddings in input order.

    Attributes:
        ids: the sequence ids.
        vectors: ``[sequences, hidden]`` float32 (per sequence), or a tuple of
            ``[residues, hidden]`` float32 arrays (per residue).
        per_residue: which of the two.
    """

    ids: tuple[str, ...]
    vectors: Any
    per_residue: bool

    def __len__(self) -> int:
        return len(self.ids)

    def save(self, path: str | os.PathLike) -> Path:
        """Write an ``.npz`` atomically (on disk before it replaces ``path``) and return its path.

        Per sequence: ``ids`` (strings) and ``embeddings`` (``[sequences, hidden]``). Per residue:
        ``ids``, ``layout`` (:data:`LAYOUT`) and one array per sequence under the key
        ``'residues/' + str(index)``, its position in ``ids``: the ids (any text, ``/`` and
        ``|`` included) are data, never member names, so unzip tools see only
        ``residues/0.npy``, ``residues/1.npy``... No pickled objects: ``np.load`` needs no
        ``allow_pickle``.

        >>> import tempfile, pathlib, numpy as np
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "e.npz"
        >>> _ = Embeddings(("sp|P1|A/1",), (np.zeros((3, 2), np.float32),), per_residue=True).save(path)
        >>> saved = np.load(path)
        >>> saved["ids"].tolist(), saved["residues/0"].shape
        (['sp|P1|A/1'], (3, 2))
        >>> Embeddings.load(path).by_id()["sp|P1|A/1"].shape
        (3, 2)
        """
        path = Path(path)
        ids = np.array(self.ids, dtype=str)
        if self.per_residue:
            arrays = {
                RESIDUE_KEY.format(index=k): v
                for k, v in enumerate(_same_length(self.vectors, self.ids))
            }
            arrays["layout"] = np.array(LAYOUT)
        else:
            arrays = {"embeddings": np.asarray(self.vectors)}
        with open_atomic(path, "wb") as handle:  # on disk (fsync) before it replaces PATH
            np.savez(handle, ids=ids, **arrays)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Embeddings:
        """Read an ``.npz`` written by :meth:`save` (per-residue files of either layout, see
        :data:`LAYOUT`), or an HDF5 file written by ``embed(..., out="x.h5")`` (its arrays in
        the dtype stored; per sequence stacked into one ``[sequences, hidden]`` array)."""
        from tfprot.models.embedding_store import is_h5_path, read_h5

        if is_h5_path(path):
            ids, arrays, per_residue = read_h5(path)
            if per_residue:
                return cls(ids, tuple(arrays), per_residue=True)
            return cls(ids, np.stack(arrays) if arrays else np.zeros((0, 0)), per_residue=False)
        with np.load(path) as saved:
            ids = tuple(str(i) for i in saved["ids"])
            if "embeddings" in saved.files:
                return cls(ids, saved["embeddings"], per_residue=False)
            if "layout" in saved.files:
                layout = str(saved["layout"])
                if layout != LAYOUT:
                    raise DataFormatError(
                        f"{path}: unknown per-residue layout {layout!r} (this tfprot reads "
                        f"{LAYOUT!r}); update tfprot."
                    )
                keys = [RESIDUE_KEY.format(index=k) for k in range(len(ids))]
            else:
                keys = [_LEGACY_RESIDUE_KEY.format(id=i) for i in ids]
            missing = [key for key in keys if key not in saved.files]
            if missing:
                raise DataFormatError(
                    f"{path}: {len(missing)} of {len(ids)} per-residue arrays are missing "
                    f"(first: {missing[0]!r}); the file is not a complete tfprot embeddings file."
                )
            vectors = tuple(saved[key] for key in keys)
        return cls(ids, vectors, per_residue=True)

    def by_id(self) -> dict[str, Any]:
        """``{id: vectors}``: a sequence's ``[hidden]`` (per sequence) or ``[residues, hidden]``
        (per residue) array by its id (ids are unique in tfprot's readers)."""
        return dict(zip(self.ids, self.vectors, strict=True))


def _same_length(vectors: Any, ids: tuple[str, ...]) -> Any:
    if len(vectors) != len(ids):
        raise DataFormatError(f"{len(ids)} ids but {len(vectors)} per-residue arrays.")
    return vectors


def embed(
    checkpoint: str | os.PathLike, inputs: Any, *, precision: str = "auto", **options: Any
) -> Embeddings | EmbedSummary:
    """Embed sequences with the encoder of a checkpoint (preset, Hub id or local folder, a
    folder saved by :meth:`ProteinModel.save_pretrained` included).

    Args:
        checkpoint: e.g. ``'esm2_t6_8M'``, a folder, or ``'tiny-esm'`` (untrained, offline).
        inputs: a FASTA/table path, a list of sequences, or ``ProteinRecord``s.
        precision: as for the model factories.
        **options: :func:`embed_with`'s: ``per_residue``, ``batch_tokens``, ``progress``,
            ``window_overlap``, ``out``, ``dtype``, ``window``.

    Returns:
        The :class:`Embeddings`; with ``out='x.h5'`` an
        :class:`~tfprot.models.embed_stream.EmbedSummary` of what was written there.

    Raises:
        OptionError: an option :func:`embed_with` does not take, named with the valid ones.
        NonFiniteOutputError: the encoder gives NaN or infinite hidden states (corrupt or
            mismatched weights); the message names ``checkpoint``.
    """
    check_embed_options(options)
    from tfprot._keras import keras
    from tfprot.models.checkpoints import hidden_size_of, load_transformer
    from tfprot.models.precision import resolve_precision

    choice = resolve_precision(precision, hidden_size=hidden_size_of(checkpoint))
    keras_module = keras()
    previous = keras_module.mixed_precision.global_policy()
    keras_module.mixed_precision.set_global_policy(choice.policy)
    try:
        encoder = load_transformer(checkpoint, None).model
    finally:
        keras_module.mixed_precision.set_global_policy(previous)
    tokenizer = ProteinTokenizer.from_pretrained(checkpoint)
    return embed_with(
        encoder,
        tokenizer,
        inputs,
        source=f"the checkpoint {os.fspath(checkpoint)}",
        checkpoint=os.fspath(checkpoint),
        **options,
    )


def embed_with(
    transformer,
    tokenizer: ProteinTokenizer,
    inputs: Any,
    *,
    per_residue: bool = False,
    batch_tokens: int = 16384,
    progress: bool | None = None,
    window_overlap: int | None = None,
    out: str | os.PathLike | None = None,
    dtype: str = "float32",
    window: int = EMBED_WINDOW,
    source: str = "the model",
    checkpoint: str | None = None,
) -> Embeddings | EmbedSummary:
    """Embed with an already built transformers TF model (any head: its encoder is used): the
    one definition of the embedding options, which :func:`embed` and
    :meth:`ProteinModel.embed <tfprot.models.ProteinModel.embed>` pass on.

    Args:
        transformer: the transformers TF model.
        tokenizer: its :class:`ProteinTokenizer`.
        inputs: a FASTA/table path, a list of sequences, ``ProteinRecord``s, or a
            :class:`~tfprot.data.stream.RecordStream`.
        per_residue: per-residue instead of per-sequence (mean) embeddings.
        batch_tokens: token budget of an inference batch.
        progress: progress bar; ``None``: in a terminal or notebook, for several batches (see
            :mod:`tfprot.models.protein_model`).
        window_overlap: residues shared by consecutive windows of a sequence longer than
            ``max_length`` (default a quarter of the window).
        out: an HDF5 file (``.h5``, ``.hdf5``) to stream into instead of returning the vectors:
            inputs read lazily, vectors written as their batch finishes, memory bounded, ids
            already there skipped (see :mod:`tfprot.models.embedding_store`); ``.npz`` (or any
            other name): the vectors computed in memory and saved with :meth:`Embeddings.save`.
        dtype: ``'float32'`` or ``'float16'`` (half the size) for the vectors returned or saved.
        window: with an HDF5 ``out``: sequences read, sorted by length and batched together.
        source: the model in words, for the error on NaN or infinite hidden states.
        checkpoint: the model's name recorded in an HDF5 file (default: its config's
            ``name_or_path``, else ``source``).

    Returns:
        :class:`Embeddings`, or with an HDF5 ``out`` an
        :class:`~tfprot.models.embed_stream.EmbedSummary` (counts, time).

    The compiled forward pass is kept per model, so repeated calls do not trace it again (a
    trace costs about half a second on a 2-core CPU, more than embedding a hundred sequences).

    >>> import tempfile, pathlib, tfprot
    >>> model = tfprot.sequence_classifier("tiny-esm", ["a", "b"], precision="float32")
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "e.h5"
    >>> model.embed(["MKTAY", "GG"], out=out, dtype="float16").embedded
    2
    >>> model.embed(["MKTAY", "GG", "PEPT"], out=out, dtype="float16").skipped
    2
    >>> [v.shape for v in Embeddings.load(out).vectors]
    [(64,), (64,), (64,)]
    """
    from tfprot.models.embedding_store import check_dtype, is_h5_path
    from tfprot.models.inference import iter_residue_outputs

    check_dtype(dtype)
    compiled = _compiled_hidden_states(transformer)

    def forward(batch):
        return compiled(batch).numpy()

    if out is not None and is_h5_path(out):
        from tfprot.data.stream import stream_records
        from tfprot.models.embed_stream import embed_to_file

        name = getattr(transformer.config, "name_or_path", "") or source
        return embed_to_file(
            transformer,
            forward,
            tokenizer,
            stream_records(inputs),
            out,
            per_residue=per_residue,
            dtype=dtype,
            batch_tokens=batch_tokens,
            window=window,
            overlap=window_overlap,
            progress=progress,
            source=source,
            checkpoint=checkpoint or name,
        )
    records = as_records(inputs)
    finished = iter_residue_outputs(
        records,
        tokenizer,
        forward,
        batch_tokens=batch_tokens,
        overlap=window_overlap,
        progress=progress,
        desc="embed",
        source=source,
    )
    # Each sequence's states are kept (per residue) or reduced to their mean as its last batch
    # finishes, so mean vectors never hold every residue's states at once.
    kept: list[np.ndarray | None] = [None] * len(records)
    for number, states in finished:
        kept[number] = states.astype(dtype, copy=False) if per_residue else states.mean(axis=0)
    ids = tuple(record.id for record in records)
    if per_residue:
        result = Embeddings(ids, tuple(kept), per_residue=True)
    else:
        result = Embeddings(ids, np.stack(kept).astype(dtype, copy=False), per_residue=False)
    if out is not None:
        result.save(out)
    return result


def check_embed_options(options: dict[str, Any]) -> None:
    """Refuse, by name, an option :func:`embed_with` does not take (``source`` and
    ``checkpoint`` are set by the callers).

    >>> check_embed_options({"per_residue": True})
    >>> check_embed_options({"per_residu": True})
    Traceback (most recent call last):
    ...
    tfprot.errors.OptionError: Unknown embedding option 'per_residu' (did you mean 'per_residue'?). Expect one of ['per_residue', 'batch_tokens', 'progress', 'window_overlap', 'out', 'dtype', 'window'].
    """
    import difflib
    import inspect

    parameters = inspect.signature(embed_with).parameters.values()
    hidden = ("source", "checkpoint")  # set by the callers
    valid = [p.name for p in parameters if p.kind is p.KEYWORD_ONLY and p.name not in hidden]
    for name in options:
        if name not in valid:
            close = difflib.get_close_matches(name, valid, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise OptionError(f"Unknown embedding option {name!r}{hint}. Expect one of {valid}.")


_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _compiled_hidden_states(transformer):
    """The model's compiled ``hidden_states`` forward pass (one trace for every batch shape),
    made once per model."""
    compiled = _COMPILED.get(transformer)
    if compiled is None:
        import tensorflow as tf

        from tfprot.models.inference import BATCH_SIGNATURE, hidden_states

        model = weakref.ref(transformer)  # the cache must not keep the model alive

        @tf.function(input_signature=BATCH_SIGNATURE, autograph=False)
        def compiled(batch):
            return hidden_states(model(), batch)

        _COMPILED[transformer] = compiled
    return compiled
