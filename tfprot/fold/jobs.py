"""One ``fold`` call's state: a job per input, and what all its batches share.

>>> reason(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB\\nmore"))
'RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB'
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfprot.fold.inputs import FoldInput
from tfprot.fold.options import FoldOptions
from tfprot.fold.outputs import FoldResult, StructureFiles
from tfprot.fold.residues import ChainLayout
from tfprot.fold.resume import FoldSettings, settings_record

__all__ = ["Job", "Run", "failed", "reason"]

logger = logging.getLogger(__name__)


@dataclass
class Job:
    """One input on its way: to fold while ``result`` is ``None``; ``stored``: the JSON of the
    structure an earlier run left (reused while it is a true repeat)."""

    index: int
    item: FoldInput
    name: str
    layout: ChainLayout | None = None
    attempts: int = 0
    chunk_size: int | None = None
    tried: list[int | None] = field(default_factory=list)
    result: FoldResult | None = None
    stored: dict[str, Any] | None = None

    @property
    def length(self) -> int:
        """Residues the model sees (linkers included)."""
        return 0 if self.layout is None else self.layout.total_length


@dataclass(frozen=True)
class Run:
    """What every batch of one ``fold`` call shares: the loaded model, the output folder, the
    options and the settings recorded with each structure."""

    loaded: Any
    folder: Path
    options: FoldOptions
    wanted: FoldSettings

    def structure(self, job: Job, prediction: Any, seconds: float) -> StructureFiles:
        """What the writer needs to write ``job``'s folded ``prediction``."""
        return StructureFiles(
            id=job.item.id,
            name=job.name,
            chains=job.item.chains,
            layout=job.layout,
            prediction=prediction,
            model=self.loaded.name,
            untrained=self.loaded.untrained,
            seconds=seconds,
            chunk_size=job.chunk_size,
            attempts=job.attempts,
            settings=settings_record(
                self.wanted, chunk_size=job.chunk_size, fp16_stem=self.loaded.fp16_stem
            ),
            pictures=self.options.pictures,
            html=self.options.html,
        )


def reason(error: BaseException) -> str:
    """``'TypeName: first line of the message'``, at most 300 characters."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:300]


def failed(job: Job, message: str) -> FoldResult:
    """``job``'s failed result with ``message`` (logged as a warning)."""
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
