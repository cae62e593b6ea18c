"""``fold``: sequences in, structure files and a summary out, in memory-safe, resumable batches.

Sequences are sorted by length and grouped under a token budget; each group is folded in one
forward pass. A batch that fails is retried one sequence at a time; a sequence that runs out of
memory is retried with the next smaller trunk chunk size, and reported as failed (with the
reason) only when the smallest chunk fails too. Sequences over ``max_length`` are refused with a
message, invalid sequences are reported by id, finished outputs are skipped unless
``overwrite=True``, so an interrupted batch resumes where it stopped.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from tfprot._io import atomic_path, write_text_atomic
from tfprot.data.batching import length_sorted_batches
from tfprot.fold.folder import prepare_output_folder
from tfprot.fold.inputs import FoldInput, InputProblem, collect_inputs
from tfprot.fold.memory import choose_chunk_size, smaller_chunk_size
from tfprot.fold.names import safe_names
from tfprot.fold.outputs import FoldResult, file_map, read_finished, write_summary
from tfprot.fold.pdb import CHAIN_IDS, structure_to_pdb
from tfprot.fold.presets import DEFAULT_CHECKPOINT
from tfprot.fold.residues import ChainLayout, chain_layout
from tfprot.fold.resume import FoldSettings, identity_of, settings_record, stale_reasons

__all__ = ["FoldOptions", "FoldReport", "fold"]

logger = logging.getLogger(__name__)

AUTO = "auto"


@dataclass(frozen=True)
class FoldOptions:
    """How to fold.

    Attributes:
        num_recycles: trunk recycles; ``None``: the model's default (4 for esmfold_v1).
        chunk_size: trunk chunk size: ``'auto'`` (from length and free GPU memory), ``None``
            (never chunk) or a number.
        max_length: the most residues (linkers included) a structure may have; longer ones are
            refused with a message instead of exhausting memory.
        batch_tokens: token budget of a batch: sequences per batch times the longest one's
            length stays within it (a longer sequence is folded alone). ``'auto'``: 1024 on a
            GPU; on a CPU every sequence is folded alone (a padded batch only adds work there:
            ``benchmarks/fold.py`` measured 5-7% more time for batches of 200-residue chains).
        max_length_ratio: a batch's longest sequence is at most this times its shortest
            (``None``: no limit). The trunk's cost grows with the square (pair updates) and cube
            (triangle multiplication) of the padded length, so folding a 100-residue sequence
            padded to 200 costs several times folding it alone; on a CPU, batching gains nothing.
        linker_length: glycines joining the chains of a complex (ESMFold uses 25).
        residue_index_offset: residue-index jump between chains (ESMFold uses 512).
        overwrite: fold again sequences whose outputs exist (default: skip them, to resume).
        pictures: write the pLDDT plot and PAE heat map (PNG).
        html: write the 3D view (HTML with the viewer inlined).
        progress: show a progress bar.
    """

    num_recycles: int | None = None
    chunk_size: int | str | None = AUTO
    max_length: int = 1024
    batch_tokens: int | str = AUTO
    max_length_ratio: float | None = 1.1
    linker_length: int = 25
    residue_index_offset: int = 512
    overwrite: bool = False
    pictures: bool = True
    html: bool = True
    progress: bool = True

    def __post_init__(self) -> None:
        if self.num_recycles is not None and self.num_recycles < 0:
            raise ValueError(f"num_recycles must be >= 0 or None, got {self.num_recycles}.")
        if self.chunk_size not in (AUTO, None) and (
            not isinstance(self.chunk_size, int) or self.chunk_size < 1
        ):
            raise ValueError(
                f"chunk_size must be 'auto', None or a positive int, got {self.chunk_size!r}."
            )
        if self.max_length < 1:
            raise ValueError(f"max_length must be positive, got {self.max_length}.")
        if self.batch_tokens != AUTO and (
            not isinstance(self.batch_tokens, int) or self.batch_tokens < 1
        ):
            raise ValueError(f"batch_tokens must be 'auto' or positive, got {self.batch_tokens!r}.")
        if self.max_length_ratio is not None and self.max_length_ratio < 1:
            raise ValueError(f"max_length_ratio must be >= 1 or None, got {self.max_length_ratio}.")
        if self.linker_length < 0 or self.residue_index_offset < 0:
            raise ValueError("linker_length and residue_index_offset must be >= 0.")


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
        output_dir: the folder for the outputs (created).
        model: ``'facebook/esmfold_v1'`` (default), a Hub id, a local folder, the offline
            preset ``'tiny-esmfold'`` (untrained), or an :class:`ESMFoldModel` already loaded.
        options: a :class:`FoldOptions`; keyword overrides (``num_recycles=0``...) replace fields.
        device, fp16_stem: where to load the model (see :meth:`ESMFoldModel.load`).
        tokenizer: the ProteinTokenizer that made token-id inputs (default ESM-2's vocabulary).

    Returns:
        A :class:`FoldReport`; failures are in it and in ``summary.tsv``, never raised.

    Raises:
        MissingDependencyError: torch is not installed (``pip install "tfprot[fold]"``).
        CheckpointError: the model cannot be loaded.
        DataFormatError, DataFileNotFoundError: the inputs cannot be read at all.
    """
    options = replace(options or FoldOptions(), **option_overrides)
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
    """Write one structure's files (JSON marker last) and return its result."""
    try:
        return _write_files(run, job, prediction, seconds)
    except OSError as error:
        return _failed(job, f"id {job.item.id!r}: cannot write outputs ({_reason(error)}).")


