"""The folding bridge's overhead: ``tfprot.fold`` against a bare ``EsmForProteinFolding.infer``.

Both fold the same sequences with the same loaded model and write one PDB file per sequence: the
bare path is what the ESMFold notebook does (``model.infer`` one sequence at a time, then
``model.output_to_pdb``, files written); tfprot's is ``tfprot.fold(sequences, folder,
model=loaded)``, which adds input checks, AlphaFold-order residue ids, length-sorted batches,
per-structure pTM/PAE, PDB, confidence JSON and the summary (pictures and the 3D view switched
off here; their cost is reported separately: with tfprot's default ``writers='auto'``, with
``writers=0`` (files written in the folding thread) and with ``writers=1`` (one background thread
writing while the next sequence folds). The runs alternate for ``--rounds`` rounds after a
warm-up, and the medians are compared. Without a GPU this runs the offline, untrained
``tiny-esmfold`` on the CPU, and the row says so.

Run alone: ``python -m benchmarks.fold --count 6 --rounds 3``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from benchmarks.common import Row, emit, load_subset, median, peak_rss_mb


def measure(
    count: int, rounds: int, model_name: str = "tiny-esmfold", pictures: bool = True
) -> list[Row]:
    import torch

    from tfprot.fold import fold
    from tfprot.fold.model import ESMFoldModel

    loaded = ESMFoldModel.load(model_name)
    sequences = [s[:200] for s in load_subset(count, seed=1).sequences]
    esmfold = loaded.model

    def bare(folder: Path) -> None:
        with torch.no_grad():
            for index, sequence in enumerate(sequences):
                output = esmfold.infer([sequence])
                pdb = esmfold.output_to_pdb(output)[0]
                (folder / f"seq{index}.pdb").write_text(pdb)

    def bridge(folder: Path, pictures: bool = False, writers: int | str = "auto") -> None:
        fold(
            sequences,
            folder,
            model=loaded,
            pictures=pictures,
            html=pictures,
            progress=False,
            overwrite=True,
            writers=writers,
        )

    runs = {"bare": bare, "tfprot": bridge}
    if pictures:
        runs["tfprot_with_pictures"] = lambda folder: bridge(folder, True)
        runs["tfprot_with_pictures_writers_0"] = lambda folder: bridge(folder, True, 0)
        runs["tfprot_with_pictures_writers_1"] = lambda folder: bridge(folder, True, 1)
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    with tempfile.TemporaryDirectory() as scratch:
        for name, run in runs.items():  # warm up
            folder = Path(scratch) / f"warm-{name}"
            folder.mkdir()
            run(folder)
        for round_ in range(rounds):
            for name, run in runs.items():
                folder = Path(scratch) / f"{name}-{round_}"
                folder.mkdir()
                start = time.perf_counter()
                run(folder)
                seconds[name].append(time.perf_counter() - start)
    residues = sum(len(s) for s in sequences)
    device = f"{loaded.device} ({model_name}{', untrained' if loaded.untrained else ''})"
    rows = []
    for name in runs:
        taken = median(seconds[name])
        rows.append(
            Row(
                name=f"fold_{name}",
                size=model_name,
                seq_per_s=len(sequences) / taken,
                real_tokens_per_s=residues / taken,
                pad_fraction=None,
                peak_rss_mb=peak_rss_mb(),
                mfu=None,
                detail={
                    "seconds_per_sequence": taken / len(sequences),
                    "rounds": [round(s, 3) for s in seconds[name]],
                    "sequences": len(sequences),
                    "device": device,
                },
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--model", default="tiny-esmfold")
    parser.add_argument(
        "--no-pictures", action="store_true", help="skip the run with pictures and 3D view"
    )
    args = parser.parse_args()
    emit(measure(args.count, args.rounds, args.model, pictures=not args.no_pictures))


if __name__ == "__main__":
    main()
