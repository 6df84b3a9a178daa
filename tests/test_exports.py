"""Tests that ``wslib.__all__`` and the modules' ``__all__`` lists agree."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from types import ModuleType

import pytest
from support import TIMEOUT

import wslib


def modules() -> list[ModuleType]:
    """Return every module of the package and its folders, but ``__main__`` (it runs the CLI)."""
    infos = pkgutil.walk_packages(wslib.__path__, "wslib.")
    names = [info.name for info in infos if not info.ispkg and info.name != "wslib.__main__"]
    return [importlib.import_module(name) for name in sorted(names)]


@pytest.mark.parametrize("module", modules(), ids=lambda m: m.__name__)
def test_every_module_lists_its_public_names(module: ModuleType) -> None:
    """Each module has an ``__all__`` whose names all exist and are unique."""
    assert hasattr(module, "__all__"), f"{module.__name__} has no __all__"
    names = list(module.__all__)
    assert len(names) == len(set(names))
    for name in names:
        assert hasattr(module, name), f"{module.__name__}.__all__ names missing {name!r}"


def test_every_name_in_wslib_all_exists() -> None:
    """Every name listed in ``wslib.__all__`` can be imported from ``wslib``."""
    for name in wslib.__all__:
        assert hasattr(wslib, name), name
    assert len(wslib.__all__) == len(set(wslib.__all__))


def test_every_reexported_name_is_public_in_some_module() -> None:
    """Each name in ``wslib.__all__`` (but ``__version__``) is in some module's ``__all__``."""
    exported = {name for module in modules() for name in module.__all__}
    missing = sorted(set(wslib.__all__) - exported - {"__version__"})
    assert missing == []


def test_reexported_objects_are_the_modules_own() -> None:
    """A re-exported name is the very object its module defines, not a copy or a shadow."""
    owners = {name: module for module in modules() for name in module.__all__}
    for name in wslib.__all__:
        if name in owners:
            assert getattr(wslib, name) is getattr(owners[name], name), name


def test_public_package_attributes_are_all_listed() -> None:
    """Every public, non-module attribute of ``wslib`` is in ``wslib.__all__``."""
    public = {
        name
        for name, value in vars(wslib).items()
        if not name.startswith("_") and not isinstance(value, ModuleType) and name != "annotations"
    }
    assert sorted(public - set(wslib.__all__)) == []


def test_version_is_a_string() -> None:
    """The package has a ``__version__`` string such as '0.1.0'."""
    assert isinstance(wslib.__version__, str)
    assert wslib.__version__.count(".") == 2


def test_importing_wslib_does_not_load_ipywidgets() -> None:
    """``import wslib`` leaves ipywidgets unloaded until a pane is asked for, in a fresh process."""
    code = (
        "import sys, wslib\n"
        "assert 'ipywidgets' not in sys.modules\n"
        "wslib.ChatPane\n"
        "assert 'ipywidgets' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=12 * TIMEOUT)
