"""What a command loads at its start: TensorFlow-only commands run without importing torch (which
transformers would import at its own import), and leave the environment as they found it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np

from tfprot.cli import COMMANDS, TORCH_FREE


def _python(code: str, **env: str) -> str:
    """``python -c CODE`` in a fresh interpreter; its stdout (the run must succeed)."""
    import os

    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**{k: v for k, v in os.environ.items() if k not in ("USE_TF", "USE_TORCH")}, **env},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_an_embed_run_imports_no_torch_and_restores_use_tf(tmp_path, proteins_fasta):
    out = tmp_path / "embeddings.npz"
    stdout = _python(
        f"""
        import os, sys
        from tfprot.cli import main
        code = main(["embed", "--checkpoint", "tiny-esm", "--input", {str(proteins_fasta)!r},
                     "--out", {str(out)!r}])
        print("RESULT", code, "torch" in sys.modules, os.environ.get("USE_TF"))
        """
    )
    assert "RESULT 0 False None" in stdout, stdout
    with np.load(out) as saved:  # the command did its work
        assert len(saved.files) >= 1


def test_a_use_torch_the_user_set_decides():
    stdout = _python(
        """
        import os, sys
        from tfprot.cli import import_transformers_without_torch
        import_transformers_without_torch()
        import transformers.utils.import_utils as utils
        print("RESULT", utils.is_torch_available(), os.environ.get("USE_TF"))
        """,
        USE_TORCH="1",
    )
    assert "RESULT True None" in stdout, stdout


def test_the_torch_free_commands_are_commands_and_exclude_the_folding_ones():
    assert set(COMMANDS) >= TORCH_FREE
    assert not TORCH_FREE & {"fold", "demo", "app", "info"}
