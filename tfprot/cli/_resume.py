"""The resume folder of ``tfprot train``: where a run's checkpoints wait for a rerun.

By default ``OUT.resume`` beside ``--out`` (``--resume-dir`` may name another place, a
``gs://`` path included). It holds TensorFlow checkpoints (weights, optimizer, data position),
``run.json`` (what makes the run: data content, options; a changed command does not resume
into it) and, locally, a ``lock`` file that a live run holds, so that a second run of the same
command waits for nothing and breaks nothing: it is refused. The folder is removed once the
run's results are saved.

>>> from pathlib import Path
>>> default_resume_dir(Path("runs/model"))
'runs/model.resume'
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tfprot.errors import OptionError

try:
    import fcntl
except ImportError:  # Windows: no flock; concurrent runs are then not detected
    fcntl = None

__all__ = ["default_resume_dir", "hold_resume_dir", "is_remote", "records_digest"]

LOCK_FILE = "lock"
OWN_FILES = ("checkpoint", "run.json", "history.json", LOCK_FILE)
"""Files that make a folder a resume folder (besides the ``ckpt-N.*`` checkpoint files)."""


def default_resume_dir(out: Path) -> str:
    """``OUT.resume``, beside ``--out``."""
    return str(out.with_name(out.name + ".resume"))


def is_remote(path: str) -> bool:
    """Whether ``path`` is a URL such as ``gs://bucket/run`` (read through ``tf.io.gfile``)."""
    return "://" in path


@contextlib.contextmanager
def hold_resume_dir(path: str) -> Iterator[None]:
    """Check that ``path`` can be a resume folder, and hold its lock for the block (local only).

    Raises:
        OptionError: ``path`` is a file, a folder of other files (it would be removed at the
            end), or in use by another live ``tfprot train``.
        OutputError: it cannot be created or written.
    """
    if is_remote(path):
        yield
        return
    from tfprot._io import check_writable

    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise OptionError(f"{folder} is a file; the resume folder must be a folder (--resume-dir).")
    if folder.is_dir():
        foreign = sorted(p.name for p in folder.iterdir() if not _is_own(p.name))
        if foreign:
            raise OptionError(
                f"{folder} holds files that are not tfprot's checkpoints ({', '.join(foreign[:3])}"
                "); a finished run removes its resume folder. Choose another --resume-dir."
            )
    check_writable(folder, "--resume-dir")
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK_FILE, "a+", encoding="utf-8") as handle:
        if fcntl is not None:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise OptionError(
                    f"{folder} is in use by another tfprot train ({holder}) running the same "
                    "command right now; wait for it to end, or give another --out or "
                    "--resume-dir."
                ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            _remove_if_unused(folder)


def _remove_if_unused(folder: Path) -> None:
    """Remove a resume folder that holds no checkpoint (a run that failed before its first
    one): nothing to resume, nothing to leave behind."""
    import shutil

    if not folder.is_dir() or (folder / "checkpoint").exists():
        return
    for name in (LOCK_FILE, "run.json", "history.json"):
        (folder / name).unlink(missing_ok=True)
    for partial in folder.glob("ckpt-*"):  # a first save that failed midway (a full disk)
        if partial.is_dir():
            shutil.rmtree(partial)
        else:
            partial.unlink()
    with contextlib.suppress(OSError):  # not empty: leave it
        folder.rmdir()


def _is_own(name: str) -> bool:
    # ckpt-N.index, ckpt-N.data-*, and the temporary names TensorFlow and tfprot write first
    return name in OWN_FILES or name.startswith(
        ("ckpt-", "checkpoint", ".history.json.", ".run.json.")
    )


def records_digest(dataset: Any) -> str:
    """SHA-256 of a :class:`tfprot.ProteinDataset`'s records, split by split (ids, sequences,
    labels, masks; not where they were read from): equal for the same data read again."""
    digest = hashlib.sha256()
    for split in ("train", "validation", "test"):
        for record in dataset.records(split):
            digest.update(f"{split}\t{record!r}\n".encode())
    return digest.hexdigest()
