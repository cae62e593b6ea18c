"""The push through huggingface_hub against a fake Hub on 127.0.0.1 (see hub_server.py): what
arrived, byte for byte, how, and that the token went only into the Authorization header."""

from __future__ import annotations

import hashlib
import logging

import pytest

from tfprot.errors import HubError
from tfprot.sharing import prepare_upload, push_to_hub


def _assert_token_hidden(token, hub, caplog, capsys):
    out, err = capsys.readouterr()
    assert token not in out and token not in err
    assert token not in caplog.text
    for request in hub.requests:
        assert token not in request.path and token.encode() not in request.body
        leaked = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
        assert token not in str(leaked)


def test_push_uploads_the_staged_folder_byte_for_byte(
    model_dir, tmp_path, hub, token, caplog, capsys
):
    caplog.set_level(logging.DEBUG)  # every logger, huggingface_hub and urllib3 included
    result = push_to_hub(model_dir, "me/cytosol-membrane", token=token, private=True)

    expected = prepare_upload(model_dir, "me/cytosol-membrane", tmp_path / "reference")
    repo = hub.repos["me/cytosol-membrane"]
    assert repo.private is True
    assert sorted(repo.files) == list(result.files) == list(expected.files)
    for name in expected.files:
        assert repo.files[name] == (expected.path / name).read_bytes(), name
    assert repo.lfs_paths == {"model.safetensors"}  # weights through Git LFS, the rest inline
    assert len(repo.commits) == 1 and repo.commits[0]["summary"] == "Upload a tfprot model"
    assert result.repo_url == f"{hub.url}/me/cytosol-membrane"
    assert result.commit_url == f"{hub.url}/me/cytosol-membrane/commit/{repo.commits[0]['oid']}"

    calls = hub.paths()
    assert calls[0] == "POST /api/repos/create"
    assert calls[-1] == "POST /api/models/me/cytosol-membrane/commit/main"
    weights = (model_dir / "model.safetensors").read_bytes()
    assert f"PUT /lfs-upload/{hashlib.sha256(weights).hexdigest()}" in calls
    for request in hub.requests:
        if request.path.startswith("/lfs-upload/"):  # a pre-signed URL: no credentials
            assert "authorization" not in request.headers
        else:
            assert request.headers["authorization"] == f"Bearer {token}"
    _assert_token_hidden(token, hub, caplog, capsys)


def test_second_push_to_an_existing_repository_adds_a_commit(model_dir, hub, token):
    push_to_hub(model_dir, "me/cm", token=token)
    push_to_hub(model_dir, "me/cm", token=token, commit_message="again")
    repo = hub.repos["me/cm"]
    assert [c["summary"] for c in repo.commits] == ["Upload a tfprot model", "again"]
    assert repo.private is False


def test_refused_token_is_one_line_without_the_token(model_dir, hub, caplog, capsys, token):
    caplog.set_level(logging.DEBUG)
    wrong = token[::-1]
    with pytest.raises(HubError) as info:
        push_to_hub(model_dir, "me/cm", token=wrong)
    message = str(info.value)
    assert "\n" not in message and hub.url in message and "HTTP 401" in message
    assert "<token from the argument>" in message
    assert wrong not in message and wrong not in caplog.text
    assert "me/cm" not in hub.repos
    _assert_token_hidden(wrong, hub, caplog, capsys)


def test_hub_rejecting_the_card_is_one_line(model_dir, tmp_path, hub, token):
    card = tmp_path / "card.md"
    card.write_text("no front matter\n")
    with pytest.raises(HubError) as info:
        push_to_hub(model_dir, "me/cm", token=token, card=card)
    message = str(info.value)
    assert "\n" not in message and "Invalid metadata in README.md" in message
    assert hub.repos["me/cm"].files == {}  # refused before any file was sent


def test_unreachable_hub_names_the_endpoint(model_dir, dead_endpoint, token, no_ambient_token):
    with pytest.raises(HubError) as info:
        push_to_hub(model_dir, "me/cm", token=token)
    message = str(info.value)
    assert message.startswith(f"Cannot reach the Hugging Face Hub at {dead_endpoint}")
    assert "\n" not in message and token not in message


def test_sharing_imports_neither_tensorflow_nor_torch():
    import subprocess
    import sys

    code = "import sys, tfprot.sharing; print(sorted({'tensorflow', 'torch'} & set(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
