"""Keep environment.yml (conda, Binder) in step with pyproject.toml (pip).

Every requirement of the kit and of its ``lab`` and ``test`` extras appears in
environment.yml, under its conda-forge name, with the same version bounds: the test
suite then runs the same way in a conda environment or on Binder as in a venv. The
few packages that conda-forge lacks go in the ``pip:`` section, together with the
kit itself.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]

# pip name -> conda-forge name, where the two differ.
CONDA_NAMES = {
    "redis": "redis-py",
    "playwright": "playwright-python",
    # matplotlib-base is matplotlib without the Qt GUI backends, which a notebook
    # never uses; conda-forge recommends it for exactly this.
    "matplotlib": "matplotlib-base",
}

# Packages that conda-forge does not have: they go in environment.yml's pip section.
PIP_ONLY = {"nest-asyncio2"}

# Conda packages that environment.yml needs although pyproject.toml cannot name them.
CONDA_ONLY = {"python", "pip"}

# How environment.yml installs the kit itself from its pip section.
SELF_INSTALL = {"-e .", "."}

CONDA_SPEC = re.compile(r"(?P<name>[A-Za-z0-9_.-]+)\s*(?P<version>.*)")


def load_pyproject() -> dict[str, Any]:
    """Return pyproject.toml as a dictionary."""
    with (ROOT / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)


def load_environment() -> dict[str, Any]:
    """Return environment.yml as a dictionary."""
    with (ROOT / "environment.yml").open(encoding="utf-8") as file:
        environment = yaml.safe_load(file)
    assert isinstance(environment, dict), "environment.yml must be a mapping"
    return environment


def pip_requirements() -> dict[str, Requirement]:
    """Return the kit's requirements plus its lab and test extras, by canonical name."""
    project = load_pyproject()["project"]
    extras = project["optional-dependencies"]
    lines = [*project["dependencies"], *extras["lab"], *extras["test"]]
    requirements = [Requirement(line) for line in lines]
    return {canonicalize_name(requirement.name): requirement for requirement in requirements}


def conda_section() -> dict[str, SpecifierSet | str]:
    """Return environment.yml's conda packages: name -> version specifiers.

    Python is the exception: its value stays the raw conda text (``=3.11``), which is
    no PEP 440 specifier.
    """
    packages: dict[str, SpecifierSet | str] = {}
    for entry in load_environment()["dependencies"]:
        if isinstance(entry, str):
            match = CONDA_SPEC.fullmatch(entry.strip())
            assert match is not None, f"cannot read conda spec {entry!r}"
            name, version = match["name"], match["version"].replace(" ", "")
            packages[name] = version if name == "python" else SpecifierSet(version)
    return packages


def pip_section() -> list[str]:
    """Return the lines of environment.yml's pip section."""
    for entry in load_environment()["dependencies"]:
        if isinstance(entry, dict) and "pip" in entry:
            return [str(line) for line in entry["pip"]]
    return []


def pip_section_requirements() -> dict[str, SpecifierSet]:
    """Return the packages named in the pip section: name -> version specifiers."""
    requirements = [Requirement(line) for line in pip_section() if line not in SELF_INSTALL]
    return {canonicalize_name(r.name): r.specifier for r in requirements}


@pytest.mark.parametrize("name", sorted(pip_requirements()))
def test_requirement_is_in_environment(name: str) -> None:
    """Each pip requirement appears in environment.yml under its conda name, same bounds."""
    expected = pip_requirements()[name].specifier
    if name in PIP_ONLY:
        section, found = "pip section", pip_section_requirements()
        key = name
    else:
        section, found = "conda dependencies", conda_section()
        key = CONDA_NAMES.get(name, name)
    assert key in found, f"{name} (as {key}) is missing from environment.yml's {section}"
    assert found[key] == expected, f"{key}: environment.yml says {found[key]}, pyproject {expected}"


def test_environment_has_nothing_unaccounted() -> None:
    """Environment.yml names no package that pyproject.toml does not ask for."""
    requirements = pip_requirements()
    expected_conda = {CONDA_NAMES.get(name, name) for name in requirements if name not in PIP_ONLY}
    expected_pip = {name for name in requirements if name in PIP_ONLY}
    assert set(conda_section()) - CONDA_ONLY == expected_conda
    assert set(pip_section_requirements()) == expected_pip


def test_environment_installs_the_kit() -> None:
    """The pip section installs the kit itself from the checkout."""
    assert SELF_INSTALL & set(pip_section()), "environment.yml's pip section lacks `-e .`"


def test_environment_python_is_supported() -> None:
    """The Python that environment.yml pins is one that requires-python accepts."""
    python = conda_section()["python"]
    assert isinstance(python, str)
    assert python.startswith("="), f"pin python as python=X.Y for repo2docker, not {python!r}"
    requires = SpecifierSet(load_pyproject()["project"]["requires-python"])
    assert python.lstrip("=") in requires


def test_environment_is_named_and_uses_conda_forge() -> None:
    """Environment.yml makes an environment called wslib from conda-forge alone."""
    environment = load_environment()
    assert environment["name"] == "wslib"
    assert environment["channels"] == ["conda-forge"]
