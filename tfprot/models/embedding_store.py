"""Embeddings written to HDF5 as they are computed: bounded memory, resumable, safe to kill.

The file follows the field's convention (UniProt distributes its per-protein and per-residue
embeddings so): one dataset per sequence at the root, named by its id, ``[residues, hidden]``
per residue or ``[hidden]`` per sequence, in input order (``list(file)``). A name holds the id
with ``%`` and ``/`` percent-encoded (``sp|P1|A/1`` is ``sp|P1|A%2F1``; an accession is its own
name, ``file["P69905"]``); each dataset's ``id`` attribute holds the id as written and its
``sequence_sha256`` what it was computed from. The root's attributes record the model
(``checkpoint``, ``weights_sha256``), ``pooling`` (``mean`` or ``none``), ``dtype``,
``hidden_size``, ``precision`` and ``tfprot_version``.

While a run is under way, finished embeddings go to part files in ``OUT.parts`` beside the
output: each part is written under a temporary name and renamed once complete (every 256 MiB or
two minutes, and at the end of each window of sequences), so a run killed at any point leaves
only complete HDF5 files (a part still being written is a ``.tmp`` that the next run removes). A
closed part is flushed to disk (``fsync``) and renamed by a background thread while the next
batches run, at most one part behind: the disk's writing overlaps the model's computing. The
parts, and what an earlier ``OUT`` held, are copied in input order into a new file (a temporary
in the parts folder) that replaces ``OUT`` in one rename at the end; the parts folder goes. That
copy runs during the run: after each window, the input's ids stored up to the first one that is
not are copied, so the end copies only the last window. The new file holds the input's ids
only, as a fresh run's would (datasets of an earlier ``OUT`` whose id the input no longer has
are not copied). A rerun of the same command resumes: an id already in ``OUT`` or a part is
skipped when its dataset is there whole (shape, dtype) and was computed from the same sequence;
anything else is computed again. A file from another model (its weights' digest), or with other
pooling, dtype or hidden size, is refused instead of being mixed with.

>>> import tempfile, pathlib, numpy as np, h5py
>>> out = pathlib.Path(tempfile.mkdtemp()) / "e.h5"
>>> header = StoreHeader("demo", "0" * 64, per_residue=True, dtype="float16", hidden_size=2)
>>> with EmbeddingStore(out, header) as store:
...     store.add("sp|P1|A/1", np.ones((3, 2)), "digest")
...     path = store.finish(["sp|P1|A/1"])
>>> with h5py.File(path) as saved:
...     list(saved), saved["sp|P1|A%2F1"].shape, saved["sp|P1|A%2F1"].dtype.name
(['sp|P1|A%2F1'], (3, 2), 'float16')
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tfprot._version import __version__
from tfprot.errors import DataFormatError, MissingDependencyError, OptionError, OutputError

try:
    import fcntl
except ImportError:  # Windows: no flock; concurrent runs are then not detected
    fcntl = None

__all__ = [
    "DTYPES",
    "FORMAT",
    "H5_SUFFIXES",
    "EmbeddingStore",
    "StoreHeader",
    "dataset_name",
    "is_h5_path",
    "parts_folder",
    "read_h5",
]

logger = logging.getLogger(__name__)

FORMAT = "tfprot embeddings"
"""The root's ``format`` attribute: what makes a file one this module resumes."""

H5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".he5")
DTYPES = ("float32", "float16")
"""Stored dtypes: ``float16`` halves the file (embeddings are computed in float32)."""

PART_BYTES = 256 * 2**20
PART_SECONDS = 120.0
LOCK_FILE = "lock"
_COMPARED = ("weights_sha256", "pooling", "dtype", "hidden_size")


def is_h5_path(path: str | os.PathLike) -> bool:
    """Whether ``path`` names an HDF5 file (by its suffix).

    >>> is_h5_path("out/embeddings.h5"), is_h5_path("embeddings.npz")
    (True, False)
    """
    return Path(path).suffix.lower() in H5_SUFFIXES


def parts_folder(out: str | os.PathLike) -> Path:
    """``OUT.parts``: where a run's finished parts wait until the end."""
    out = Path(out)
    return out.with_name(out.name + ".parts")


def dataset_name(record_id: str) -> str:
    """The HDF5 name of an id's dataset: ``%`` and ``/`` percent-encoded, ``.``/``..`` too.

    >>> dataset_name("sp|P69905|HBA_HUMAN"), dataset_name("a/b%"), dataset_name("..")
    ('sp|P69905|HBA_HUMAN', 'a%2Fb%25', '%2E%2E')
    """
    name = record_id.replace("%", "%25").replace("/", "%2F")
    return "%2E" * len(name) if name in (".", "..") else name


