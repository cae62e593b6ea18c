"""``benchmarks/fold_gpu.py``: its arithmetic by hand, and its CPU plan run end to end in a real
subprocess (tiny-esmfold), which must never import TensorFlow (the GPU machines have none)."""

from __future__ import annotations

import doctest
import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import fold_gpu
from benchmarks.fold_gpu import ca_coordinates, largest_difference, summarise, targets

ROOT = Path(__file__).resolve().parents[1]


def test_docstring_examples():
    result = doctest.testmod(fold_gpu)
    assert result.attempted > 0 and result.failed == 0


def test_rates_ratios_and_targets_by_hand():
    # 1,200 residues: the notebook in 12 s (100/s), tfprot in 4 s (300/s), pictures in 5 s.
    summary = summarise({"notebook": 12.0, "tfprot": 4.0, "tfprot_pictures": 5.0}, 1200)
    assert summary["notebook"] == {
        "seconds": 12.0,
        "residues_per_s": 100.0,
        "ratio_to_notebook": 1.0,
    }
    assert (
        summary["tfprot"]["residues_per_s"] == 300.0
        and summary["tfprot"]["ratio_to_notebook"] == 3.0
    )
    assert targets(summary) == {"pictures_vs_notebook": 2.4, "pictures_cost": 0.2}
    assert summarise({"tfprot": 2.0}, 10)["tfprot"]["ratio_to_notebook"] is None
    assert targets({"tfprot": {"residues_per_s": 1.0}}) == {
        "pictures_vs_notebook": None,
        "pictures_cost": None,
    }


def test_c_alpha_differences_from_pdb_text(tmp_path):
    def atom(name, x):
        return f"ATOM      1  {name:<3} MET A   1    {x:8.3f}   0.000   0.000  1.00 50.00           C\n"

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "s.pdb").write_text(atom("N", 9.0) + atom("CA", 1.0) + atom("CA", 2.0))
    (tmp_path / "b" / "s.pdb").write_text(atom("N", 0.0) + atom("CA", 1.25) + atom("CA", 2.0))
    assert ca_coordinates((tmp_path / "a" / "s.pdb").read_text()) == [(1.0, 0, 0), (2.0, 0, 0)]
    assert largest_difference(tmp_path / "a", tmp_path / "b", ["s"]) == pytest.approx(0.25)
    (tmp_path / "b" / "s.pdb").write_text(atom("CA", 1.0))  # another length: no comparison
    assert largest_difference(tmp_path / "a", tmp_path / "b", ["s"]) is None


@pytest.mark.slow
def test_the_cpu_plan_runs_and_never_imports_tensorflow(tmp_path):
    out = tmp_path / "fold_gpu.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.fold_gpu",
            "--cpu",
            "--count",
            "2",
            "--skip",
            "tfprot_compile",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    saved = json.loads(out.read_text())
    assert saved["tensorflow_imported"] is False and saved["errors"] == {}
    assert saved["model"].startswith("tiny-esmfold") and saved["sequences"] == 2
    assert 30 <= saved["lengths"][0] <= saved["lengths"][1] <= 60
    runs = saved["runs"]
    assert set(runs) == set(fold_gpu.RUNS) - {"tfprot_compile"}
    for run in runs.values():
        assert run["residues_per_s"] == pytest.approx(saved["residues"] / run["seconds"])
        assert run["ratio_to_notebook"] == pytest.approx(
            runs["notebook"]["seconds"] / run["seconds"]
        )
    # tfprot folds what a bare infer folds (the same model, one sequence at a time on a CPU)
    assert saved["outputs_max_ca_difference_angstrom"]["tfprot_vs_bare_infer"] <= 1e-3
    assert "ladder" not in saved and any("ladder skipped" in note for note in saved["notes"])
