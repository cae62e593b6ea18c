"""``tfprot app``'s refusals, each one line before anything is served, and the browser tests'
own rule: without Chromium they skip, or fail where ``TFPROT_REQUIRE_BROWSER=1``."""

from __future__ import annotations

import socket

import app_support
import pytest


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err and err[-1].startswith("tfprot: error: "), err
    assert not any("Traceback" in line for line in err)
    return err[-1]


def test_a_taken_port_is_one_line(trained_model, capsys):
    from tfprot.cli import main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["app", "--model", str(trained_model), "--port", str(port)]) == 2
    assert f"Cannot serve on 127.0.0.1:{port}" in _error_line(capsys)


def test_a_missing_model_or_a_bad_limit_is_one_line(tmp_path, trained_model, capsys):
    from tfprot.cli import main

    assert main(["app", "--model", str(tmp_path / "nope")]) == 2
    assert "no such file or folder (the --model)" in _error_line(capsys)
    assert main(["app", "--model", str(trained_model), "--max-sequences", "0"]) == 2
    assert "max_sequences must be a positive whole number, got 0" in _error_line(capsys)


def test_help_names_the_options_and_an_example(capsys):
    from tfprot.cli import main

    with pytest.raises(SystemExit):
        main(["app", "--help"])
    out = capsys.readouterr().out
    for option in (
        "--model",
        "--fold-model",
        "--host",
        "--port",
        "--max-sequences",
        "--max-length",
    ):
        assert option in out
    assert "tfprot app --model demo_output/model --fold-model tiny-esmfold" in out


def test_without_chromium_browser_tests_skip_or_fail_when_required(monkeypatch):
    monkeypatch.delenv("TFPROT_CHROMIUM", raising=False)
    monkeypatch.setattr(app_support.shutil, "which", lambda name: None)
    monkeypatch.delenv("TFPROT_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception, match="Chromium is not installed"):
        app_support.chromium_path()
    monkeypatch.setenv("TFPROT_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="may not skip"):
        app_support.chromium_path()
