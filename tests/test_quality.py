"""Run the linters and the type checker as tests, so one pytest run checks everything."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_tool(*args: str) -> None:
    """Run ``python -m <args>`` in the repository root; fail with its output if it complains."""
    result = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        command = " ".join(args)
        pytest.fail(
            f"`{command}` exited {result.returncode}:\n{result.stdout}{result.stderr}",
            pytrace=False,
        )


def test_ruff_check() -> None:
    """Ruff finds no lint in the repository."""
    run_tool("ruff", "check", ".")


def test_ruff_format() -> None:
    """Every file is already formatted the way ruff formats it."""
    run_tool("ruff", "format", "--check", ".")


def test_mypy_strict() -> None:
    """The package and the benchmarks type-check under mypy --strict."""
    run_tool("mypy", "--strict", "wslib", "benchmarks")
