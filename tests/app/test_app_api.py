"""The ``/predict`` API through ``gradio_client``, served by the Space folder's own ``app.py``
(a real process started in the folder ``tfprot space`` wrote, so the Space's vendored tfprot,
its settings and its model files are what answers). The answers are checked against the saved
model loaded in this process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from app_support import app_environment, bundled_sequences, free_port, served


@pytest.fixture(scope="module")
def space_folder(trained_model, tmp_path_factory):
    from tfprot.cli import main

    out = tmp_path_factory.mktemp("space") / "space"
    assert (
        main(["space", "--model", str(trained_model), "--out", str(out), "--max-sequences", "4"])
        == 0
    )
    return out


@pytest.fixture(scope="module")
def space_url(space_folder, tmp_path_factory):
    port = free_port()
    env = app_environment() | {"GRADIO_SERVER_PORT": str(port)}
    log = tmp_path_factory.mktemp("space-log") / "space.log"
    command = [sys.executable, "app.py"]
    with served(command, f"http://127.0.0.1:{port}/", log, cwd=space_folder, env=env) as url:
        yield url


@pytest.fixture(scope="module")
def client(space_url):
    from gradio_client import Client

    return Client(space_url, verbose=False, download_files=False)


def test_the_space_runs_its_own_copy_of_tfprot(space_folder):
    result = subprocess.run(
        [sys.executable, "-c", "import tfprot; print(tfprot.__file__, tfprot.__version__)"],
        cwd=space_folder,
        capture_output=True,
        text=True,
        check=True,
        env=app_environment(),
    )
    path, version = result.stdout.split()
    assert path == str(space_folder / "tfprot" / "__init__.py")
    import tfprot

    assert version == tfprot.__version__


def test_predict_returns_the_label_names_and_the_models_answers(client, trained_model):
    import tfprot

    entries = bundled_sequences(per_class=1, longest=200)
    text = "".join(f">{i} api\n{s}\n" for i, s, _ in entries)
    result = client.predict(text, api_name="/predict")

    model = tfprot.load_model(trained_model, compile=False)
    expected = model.predict_sequences([s for _, s, _ in entries], progress=False)
    assert result["task"] == "classification"
    assert result["labels"] == list(model.label_encoder.classes)
    assert any("tiny-esm" in warning for warning in result["warnings"])
    assert [p["id"] for p in result["predictions"]] == [i for i, _, _ in entries]
    for got, want in zip(result["predictions"], expected, strict=True):
        assert got["label"] == want.label
        assert got["probabilities"] == pytest.approx(
            {name: float(value) for name, value in want.probabilities.items()}, abs=1e-5
        )


def test_a_raw_sequence_is_one_record(client):
    _, sequence, _ = bundled_sequences(per_class=1)[0]
    result = client.predict(sequence.lower(), api_name="/predict")
    assert [p["id"] for p in result["predictions"]] == ["seq0"]


def test_bad_input_and_the_limit_come_back_as_the_error_text(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=r"the text box, line 1, id 'p1': invalid character '1'"):
        client.predict(">p1\nMK1T", api_name="/predict")
    five = "".join(f">p{i}\nMKTAYIAK\n" for i in range(5))
    with pytest.raises(AppError, match=r"5 sequences in one request, over this app's limit of 4"):
        client.predict(five, api_name="/predict")


def test_only_predict_is_offered_to_programs(client):
    endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert list(endpoints) == ["/predict"]
    parameters = endpoints["/predict"]["parameters"]
    assert [p["parameter_name"] for p in parameters] == ["text"]


def test_the_readme_snippet_runs_against_a_running_app(space_url):
    """The README's gradio_client block, as written but for the app's address."""
    import re

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "gradio_client" in b]
    assert 'Client("http://127.0.0.1:7860/")' in block
    code = block.replace("http://127.0.0.1:7860/", space_url)
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env=app_environment(),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "['cytoplasmic', 'plasma_membrane']" in result.stdout


def test_concurrent_requests_queue_and_all_get_their_answers(client):
    entries = bundled_sequences(per_class=3, longest=200)
    jobs = [client.submit(f">{i}\n{s}", api_name="/predict") for i, s, _ in entries]
    answers = [job.result(timeout=120) for job in jobs]
    assert [a["predictions"][0]["id"] for a in answers] == [i for i, _, _ in entries]


def test_an_idle_app_leaves_the_cpu_alone(space_folder, space_url, client):
    """With no request, the server's process uses well under 5% of a core (Gradio's queue polls
    every 1 ms by default, about 10% of a core on a 2-core AMD EPYC; the app every 50 ms,
    :data:`tfprot.app.blocks.IDLE_POLL_SECONDS`)."""
    import time

    import psutil

    (server,) = [
        p
        for p in psutil.process_iter(["cmdline", "cwd"])
        if p.info["cmdline"]
        and p.info["cmdline"][-1:] == ["app.py"]
        and p.info["cwd"] == str(space_folder)
    ]
    client.predict(">warm\nMKTAYIAKQRQISFVKSHFSRQ", api_name="/predict")  # served, then idle
    time.sleep(1.0)
    before = sum(server.cpu_times()[:2])
    time.sleep(5.0)
    used = sum(server.cpu_times()[:2]) - before
    assert used < 0.25, f"{used:.2f} s of CPU in 5 s idle"
