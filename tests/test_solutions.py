"""Run every exercise solution in notebooks/solutions against a live server, so none goes stale.

Each solution is the code a learner loads with ``# %load solutions/<name>.py``; the notebook
then passes one of its functions to ``wslib.start``. ``CHECKS`` says, for each solution,
which function that is and how to prove that it does what the exercise asks.
"""

from __future__ import annotations

import runpy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support import TIMEOUT

import wslib

SOLUTIONS = Path(__file__).resolve().parents[1] / "notebooks" / "solutions"


def check_greeter(server: wslib.BackgroundServer) -> None:
    """Greet each newcomer with the number of people here, then relay to the others."""
    with wslib.SyncClient(server.url, reconnect=False) as first:
        assert first.recv(TIMEOUT) == "Welcome! 1 person is here."
        with wslib.SyncClient(server.url, reconnect=False) as second:
            assert second.recv(TIMEOUT) == "Welcome! 2 people are here."
            second.send("hello")
            assert first.recv(TIMEOUT) == "Received message from peer: hello"
            first.send("marker")  # relayed in order: an echo of "hello" would come first
            assert second.recv(TIMEOUT) == "Received message from peer: marker"
        with wslib.SyncClient(server.url, reconnect=False) as third:
            assert third.recv(TIMEOUT) == "Welcome! 2 people are here."


#: solution file name -> (the handler it defines, the check it must pass)
CHECKS: dict[str, tuple[str, Callable[[wslib.BackgroundServer], None]]] = {
    "greeter.py": ("greeter", check_greeter),
}


#: solution file name -> the browser test that runs it (a page's script needs a browser)
IN_A_BROWSER = {"reconnect_page.py": "tests/test_playground_browser.py"}


def test_every_solution_has_a_check() -> None:
    """Each file in notebooks/solutions is run by a check here or in a browser test."""
    assert sorted(path.name for path in SOLUTIONS.glob("*.py")) == sorted([*CHECKS, *IN_A_BROWSER])
    root = SOLUTIONS.parents[1]
    for name, test in IN_A_BROWSER.items():
        assert name in (root / test).read_text(), f"{test} does not run {name}"


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_solution_works_against_a_live_server(name: str) -> None:
    """The solution's handler, served by wslib on a free port, passes its check."""
    handler_name, check = CHECKS[name]
    namespace: dict[str, Any] = runpy.run_path(str(SOLUTIONS / name))
    server = wslib.start(port=0, name=f"solution {name}", handler=namespace[handler_name])
    try:
        check(server)
    finally:
        server.stop()
