"""Atomic file output: write to a temporary file beside the target, then rename over it.

A reader (or a resumed job) never sees a half-written file: either the old content or the new.

>>> import tempfile, pathlib
>>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
>>> write_text_atomic(target, "done\\n")
>>> target.read_text()
'done\\n'
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = [
    "atomic_folder",
    "atomic_path",
    "ensure_replaceable",
    "open_atomic",
    "write_bytes_atomic",
    "write_text_atomic",
]


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it is renamed to ``target``.

    Use it with libraries that write to a path themselves (``np.save``, ``savefig``). On error
    the temporary file is removed and ``target`` is left as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".tmp" + "".join(target.suffixes[-1:]), dir=target.parent
    )
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        # mkstemp creates 0600; give the file the mode a plain open() would (0666 less umask).
        if temporary.exists():
            os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, target)
    finally:
        if temporary.exists():
            temporary.unlink()


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


@contextlib.contextmanager
def open_atomic(target: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator[IO]:
    """Open a temporary file for writing; it replaces ``target`` when the block ends well."""
    with atomic_path(target) as temporary, open(temporary, mode, **kwargs) as handle:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())


def write_text_atomic(target: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``target`` atomically."""
    with open_atomic(target, "w", encoding="utf-8") as handle:
        handle.write(text)


def write_bytes_atomic(target: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``target`` atomically."""
    with open_atomic(target, "wb") as handle:
        handle.write(data)


@contextlib.contextmanager
def atomic_folder(target: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty staging folder beside ``target``; on success it replaces ``target``.

    An existing ``target`` is moved aside first and removed only once the new one is in place,
    so a crash leaves either the old or the new folder, never a half-written one.
    """
    import shutil
    import uuid

    target = Path(target)
    if target.exists() and not target.is_dir():
        raise FileExistsError(f"{target} exists and is not a folder; choose another output path.")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}.tmp"
    staging.mkdir()
    try:
        yield staging
        if target.exists():
            old = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}.old"
            os.replace(target, old)
            os.replace(staging, target)
            shutil.rmtree(old)
        else:
            os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def ensure_replaceable(folder: Path, marker: str, what: str) -> None:
    """Refuse to replace an existing non-empty folder unless it holds ``marker`` (a previous
    save of the same kind): an atomic save removes the folder it replaces."""
    from tfprot.errors import CheckpointError

    if folder.exists() and not folder.is_dir():
        raise CheckpointError(f"{folder} is a file, not a folder; choose another output path.")
    if not folder.is_dir() or not any(folder.iterdir()) or (folder / marker).is_file():
        return
    raise CheckpointError(
        f"{folder} exists, is not empty and is not {what} (no {marker}); saving would replace "
        "it. Choose a new or empty folder."
    )
