"""``tfprot push --space``: the app uploaded as a Gradio Space to the fake Hub, compared byte for
byte with the folder ``tfprot space`` writes."""

from __future__ import annotations

import json

import pytest

from tfprot.cli.push import main


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tfprot: error: "), err
    return err[0]


def _local_files(folder) -> dict[str, bytes]:
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in folder.rglob("*")
        if path.is_file()
    }


def test_push_space_uploads_the_space_folder(model_dir, hub, token, monkeypatch, tmp_path, capsys):
    from tfprot.app.settings import AppSettings
    from tfprot.app.space import write_space

    monkeypatch.setenv("HF_TOKEN", token)
    argv = ["--model", str(model_dir), "--space", "me/demo", "--fold-model", "tiny-esmfold"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"pushing the Space to {hub.url}/spaces/me/demo" in out
    assert f"pushed: {hub.url}/spaces/me/demo" in out
    assert hub.repos == {}  # a Space, not a model repository
    space = hub.spaces["me/demo"]
    assert space.sdk == "gradio"

    expected = write_space(
        model_dir, tmp_path / "space", AppSettings(fold_model="tiny-esmfold"), repo_id="me/demo"
    )
    local = _local_files(expected.path)
    marker = "tfprot_space.json"
    assert set(space.files) == set(local)
    assert {name: data for name, data in space.files.items() if name != marker} == {
        name: data for name, data in local.items() if name != marker
    }
    assert json.loads(space.files[marker])["settings"]["fold_model"] == "tiny-esmfold"
    assert "model/model.safetensors" in space.lfs_paths
    assert space.commits[-1]["summary"] == "Upload a tfprot Space"
    paths = hub.paths()
    assert "POST /api/spaces/me/demo/preupload/main" in paths
    assert "POST /api/spaces/me/demo/commit/main" in paths
    checked = [json.loads(r.body) for r in hub.requests if r.path == "/api/validate-yaml"]
    assert checked and {body["repoType"] for body in checked} == {"space"}  # header accepted


def test_a_folder_tfprot_space_wrote_is_uploaded_as_it_is(
    model_dir, hub, token, monkeypatch, tmp_path, capsys
):
    from tfprot.app.space import write_space

    written = write_space(model_dir, tmp_path / "space", repo_id="me/other")
    (written.path / "extra.md").write_text("added by hand\n")
    monkeypatch.setenv("HF_TOKEN", token)
    assert main(["--model", str(written.path), "--space", "me/other"]) == 0
    assert hub.spaces["me/other"].files == _local_files(written.path)


def test_space_dry_run_writes_the_folder_and_sends_nothing(model_dir, hub, tmp_path, capsys):
    stage = tmp_path / "stage"
    argv = ["--model", str(model_dir), "--space", "me/demo", "--dry-run", "--stage", str(stage)]
    assert main(argv) == 0
    assert f"the folder for the Space me/demo is {stage}/" in capsys.readouterr().out
    assert (stage / "app.py").is_file() and (stage / "model" / "model.safetensors").is_file()
    assert hub.requests == []


def test_space_options_are_refused_where_they_mean_nothing(
    model_dir, hub, token, monkeypatch, capsys
):
    monkeypatch.setenv("HF_TOKEN", token)
    argv = ["--model", str(model_dir), "--repo", "me/cm", "--fold-model", "tiny-esmfold"]
    assert main(argv) == 2
    assert "--fold-model only apply with --space" in _error_line(capsys)
    card = [
        "--model",
        str(model_dir),
        "--space",
        "me/demo",
        "--card",
        str(model_dir / "config.json"),
    ]
    assert main(card) == 2
    assert "--card is for model repositories" in _error_line(capsys)
    assert main(["--model", str(model_dir), "--space", "demo"]) == 2
    assert "'demo' is not USER/NAME" in _error_line(capsys)
    with pytest.raises(SystemExit):
        main(["--model", str(model_dir), "--repo", "me/cm", "--space", "me/demo"])
    assert hub.requests == [] and hub.spaces == {}


def test_the_hub_refuses_a_space_readme_without_its_sdk(hub, token):
    """The fake Hub's rule that the Space test relies on: it can fail."""
    import requests

    answer = requests.post(
        f"{hub.url}/api/validate-yaml",
        json={"content": "---\ntitle: x\n---\n# x\n", "repoType": "space"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert answer.status_code == 400 and "sdk must be one of" in answer.text
