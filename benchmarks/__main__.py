"""Run the benchmark comparison and write ``benchmarks/results/latest.json``.

``python -m benchmarks`` (``make bench``): every measurement at both model sizes; ``--quick``: a
reduced run (the 8M size, fewer sequences and epochs). Each measurement runs in its own Python
process, one after the other, so that each has the machine to itself and its own peak RSS; the
machine's matmul peaks are measured first in the same run, for MFU. The table goes to stdout; the
JSON holds one row per measurement and the ratios the targets are stated in.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.common import ROOT

RESULTS = ROOT / "benchmarks" / "results"


@dataclass(frozen=True)
class Plan:
    """What one run measures: sequences and timed epochs per size, which extras."""

    sizes: tuple[str, ...]
    train_count: dict[str, int]
    epochs: int
    warmup: int
    embed_count: int
    embed_passes: int
    fold_count: int
    fold_rounds: int
    curves: bool
    float32_side_by_side: tuple[str, ...] = field(default=("esm2_t6_8M",))
    fold_pictures: bool = True


FULL = Plan(
    sizes=("esm2_t6_8M", "esm2_t12_35M"),
    train_count={"esm2_t6_8M": 128, "esm2_t12_35M": 48},
    epochs=1,
    warmup=16,
    embed_count=160,
    embed_passes=2,
    fold_count=4,
    fold_rounds=3,
    curves=True,
)
QUICK = Plan(
    sizes=("esm2_t6_8M",),
    train_count={"esm2_t6_8M": 32},
    epochs=1,
    warmup=16,  # two batches for recipe A: its relaxed-shape retrace happens before the timing
    embed_count=48,
    embed_passes=2,
    fold_count=2,
    fold_rounds=1,
    curves=False,
    float32_side_by_side=(),
    fold_pictures=False,
)


def run_child(module: str, *args: str) -> list[dict]:
    """Run ``python -m benchmarks.<module> args`` and return the rows it prints last."""
    command = [sys.executable, "-m", f"benchmarks.{module}", *args]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONWARNINGS": "ignore"}
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-6000:])
        raise SystemExit(f"benchmarks.{module} {' '.join(args)} failed ({done.returncode}).")
    lines = [
        line for line in done.stdout.splitlines() if line.startswith("[") or line.startswith("{")
    ]
    print(f"  {module} {' '.join(args)}: {seconds:.0f} s", file=sys.stderr, flush=True)
    return json.loads(lines[-1])


def ratios(rows: list[dict]) -> dict:
    by = {(row["name"], row["size"]): row for row in rows}

    def per_size(numerator: str, denominator: str) -> dict:
        out = {}
        for (name, size), row in by.items():
            other = by.get((denominator, size))
            if name == numerator and other:
                out[size] = round(row["real_tokens_per_s"] / other["real_tokens_per_s"], 3)
        return out

    fold = {row["name"]: row for row in rows if row["name"].startswith("fold_")}
    overhead = None
    if "fold_tfprot" in fold and "fold_bare" in fold:
        overhead = round(
            fold["fold_tfprot"]["detail"]["seconds_per_sequence"]
            / fold["fold_bare"]["detail"]["seconds_per_sequence"]
            - 1,
            4,
        )
    return {
        "train_vs_recipe_a": per_size("tfprot", "recipe_a_hf_tf"),
        "train_vs_recipe_b": per_size("tfprot", "recipe_b_hf_pytorch"),
        "embed_vs_pytorch": per_size("embed_tfprot", "embed_pytorch_reference"),
        "fold_overhead": overhead,
        "tfprot_float32_vs_recipe_a": per_size("tfprot_float32", "recipe_a_hf_tf"),
    }


def table(rows: list[dict]) -> str:
    head = (
        f"| {'measurement':28s} | {'size':13s} | {'seq/s':>7s} | {'real tok/s':>10s} "
        f"| {'pad':>5s} | {'peak RSS MB':>11s} | {'MFU':>5s} | precision |"
    )
    lines = [head, "|" + "|".join("-" * (len(cell)) for cell in head.split("|")[1:-1]) + "|"]
    for row in rows:
        pad = "" if row["pad_fraction"] is None else f"{100 * row['pad_fraction']:.1f}%"
        mfu = "" if row["mfu"] is None else f"{100 * row['mfu']:.1f}%"
        precision = row["detail"].get("precision", row["detail"].get("device", ""))
        lines.append(
            f"| {row['name']:28s} | {row['size']:13s} | {row['seq_per_s']:7.2f} "
            f"| {row['real_tokens_per_s']:10.0f} | {pad:>5s} | {row['peak_rss_mb']:11.0f} "
            f"| {mfu:>5s} | {precision} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="reduced run (under 3 minutes)")
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    parser.add_argument("--skip", nargs="*", default=[], choices=("fold", "embed", "curves"))
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    started = time.perf_counter()
    print("measuring (each line: one process)", file=sys.stderr, flush=True)
    run_child("common", "--prepare", *plan.sizes)  # checkpoints, before any recipe runs
    peaks = run_child("peak")
    machine = peaks.pop("machine")
    peak_flops = json.dumps({k: v for k, v in peaks.items() if k != "detail"})
    rows: list[dict] = []
    for size in plan.sizes:
        common = ("--size", size, "--count", str(plan.train_count[size]))
        common += ("--epochs", str(plan.epochs), "--warmup", str(plan.warmup))
        rows += run_child("recipe_a", *common, "--peak-flops", str(peaks["float32"]))
        rows += run_child("recipe_b", *common, "--peak-flops", str(peaks["float32"]))
        rows += run_child("tfprot_train", *common, "--peak-flops", peak_flops)
        if size in plan.float32_side_by_side:
            rows += run_child(
                "tfprot_train", *common, "--peak-flops", peak_flops,
                "--precision", "float32", "--name", "tfprot_float32",
            )  # fmt: skip
    if "embed" not in args.skip:
        embed_size = plan.sizes[0]
        for which in ("pytorch", "tfprot"):
            rows += run_child(
                "embed", "--which", which, "--size", embed_size, "--count",
                str(plan.embed_count), "--passes", str(plan.embed_passes),
                "--peak-flops", peak_flops,
            )  # fmt: skip
    if "fold" not in args.skip:
        pictures = () if plan.fold_pictures else ("--no-pictures",)
        rows += run_child(
            "fold", "--count", str(plan.fold_count), "--rounds", str(plan.fold_rounds), *pictures
        )
    curves = None
    if plan.curves and "curves" not in args.skip:
        curves = run_child("curves")
    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "machine": machine,
        "peak_flops": peaks,
        "rows": rows,
        "ratios": ratios(rows),
        "curves": curves,
        "seconds": round(time.perf_counter() - started, 1),
    }
    from benchmarks.common import write_text

    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(table(rows))
    print("ratios:", json.dumps(result["ratios"]))
    if curves:
        print("curves (test Q3 after each token budget):")
        for curve in curves["curves"]:
            points = ", ".join(
                f"{tokens / 1e3:.0f}k: {accuracy:.3f}"
                for tokens, accuracy in zip(curve["tokens"], curve["test_accuracy"], strict=True)
            )
            print(f"  {curve['policy']:15s} seed {curve['seed']}: {points}")
        print(f"  majority class: {curves['curves'][0]['majority_baseline']:.3f}")
    print(
        f"peaks: float32 {peaks['float32'] / 1e9:.0f} GFLOP/s, "
        f"bfloat16 {peaks['bfloat16'] / 1e9:.0f} GFLOP/s; {result['seconds']:.0f} s; "
        f"written to {args.out}"
    )
    return result


if __name__ == "__main__":
    main()
