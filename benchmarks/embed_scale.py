"""Embeddings at scale: peak memory and tokens/s of streamed HDF5 output, 1,000 vs 10,000 sequences.

Per-residue embeddings of the first 1,000 and the first 10,000 chains of FLIP's secondary
structure set (``../shared/data/flip_secondary_structure/sequences.fasta``, 11,156 real PDB
chains, lengths from a few residues to over 1,000; longer than the model runs in windows), with
ESM-2 at the real ``esm2_t6_8M`` size and random weights (``benchmarks.common``). Each
measurement runs in its own process, so that its peak RSS (``ru_maxrss``) is its own:

* ``streamed``: ``model.embed(fasta, per_residue=True, out="x.h5")``, the input read lazily, vectors
  written as their batch finishes (what ``tfprot embed --out x.h5`` runs);
* ``in-memory``: ``model.embed(fasta, per_residue=True)`` then ``.save("x.npz")``, today's path,
  every vector held (what ``tfprot embed --out x.npz`` runs), at 1,000 sequences
  (``--in-memory-large`` adds it at 10,000 too: the memory the streaming saves).

The model is loaded and traced on a few other sequences first; the timed part is the embedding
and writing its file (the streamed file's final assembly, reported apart too, and the ``.npz``
save, each included). Targets (issue 23): peak RSS at 10,000 within 1.2×
of 1,000; streamed tokens/s no lower than in memory. Prints one table, the ratios and the CPU.

Run: ``python -m benchmarks.embed_scale`` (``--small 100 --large 1000`` for a quick look).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import CLASSES, DATA, ROOT, SIZES, checkpoint_folder, peak_rss_mb

SOURCE = DATA.parent / "flip_secondary_structure" / "sequences.fasta"
WARMUP = ("MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ", "GGSWKLLEEAMHHHHHHSSGLVPRGSH")


def cpu_model() -> str:
    """The processor's model name (``/proc/cpuinfo`` on Linux)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def write_subset(count: int, folder: Path) -> tuple[Path, int, int]:
    """The first ``count`` chains of :data:`SOURCE` as a FASTA file; its path, residues and
    tokens (residues plus ``<cls>``/``<eos>`` per window of at most 1,022 residues)."""
    if not SOURCE.is_file():
        raise FileNotFoundError(f"{SOURCE} is missing: the benchmark reads ../shared/data.")
    path = folder / f"first-{count}.fasta"
    written = residues = tokens = 0
    with open(SOURCE, encoding="utf-8") as source, open(path, "w", encoding="utf-8") as out:
        header, body = None, []
        for line in [*source, ">end\n"]:
            if line.startswith(">"):
                if header is not None and written < count:
                    sequence = "".join(body)
                    out.write(f"{header}\n{sequence}\n")
                    written += 1
                    residues += len(sequence)
                    tokens += len(sequence) + 2 * _windows(len(sequence))
                header, body = line.strip(), []
            else:
                body.append(line.strip())
    if written < count:
        raise ValueError(f"{SOURCE} holds {written} sequences, fewer than {count}.")
    return path, residues, tokens


