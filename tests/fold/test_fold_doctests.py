"""The >>> examples of tfprot.fold (the root test_doctests.py leaves this package to us)."""

import doctest
import importlib
import pkgutil

import pytest

import tfprot.fold

MODULES = sorted(
    info.name for info in pkgutil.walk_packages(tfprot.fold.__path__, prefix="tfprot.fold.")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
