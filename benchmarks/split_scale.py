"""How long a homology-aware split of many sequences takes, stage by stage.

Generates ``--count`` protein-like sequences (lengths drawn around 350 residues, 50 to 1,000; a
share of them in families: a random base and relatives at 90 to 40% identity, made by
substitutions), labels them with five classes, and runs ``tfprot.split_records(method="homology")``
with its leakage report, as a user would. Above 50,000 sequences the clusters come from MMseqs2's
``easy-linclust``; the pairwise search (validation and test against everything, sensitivity 7.5)
then enforces the guarantee. The stage times are read from tfprot's own log lines (each MMseqs2
run logs when it is done); the CPU model, thread count and MMseqs2 version are printed with them,
and the CPU time MMseqs2's processes used (what the wall time would approach on idle cores).

Not part of the test suite (minutes at 100,000 sequences). Run:
``python -m benchmarks.split_scale [--count 100000] [--family-share 0.3] [--threads N]``
"""

from __future__ import annotations

import argparse
import logging
import platform
import re
import resource
import time

import numpy as np

import tfprot
from tfprot.data.mmseqs import find_mmseqs

AMINO_ACIDS = np.array(list("ACDEFGHIKLMNPQRSTVWY"))


def create_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000, help="sequences (default 100,000)")
    parser.add_argument(
        "--family-share", type=float, default=0.3, help="share of sequences in families (0.3)"
    )
    parser.add_argument("--max-identity", type=float, default=0.3, help="threshold (0.3)")
    parser.add_argument("--threads", type=int, default=None, help="MMseqs2 threads (all CPUs)")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def generate(count: int, family_share: float, seed: int) -> list[tfprot.ProteinRecord]:
    """``count`` records: families (a base and relatives at 10-60% substitutions) and singletons."""
    rng = np.random.default_rng(seed)
    records: list[tfprot.ProteinRecord] = []

    def length() -> int:
        return int(np.clip(rng.lognormal(np.log(350), 0.5), 50, 1000))

    def add(residues: np.ndarray, label: str) -> None:
        records.append(
            tfprot.ProteinRecord(id=f"s{len(records)}", sequence="".join(residues), label=label)
        )

    in_families = int(count * family_share)
    while len(records) < in_families:
        base = AMINO_ACIDS[rng.integers(0, 20, size=length())]
        label = f"class{rng.integers(5)}"
        add(base, label)
        for _ in range(int(rng.integers(1, 6))):
            if len(records) >= in_families:
                break
            relative = base.copy()
            changed = rng.random(len(base)) < rng.uniform(0.1, 0.6)
            relative[changed] = AMINO_ACIDS[
                (np.searchsorted(AMINO_ACIDS, base[changed]) + rng.integers(1, 20, changed.sum()))
                % 20
            ]
            add(relative, label)
    while len(records) < count:
        add(AMINO_ACIDS[rng.integers(0, 20, size=length())], f"class{rng.integers(5)}")
    return records


class StageTimes(logging.Handler):
    """Collects the ``MMseqs2 <command>: done in X s`` lines that tfprot logs."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.stages: list[tuple[str, float]] = []

    def emit(self, record: logging.LogRecord) -> None:
        found = re.match(r"MMseqs2 (\S+): done in ([\d.]+) s", record.getMessage())
        if found:
            self.stages.append((found.group(1), float(found.group(2))))


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main(argv: list[str] | None = None) -> int:
    args = create_parser().parse_args(argv)
    tool = find_mmseqs(args.threads)
    print(f"CPU: {cpu_model()}, {tool.threads} MMseqs2 threads; {tool.describe()}")
    started = time.perf_counter()
    records = generate(args.count, args.family_share, args.seed)
    residues = sum(len(r) for r in records)
    print(
        f"generated {len(records):,} sequences ({residues:,} residues) in "
        f"{time.perf_counter() - started:.1f} s"
    )
    stages = StageTimes()
    logger = logging.getLogger("tfprot.data.mmseqs")
    logger.addHandler(stages)
    logger.setLevel(logging.INFO)
    logging.basicConfig(level=logging.INFO, format="  %(asctime)s %(message)s")
    started = time.perf_counter()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    _, report = tfprot.split_records(
        records, "homology", max_identity=args.max_identity, seed=args.seed, threads=args.threads
    )
    total = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)
    print()
    for line in report.describe():
        print(f"  {line}")
    names = ["clustering", "guarantee search", "leakage report"]
    for name, (command, seconds) in zip(names, stages.stages, strict=False):
        print(f"{name:<17}: {command:<14} {seconds:7.1f} s")
    mmseqs_seconds = sum(s for _, s in stages.stages)
    print(f"{'the rest (Python)':<17}: {'':<14} {total - mmseqs_seconds:7.1f} s")
    print(f"total            : {total:.1f} s ({total / 60:.1f} min) for {len(records):,} sequences")
    print(
        f"MMseqs2 CPU time : {cpu:.0f} s over its {tool.threads} threads (user + system; on a "
        "machine shared with other jobs, wall time exceeds CPU time / threads)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
