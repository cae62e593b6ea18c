"""``tfprot space``: the Spaces folder, read back with independent parsers (PyYAML for the
README's header, importlib.metadata for the pins, byte comparisons for the copied files)."""

from __future__ import annotations

import ast
import filecmp
import json
from importlib import metadata
from pathlib import Path

import pytest

import tfprot
from tfprot.app.settings import AppSettings
from tfprot.app.space import SPACE_MARKER, write_space
from tfprot.errors import CheckpointError, OptionError


def _front_matter(readme: Path) -> dict:
    import yaml

    text = readme.read_text(encoding="utf-8")
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("\n---\n", 1)[0][4:])


def test_the_folder_holds_app_requirements_readme_model_and_tfprot(trained_model, tmp_path, capsys):
    from tfprot.cli import main

    out = tmp_path / "space"
    code = main(
        ["space", "--model", str(trained_model), "--out", str(out), "--fold-model", "tiny-esmfold"]
    )
    printed = capsys.readouterr().out
    assert code == 0
    assert f"try it    : cd {out} && python app.py" in printed

    header = _front_matter(out / "README.md")
    assert header["sdk"] == "gradio"
    assert header["sdk_version"] == metadata.version("gradio")
    assert header["app_file"] == "app.py" and (out / "app.py").is_file()
    assert header["python_version"].count(".") == 1
    readme = (out / "README.md").read_text()
    assert 'Client("USER/NAME")' in readme and 'api_name="/predict"' in readme
    assert "tiny-esmfold, an UNTRAINED ESMFold" in readme

    pins = dict(line.split("==") for line in (out / "requirements.txt").read_text().split())
    for name in ("tensorflow", "tf-keras", "transformers", "huggingface_hub", "gradio", "torch"):
        installed = metadata.version(name).split("+")[0]
        assert pins[name] == installed, name
    assert "pytest" not in pins and "playwright" not in pins  # the test extra stays out

    for name in (p.name for p in trained_model.iterdir()):
        assert filecmp.cmp(trained_model / name, out / "model" / name, shallow=False), name
    package = Path(tfprot.__file__).parent
    source = {p.relative_to(package) for p in package.rglob("*.py") if "__pycache__" not in p.parts}
    copied = {p.relative_to(out / "tfprot") for p in (out / "tfprot").rglob("*.py")}
    assert copied == source
    assert not list((out / "tfprot").rglob("__pycache__"))

    tree = ast.parse((out / "app.py").read_text())
    settings_call = next(
        node.value
        for node in tree.body
        if isinstance(node, ast.Assign) and node.targets[0].id == "SETTINGS"
    )
    arguments = {k.arg: ast.literal_eval(k.value) for k in settings_call.keywords}
    assert AppSettings(**arguments) == AppSettings(fold_model="tiny-esmfold")
    assert json.loads((out / SPACE_MARKER).read_text())["tfprot_version"] == tfprot.__version__


def test_without_folding_torch_is_not_required(trained_model, tmp_path):
    written = write_space(trained_model, tmp_path / "space")
    pins = (written.path / "requirements.txt").read_text()
    assert "torch==" not in pins and "gradio==" in pins
    assert "UNTRAINED ESMFold" not in (written.path / "README.md").read_text()


def test_an_earlier_space_is_replaced_and_anything_else_refused(trained_model, tmp_path):
    out = tmp_path / "space"
    write_space(trained_model, out, AppSettings(max_sequences=3))
    (out / "stale.txt").write_text("from before")
    written = write_space(trained_model, out, AppSettings(max_sequences=7), repo_id="me/demo")
    assert not (out / "stale.txt").exists()
    assert "max_sequences=7" in (out / "app.py").read_text()
    assert 'Client("me/demo")' in (out / "README.md").read_text()
    assert "app.py" in written.files and "model/model.safetensors" in written.files

    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "cat.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(CheckpointError, match="is not a Space folder written by tfprot space"):
        write_space(trained_model, foreign)
    assert (foreign / "cat.jpg").exists()


def test_a_local_fold_model_or_a_folder_inside_the_model_is_refused(trained_model, tmp_path):
    with pytest.raises(OptionError, match="is a local folder, which a Space cannot reach"):
        write_space(trained_model, tmp_path / "space", AppSettings(fold_model=str(tmp_path)))
    with pytest.raises(OptionError, match="must not be inside the model folder"):
        write_space(trained_model, trained_model / "space")
