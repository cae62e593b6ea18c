"""``FoldOptions(compile=True)``: the trunk's blocks compiled with torch.compile fold the same
structures as eager PyTorch (checked on the CPU with tiny-esmfold, parsed with Biopython)."""

import numpy as np
import pytest

from tfprot.errors import OptionError
from tfprot.fold import fold

torch = pytest.importorskip("torch")
PDB = pytest.importorskip("Bio.PDB")

SEQUENCES = {"ubiquitin": "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNISKESTLH"}
QUICK = {"num_recycles": 0, "progress": False, "pictures": False, "html": False}


def atoms(path):
    structure = PDB.PDBParser(QUIET=True).get_structure("s", str(path))
    return np.array([atom.coord for atom in structure.get_atoms()])


@pytest.mark.slow
def test_compiled_trunk_folds_what_eager_folds(tmp_path):
    from tfprot.fold.model import ESMFoldModel

    model = ESMFoldModel.load("tiny-esmfold", device="cpu")  # its own: compiling changes it
    eager = fold(SEQUENCES, tmp_path / "eager", model=model, **QUICK)
    compiled = fold(SEQUENCES, tmp_path / "compiled", model=model, compile=True, **QUICK)
    assert model.compiled == "default"  # torch.compile's default mode on a CPU
    assert type(model.model.trunk.blocks[0]).__name__ != "OptimizedModule"  # compiled in place
    assert model.model.trunk.blocks[0]._compiled_call_impl is not None
    a = atoms(eager["ubiquitin"].files["pdb"])
    b = atoms(compiled["ubiquitin"].files["pdb"])
    # PDB files hold 3 decimals: positions 1e-5 apart can print 0.001 apart (one step, seen
    # as 0.0010004 in float32), so one step of the last decimal is the tolerance.
    assert a.shape == b.shape and np.abs(a - b).max() <= 1e-3 + 1e-5
    assert compiled["ubiquitin"].ptm == pytest.approx(eager["ubiquitin"].ptm, abs=1e-4)


def test_compile_is_refused_with_a_reason_where_it_cannot_work(tmp_path, monkeypatch):
    from tfprot.fold.compile import check_compile_possible

    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no C++ compiler to be found
    with pytest.raises(OptionError, match="needs a C\\+\\+ compiler"):
        check_compile_possible(torch, "cpu")
    check_compile_possible(torch, "cuda")  # a GPU build compiles with Triton, not a C++ compiler


def test_the_compile_option_reaches_the_loaded_model(tmp_path, monkeypatch):
    from tfprot.fold.model import ESMFoldModel

    model = ESMFoldModel.load("tiny-esmfold", device="cpu")
    modes = []
    monkeypatch.setattr(model, "compile_trunk", modes.append)
    fold(SEQUENCES, tmp_path / "a", model=model, compile="max-autotune", **QUICK)
    fold(SEQUENCES, tmp_path / "b", model=model, **QUICK)  # off by default
    assert modes == ["max-autotune"]
    with pytest.raises(OptionError, match="compile must be"):
        fold(SEQUENCES, tmp_path / "c", model=model, compile="fastest", **QUICK)
