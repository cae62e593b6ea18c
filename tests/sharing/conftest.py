"""Fixtures for the sharing tests: a real saved model and a fake Hub on 127.0.0.1."""

from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path

import pytest

# The helper module sits beside this file; make it importable under any pytest import mode.
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

from hub_server import FakeHub

METRICS = {
    "task": "classification",
    "checkpoint": "tiny-esm",
    "data": {"path": "cytosol_membrane", "format": "fasta-dir", "summary": {"test": {"n": 265}}},
    "epochs": 1,
    "precision": "float32",
    "fit_seconds": 12.6,
    "train": {"loss": 0.41, "accuracy": 0.8312, "macro_f1": 0.8301, "mcc": 0.6625},
    "validation": {"loss": 0.45, "accuracy": 0.8113, "macro_f1": 0.8095, "mcc": 0.6214},
    "test": {"loss": 0.47, "accuracy": 0.7962, "macro_f1": 0.7948, "mcc": 0.5931},
    "baseline": {
        "accuracy": 0.5321,
        "prediction": "cytoplasmic",
        "what": "always the training set's most common class",
    },
}
"""A metrics.json in the shape `tfprot train` writes (its run information, the scores per split
and the majority baseline): the input the card must reproduce, not a result of these tests."""


@pytest.fixture(scope="session")
def trained_dir(tmp_path_factory):
    """What ``tfprot train --out DIR`` leaves: ``DIR/model`` (a real save of a tiny-esm
    classifier built for the bundled cytosol/membrane data) and ``DIR/metrics.json`` beside it."""
    import tfprot

    out = tmp_path_factory.mktemp("trained")
    data = tfprot.ProteinDataset.example()
    model = tfprot.sequence_classifier("tiny-esm", data, precision="float32")
    model.save_pretrained(out / "model")
    (out / "metrics.json").write_text(json.dumps(METRICS, indent=2))
    (out / "history.csv").write_text("epoch,loss,val_loss\n0,0.69,0.68\n")
    # tfprot train's pictures; an 8-byte PNG signature stands in for a real plot
    (out / "learning_curves.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    return out


@pytest.fixture(scope="session")
def model_dir(trained_dir):
    return trained_dir / "model"


@pytest.fixture
def token():
    """A token-shaped secret that must appear only in the Authorization header."""
    return f"hf_tfprotTEST{secrets.token_hex(12)}"


@pytest.fixture
def no_ambient_token(monkeypatch, tmp_path):
    """No HF_TOKEN from the environment and no token file from the machine running the tests."""
    from huggingface_hub import constants

    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "TFPROT_TEST_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token-file"))


@pytest.fixture
def hub(token, monkeypatch, no_ambient_token):
    """A fake Hub that accepts ``token``, set as the endpoint the way a user would (HF_ENDPOINT)
    and in ``huggingface_hub.constants.ENDPOINT`` (read once, when huggingface_hub was imported)."""
    from huggingface_hub import constants

    with FakeHub(token) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.setattr(constants, "ENDPOINT", server.url)
        yield server


@pytest.fixture
def dead_endpoint(monkeypatch):
    """An endpoint on 127.0.0.1 where nothing listens (a port just released)."""
    import socket

    from huggingface_hub import constants

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    monkeypatch.setenv("HF_ENDPOINT", url)
    monkeypatch.setattr(constants, "ENDPOINT", url)
    return url
