"""The examples in the docstrings run and print what they say."""

import doctest
import importlib
import pkgutil

import pytest

import workbench

MODULES = sorted(m.name for m in pkgutil.walk_packages(workbench.__path__, "workbench.")
                 if m.name != "workbench.__main__")


@pytest.mark.parametrize("name", ["workbench"] + MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_every_public_function_has_a_docstring():
    missing = []
    for name in MODULES:
        module = importlib.import_module(name)
        for attr, obj in vars(module).items():
            if attr.startswith("_") or getattr(obj, "__module__", None) != name:
                continue
            if callable(obj) and not (obj.__doc__ or "").strip():
                missing.append(f"{name}.{attr}")
    assert not missing
