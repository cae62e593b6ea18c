"""Fixtures for the ESMFold bridge: the offline tiny-esmfold model, loaded once."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_model():
    pytest.importorskip("torch")
    from tfprot.fold.model import ESMFoldModel

    return ESMFoldModel.load("tiny-esmfold", device="cpu")