def _write_files(run: _Run, job: _Job, prediction, seconds) -> FoldResult:
    loaded, folder, options = run.loaded, run.folder, run.options
    files = file_map(folder, job.name, pictures=options.pictures, html=options.html)
    for path in files.values():  # never outside the output folder, whatever the id
        if path.resolve().parent != folder.resolve():
            raise OSError(f"refusing to write {path} outside {folder}")
    layout = job.layout
    chain_index = layout.chain_index
    plddt = prediction.plddt.astype(np.float64)
    mean_plddt = float(plddt.mean())
    chains = ", ".join(f"{CHAIN_IDS[i]}={len(chain)}" for i, chain in enumerate(job.item.chains))
    remarks = [f"tfprot ESMFold prediction, model {loaded.name}, id {job.item.id!r}"]
    if loaded.untrained:
        remarks.append("UNTRAINED MODEL (random weights): structure and pLDDT mean nothing")
    remarks.append("B-factor column: per-residue pLDDT (0-100)")
    pdb_text = structure_to_pdb(
        prediction.aatype,
        prediction.positions,
        prediction.atom_mask,
        np.round(plddt, 2),
        chain_index=chain_index,
        residue_number=layout.residue_number,
        remarks=tuple(remarks),
    )
    write_text_atomic(files["pdb"], pdb_text)
    with atomic_path(files["pae"]) as temporary, open(temporary, "wb") as handle:
        np.save(handle, prediction.pae.astype(np.float32))
    title = (
        f"{job.item.id} ({chains} residues) - mean pLDDT {mean_plddt:.1f}, pTM {prediction.ptm:.3f}"
    )
    warning = (
        "UNTRAINED MODEL: random weights; this structure means nothing." if loaded.untrained else ""
    )
    if options.pictures:
        from tfprot.fold.pictures import plot_pae, plot_plddt

        picture_title = (
            f"{job.item.id}{' [untrained model]' if loaded.untrained else ''}\n"
            f"{chains} residues, mean pLDDT {mean_plddt:.1f}, pTM {prediction.ptm:.3f}"
        )
        plot_plddt(files["plddt_png"], plddt, chain_index=chain_index, title=picture_title)
        plot_pae(files["pae_png"], prediction.pae, chain_index=chain_index, title=picture_title)
    if options.html:
        from tfprot.fold.viewer import structure_html

        page = structure_html(
            pdb_text,
            title=str(job.item.id),
            subtitle=title + f"; model {loaded.name}",
            warning=warning,
        )
        write_text_atomic(files["html"], page)
    record = {
        "id": job.item.id,
        "sequence": job.item.sequence,
        "chains": list(job.item.chains),
        "chain_ids": [CHAIN_IDS[i] for i in range(len(job.item.chains))],
        "length": job.item.length,
        "model": loaded.name,
        "untrained": loaded.untrained,
        "mean_plddt": mean_plddt,
        "ptm": prediction.ptm,
        "plddt": [round(float(v), 2) for v in plddt],
        "seconds": seconds,
        "chunk_size": job.chunk_size,
        "num_recycles": run.wanted.recycles,
        "settings": settings_record(
            run.wanted, chunk_size=job.chunk_size, fp16_stem=loaded.fp16_stem
        ),
        "files": {kind: path.name for kind, path in files.items()},
    }
    write_text_atomic(files["json"], json.dumps(record, indent=1) + "\n")
    return FoldResult(
        job.item.id,
        job.name,
        "folded",
        sequence=job.item.sequence,
        length=job.item.length,
        chains=len(job.item.chains),
        mean_plddt=mean_plddt,
        ptm=prediction.ptm,
        seconds=seconds,
        chunk_size=job.chunk_size,
        attempts=job.attempts,
        files=files,
    )
