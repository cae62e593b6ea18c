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
import errno
import glob
import logging
import os
import re
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

try:
    import fcntl
except ImportError:  # Windows: no flock; stale staging folders are then left for the user
    fcntl = None

__all__ = [
    "atomic_folder",
    "atomic_path",
    "check_writable",
    "clean_stale_staging",
    "ensure_replaceable",
    "final_path",
    "open_atomic",
    "write_bytes_atomic",
    "write_text_atomic",
]

logger = logging.getLogger(__name__)


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
    except OSError as error:
        renamed = _renamed(error, temporary, target)
        if renamed is error:
            raise
        raise renamed from error
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


STAGING_SUFFIXES = (".tmp", ".old")
"""``.NAME.<key>.tmp``: a folder being written; ``.NAME.<key>.old``: the folder it replaces,
moved aside until the new one is in place. ``.NAME.<key>.lock`` beside them (see
:func:`atomic_folder`) marks both as tfprot's and is locked while their writer lives."""


@contextlib.contextmanager
def atomic_folder(target: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty staging folder beside ``target``; on success it replaces ``target``.

    An existing ``target`` is moved aside first and removed only once the new one is in place,
    so a crash leaves either the old or the new folder, never a half-written one.

    The staging folder ``.NAME.<key>.tmp`` comes with a lock file ``.NAME.<key>.lock`` that the
    writing process holds locked (``flock``) until it is done; a process killed while saving
    (SIGKILL, a pre-empted machine) leaves both behind, unlocked. The next ``atomic_folder`` for
    the same target removes such leftovers (:func:`clean_stale_staging`), never those of a
    process still writing.

    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "model"
    >>> with atomic_folder(target) as staging:
    ...     _ = (staging / "weights.bin").write_bytes(b"1")
    >>> sorted(p.name for p in target.parent.iterdir())
    ['model']
    """
    import shutil
    import uuid

    from tfprot.errors import OutputError

    target = Path(target)
    if target.exists() and not target.is_dir():
        raise OutputError(f"{target} exists and is not a folder; choose another output path.")
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_staging(target)
    key = uuid.uuid4().hex[:8]
    staging, lock_path = (_sibling(target, key, suffix) for suffix in (".tmp", ".lock"))
    with _locked(lock_path):
        staging.mkdir()
        _LIVE_STAGING[staging] = target
        try:
            yield staging
            if target.exists():
                old = _sibling(target, key, ".old")
                os.replace(target, old)
                os.replace(staging, target)
                shutil.rmtree(old)
            else:
                os.replace(staging, target)
        except OSError as error:
            renamed = _renamed(error, staging, target)
            if renamed is error:
                raise
            raise renamed from error
        finally:
            _LIVE_STAGING.pop(staging, None)
            if staging.exists():
                shutil.rmtree(staging)


_LIVE_STAGING: dict[Path, Path] = {}
"""The staging folders this process is writing → the folder each becomes."""


def final_path(path: str | os.PathLike) -> Path:
    """Where ``path`` will be once the :func:`atomic_folder` it is written in is in place (through
    nested ones too), for messages: a user never sees a hidden staging folder. Any other path is
    returned as it is.

    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "run"
    >>> with atomic_folder(out) as staging, atomic_folder(staging / "model") as inner:
    ...     final_path(inner / "config.json") == out / "model" / "config.json"
    True
    """
    path = Path(path)
    innermost_first = sorted(_LIVE_STAGING.items(), key=lambda item: -len(item[0].parts))
    for staging, target in innermost_first:
        if path == staging or staging in path.parents:
            return final_path(target / path.relative_to(staging))
    return path


def _sibling(target: Path, key: str, suffix: str) -> Path:
    return target.parent / f".{target.name}.{key}{suffix}"


_LOCK_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<key>[0-9a-f]{8})\.lock$")
_STAGING_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<key>[0-9a-f]{8})\.tmp$")


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on a new file ``lock_path`` for the block, then remove it.

    The file is locked under another name and then renamed into place, so that no other process
    ever sees ``lock_path`` unlocked while its writer lives.
    """
    fresh = lock_path.with_name(lock_path.name + ".new")
    with open(fresh, "x", encoding="utf-8") as handle:
        try:
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            handle.write(f"tfprot staging lock: pid {os.getpid()} on {socket.gethostname()}\n")
            handle.flush()
            os.replace(fresh, lock_path)
            yield
        finally:
            fresh.unlink(missing_ok=True)
            lock_path.unlink(missing_ok=True)


def clean_stale_staging(target: str | os.PathLike) -> list[Path]:
    """Remove what saves of ``target`` killed midway left beside it; return the removed paths.

    Only tfprot's own leftovers go: a ``.NAME.<key>.tmp`` or ``.NAME.<key>.old`` folder counts
    only with its ``.NAME.<key>.lock`` file beside it, and only when that lock can be taken, that
    is when no live process holds it (the lock dies with its process, SIGKILL included). A
    ``.old`` folder whose target is missing (killed between the two renames of a replace) is the
    previous output: it is put back, not removed. Each removal is logged (INFO).

    >>> import tempfile, pathlib
    >>> clean_stale_staging(pathlib.Path(tempfile.mkdtemp()) / "model")
    []
    """

    target = Path(target)
    removed: list[Path] = []
    if fcntl is None or not target.parent.is_dir():
        return removed
    for lock_path in sorted(target.parent.glob(f".{glob.escape(target.name)}.*.lock")):
        match = _LOCK_NAME.match(lock_path.name)
        if match is None or match["name"] != target.name or not lock_path.is_file():
            continue
        with contextlib.ExitStack() as stack:
            try:
                handle = stack.enter_context(open(lock_path, encoding="utf-8"))
            except FileNotFoundError:  # its writer just finished
                continue
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # held: a live process is writing this folder
                continue
            if not lock_path.exists():  # finished between the open and the lock
                continue
            removed += _remove_leftovers(target, match["key"])
            lock_path.unlink(missing_ok=True)
    # Folders first, then locks: a writer creates its lock before its folder.
    staged = sorted(p for p in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"))
    locked = {m["key"] for m in map(_LOCK_NAME.match, _names(target.parent)) if m}
    for path in staged:
        match = _STAGING_NAME.match(path.name)
        if match and match["name"] == target.name and match["key"] not in locked and path.is_dir():
            logger.warning(
                "%s looks like the staging folder of a save killed midway by an older tfprot "
                "(no lock file beside it); remove it by hand if no save is running.",
                path,
            )
    return removed


def _remove_leftovers(target: Path, key: str) -> list[Path]:
    """Remove the staging and moved-aside folders of the save ``key`` of ``target`` (its lock is
    held by the caller); a moved-aside previous output whose target is missing is put back."""
    import shutil

    removed = []
    staging, old = (_sibling(target, key, suffix) for suffix in STAGING_SUFFIXES)
    if old.is_dir() and not target.exists():
        os.replace(old, target)
        logger.info("Restored %s from %s, which an interrupted save had moved aside.", target, old)
    for folder in (staging, old):
        if folder.is_dir():
            size = _size_of(folder)
            shutil.rmtree(folder)
            removed.append(folder)
            logger.info(
                "Removed %s (%s), left by an interrupted save of %s.",
                folder,
                _human_size(size),
                target.name,
            )
    return removed


def _names(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir()]


def _size_of(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def _human_size(size: int) -> str:
    """
    >>> _human_size(3_500_000_000)
    '3.5 GB'
    """
    for unit in ("bytes", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


_DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EROFS})


def _renamed(error: OSError, temporary: Path, target: Path) -> OSError:
    """``error`` naming ``target`` where it named the hidden ``temporary`` (file or folder), or
    named no file at all although the disk failed (a ``write`` on a full disk names none).

    >>> import errno, pathlib
    >>> tmp, out = pathlib.Path("/d/.out.1234abcd.tmp"), pathlib.Path("/d/out")
    >>> _renamed(OSError(errno.ENOSPC, "No space left on device"), tmp, out).filename
    '/d/out'
    >>> _renamed(PermissionError(errno.EACCES, "Permission denied", f"{tmp}/a.bin"), tmp, out)
    PermissionError(13, 'Permission denied')
    >>> _ .filename
    '/d/out/a.bin'
    """
    filename = error.filename
    if filename is None and error.errno in _DISK_ERRNOS:
        return OSError(error.errno, error.strerror, str(target))
    if not isinstance(filename, str) or not filename.startswith(str(temporary)):
        return error
    return OSError(error.errno, error.strerror, str(target) + filename[len(str(temporary)) :])


def check_writable(folder: str | os.PathLike, what: str = "--out") -> None:
    """Fail now, not after hours of work, when ``folder`` could not be created or written.

    Creates (and removes) an empty file in ``folder``'s nearest existing ancestor; nothing is
    left behind.

    Raises:
        OutputError: a part of the path is a file, or the place is read-only or not ours to write.

    >>> import tempfile, pathlib
    >>> check_writable(pathlib.Path(tempfile.mkdtemp()) / "new" / "out")
    """
    from tfprot.errors import OutputError

    folder = Path(folder)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(
            f"{folder}: cannot create it, {existing} is a file, not a folder; choose another "
            f"{what}."
        )
    try:
        handle, name = tempfile.mkstemp(prefix=".tfprot-write-check.", dir=existing)
    except OSError as error:
        reason = error.strerror or str(error)
        raise OutputError(
            f"{folder}: cannot write there ({reason}: {existing}); choose a writable {what}."
        ) from error
    os.close(handle)
    os.unlink(name)


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
