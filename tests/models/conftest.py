"""Fixtures for the model tests: a clean Keras precision policy (the small real data sets they
train on are in ``tests/conftest.py``)."""

from __future__ import annotations

import pytest

import tfprot  # noqa: F401  (first: Keras 2 for the test modules' TensorFlow imports)


@pytest.fixture(autouse=True)
def float32_policy_after_each_test():
    """Tests that set a mixed policy must not leak it into the next test."""
    yield
    from tfprot._keras import keras

    keras().mixed_precision.set_global_policy("float32")
