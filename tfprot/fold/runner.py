"""``fold``: sequences in, structure files and a summary out, in memory-safe, resumable batches.

Inputs are checked first (invalid sequences and those over ``max_length`` are reported by id),
then the output folder (writable, and new, empty or an earlier ``fold``'s), then what an earlier
run left: a structure folded from the same sequence, model and settings is reused, any other is
folded again (:mod:`tfprot.fold.resume`), unless ``overwrite=True`` folds everything. The rest
is folded in length-sorted batches with an out-of-memory ladder (:mod:`tfprot.fold.ladder`),
while a background writer writes the finished structures' files (:mod:`tfprot.fold.writer`);
``summary.tsv`` is rewritten after every batch, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tfprot.fold.folder import prepare_output_folder
from tfprot.fold.inputs import FoldInput, InputProblem, collect_inputs
from tfprot.fold.jobs import Job, Run, failed
from tfprot.fold.ladder import batches, fold_batch
from tfprot.fold.names import safe_names
from tfprot.fold.options import AUTO, FoldOptions, options_with
from tfprot.fold.outputs import FoldResult, StructureFiles, read_finished, write_summary
from tfprot.fold.pdb import CHAIN_IDS
from tfprot.fold.presets import DEFAULT_CHECKPOINT
from tfprot.fold.residues import chain_layout
from tfprot.fold.resume import FoldSettings, identity_of, stale_reasons
from tfprot.fold.writer import StructureWriter

__all__ = ["FoldOptions", "FoldReport", "fold"]

logger = logging.getLogger(__name__)


def writer_threads(writers: int | str, device: str) -> int:
    """Background writer threads: ``writers``, or for ``'auto'`` one on a GPU (whose work then
    overlaps the writing) and none on a CPU, where a writer thread competes with PyTorch for the
    same cores (``benchmarks/fold.py`` measured it 11% slower on 2 cores, pictures on).

    >>> writer_threads("auto", "cuda:0"), writer_threads("auto", "cpu"), writer_threads(3, "cpu")
    (1, 0, 3)
    """
    if writers != AUTO:
        return int(writers)
    return 1 if str(device).startswith("cuda") else 0


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
    names = safe_names([item.id for item in items])
    jobs = [
        _plan(item, name, index, folder, options, wanted)
        for index, (item, name) in enumerate(zip(items, names, strict=True))
    ]
    loaded = None
    if any(job.result is None for job in jobs):
        loaded = _load(model, device, fp16_stem, options)
        if loaded.identity != wanted.model:  # known only now (a Hub id not in the cache)
            wanted = replace(wanted, model=loaded.identity)
            for job in jobs:
                _recheck(job, wanted)
    results = [job.result for job in jobs]
    _fold_jobs(Run(loaded, folder, options, wanted), [j for j in jobs if j.result is None], results)
    final = [result for result in results if result is not None]
    summary = write_summary(folder, final)
    failures = sum(not result.ok for result in final)
    if failures:
        logger.warning("%d of %d sequences failed; see %s", failures, len(final), summary)
    return FoldReport(
        results=final,
        output_dir=folder,
        summary_path=summary,
        model=getattr(loaded, "name", ""),
        untrained=bool(getattr(loaded, "untrained", False)),
        device=getattr(loaded, "device", ""),
    )


def _fold_jobs(run: Run, jobs: list[Job], results: list[FoldResult | None]) -> None:
    """Fold ``jobs`` batch by batch into ``results`` (by input index), their files written in
    the background; ``summary.tsv`` after every batch holds every result known by then."""
    from tqdm.auto import tqdm

    options = run.options
    threads = writer_threads(options.writers, getattr(run.loaded, "device", "cpu"))
    progress = tqdm(
        total=len(jobs), desc="folding", unit="seq", disable=not options.progress or not jobs
    )
    with StructureWriter(run.folder, threads=threads) as writer:
        try:
            for batch in batches(run, jobs) if jobs else []:
                for job, outcome in fold_batch(run, batch, options):
                    if isinstance(outcome, StructureFiles):
                        writer.submit(job.index, outcome)
                    else:
                        results[job.index] = outcome
                    progress.update(1)
                for index, result in writer.done():
                    results[index] = result
                write_summary(run.folder, [r for r in results if r is not None])
        finally:
            progress.close()
            for index, result in writer.close():
                results[index] = result


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


def _load(model: Any, device: str, fp16_stem: bool | None, options: FoldOptions):
    from tfprot.fold.compile import compile_mode
    from tfprot.fold.model import ESMFoldModel

    loaded = model
    if not isinstance(model, ESMFoldModel):
        loaded = ESMFoldModel.load(model, device=device, fp16_stem=fp16_stem)
    mode = compile_mode(options.compile, loaded.device)
    if mode is not None:
        loaded.compile_trunk(mode)
    return loaded


def _plan(
    item: FoldInput | InputProblem,
    name: str,
    index: int,
    folder: Path,
    options: FoldOptions,
    wanted: FoldSettings,
) -> Job:
    """The job for one input: its result already known (invalid, too long, a true repeat) or
    ``None`` (to fold)."""
    if isinstance(item, InputProblem):
        logger.warning("not folded: %s", item.message)
        failure = FoldResult(item.id, name, "failed", sequence=item.sequence, error=item.message)
        return Job(index, FoldInput(item.id, ()), name, result=failure)
    job = Job(index, item, name)
    if len(item.chains) > len(CHAIN_IDS):
        job.result = failed(
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
        job.result = failed(
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


def _recheck(job: Job, wanted: FoldSettings) -> None:
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
