"""The exact folder that would be uploaded: which files, their bytes, and bad input."""

from __future__ import annotations

import hashlib
import shutil

import pytest

from tfprot.errors import CheckpointError, OptionError
from tfprot.sharing import model_card, prepare_upload, read_facts


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_staged_folder_is_the_model_plus_card_and_training_record(trained_dir, model_dir, tmp_path):
    staged = prepare_upload(model_dir, "me/cm", tmp_path / "upload")

    model_files = sorted(p.name for p in model_dir.iterdir())
    assert "model.safetensors" in model_files and "tfprot.json" in model_files
    beside = ["metrics.json", "history.csv", "learning_curves.png"]
    expected = sorted([*model_files, "README.md", *beside])
    assert sorted(p.name for p in staged.path.iterdir()) == expected == list(staged.files)
    for name in model_files:
        assert _sha(staged.path / name) == _sha(model_dir / name), name
    for name in beside:
        assert _sha(staged.path / name) == _sha(trained_dir / name), name
    readme = (staged.path / "README.md").read_text()
    assert readme == model_card(read_facts(model_dir), "me/cm", pictures=["learning_curves.png"])
    assert "![learning curves](learning_curves.png)" in readme
    assert staged.skipped == ()


def test_hidden_files_subfolders_and_an_old_readme_stay_behind(model_dir, tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    (copy / ".DS_Store").write_bytes(b"x")
    (copy / "serving").mkdir()
    (copy / "serving" / "saved_model.pb").write_bytes(b"x")
    (copy / "README.md").write_text("old notes")
    (copy / "metrics.json").write_text('{"test": {"accuracy": 0.25}}')  # beats the parent's

    staged = prepare_upload(copy, "me/cm", tmp_path / "upload")
    assert not {".DS_Store", "serving", "saved_model.pb"} & set(staged.files)
    assert staged.skipped == (
        ".DS_Store (hidden)",
        "README.md (replaced by the generated card)",
        "serving/ (a folder)",
    )
    readme = (staged.path / "README.md").read_text()
    assert "old notes" not in readme
    assert "| test | 0.2500 |" in readme and "0.7962" not in readme  # the folder's own metrics
    assert (staged.path / "metrics.json").read_text() == '{"test": {"accuracy": 0.25}}'

    own = tmp_path / "card.md"
    own.write_text("---\nlicense: mit\n---\n# mine\n")
    staged = prepare_upload(copy, "me/cm", tmp_path / "upload", card=own)
    assert (staged.path / "README.md").read_text() == own.read_text()  # replaced, not merged


def test_bad_input_names_the_problem(model_dir, tmp_path):
    with pytest.raises(CheckpointError, match="no such model folder"):
        prepare_upload(tmp_path / "missing", "me/cm", tmp_path / "up")
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "config.json").write_text("{}")
    with pytest.raises(CheckpointError, match=r"not a tfprot model folder \(no tfprot.json\)"):
        prepare_upload(plain, "me/cm", tmp_path / "up")
    (plain / "tfprot.json").write_text("[1, 2")
    with pytest.raises(CheckpointError, match="tfprot.json: cannot read this JSON file"):
        prepare_upload(plain, "me/cm", tmp_path / "up")
    for repo in ("cm", "me/cm/extra", "me/", "me/c m", "me/--cm"):
        with pytest.raises(OptionError, match="is not USER/NAME"):
            prepare_upload(model_dir, repo, tmp_path / "up")
    with pytest.raises(OptionError, match="must not be inside the model folder"):
        prepare_upload(model_dir, "me/cm", model_dir / "upload")
    with pytest.raises(CheckpointError, match="no such model card file"):
        prepare_upload(model_dir, "me/cm", tmp_path / "up", card=tmp_path / "nope.md")
    assert not (tmp_path / "up").exists()
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(CheckpointError, match="is not an earlier staged upload"):
        prepare_upload(model_dir, "me/cm", precious)
    assert (precious / "notes.txt").read_text() == "keep me"
    prepare_upload(model_dir, "me/cm", tmp_path / "up")
    prepare_upload(model_dir, "me/other", tmp_path / "up")  # an earlier stage is replaced
    assert "me/other" in (tmp_path / "up" / "README.md").read_text()