def check_dtype(dtype: str) -> str:
    """``dtype`` if it is one of :data:`DTYPES`; otherwise :class:`OptionError`."""
    if dtype not in DTYPES:
        raise OptionError(f"Unknown embedding dtype {dtype!r}. Expect one of {DTYPES}.")
    return dtype


def h5py_module():
    """``h5py``, or :class:`MissingDependencyError` naming how to install it."""
    try:
        import h5py
    except ImportError as error:
        raise MissingDependencyError(
            "Writing embeddings to HDF5 needs h5py: pip install h5py (a dependency of tfprot)."
        ) from error
    return h5py


@dataclass(frozen=True)
class StoreHeader:
    """What an embeddings file records about how it was made.

    Attributes:
        checkpoint: the model in words (a preset, Hub id or folder).
        weights_sha256: digest of the encoder's weights: the model's identity.
        per_residue: per-residue states, or their mean per sequence.
        dtype: the stored dtype (:data:`DTYPES`).
        hidden_size: values per vector.
        precision: the compute policy (recorded, not compared: ``'auto'`` may choose another
            on other hardware, which changes values by rounding alone).
    """

    checkpoint: str
    weights_sha256: str
    per_residue: bool
    dtype: str
    hidden_size: int
    precision: str = ""

    def attrs(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "checkpoint": self.checkpoint,
            "weights_sha256": self.weights_sha256,
            "pooling": "none" if self.per_residue else "mean",
            "dtype": self.dtype,
            "hidden_size": self.hidden_size,
            "precision": self.precision,
            "tfprot_version": __version__,
        }

    def refusal(self, attrs: Mapping[str, Any], where: Path) -> str | None:
        """Why a file with root ``attrs`` cannot be resumed by this run (``None``: it can)."""
        if attrs.get("format") != FORMAT:
            return (
                f"{where} is not a tfprot embeddings file (no format attribute {FORMAT!r}); "
                "tfprot resumes only its own files. Choose another --out, or remove it."
            )
        wanted = self.attrs()
        changed = [
            f"{key} {_text(attrs.get(key))} -> {_text(wanted[key])}"
            for key in _COMPARED
            if _text(attrs.get(key)) != _text(wanted[key])
        ]
        if not changed:
            return None
        model = "another model" if "weights_sha256" in changed[0] else "other settings"
        return (
            f"{where} holds embeddings made with {model} (checkpoint {_text(attrs.get('checkpoint'))!r}): "
            f"{'; '.join(changed)}. Resuming into it would mix two kinds of vectors in one file. "
            "Choose another --out, or remove it (and its .parts folder) to start again."
        )


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return str(value.item())
    return str(value)