def _windows(length: int, size: int = 1022) -> int:
    from tfprot.models.inference import residue_windows

    return len(residue_windows(length, size, size // 4))


def measure(mode: str, fasta: Path, size_name: str, dtype: str) -> dict:
    """One measurement in this process (see the module doc)."""
    import tfprot

    model = tfprot.sequence_classifier(
        checkpoint_folder(SIZES[size_name]), CLASSES, precision="auto", compile=False
    )
    model.embed(list(WARMUP), per_residue=True, progress=False)  # traces
    baseline = peak_rss_mb()
    with tempfile.TemporaryDirectory(dir=fasta.parent) as scratch:
        out = Path(scratch) / "e.h5"
        start = time.perf_counter()
        if mode == "streamed":
            summary = model.embed(fasta, per_residue=True, out=out, dtype=dtype, progress=False)
            count, size = summary.sequences, out.stat().st_size
            writing = summary.assembly_seconds
        else:
            result = model.embed(fasta, per_residue=True, dtype=dtype, progress=False)
            count, size = len(result), sum(v.nbytes for v in result.vectors)
            saving = time.perf_counter()
            result.save(out.with_suffix(".npz"))
            writing = time.perf_counter() - saving
        seconds = time.perf_counter() - start
    return {
        "mode": mode,
        "sequences": count,
        "seconds": seconds,
        "writing_seconds": writing,
        "peak_rss_mb": peak_rss_mb(),
        "rss_after_load_mb": baseline,
        "output_mb": size / 2**20,
        "precision": model.info["precision"],
    }


def run_child(mode: str, fasta: Path, size_name: str, dtype: str) -> dict:
    command = [sys.executable, "-m", "benchmarks.embed_scale", "--child", mode, str(fasta)]
    command += ["--size", size_name, "--dtype", dtype]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=10000)
    parser.add_argument("--size", default="esm2_t6_8M", choices=sorted(SIZES))
    parser.add_argument("--dtype", default="float32", choices=("float32", "float16"))
    parser.add_argument("--in-memory-large", action="store_true")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "FASTA"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        row = measure(args.child[0], Path(args.child[1]), args.size, args.dtype)
        print(json.dumps(row), flush=True)
        return
    checkpoint_folder(SIZES[args.size], isolated=True)  # written once, outside the timings
    rows = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as folder:
        plan = [("in-memory", args.small), ("streamed", args.small), ("streamed", args.large)]
        if args.in_memory_large:
            plan.append(("in-memory", args.large))
        for mode, count in plan:
            fasta, residues, tokens = write_subset(count, Path(folder))
            row = run_child(mode, fasta, args.size, args.dtype)
            row.update(residues=residues, tokens=tokens, tokens_per_s=tokens / row["seconds"])
            rows.append(row)
            print(
                f"  {mode:<10} {count:>6} sequences  {row['seconds']:8.1f} s  "
                f"{row['tokens_per_s']:8.0f} tokens/s  peak RSS {row['peak_rss_mb']:7.0f} MB  "
                f"output {row['output_mb']:7.0f} MB",
                flush=True,
            )
    memory, small, large = rows[0], rows[1], rows[2]
    print(
        f"\nembed_scale: per residue, {args.size} (random weights), {args.dtype}, "
        f"{small['precision']}; CPU: {cpu_model()} ({os.cpu_count()} cores; load average "
        f"{os.getloadavg()[1]:.1f} over the last 5 minutes)"
    )
    print(f"{'':24}{'in memory':>12}{'streamed':>12}{'streamed':>12}")
    print(
        f"{'sequences':24}{memory['sequences']:>12}{small['sequences']:>12}{large['sequences']:>12}"
    )
    for key, label, form in (
        ("peak_rss_mb", "peak RSS (MB)", "{:>12.0f}"),
        ("tokens_per_s", "tokens/s", "{:>12.0f}"),
        ("seconds", "seconds", "{:>12.1f}"),
        ("writing_seconds", "of which final write", "{:>12.1f}"),
        ("output_mb", "vectors (MB)", "{:>12.0f}"),
    ):
        print(f"{label:24}" + "".join(form.format(r[key]) for r in (memory, small, large)))
    rss_ratio = large["peak_rss_mb"] / small["peak_rss_mb"]
    speed_ratio = small["tokens_per_s"] / memory["tokens_per_s"]
    large_speed = large["tokens_per_s"] / memory["tokens_per_s"]
    print(
        f"peak RSS streamed {large['sequences']} / {small['sequences']}: {rss_ratio:.2f}x "
        f"(target <= 1.2x)"
    )
    print(
        f"tokens/s streamed / in memory at {small['sequences']}: {speed_ratio:.2f}x; "
        f"streamed {large['sequences']} / in memory {memory['sequences']}: {large_speed:.2f}x "
        "(target >= 1.0x)"
    )
    extra = {}
    if args.in_memory_large:
        grown = rows[3]["peak_rss_mb"] / memory["peak_rss_mb"]
        same_size = large["tokens_per_s"] / rows[3]["tokens_per_s"]
        print(f"peak RSS in memory {rows[3]['sequences']} / {memory['sequences']}: {grown:.2f}x")
        print(
            f"tokens/s streamed / in memory at {large['sequences']}: {same_size:.2f}x "
            "(target >= 1.0x)"
        )
        extra = {
            "rss_ratio_in_memory_large_small": grown,
            "tokens_per_s_streamed_vs_memory_large": same_size,
        }
    results = ROOT / "benchmarks" / "results"
    results.mkdir(exist_ok=True)
    summary = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "size": args.size,
        "rows": rows,
        "rss_ratio_large_small": rss_ratio,
        "tokens_per_s_streamed_vs_memory": speed_ratio,
        **extra,
    }
    (results / "embed_scale.json").write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main()
