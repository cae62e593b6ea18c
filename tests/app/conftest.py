"""Fixtures for the app tests: a tiny model trained here, and the app served by a real
``tfprot app`` process on 127.0.0.1 (helpers in ``app_support.py``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The helper module sits beside this file; make it importable under any pytest import mode.
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

from app_support import app_environment, free_port, served


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory) -> Path:
    """A tiny-esm classifier trained for a few steps on the bundled data, saved like
    ``tfprot train`` saves it."""
    import tensorflow as tf

    import tfprot

    tf.keras.utils.set_random_seed(0)
    data = tfprot.ProteinDataset.example(seed=0)
    model = tfprot.sequence_classifier("tiny-esm", data, precision="float32", learning_rate=3e-3)
    train = data.tf_dataset("train", model.tokenizer, batch_tokens=4096, max_length=96)
    model.fit(train.take(12), epochs=1, verbose=0)
    folder = tmp_path_factory.mktemp("app") / "model"
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def app_url(trained_model, tmp_path_factory) -> Iterator[str]:
    """``tfprot app`` (a real process) serving the trained model, folding with tiny-esmfold."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "tfprot",
        "app",
        "--model",
        str(trained_model),
        "--fold-model",
        "tiny-esmfold",
        "--num-recycles",
        "0",
        "--port",
        str(port),
    ]
    log = tmp_path_factory.mktemp("app-log") / "app.log"
    with served(command, f"http://127.0.0.1:{port}/", log, env=app_environment()) as url:
        yield url
