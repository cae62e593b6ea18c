"""``fold``: sequences in, structure files and a summary out, in memory-safe, resumable batches.

Sequences are sorted by length and grouped under a token budget; each group is folded in one
forward pass. A batch that fails is retried one sequence at a time; a sequence that runs out of
memory is retried with the next smaller trunk chunk size, and reported as failed (with the
reason) only when the smallest chunk fails too. Sequences over ``max_length`` are refused with a
message, invalid sequences are reported by id, finished outputs are skipped unless
``overwrite=True``, so an interrupted batch resumes where it stopped.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from tfprot.data.batching import length_sorted_batches
from tfprot.fold.folder import prepare_output_folder
from tfprot.fold.inputs import FoldInput, InputProblem, collect_inputs
from tfprot.fold.memory import choose_chunk_size, smaller_chunk_size
from tfprot.fold.names import safe_names
from tfprot.fold.options import AUTO, FoldOptions, options_with
from tfprot.fold.outputs import (
    FoldResult,
    StructureFiles,
    read_finished,
    write_structure,
    write_summary,
)
from tfprot.fold.pdb import CHAIN_IDS
from tfprot.fold.presets import DEFAULT_CHECKPOINT
from tfprot.fold.residues import ChainLayout, chain_layout
from tfprot.fold.resume import FoldSettings, identity_of, settings_record, stale_reasons

__all__ = ["FoldOptions", "FoldReport", "fold"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FoldReport:
    """What ``fold`` did: one result per input, in input order, and the summary file."""

    results: list[FoldResult]
    output_dir: Path
    summary_path: Path
    model: str = ""
    untrained: bool = False
    device: str = ""

    @property
    def failed(self) -> list[FoldResult]:
        return [result for result in self.results if not result.ok]

    def __getitem__(self, identifier: str) -> FoldResult:
        for result in self.results:
            if result.id == identifier:
                return result
        raise KeyError(identifier)


@dataclass
class _Job:
    """One input on its way: folded when ``result`` is ``None``; ``stored``: the JSON of the
    structure an earlier run left (reused while it is a true repeat)."""

    index: int
    item: FoldInput
    name: str
    layout: ChainLayout | None
    attempts: int = 0
    chunk_size: int | None = None
    tried: list[int | None] = field(default_factory=list)
    result: FoldResult | None = None
    stored: dict[str, Any] | None = None


def fold(
    inputs: Any,
    output_dir: str | os.PathLike,
    *,
    model: Any = DEFAULT_CHECKPOINT,
    options: FoldOptions | None = None,
    device: str = AUTO,
    fp16_stem: bool | None = None,
    tokenizer: Any = None,
    **option_overrides: Any,
) -> FoldReport:
    """Fold protein sequences with ESMFold and write structures, confidences and pictures.

    Args:
        inputs: sequences: a string (``'SEQ_A:SEQ_B'`` for a complex), a list of strings,
            ``(id, sequence)`` pairs, a ``{id: sequence}`` dict, a FASTA path, ProteinRecords,
            or token ids from the data pipeline (a ``tf.data.Dataset``, tensors, arrays).
        output_dir: the folder for the outputs: new, empty, or made by an earlier ``fold``
            (which then resumes: a structure folded from the same sequence, model and settings
            is reused; one whose sequence or settings changed is folded again, with a log line
            saying why).
        model: ``'facebook/esmfold_v1'`` (default), a Hub id, a local folder, the offline
            preset ``'tiny-esmfold'`` (untrained), or an :class:`ESMFoldModel` already loaded.
        options: a :class:`FoldOptions`; keyword overrides (``num_recycles=0``...) replace fields.
        device, fp16_stem: where to load the model (see :meth:`ESMFoldModel.load`).
        tokenizer: the ProteinTokenizer that made token-id inputs (default ESM-2's vocabulary).

    Returns:
        A :class:`FoldReport`; failures are in it and in ``summary.tsv``, never raised.

    Raises:
        OptionError: an unknown option name (the message names it and the closest valid
            ones), or a value out of range; raised before anything is read or loaded.
        OutputError: ``output_dir`` cannot be written, or holds files that tfprot's ``fold``
            did not write (checked before the model is loaded).
        MissingDependencyError: torch is not installed (``pip install "tfprot[fold]"``).
        CheckpointError: the model cannot be loaded.
        DataFormatError, DataFileNotFoundError: the inputs cannot be read at all.
    """
    options = options_with(options, option_overrides)
    folder = Path(output_dir)
    items = collect_inputs(inputs, tokenizer=tokenizer)
    prepare_output_folder(folder)
    wanted = _wanted(model, options, fp16_stem)
    jobs = [
        _plan(item, name, index, folder, options, wanted)
        for index, (item, name) in enumerate(
            zip(items, safe_names([item.id for item in items]), strict=True)
        )
    ]
    loaded = None
    if any(job.result is None for job in jobs):
        loaded = _load(model, device, fp16_stem)
        if loaded.identity != wanted.model:  # known only now (a Hub id not in the cache)
            wanted = replace(wanted, model=loaded.identity)
            for job in jobs:
                _recheck(job, wanted)
    run = _Run(loaded, folder, options, wanted)
    results = [job.result for job in jobs]
    to_fold = [job for job in jobs if job.result is None]
    from tqdm.auto import tqdm

    progress = tqdm(
        total=len(to_fold), desc="folding", unit="seq", disable=not options.progress or not to_fold
    )
    try:
        budget = _batch_tokens(loaded, options.batch_tokens)
        for batch in _batches(to_fold, budget, options.max_length_ratio):
            for job, result in _run_batch(run, batch, options):
                results[job.index] = result
                progress.update(1)
            write_summary(folder, [r for r in results if r is not None])
    finally:
        progress.close()
    final = [result for result in results if result is not None]
    summary = write_summary(folder, final)
    failed = sum(not result.ok for result in final)
    if failed:
        logger.warning("%d of %d sequences failed; see %s", failed, len(final), summary)
    return FoldReport(
        results=final,
        output_dir=folder,
        summary_path=summary,
        model=getattr(loaded, "name", ""),
        untrained=bool(getattr(loaded, "untrained", False)),
        device=getattr(loaded, "device", ""),
    )


@dataclass(frozen=True)
class _Run:
    """What every batch of one ``fold`` call shares."""

    loaded: Any
    folder: Path
    options: FoldOptions
    wanted: FoldSettings


def _wanted(model: Any, options: FoldOptions, fp16_stem: bool | None) -> FoldSettings:
    """The settings this call folds with, as far as they are known before loading the model."""
    from tfprot.fold.model import ESMFoldModel

    return FoldSettings(
        model=identity_of(model),
        num_recycles=options.num_recycles,
        chunk_size=options.chunk_size,
        fp16_stem=None if isinstance(model, ESMFoldModel) else fp16_stem,
        linker_length=options.linker_length,
        residue_index_offset=options.residue_index_offset,
    )


def _load(model: Any, device: str, fp16_stem: bool | None):
    from tfprot.fold.model import ESMFoldModel

    if isinstance(model, ESMFoldModel):
        return model
    return ESMFoldModel.load(model, device=device, fp16_stem=fp16_stem)


def _plan(
    item: FoldInput | InputProblem,
    name: str,
    index: int,
    folder: Path,
    options: FoldOptions,
    wanted: FoldSettings,
) -> _Job:
    """The job for one input: its result already known (invalid, too long, a true repeat) or
    ``None`` (to fold)."""
    if isinstance(item, InputProblem):
        logger.warning("not folded: %s", item.message)
        failed = FoldResult(item.id, name, "failed", sequence=item.sequence, error=item.message)
        return _Job(index, FoldInput(item.id, ()), name, None, result=failed)
    job = _Job(index, item, name, None)
    if len(item.chains) > len(CHAIN_IDS):
        job.result = _failed(
            job,
            f"id {item.id!r}: {len(item.chains)} chains; a PDB file holds at most "
            f"{len(CHAIN_IDS)}. Split the complex.",
        )
        return job
    job.layout = chain_layout(
        item.chains,
        linker_length=options.linker_length,
        residue_index_offset=options.residue_index_offset,
    )
    if job.layout.total_length > options.max_length:
        job.result = _failed(
            job,
            f"id {item.id!r}: {job.layout.total_length} residues (linkers included) exceed "
            f"max_length={options.max_length}; not folded. Raise max_length if the GPU has the "
            "memory (chunking keeps it near-linear), or fold domains separately.",
        )
        return job
    if not options.overwrite:
        finished = read_finished(
            folder, item.id, name, pictures=options.pictures, html=options.html
        )
        if finished is not None:
            job.result, job.stored = finished
            _recheck(job, wanted)
    return job


def _recheck(job: _Job, wanted: FoldSettings) -> None:
    """Keep a stored structure only if it is a true repeat of what ``wanted`` folds; else fold
    it again, saying why (one line)."""
    if job.stored is None or job.result is None:
        return
    reasons = stale_reasons(job.stored, job.item.chains, wanted)
    if reasons:
        logger.info("%s: folding again: %s", job.item.id, "; ".join(reasons))
        job.result = job.stored = None
    else:
        logger.info("%s: outputs exist, skipped (overwrite=True folds it again)", job.item.id)


GPU_BATCH_TOKENS = 1024
"""``batch_tokens='auto'`` on a GPU."""


def _batch_tokens(loaded, batch_tokens: int | str) -> int:
    if batch_tokens != AUTO:
        return int(batch_tokens)
    on_gpu = str(getattr(loaded, "device", "cpu")).startswith("cuda")
    return GPU_BATCH_TOKENS if on_gpu else 1


def _batches(
    jobs: list[_Job], batch_tokens: int, max_length_ratio: float | None
) -> list[list[_Job]]:
    """Length-sorted groups whose padded size (count x longest) stays within ``batch_tokens``,
    and whose longest is at most ``max_length_ratio`` times their shortest."""
    lengths = np.array([job.layout.total_length for job in jobs], dtype=np.int64)
    groups = length_sorted_batches(lengths, batch_tokens, max_length_ratio=max_length_ratio)
    return [[jobs[int(i)] for i in group] for group in groups]


def _chunk_size_for(loaded, batch: list[_Job], options: FoldOptions) -> int | None:
    if options.chunk_size != AUTO:
        return options.chunk_size
    longest = max(job.layout.total_length for job in batch)
    free = loaded.free_memory()
    pair_dim, pair_heads = loaded.trunk_dims
    return choose_chunk_size(
        longest,
        None if free is None else free // len(batch),
        pair_dim=pair_dim,
        pair_heads=pair_heads,
    )


def _run_batch(run: _Run, batch: list[_Job], options: FoldOptions):
    """Yield (job, result) for every job of ``batch``."""
    from tfprot.fold._torch import is_out_of_memory

    loaded = run.loaded
    chunk_size = _chunk_size_for(loaded, batch, options)
    for job in batch:
        job.attempts += 1
        job.tried.append(chunk_size)
    start = time.perf_counter()
    try:
        predictions = loaded.predict(
            [job.layout for job in batch],
            num_recycles=options.num_recycles,
            chunk_size=chunk_size,
        )
    except Exception as error:  # any failure: retry alone, so one bad sequence loses no others
        if is_out_of_memory(error):
            loaded.release_memory()
        if len(batch) > 1:
            logger.warning(
                "batch of %d failed (%s); folding its sequences one by one",
                len(batch),
                _reason(error),
            )
            alone = replace(options, chunk_size=chunk_size)
            for job in batch:
                yield from _run_batch(run, [job], alone)
            return
        yield from _retry_single(run, batch[0], options, chunk_size, error)
        return
    seconds = (time.perf_counter() - start) / len(batch)
    for job, prediction in zip(batch, predictions, strict=True):
        job.chunk_size = chunk_size
        yield job, _write(run, job, prediction, seconds)


def _retry_single(run: _Run, job: _Job, options: FoldOptions, chunk_size, error):
    from tfprot.fold._torch import is_out_of_memory

    if not is_out_of_memory(error):
        yield job, _failed(job, f"id {job.item.id!r}: folding failed ({_reason(error)}).")
        return
    smaller = smaller_chunk_size(chunk_size)
    if smaller is None or smaller == chunk_size:
        yield (
            job,
            _failed(
                job,
                f"id {job.item.id!r}: out of memory with {job.layout.total_length} residues even "
                f"with trunk chunk size {chunk_size} (tried {job.tried}). Fold it on a GPU with "
                "more memory, or fold domains separately.",
            ),
        )
        return
    logger.warning(
        "%s: out of memory with chunk size %s; retrying with %s", job.item.id, chunk_size, smaller
    )
    yield from _run_batch(run, [job], replace(options, chunk_size=smaller))


def _reason(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:300]


def _failed(job: _Job, message: str) -> FoldResult:
    logger.warning(message)
    return FoldResult(
        job.item.id,
        job.name,
        "failed",
        sequence=job.item.sequence,
        length=job.item.length,
        chains=len(job.item.chains),
        attempts=job.attempts,
        chunk_size=job.tried[-1] if job.tried else None,
        error=message,
    )


def _write(run: _Run, job: _Job, prediction, seconds: float) -> FoldResult:
    """Write one structure's files (JSON marker last) and return its result; a failure to
    write is that structure's failure, naming its id."""
    structure = StructureFiles(
        id=job.item.id,
        name=job.name,
        chains=job.item.chains,
        layout=job.layout,
        prediction=prediction,
        model=run.loaded.name,
        untrained=run.loaded.untrained,
        seconds=seconds,
        chunk_size=job.chunk_size,
        attempts=job.attempts,
        settings=settings_record(
            run.wanted, chunk_size=job.chunk_size, fp16_stem=run.loaded.fp16_stem
        ),
        pictures=run.options.pictures,
        html=run.options.html,
    )
    try:
        return write_structure(run.folder, structure)
    except OSError as error:
        return _failed(job, f"id {job.item.id!r}: cannot write outputs ({_reason(error)}).")
