"""Run the `>>>` examples in every tfprot docstring, so they cannot rot."""

import doctest
import importlib
import pkgutil

import pytest

import tfprot

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(tfprot.__path__, prefix="tfprot.")
    if not info.name.startswith(("tfprot.fold", "tfprot.cli", "tfprot.__main__"))  # own tests
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
