"""Building tfprot's CPU ops: one shared library per target CPU, compiled on first use, cached.

The library's sources (``_ops/``) are two parts. TensorFlow's side (``*_op.cc``: tensors,
threads) is compiled without a target flag (TensorFlow's headers do not compile for every
target, and need not), once per compiler and TensorFlow version. The arithmetic
(``kernel.cc``) is compiled for a target: ``-march=native`` (this CPU) unless
``TFPROT_CPU_OPS_MARCH`` names another, e.g. ``x86-64-v3`` (AVX2) or ``x86-64`` (the portable
loops), which is how the tests check every code path one machine can run. Builds go to
``$TFPROT_CACHE_DIR/ops`` (default ``~/.cache/tfprot/ops``), one folder per build key: the
sources, the compiler and its version, the flags, TensorFlow's version and this CPU.

A failed build is remembered in its folder (``build-failed.log``, with the compiler's whole
output) and not retried until the key changes (new sources, compiler, flags or TensorFlow) or
that file is deleted: a model run then costs no compiler time and logs one line, not the
compiler's errors. A target this CPU cannot execute (``x86-64-v4`` on an AVX2 CPU) is refused
before anything is compiled: its library would stop the process with an illegal instruction.

>>> describe_target({"__x86_64__", "__SSE4_2__", "__POPCNT__", "__SSSE3__", "__SSE4_1__"})
'x86-64-v2'
>>> missing_features({"__x86_64__", "__AVX2__", "__FMA__"}, {"avx", "avx2"})
['fma']
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import hashlib
import logging
import os
import platform
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from tfprot.errors import CpuOpsError

__all__ = [
    "DEFAULT_MARCH",
    "FAILED_LOG",
    "KERNEL_FLAGS",
    "LIBRARY_NAME",
    "MARCH_ENV",
    "BuildError",
    "Built",
    "build",
    "cache_dir",
    "compiler",
    "cpu_flags",
    "cpu_model",
    "describe_cpu",
    "describe_target",
    "kernel_command",
    "march",
    "missing_features",
    "target_macros",
    "unsupported_platform",
]

logger = logging.getLogger(__name__)

SOURCES = Path(__file__).parent / "_ops"
LIBRARY_NAME = "tfprot_cpu_ops.so"
FAILED_LOG = "build-failed.log"
"""Written into a build's folder when it fails: the commands and the compiler's whole output."""

MARCH_ENV = "TFPROT_CPU_OPS_MARCH"
"""The target ``kernel.cc`` is compiled for (``-march=VALUE``); part of the build key."""
DEFAULT_MARCH = "native"

KERNEL_FLAGS = ("-O3", "-std=c++17", "-fopenmp-simd", "-ffp-contract=off", "-fno-trapping-math")
"""How ``_ops/kernel.cc`` is compiled (and ``-march=TARGET``): without contracting ``a·b + c``
into one rounding, so that element-wise results equal TensorFlow's op-by-op float32 arithmetic
(the explicit FMA intrinsics are unaffected); without trapping floating-point exceptions (neither
tfprot nor TensorFlow enables them), so that the portable loops' selects vectorise."""
TENSORFLOW_SIDE_FLAGS = ("-O2", "-w")
"""How ``_ops/*_op.cc`` are compiled (with TensorFlow's own flags, no target flag)."""

_BUILD_SECONDS = 20
"""About how long a first build takes on a 2-core machine (said in the log line)."""

_FEATURES = {
    "__SSSE3__": "ssse3",
    "__SSE4_1__": "sse4_1",
    "__SSE4_2__": "sse4_2",
    "__POPCNT__": "popcnt",
    "__AVX__": "avx",
    "__AVX2__": "avx2",
    "__FMA__": "fma",
    "__F16C__": "f16c",
    "__BMI__": "bmi1",
    "__BMI2__": "bmi2",
    "__MOVBE__": "movbe",
    "__LZCNT__": "abm",
    "__AVX512F__": "avx512f",
    "__AVX512BW__": "avx512bw",
    "__AVX512CD__": "avx512cd",
    "__AVX512DQ__": "avx512dq",
    "__AVX512VL__": "avx512vl",
    "__AVX512BF16__": "avx512_bf16",
    "__AVX512FP16__": "avx512_fp16",
    "__AVX512VNNI__": "avx512_vnni",
    "__AMX_TILE__": "amx_tile",
    "__AMX_BF16__": "amx_bf16",
}
"""Compiler macros of a target's instruction sets → the CPU flags (``/proc/cpuinfo``) that run
them: what a target needs that this CPU lacks is refused (:func:`missing_features`)."""

