"""Parameter-efficient fine-tuning, side by side in one run: full fine-tuning, LoRA r=8 on the
query and value projections, and LoRA with activation recomputation.

For each size (``--sizes``; ESM-2 architectures at their real sizes, random weights, written
once to a local checkpoint folder as :func:`benchmarks.common.checkpoint_folder` does), each
way of training runs in its own process (peak resident memory is a per-process figure), on the
same fixed batches (``--batch`` sequences of ``--length`` tokens, random residues), under the
same precision. Each process builds the classifier with ``tfprot.sequence_classifier`` as a
user would, traces the training step with ``--warmup`` steps, then times ``--steps`` steps
(``train_on_batch``). Reported per way:

- trainable share: trainable weights / all weights of the model (head included);
- peak RSS: the process's peak resident memory (model, optimizer state, activations);
- step time: the median step, in seconds;

and each LoRA way's ratios to full fine-tuning at the same size. The issue's targets: LoRA
trains at most 2% of the weights, its peak memory is at most 60% of full fine-tuning's at the
150M size, and its step is no slower.

Run: ``python -m benchmarks.peft [--sizes esm2_t12_35M esm2_t30_150M] [--ways full lora_r8] [--batch 8]
[--length 256] [--steps 5]``; ``--json`` writes ``benchmarks/results/peft.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import ROOT, ModelSize, checkpoint_folder, peak_rss_mb, write_text

SIZES = {
    "esm2_t12_35M": ModelSize("esm2_t12_35M", 12, 480, 20, 1920),
    "esm2_t30_150M": ModelSize("esm2_t30_150M", 30, 640, 20, 2560),
}
WAYS = {
    "full": {},
    "lora_r8": {"lora_rank": 8},
    "lora_r8_recompute": {"lora_rank": 8, "recompute": True},
}
"""Way → the factory options that make it (LoRA's default targets: query and value)."""
RESULTS = ROOT / "benchmarks" / "results" / "peft.json"


def create_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="*", default=list(SIZES), choices=list(SIZES))
    parser.add_argument(
        "--ways", nargs="*", default=list(WAYS), choices=list(WAYS),
        help="ways of training to measure (ratios need 'full')",
    )  # fmt: skip
    parser.add_argument("--batch", type=int, default=8, help="sequences per batch (default 8)")
    parser.add_argument("--length", type=int, default=256, help="tokens per sequence")
    parser.add_argument("--steps", type=int, default=5, help="timed steps (median)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--precision", default="float32", help="the same for every way")
    parser.add_argument("--json", action="store_true", help=f"write {RESULTS.name}")
    parser.add_argument("--prepare", metavar="SIZE", help=argparse.SUPPRESS)
    parser.add_argument("--child", nargs=2, metavar=("SIZE", "WAY"), help=argparse.SUPPRESS)
    return parser


def cpu_model() -> str:
    """The CPU's model name (``lscpu``), else what Python knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def batch_of(batch: int, length: int, seed: int = 0):
    """``(features, labels)``: ``<cls>`` + random residues (ESM-2 ids 4-23) + ``<eos>``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    ids = rng.integers(4, 24, size=(batch, length)).astype(np.int32)
    ids[:, 0], ids[:, -1] = 0, 2
    features = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
    return features, rng.integers(0, 2, size=batch).astype(np.int32)


def measure(size_name: str, way: str, args: argparse.Namespace) -> dict:
    """One way at one size, in this process: trainable share, peak RSS, step times."""
    import numpy as np

    import tfprot

    folder = checkpoint_folder(SIZES[size_name])
    model = tfprot.sequence_classifier(
        folder,
        ["cytoplasmic", "plasma_membrane"],
        precision=args.precision,
        total_steps=100_000,
        **WAYS[way],
    )
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    total = sum(int(np.prod(w.shape)) for w in model.weights)
    loaded_rss = peak_rss_mb()
    features, labels = batch_of(args.batch, args.length)
    for _ in range(args.warmup):
        model.train_on_batch(features, labels)
    seconds = []
    for _ in range(args.steps):
        start = time.perf_counter()
        model.train_on_batch(features, labels)
        seconds.append(time.perf_counter() - start)
    return {
        "size": size_name,
        "way": way,
        "trainable": trainable,
        "weights": total,
        "trainable_share": trainable / total,
        "rss_after_load_mb": loaded_rss,
        "peak_rss_mb": peak_rss_mb(),
        "step_s": statistics.median(seconds),
        "precision": model.info["precision"],
    }


def ratios(rows: list[dict]) -> list[dict]:
    """Each row with its peak memory and step time relative to full fine-tuning at its size.

    >>> rows = [{"size": "s", "way": "full", "peak_rss_mb": 1000.0, "step_s": 2.0},
    ...         {"size": "s", "way": "lora_r8", "peak_rss_mb": 500.0, "step_s": 1.0}]
    >>> [(r["memory_vs_full"], r["time_vs_full"]) for r in ratios(rows)]
    [(1.0, 1.0), (0.5, 0.5)]
    """
    full = {row["size"]: row for row in rows if row["way"] == "full"}
    out = []
    for row in rows:
        reference = full.get(row["size"])
        memory = row["peak_rss_mb"] / reference["peak_rss_mb"] if reference else None
        step = row["step_s"] / reference["step_s"] if reference else None
        out.append({**row, "memory_vs_full": memory, "time_vs_full": step})
    return out


def table(rows: list[dict]) -> str:
    lines = [
        f"{'size':<15} {'way':<19} {'trainable':>10} {'peak RSS MB':>12} {'vs full':>8} "
        f"{'step s':>8} {'vs full':>8}"
    ]
    for row in rows:
        memory = f"{row['memory_vs_full']:.2f}" if row["memory_vs_full"] is not None else "-"
        step = f"{row['time_vs_full']:.2f}" if row["time_vs_full"] is not None else "-"
        lines.append(
            f"{row['size']:<15} {row['way']:<19} {row['trainable_share']:>9.2%} "
            f"{row['peak_rss_mb']:>12.0f} {memory:>8} {row['step_s']:>8.2f} {step:>8}"
        )
    return "\n".join(lines)


def _run_child(argv: list[str]) -> str:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.peft", *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"benchmarks.peft {' '.join(argv)} failed:\n{done.stderr[-3000:]}")
    return done.stdout.strip().splitlines()[-1]


def main(argv: list[str] | None = None) -> int:
    args = create_parser().parse_args(argv)
    if args.prepare:
        print(json.dumps(str(checkpoint_folder(SIZES[args.prepare]))))
        return 0
    if args.child:
        print(json.dumps(measure(*args.child, args)), flush=True)
        return 0
    common = ["--batch", str(args.batch), "--length", str(args.length)]
    common += ["--steps", str(args.steps), "--warmup", str(args.warmup)]
    common += ["--precision", args.precision]
    rows = []
    for size in args.sizes:
        _run_child(["--prepare", size])  # the checkpoint, outside the measured processes
        for way in args.ways:
            rows.append(json.loads(_run_child(["--child", size, way, *common])))
            print(f"measured {size} {way}", file=sys.stderr, flush=True)
    rows = ratios(rows)
    print(f"CPU: {cpu_model()} ({os.cpu_count()} cores); precision {rows[0]['precision']}; ")
    print(f"batch {args.batch} × {args.length} tokens; median of {args.steps} steps")
    print(table(rows))
    if args.json:
        record = {"cpu": cpu_model(), "cores": os.cpu_count(), "options": vars(args), "rows": rows}
        write_text(RESULTS, json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
