"""`tfprot demo` through main() and through the real console script."""

import os
import subprocess
import sys
from pathlib import Path

from tfprot.cli import main


def test_demo_through_main(capsys):
    assert main(["demo", "--batch-tokens", "8192"]) == 0
    out = capsys.readouterr().out
    assert "classes ['cytoplasmic', 'plasma_membrane']" in out
    assert "train     :  2119 sequences" in out
    assert "padding" in out and "plain batches of 8" in out
    assert "static    :" in out and "baseline  : always 'cytoplasmic' scores 53.2%" in out


def test_demo_as_a_subprocess_exits_0_and_hides_tensorflow_noise():
    script = Path(sys.executable).with_name("tfprot")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "tfprot"]
    result = subprocess.run(
        [*command, "demo"], capture_output=True, text=True, timeout=600, env=dict(os.environ)
    )
    assert result.returncode == 0, result.stderr
    assert "tfprot demo (offline)" in result.stdout
    assert "cuInit" not in result.stderr and "cuda drivers" not in result.stderr


def test_unknown_command_and_bad_option_exit_nonzero(capsys):
    import pytest

    with pytest.raises(SystemExit) as info:
        main(["nonsense"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["demo", "--batch-tokens", "many"])
    assert info.value.code == 2