_LEVELS = (
    ("x86-64-v4", ("__AVX512F__", "__AVX512BW__", "__AVX512CD__", "__AVX512DQ__", "__AVX512VL__")),
    ("x86-64-v3", ("__AVX__", "__AVX2__", "__FMA__", "__BMI__", "__BMI2__", "__F16C__")),
    ("x86-64-v2", ("__SSSE3__", "__SSE4_1__", "__SSE4_2__", "__POPCNT__")),
)
"""The x86-64 micro-architecture levels by the macros they define (each includes the next)."""


class BuildError(CpuOpsError):
    """The library could not be built here; the message is one line and says why."""


@dataclasses.dataclass(frozen=True)
class Built:
    """A built library.

    Attributes:
        library: its path.
        target: the ``-march`` target of its arithmetic.
        description: the target in words (:func:`describe_target`).
    """

    library: Path
    target: str
    description: str


def unsupported_platform() -> str | None:
    """Why the ops are not built on this machine at all, or ``None``: they build on Linux and
    macOS, on x86-64 (every level) and ARM64 (the portable loops)."""
    machine = platform.machine().lower()
    if os.name != "posix":
        return f"tfprot's CPU ops are built on Linux and macOS only (this is {platform.system()})"
    if machine not in ("x86_64", "amd64", "aarch64", "arm64"):
        return f"tfprot's CPU ops are built for x86-64 and ARM64 only (this machine: {machine})"
    return None


def march() -> str:
    """The target of ``kernel.cc``: ``$TFPROT_CPU_OPS_MARCH`` or ``native``.

    Raises:
        BuildError: the value is not a target name (letters, digits, ``.``, ``_``, ``+``, ``-``).
    """
    value = os.environ.get(MARCH_ENV, "").strip() or DEFAULT_MARCH
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]*", value):
        raise BuildError(f"{MARCH_ENV}={value!r} is not a target name (e.g. native, x86-64-v3)")
    return value


def compiler() -> str:
    """The C++ compiler's path: ``$CXX`` or ``g++``.

    Raises:
        BuildError: there is none.
    """
    name = os.environ.get("CXX", "g++")
    path = shutil.which(name)
    if path is None:
        raise BuildError(f"no C++ compiler {name!r} on PATH (install g++, or set CXX to one)")
    return path


def cache_root() -> Path:
    """``$TFPROT_CACHE_DIR`` (default ``$XDG_CACHE_HOME/tfprot``, ``~/.cache/tfprot``): where
    what tfprot builds or measures once per machine is kept."""
    root = os.environ.get("TFPROT_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "tfprot"
    )
    return Path(root)


def cache_dir() -> Path:
    """``$TFPROT_CACHE_DIR/ops`` (default ``~/.cache/tfprot/ops``)."""
    return cache_root() / "ops"


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def cpu_flags(cpuinfo: str | None = None) -> frozenset[str]:
    """This CPU's feature flags as ``/proc/cpuinfo`` lists them (empty where there is none).

    >>> sorted(cpu_flags("flags\\t\\t: fpu avx2 fma\\n"))
    ['avx2', 'fma', 'fpu']
    """
    text = _cpuinfo() if cpuinfo is None else cpuinfo
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("flags", "Features"):  # x86; ARM
            return frozenset(value.split())
    return frozenset()


def cpu_model(cpuinfo: str | None = None) -> str:
    """This CPU's model name (``/proc/cpuinfo``), else the platform's word for it."""
    text = _cpuinfo() if cpuinfo is None else cpuinfo
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("model name", "Model", "cpu model") and value.strip():
            return value.strip()
    return platform.processor() or platform.machine()


def target_macros(compiler_path: str, target: str) -> frozenset[str]:
    """The macros the compiler defines for ``-march=TARGET`` (``__AVX2__``, ``__aarch64__``...).

    Raises:
        BuildError: the compiler does not know the target.
    """
    command = [compiler_path, f"-march={target}", "-dM", "-E", "-x", "c++", os.devnull]
    done = _run(command, timeout=60)
    if done.returncode != 0:
        raise BuildError(
            f"the compiler refuses -march={target} ({_first_error(done.stderr)}); set "
            f"{MARCH_ENV} to a target it knows (e.g. native, x86-64-v3, x86-64)"
        )
    return frozenset(
        line.split()[1] for line in done.stdout.splitlines() if line.startswith("#define ")
    )


