"""Every `tfprot ...` command in README.md runs (with small options), or is run elsewhere.

The commands are taken from the README's ```bash blocks and run in order through main() in an
empty folder, as a reader would type them: training gets one epoch on 64-token sequences, and
`tfprot uniprot` is pointed at a real HTTP server on 127.0.0.1 (never the internet).
"""

from __future__ import annotations

import re
import shlex
import shutil
import sys
from pathlib import Path

from conftest import MAX_LENGTH, run_cli

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "uniprot"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "zeroshot"))
from uniprot_server import UniProtServer, multiloc_entries
from zeroshot_support import write_gb1_inputs

REPO = Path(__file__).resolve().parents[2]
TOUR = {"train", "predict", "embed", "fold", "export", "uniprot"}
"""Commands the five-minute tour must show."""


def readme_commands() -> list[list[str]]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.splitlines():
            if line.strip().startswith("tfprot "):
                commands.append(shlex.split(line, comments=True)[1:])
    return commands


def covered_elsewhere(command: str) -> bool:
    """``demo`` is what `make demo` runs (and tests/cli/test_demo.py); ``push`` has its own
    tests (tests/sharing) against a local endpoint."""
    if command == "demo":
        return "$(VENV)/bin/tfprot demo" in (REPO / "Makefile").read_text()
    if command == "push":
        return any(
            '"push"' in path.read_text(encoding="utf-8")
            for path in (REPO / "tests").rglob("test_*.py")
            if path.name != Path(__file__).name
        )
    return False


def small(argv: list[str], server_url: str, cache: Path) -> list[str]:
    argv = list(argv)
    if argv[0] == "train":
        if "--epochs" in argv:
            argv[argv.index("--epochs") + 1] = "1"
        argv += ["--max-length", str(MAX_LENGTH), "--precision", "float32"]
    if argv[0] == "uniprot":
        argv += ["--url", server_url, "--cache-dir", str(cache)]
    return argv


def test_readme_has_the_tour():
    from tfprot.cli import COMMANDS

    commands = readme_commands()
    assert {argv[0] for argv in commands} >= TOUR
    assert all(argv[0] in COMMANDS for argv in commands), commands


def test_every_readme_command_runs(capsys, monkeypatch, tmp_path, proteins_fasta, shared_data):
    monkeypatch.chdir(tmp_path)
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    shutil.copy(proteins_fasta, tmp_path / "proteins.fasta")
    write_gb1_inputs(tmp_path, shared_data)  # gb1_wildtype.fasta, gb1_dms.csv (tfprot score)
    entries = multiloc_entries(shared_data, 10)
    ran = []
    with UniProtServer([dict(e) for e in entries]) as server:
        for argv in readme_commands():
            if covered_elsewhere(argv[0]):
                continue
            code, out, err = run_cli(capsys, small(argv, server.url, tmp_path / "cache"))
            assert code == 0, f"{shlex.join(argv)}\n{out}\n{err}"
            ran.append(argv[0])
    assert set(ran) >= TOUR
    # What the tour promises is there.
    for path in (
        "my_model/model/tfprot.json",
        "my_model/metrics.json",
        "predictions.csv",
        "embeddings.npz",
        "structures/summary.tsv",
        "serving/saved_model.pb",
        "cytosol_membrane.csv",
    ):
        assert (tmp_path / path).exists(), path


def test_commands_run_elsewhere_are_really_run_there():
    # The README shows `make demo` (which runs `tfprot demo`; tests/cli/test_demo.py runs the
    # default demo) and `tfprot push` (run against the fake Hub in tests/sharing).
    assert "make demo" in (REPO / "README.md").read_text(encoding="utf-8")
    assert covered_elsewhere("demo")
    commands = {argv[0] for argv in readme_commands()}
    for command in ("demo", "push"):
        if command in commands:
            assert covered_elsewhere(command), command
