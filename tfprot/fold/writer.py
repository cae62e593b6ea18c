"""Structure files written in the background while the next batch folds.

The GPU waits while a structure's PDB, PAE, pictures and 3D view are written (drawing the two
PNGs costs most). :class:`StructureWriter` hands each structure to a small thread pool and lets
the folding loop go on; at most ``max_pending`` structures wait (the loop blocks beyond that, so
memory stays bounded). Each structure's files are written by one thread in the usual order, each
file atomically and its JSON last, so a crash still leaves only finished files and the JSON
still marks a finished structure. A structure whose writing fails comes back as a failed
:class:`~tfprot.fold.outputs.FoldResult` naming its id and the reason; the others go on.

``threads=0`` writes in the caller's thread, as :func:`~tfprot.fold.outputs.write_structure`
alone would. Threads, not processes: a process pool would need the user's script to guard its
top level (``if __name__ == "__main__"``) under the spawn start method, and fork is unsafe once
CUDA is initialised. Pictures are drawn with matplotlib's object API on each thread's own figure.

>>> import tempfile, pathlib
>>> with StructureWriter(pathlib.Path(tempfile.mkdtemp()), threads=1) as writer:
...     writer.pending
0
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from tfprot.fold.outputs import FoldResult, StructureFiles, write_structure

__all__ = ["StructureWriter", "write_or_fail"]

logger = logging.getLogger(__name__)


def write_or_fail(folder: Path, structure: StructureFiles) -> FoldResult:
    """:func:`write_structure`, with any failure turned into a failed result naming the id."""
    try:
        return write_structure(folder, structure)
    except Exception as error:  # a disk, a picture, a bug: this structure fails, not the run
        lines = str(error).strip().splitlines()
        reason = f"{type(error).__name__}: {lines[0] if lines else ''}"[:300]
        message = f"id {structure.id!r}: cannot write outputs ({reason})."
        logger.warning(message)
        return FoldResult(
            structure.id,
            structure.name,
            "failed",
            sequence=structure.sequence,
            length=structure.length,
            chains=len(structure.chains),
            seconds=structure.seconds,
            chunk_size=structure.chunk_size,
            attempts=structure.attempts,
            error=message,
        )


class StructureWriter:
    """Write structures' files on ``threads`` background threads (``0``: at once, in the
    caller's thread); use as a context manager, which waits for every write on exit.

    Args:
        folder: the output folder.
        threads: writer threads.
        max_pending: structures submitted and not yet written before :meth:`submit` blocks
            (default: twice the threads).
    """

    def __init__(self, folder: Path, threads: int = 1, max_pending: int | None = None) -> None:
        self.folder = Path(folder)
        self.threads = int(threads)
        self._pool = (
            ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="tfprot-fold-writer")
            if self.threads > 0
            else None
        )
        self._slots = threading.BoundedSemaphore(max_pending or 2 * max(self.threads, 1))
        self._futures: list[tuple[int, Future]] = []
        self._ready: list[tuple[int, FoldResult]] = []

    def submit(self, key: int, structure: StructureFiles) -> None:
        """Write ``structure`` (its result comes back under ``key``); blocks while
        ``max_pending`` structures wait."""
        if self._pool is None:
            self._ready.append((key, write_or_fail(self.folder, structure)))
            return
        self._slots.acquire()
        try:
            future = self._pool.submit(write_or_fail, self.folder, structure)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _: self._slots.release())
        self._futures.append((key, future))

    @property
    def pending(self) -> int:
        """Structures submitted whose files are not written yet."""
        return sum(not future.done() for _, future in self._futures)

    def done(self) -> list[tuple[int, FoldResult]]:
        """``(key, result)`` of the structures written since the last call (does not wait)."""
        finished = self._ready
        self._ready = []
        still = []
        for key, future in self._futures:
            if future.done():
                finished.append((key, future.result()))
            else:
                still.append((key, future))
        self._futures = still
        return finished

    def close(self) -> list[tuple[int, FoldResult]]:
        """Wait for every write; ``(key, result)`` of those not returned by :meth:`done`."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        return self.done()

    def __enter__(self) -> StructureWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
