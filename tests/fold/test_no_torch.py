"""tfprot (and tfprot.fold) import without torch; folding then names the extra to install."""

import subprocess
import sys
import textwrap

BLOCK_TORCH = """
import sys
class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is hidden by the test")
        return None
sys.meta_path.insert(0, _NoTorch())
"""


def run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", BLOCK_TORCH + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_import_works_without_torch_and_folding_says_what_to_install(tmp_path):
    result = run(
        f"""
        import tfprot, tfprot.fold
        from tfprot.fold import fold
        assert "torch" not in sys.modules
        try:
            import torch
        except ImportError:
            pass
        else:
            raise AssertionError("the blocker did not hide torch")
        try:
            fold(["MKTAY"], {str(tmp_path)!r}, model="tiny-esmfold")
        except tfprot.MissingDependencyError as error:
            print("MESSAGE", error)
        """
    )
    assert result.returncode == 0, result.stderr
    assert 'pip install "tfprot[fold]"' in result.stdout


def test_importing_the_bridge_does_not_import_torch_even_when_installed():
    result = subprocess.run(
        [sys.executable, "-c", "import sys, tfprot.fold; print('torch' in sys.modules)"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