def describe_target(macros: Iterable[str]) -> str:
    """A target's level in words: ``x86-64-v4 + AMX-BF16``, ``x86-64-v3``... or ``ARM64``."""
    macros = set(macros)
    if "__aarch64__" in macros:
        return "ARM64"
    if "__x86_64__" not in macros:
        return "not x86-64 or ARM64"
    level = "x86-64"
    for name, needs in reversed(_LEVELS):
        if not set(needs) <= macros:
            break
        level = name
    if {"__AMX_TILE__", "__AMX_BF16__", "__AVX512BF16__"} <= macros:
        level += " + AMX-BF16"
    return level


def describe_cpu(flags: Iterable[str] | None = None, machine: str | None = None) -> str:
    """This CPU's level in words from its flags, as :func:`describe_target` words a target.

    >>> v3 = {"ssse3", "sse4_1", "sse4_2", "popcnt", "avx", "avx2", "fma", "bmi1", "bmi2", "f16c"}
    >>> describe_cpu(v3, machine="x86_64")
    'x86-64-v3'
    """
    machine = (machine or platform.machine()).lower()
    if machine in ("aarch64", "arm64"):
        return "ARM64"
    if machine not in ("x86_64", "amd64"):
        return machine
    flags = set(cpu_flags() if flags is None else flags)
    return describe_target({"__x86_64__"} | {m for m, f in _FEATURES.items() if f in flags})


def missing_features(macros: Iterable[str], flags: Iterable[str]) -> list[str]:
    """The CPU flags a target's instruction sets need that ``flags`` (this CPU's) lack."""
    flags = set(flags)
    return sorted({_FEATURES[m] for m in macros if m in _FEATURES} - flags)


def kernel_command(compiler_path: str, target: str, output: Path) -> list[str]:
    """The command that compiles ``kernel.cc`` for ``-march=TARGET`` into ``output``."""
    source = str(SOURCES / "kernel.cc")
    return [
        compiler_path,
        "-c",
        "-fPIC",
        *KERNEL_FLAGS,
        f"-march={target}",
        source,
        "-o",
        str(output),
    ]


def build(compiler_path: str, target: str) -> Built:
    """The library for ``-march=TARGET``, built first if it is not in the cache (about 20 s).

    Raises:
        BuildError: the target is one this CPU cannot run, the build failed (now or before: see
            :data:`FAILED_LOG` in the build's folder), or the compiler could not run.
        OSError: the cache folder cannot be written.
    """
    import tensorflow as tf

    macros = target_macros(compiler_path, target)
    if target != "native":  # native is this CPU by definition
        lacking = missing_features(macros, cpu_flags())
        if lacking and cpu_flags():
            raise BuildError(
                f"{MARCH_ENV}={target} needs {', '.join(lacking)}, which this CPU "
                f"({cpu_model()}) lacks; its library would stop the process"
            )
    version = _run([compiler_path, "--version"], timeout=60).stdout
    tensorflow_side = _digest(
        _source_bytes("*_op.cc", "kernel.h"),
        compiler_path,
        version,
        tf.__version__,
        *tf.sysconfig.get_compile_flags(),
        *TENSORFLOW_SIDE_FLAGS,
    )
    key = _digest(
        tensorflow_side,
        _source_bytes("kernel.cc", "kernel.h"),
        *KERNEL_FLAGS,
        target,
        _cpu_identity() if target == "native" else "",
        *tf.sysconfig.get_link_flags(),
    )
    folder = cache_dir() / key
    library = folder / LIBRARY_NAME
    built = Built(library, target, describe_target(macros))
    if library.exists():
        return built
    _check_remembered_failure(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder):  # one build at a time (parallel test workers, processes)
        if library.exists():
            return built
        _check_remembered_failure(folder)
        what = f"this CPU ({built.description})"
        if target != "native":
            what = f"-march={target} ({built.description}; {MARCH_ENV})"
        logger.warning(
            "Building tfprot's CPU ops for %s, about %d s, once, into %s.",
            what,
            _BUILD_SECONDS,
            folder,
        )
        started = time.perf_counter()
        try:
            objects = _tensorflow_objects(compiler_path, cache_dir() / f"tf-{tensorflow_side}")
            with tempfile.TemporaryDirectory(dir=folder) as scratch:
                kernel = Path(scratch) / "kernel.o"
                linked = Path(scratch) / LIBRARY_NAME
                _compile([kernel_command(compiler_path, target, kernel)])
                link = [compiler_path, "-shared", "-fPIC", *map(str, objects), str(kernel)]
                _compile([[*link, "-o", str(linked), *tf.sysconfig.get_link_flags()]])
                os.replace(linked, library)  # atomic: a reader sees no library or a whole one
        except _CompileError as error:
            log = folder / FAILED_LOG
            _write_log(log, error.log)
            raise BuildError(
                f"the build failed ({error.summary}); the compiler's output is in {log}; it is "
                "not retried until the sources, the compiler or the flags change (delete that "
                "file to retry)"
            ) from None
        logger.info("Built %s in %.0f s.", library, time.perf_counter() - started)
    return built


