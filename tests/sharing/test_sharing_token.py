"""Where the Hub token comes from, and that it never shows."""

from __future__ import annotations

import pytest

from tfprot.errors import OptionError
from tfprot.sharing import resolve_token


def test_token_sources_in_order(monkeypatch, tmp_path, token, no_ambient_token):
    from huggingface_hub import constants

    file = tmp_path / "token"
    file.write_text(f"{token}-file\n")
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(file))
    assert resolve_token().value == f"{token}-file"
    assert resolve_token().source == f"the token file {file}"
    monkeypatch.setenv("HUGGING_FACE_HUB_TOKEN", f"{token}-legacy")
    assert resolve_token().value == f"{token}-legacy"
    monkeypatch.setenv("HF_TOKEN", f"{token}-env")
    assert resolve_token().value == f"{token}-env"
    monkeypatch.setenv("TFPROT_TEST_TOKEN", f"{token}-named")
    found = resolve_token(env="TFPROT_TEST_TOKEN")
    assert (found.value, found.source) == (f"{token}-named", "$TFPROT_TEST_TOKEN")
    found = resolve_token(token, env="TFPROT_TEST_TOKEN")
    assert (found.value, found.source) == (token, "the argument")
    assert token not in str(found) and token not in repr(found) and token not in f"{found}"


def test_no_token_says_where_it_looked(monkeypatch, no_ambient_token):
    with pytest.raises(OptionError, match=r"No Hugging Face token: set \$HF_TOKEN .*hf auth login"):
        resolve_token()
    monkeypatch.setenv("TFPROT_TEST_TOKEN", "  ")
    with pytest.raises(OptionError, match=r"\$TFPROT_TEST_TOKEN is set but empty"):
        resolve_token(env="TFPROT_TEST_TOKEN")