class EmbeddingStore:
    """The HDF5 output of one run (see the module doc): used as a context manager that holds
    the parts folder's lock.

    Args:
        out: the final ``.h5`` file.
        header: this run's :class:`StoreHeader`.
        part_bytes, part_seconds: a part is closed and renamed when it holds this many bytes
            or has been open this long.
    """

    def __init__(
        self,
        out: str | os.PathLike,
        header: StoreHeader,
        *,
        part_bytes: int = PART_BYTES,
        part_seconds: float = PART_SECONDS,
    ) -> None:
        self.out = Path(out)
        self.header = header
        self.parts = parts_folder(self.out)
        self.part_bytes = part_bytes
        self.part_seconds = part_seconds
        self._h5py = h5py_module()
        self._lock: Any = None
        self._part: Any = None
        self._part_path: Path | None = None
        self._part_bytes = 0
        self._part_opened = 0.0
        self._numbers = 0
        self._committer: concurrent.futures.ThreadPoolExecutor | None = None
        self._committing: concurrent.futures.Future | None = None
        self.sources: dict[str, Path] = {}
        """Where each finished id's dataset is: ``OUT`` or a part."""
        self._out_names: list[str] | None = None
        self._final: Any = None
        self._copied = 0
        """The final file being built (a temporary) and how many ids of the order it holds."""

    # -- opening: lock, leftovers, the header of what is there --------------------------------
    def __enter__(self) -> EmbeddingStore:
        self.parts.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.parts / LOCK_FILE, "a+", encoding="utf-8")
        if fcntl is not None:
            try:
                fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                self._lock.seek(0)
                holder = self._lock.read().strip() or "another process"
                self._lock.close()
                raise OutputError(
                    f"{self.out} is being written by another run ({holder}) right now; wait for "
                    "it to end, or choose another --out."
                ) from None
        self._lock.seek(0)
        self._lock.truncate()
        self._lock.write(f"pid {os.getpid()}\n")
        self._lock.flush()
        for leftover in self.parts.glob("*.tmp"):  # a part or final file of a killed run
            logger.info("Removing %s, left by a run that was stopped while writing it.", leftover)
            leftover.unlink()
        try:
            for path in self._finished_files():
                self._check_header(path)
        except BaseException:
            self._release(remove_if_empty=True)
            raise
        self._numbers = max((_part_number(p) for p in self.parts.glob("part-*.h5")), default=0)
        return self

    def _release(self, *, remove_if_empty: bool = False) -> None:
        """Let the lock go; with ``remove_if_empty``, the parts folder too if it holds no part."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None
        if remove_if_empty and not any(self.parts.glob("part-*.h5")):
            (self.parts / LOCK_FILE).unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                self.parts.rmdir()

    def __exit__(self, kind: Any, error: Any, traceback: Any) -> None:
        try:  # every dataset in a part is whole; only a failed write (OSError) spoils a part
            self._close_part(keep=kind is None or not issubclass(kind, OSError))
        finally:
            try:
                self._drop_final()
                self._wait_for_commit()
            finally:
                if self._committer is not None:
                    self._committer.shutdown()
                    self._committer = None
                self._release(remove_if_empty=True)

    def _finished_files(self) -> list[Path]:
        """``OUT`` (when it exists) and the finished parts, oldest first."""
        parts = sorted(self.parts.glob("part-*.h5"), key=_part_number)
        return [self.out, *parts] if self.out.exists() else parts

    def _check_header(self, path: Path) -> None:
        try:
            with self._h5py.File(path, "r") as saved:
                reason = self.header.refusal(saved.attrs, path)
        except OSError as error:
            raise OutputError(
                f"{path} is not an HDF5 file tfprot can read ({error}); tfprot resumes only its "
                "own files. Choose another --out, or remove it."
            ) from error
        if reason:
            raise OutputError(reason)

    # -- resume ---------------------------------------------------------------------------------
    def completed(self, lengths: Mapping[str, int], digests: Mapping[str, str]) -> dict[str, int]:
        """Find the ids of the input already stored whole and from the same sequence, and
        remember where they are: ``{'complete': n, 'stale': m}`` (``stale``: stored, but to be
        computed again: another sequence, a wrong shape or dtype)."""
        hidden = self.header.hidden_size
        stale: set[str] = set()
        for path in self._finished_files():
            with self._h5py.File(path, "r") as saved:
                names = list(saved)
                if path == self.out:
                    self._out_names = names
                for name in names:
                    dataset = saved[name]
                    record_id = _text(dataset.attrs.get("id", name))
                    if record_id not in lengths or record_id in self.sources:
                        continue
                    shape = (lengths[record_id], hidden) if self.header.per_residue else (hidden,)
                    whole = (
                        isinstance(dataset, self._h5py.Dataset)
                        and dataset.shape == shape
                        and dataset.dtype == np.dtype(self.header.dtype)
                        and _text(dataset.attrs.get("sequence_sha256")) == digests[record_id]
                    )
                    if whole:
                        self.sources[record_id] = path
                    else:
                        stale.add(record_id)
        return {"complete": len(self.sources), "stale": len(stale - set(self.sources))}

    # -- writing --------------------------------------------------------------------------------
    def add(self, record_id: str, vectors: np.ndarray, digest: str) -> None:
        """Store one id's vectors (cast to the header's dtype) in the current part."""
        if self._part is None:
            self._numbers += 1
            self._part_path = self.parts / f"part-{self._numbers:06d}.h5"
            self._part = self._h5py.File(self._temporary(self._part_path), "w")
            self._part.attrs.update(self.header.attrs())
            self._part_bytes, self._part_opened = 0, time.monotonic()
        data = np.asarray(vectors, dtype=self.header.dtype)
        name = dataset_name(record_id)
        if name in self._part:  # computed twice in one run (cannot happen: ids are unique)
            del self._part[name]
        dataset = self._part.create_dataset(name, data=data)
        dataset.attrs["id"] = record_id
        dataset.attrs["sequence_sha256"] = digest
        self.sources[record_id] = self._part_path  # type: ignore[assignment]
        self._part_bytes += data.nbytes
        full = self._part_bytes >= self.part_bytes
        if full or time.monotonic() - self._part_opened >= self.part_seconds:
            self._close_part(keep=True)

    def flush(self) -> None:
        """Close and rename the current part (what a finished window calls)."""
        self._close_part(keep=True)

    def _close_part(self, keep: bool) -> None:
        if self._part is None:
            return
        part, self._part = self._part, None
        try:
            part.close()
        except Exception:
            self._temporary(self._part_path).unlink(missing_ok=True)
            raise
        temporary = self._temporary(self._part_path)
        if not keep:
            temporary.unlink(missing_ok=True)
            return
        self._wait_for_commit()  # at most one part on its way to the disk
        if self._committer is None:
            self._committer = concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix="tfprot-embedding-parts"
            )
        self._committing = self._committer.submit(_commit, temporary, self._part_path)

    def _wait_for_commit(self) -> None:
        """Wait until the part handed to the background thread is on disk and renamed; its
        error (a full disk) is raised here."""
        committing, self._committing = self._committing, None
        if committing is not None:
            committing.result()

    @staticmethod
    def _temporary(path: Path | None) -> Path:
        assert path is not None
        return path.with_name(path.name + ".tmp")

    def extend_final(self, order: Sequence[str]) -> None:
        """Copy into the final file (a temporary until :meth:`finish`) the ids of ``order``, the
        input order, from the last one copied up to the first not stored yet: what a finished
        window calls, so that the end has only the last window left to copy. ``order`` must be
        the same in every call and in :meth:`finish`."""
        end = self._copied
        while end < len(order) and order[end] in self.sources:
            end += 1
        if end == self._copied:
            return
        if self._final is None:
            self._final = self._h5py.File(self._final_path(), "w", track_order=True)
            self._final.attrs.update(self.header.attrs())
        readers: dict[Path, Any] = {}
        try:
            for record_id in order[self._copied : end]:
                source = self.sources[record_id]
                if source not in readers:
                    readers[source] = self._reader(source)
                name = dataset_name(record_id)
                self._final.copy(readers[source][name], name)
        finally:
            for handle in readers.values():
                handle.close()
        self._copied = end

    def finish(self, order: Iterable[str]) -> Path:
        """Copy every id of ``order`` not copied yet from where it is into the final file, which
        then replaces ``OUT``; remove the parts folder. Every id must be stored."""
        self._close_part(keep=True)
        self._wait_for_commit()
        order = list(order)
        missing = [i for i in order if i not in self.sources]
        if missing:
            raise DataFormatError(
                f"{len(missing)} ids have no embeddings yet (first: {missing[0]!r}); nothing "
                f"was written to {self.out}."
            )
        if (
            self._final is None
            and self._out_names == [dataset_name(i) for i in order]
            and all(self.sources[i] == self.out for i in order)
        ):
            self._remove_parts()  # OUT already holds exactly this, in this order
            return self.out
        self.extend_final(order)
        final, self._final = self._final, None
        final.close()
        temporary = self._final_path()
        _fsync(temporary)
        os.replace(temporary, self.out)
        self._remove_parts()
        return self.out

    def _final_path(self) -> Path:
        return self.parts / "final.h5.tmp"

    def _drop_final(self) -> None:
        """Close and remove an unfinished final file (a run that ends in an error)."""
        final, self._final = self._final, None
        if final is not None:
            try:
                final.close()
            finally:
                self._final_path().unlink(missing_ok=True)

    def _reader(self, part: Path) -> Any:
        """``part`` open for reading; while its fsync runs in the background, its temporary."""
        for candidate in (part, self._temporary(part), part):  # it may be renamed meanwhile
            try:
                return self._h5py.File(candidate, "r")
            except FileNotFoundError:
                continue
        raise FileNotFoundError(f"{part} is gone: was its folder removed during the run?")

    def _remove_parts(self) -> None:
        for path in self.parts.glob("part-*.h5"):
            path.unlink()
        self._release(remove_if_empty=True)


def _part_number(path: Path) -> int:
    try:
        return int(path.stem.split("-")[1])
    except (IndexError, ValueError):
        return 0


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _commit(temporary: Path, final: Path) -> None:
    """Flush a closed part to disk, then give it its final name (it counts from then on)."""
    _fsync(temporary)
    os.replace(temporary, final)


def read_h5(path: str | os.PathLike) -> tuple[tuple[str, ...], list[np.ndarray], bool]:
    """The ids (input order), arrays and ``per_residue`` of an embeddings file this module
    wrote (float16 files come back as float16)."""
    h5py = h5py_module()
    with h5py.File(path, "r") as saved:
        if saved.attrs.get("format") != FORMAT:
            raise DataFormatError(f"{path}: not a tfprot embeddings file (no format attribute).")
        per_residue = _text(saved.attrs.get("pooling")) == "none"
        ids, arrays = [], []
        for name, dataset in saved.items():
            ids.append(_text(dataset.attrs.get("id", name)))
            arrays.append(dataset[()])
    return tuple(ids), arrays, per_residue
