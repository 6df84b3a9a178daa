"""Tests that the example scripts run from a terminal and, via %run, inside a notebook's loop.

A notebook's ``%run script.py`` executes the script in the kernel's process, on the thread
whose event loop is already running, with ``__name__ == "__main__"``. ``KERNEL`` below does
the same (``runpy.run_path`` inside a coroutine). It runs in a fresh interpreter because
``allow_nested_asyncio`` patches asyncio for the whole process, for good, which this test
process must not be.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support import ROOT, TIMEOUT, child_env

EXAMPLES = sorted((ROOT / "examples").glob("*.py"))

EXPECTED = {
    "custom_handler.py": "'hello': 1 word\n'WebSockets in ten minutes': 4 words\n",
    "echo_roundtrip.py": "sent 'hello, echo', got back 'hello, echo'\n",
    "relay_two_clients.py": (
        "Bob got: Received message from peer: hi Bob\n"
        "Alice got: Received message from peer: hi Alice\n"
        "The server logged:\n"
        "  Received message: hi Bob\n"
        "  Received message: hi Alice\n"
        "  Client disconnected\n"
        "  Client disconnected\n"
    ),
}

KERNEL = """
import asyncio, runpy, sys

import wslib

async def cell():
    if sys.argv[2] == "nested":
        wslib.allow_nested_asyncio()
    runpy.run_path(sys.argv[1], run_name="__main__")  # what %run does

asyncio.run(cell())
"""


def run_python(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python *args`` with this checkout importable and return what it did."""
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        env=child_env(),
        cwd=ROOT,
        timeout=4 * TIMEOUT,
        check=False,
    )


def test_every_example_has_an_expected_output() -> None:
    """Each script in examples/ is covered here, and each ends in asyncio.run(main())."""
    assert sorted(path.name for path in EXAMPLES) == sorted(EXPECTED)
    for path in EXAMPLES:
        assert path.read_text().rstrip().endswith("asyncio.run(main())")


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_runs_from_a_terminal(path: Path) -> None:
    """``python examples/<name>.py`` prints what it should, cleanly, and exits 0."""
    result = run_python(str(path))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout == EXPECTED[path.name]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_runs_inside_a_running_loop_after_allow_nested_asyncio(path: Path) -> None:
    """After wslib.allow_nested_asyncio(), %run of the script works inside a running loop."""
    result = run_python("-c", KERNEL, str(path), "nested")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout == EXPECTED[path.name]


def test_without_allow_nested_asyncio_a_cell_cannot_run_the_script() -> None:
    """Without the explicit call, asyncio.run in a running loop fails: the kit patches nothing."""
    result = run_python("-W", "ignore::RuntimeWarning", "-c", KERNEL, str(EXAMPLES[0]), "plain")
    assert result.returncode == 1
    assert "cannot be called from a running event loop" in result.stderr