def _check_remembered_failure(folder: Path) -> None:
    log = folder / FAILED_LOG
    if log.exists():
        summary = ""
        with contextlib.suppress(OSError):
            summary = _first_error(log.read_text(errors="replace"))
        raise BuildError(
            f"an earlier build with these sources, compiler and flags failed ({summary}); not "
            f"retried: the compiler's output is in {log} (delete it to retry)"
        )


def _tensorflow_objects(compiler_path: str, folder: Path) -> list[Path]:
    """TensorFlow's side (``*_op.cc``) compiled into ``folder`` (once; shared by every target)."""
    import tensorflow as tf

    sources = sorted(SOURCES.glob("*_op.cc"))
    objects = [folder / f"{source.stem}.o" for source in sources]
    if all(path.exists() for path in objects):
        return objects
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder):
        missing = [(s, o) for s, o in zip(sources, objects, strict=True) if not o.exists()]
        if missing:
            with tempfile.TemporaryDirectory(dir=folder) as scratch:
                flags = [*TENSORFLOW_SIDE_FLAGS, *tf.sysconfig.get_compile_flags()]
                commands = [
                    [compiler_path, "-c", "-fPIC", *flags, str(s), "-o", f"{scratch}/{o.name}"]
                    for s, o in missing
                ]
                _compile(commands)
                for _, path in missing:
                    os.replace(Path(scratch) / path.name, path)
    return objects


class _CompileError(Exception):
    def __init__(self, summary: str, log: str):
        super().__init__(summary)
        self.summary = summary
        self.log = log


def _compile(commands: list[list[str]]) -> None:
    """Runs the commands side by side (as many as there are cores)."""
    workers = max(1, min(len(commands), os.cpu_count() or 1))
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(lambda c: (c, _run(c, timeout=600)), commands))
    failed = [(c, done) for c, done in results if done.returncode != 0]
    if failed:
        log = "\n\n".join(
            f"$ {' '.join(c)}\n(exit status {done.returncode})\n{done.stdout}{done.stderr}"
            for c, done in failed
        )
        command, done = failed[0]
        raise _CompileError(f"{Path(command[0]).name}: {_first_error(done.stderr)}", log)


def _run(command: list[str], timeout: float) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(command, capture_output=True, text=True, check=False, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise BuildError(f"{command[0]} failed to run: {error}") from error


def _first_error(text: str) -> str:
    """The compiler's first error line (else its last line), shortened: for one log line. The
    commands that :func:`_compile` writes into a log (``$ ...``, ``(exit status N)``) are
    skipped."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith(("$ ", "(exit status "))]
    errors = [line for line in lines if re.search(r"\berror:", line, re.IGNORECASE)]
    line = (errors or lines[-1:] or ["no message"])[0]
    return line if len(line) <= 240 else line[:237] + "..."


def _write_log(path: Path, text: str) -> None:
    from tfprot._io import write_text_atomic

    with contextlib.suppress(OSError):
        write_text_atomic(path, text)


def _source_bytes(*patterns: str) -> bytes:
    paths = sorted({p for pattern in patterns for p in SOURCES.glob(pattern)})
    return b"".join(p.name.encode() + p.read_bytes() for p in paths)


def _cpu_identity() -> str:
    """This CPU's model and flags: a ``-march=native`` library runs only on such a CPU."""
    text = _cpuinfo()
    lines = [x for x in text.splitlines() if x.startswith(("model name", "flags", "Features"))]
    return "\n".join(sorted(set(lines))) or platform.processor() or platform.machine()


def _digest(*parts: bytes | str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        data = part if isinstance(part, bytes) else part.encode()
        digest.update(len(data).to_bytes(8, "little") + data)
    return digest.hexdigest()[:16]


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    import fcntl  # POSIX (unsupported_platform() refuses the rest)

    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
