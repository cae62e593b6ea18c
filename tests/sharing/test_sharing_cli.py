"""`tfprot push` through main() and through a real subprocess, against the fake Hub."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys

import pytest

from tfprot.cli.push import main


def test_push_command_uploads_and_never_shows_the_token(
    model_dir, hub, token, monkeypatch, capsys, caplog
):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("HF_TOKEN", token)
    assert main(["--model", str(model_dir), "--repo", "me/cm", "--private"]) == 0
    out, err = capsys.readouterr()
    assert f"pushing to {hub.url}/me/cm with the <token from $HF_TOKEN>" in out
    assert f"pushed: {hub.url}/me/cm" in out
    assert (
        "files     : README.md, config.json, history.csv, learning_curves.png, metrics.json, "
        in out
    )
    assert f"metrics   : {model_dir.parent / 'metrics.json'} (in the card and uploaded)" in out
    assert hub.repos["me/cm"].private is True
    assert (model_dir / "model.safetensors").read_bytes() == hub.repos["me/cm"].files[
        "model.safetensors"
    ]
    assert token not in out + err + caplog.text


def test_token_from_a_named_variable(model_dir, hub, token, monkeypatch, capsys):
    monkeypatch.setenv("TFPROT_TEST_TOKEN", token)
    assert (
        main(["--model", str(model_dir), "--repo", "me/cm", "--token-env", "TFPROT_TEST_TOKEN"])
        == 0
    )
    assert "with the <token from $TFPROT_TEST_TOKEN>" in capsys.readouterr().out
    assert "README.md" in hub.repos["me/cm"].files


def test_dry_run_writes_the_folder_and_sends_nothing(model_dir, hub, tmp_path, capsys):
    stage = tmp_path / "stage"
    assert (
        main(["--model", str(model_dir), "--repo", "me/cm", "--dry-run", "--stage", str(stage)])
        == 0
    )
    assert f"nothing uploaded; the folder for me/cm is {stage}/" in capsys.readouterr().out
    assert (stage / "README.md").is_file() and (stage / "model.safetensors").is_file()
    assert hub.requests == []


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tfprot: error: "), err
    return err[0]


def test_bad_input_exits_2_with_one_line(model_dir, hub, token, tmp_path, monkeypatch, capsys):
    argv = ["--model", str(model_dir), "--repo", "me/cm"]
    assert main(argv) == 2  # no token anywhere
    assert "No Hugging Face token: set $HF_TOKEN" in _error_line(capsys)

    monkeypatch.setenv("HF_TOKEN", token)
    assert main(["--model", str(tmp_path / "nope"), "--repo", "me/cm"]) == 2
    assert "no such model folder" in _error_line(capsys)
    assert main(["--model", str(model_dir), "--repo", "cm"]) == 2
    assert "'cm' is not USER/NAME" in _error_line(capsys)

    monkeypatch.setenv("HF_TOKEN", token + "x")
    assert main(argv) == 2
    line = _error_line(capsys)
    assert "refused the <token from $HF_TOKEN>" in line and token not in line
    assert hub.repos == {}


def test_unreachable_hub_exits_2_naming_the_endpoint(
    model_dir, dead_endpoint, token, monkeypatch, capsys
):
    monkeypatch.setenv("HF_TOKEN", token)
    assert main(["--model", str(model_dir), "--repo", "me/cm"]) == 2
    line = _error_line(capsys)
    assert f"Cannot reach the Hugging Face Hub at {dead_endpoint}" in line and token not in line


def test_help_has_an_example(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    assert "Example: HF_TOKEN=hf_... tfprot push --model" in capsys.readouterr().out


CHILD = """
import json, re, sys
from tfprot.cli.push import main

code = main(sys.argv[1:])
if code:
    sys.exit(code)
from huggingface_hub import hf_hub_download

readme = open(hf_hub_download("me/sub", "README.md")).read()
tfprot_snippet, transformers_snippet = re.findall(r"```python\\n(.*?)```", readme, flags=re.S)
exec(tfprot_snippet, {})
namespace = {}
exec(transformers_snippet, namespace)
print("LOGITS", json.dumps(namespace["logits"].numpy()[0].tolist()))
"""


def test_push_as_a_subprocess_then_the_cards_snippets_read_it_back(model_dir, hub, token, tmp_path):
    """No patching in the child: HF_ENDPOINT and HF_TOKEN reach it as they would a user's shell.
    It pushes, then runs the two usage snippets of the README it downloads, verbatim: the tfprot
    one (snapshot_download + load_model) and the transformers one (from_pretrained)."""
    import numpy as np

    import tfprot

    env = {
        **os.environ,
        "HF_ENDPOINT": hub.url,
        "HF_TOKEN": token,
        "HF_TOKEN_PATH": str(tmp_path / "no-token-file"),
        "HF_HOME": str(tmp_path / "hf_home"),  # an empty download cache
    }
    result = subprocess.run(
        [sys.executable, "-c", CHILD, "--model", str(model_dir), "--repo", "me/sub"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert f"pushed: {hub.url}/me/sub" in result.stdout
    assert token not in result.stdout + result.stderr
    assert "model.safetensors" not in result.stderr  # no progress bar when not on a terminal
    assert hub.repos["me/sub"].files["tfprot.json"] == (model_dir / "tfprot.json").read_bytes()
    assert "Prediction(id=" in result.stdout  # the tfprot snippet printed its predictions
    downloads = [r.path for r in hub.requests if r.method == "GET" and "/resolve/" in r.path]
    assert any(path.endswith("/model.safetensors") for path in downloads)
    logits = json.loads(result.stdout.split("LOGITS ", 1)[1])
    sequence = re.search(r'tokenizer\(\["(\w+)"\]', hub.repos["me/sub"].files["README.md"].decode())
    reference = tfprot.load_model(model_dir).predict_logits([sequence.group(1)])[0]
    np.testing.assert_allclose(logits, reference, rtol=1e-5, atol=1e-5)
