"""Run every exercise solution in notebooks/solutions against a live server, so none goes stale.

Each solution is the code a learner loads with ``# %load solutions/<name>.py``; the
notebook's check cell then hands what it defines to the exercise's checker
(``wslib.teaching.exercises``), which runs it for real. ``CHECKS`` names that checker for
each solution; tests/test_exercises.py proves each checker fails the wrong kinds.
"""

from __future__ import annotations

import runpy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from wslib.server.backplane import LocalBackplane
from wslib.teaching import bot, exercises, framing, guard, health, linking, prediction
from wslib.teaching.exercises import Report

SOLUTIONS = Path(__file__).resolve().parents[1] / "notebooks" / "solutions"


def check_greeter(namespace: dict[str, Any]) -> Report:
    """Greet each newcomer with the number of people here, then relay to the others."""
    return exercises.check_greeter(namespace["greeter"])


def check_client_frame(namespace: dict[str, Any]) -> Report:
    """Build a masked client text frame in each length form; a live relay accepts it."""
    return framing.check_client_frame(namespace["client_frame"])


def check_bot(namespace: dict[str, Any]) -> Report:
    """Answer !who with everyone online, heard by all; stay quiet otherwise."""
    return bot.check_bot(namespace["answer"])


def check_guard(namespace: dict[str, Any]) -> Report:
    """Close a sender of more than 100 characters with 1009, unsent; relay the rest."""
    return guard.check_guard(namespace["guard"])


def check_websocket_bytes(namespace: dict[str, Any]) -> Report:
    """Predict the bytes after the handshake; the byte meter agrees to the byte."""
    return prediction.check_prediction(namespace["websocket_bytes"])


def check_is_healthy(namespace: dict[str, Any]) -> Report:
    """Healthy only when healthz says ok; False, never an exception, otherwise."""
    return health.check_health(namespace["is_healthy"])


def check_start_pair(namespace: dict[str, Any]) -> Report:
    """Two servers, each named, both linked: presence and messages cross."""
    return linking.check_pair(namespace["start_pair"], {"backplane": LocalBackplane()})


#: solution file name -> the exercise's checker, given what the solution defines
CHECKS: dict[str, Callable[[dict[str, Any]], Report]] = {
    "bot.py": check_bot,
    "client_frame.py": check_client_frame,
    "greeter.py": check_greeter,
    "guard.py": check_guard,
    "is_healthy.py": check_is_healthy,
    "start_pair.py": check_start_pair,
    "websocket_bytes.py": check_websocket_bytes,
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
def test_solution_passes_its_exercises_checker(name: str) -> None:
    """The solution, run as the notebook's %load cell would, passes every rule of its checker."""
    namespace: dict[str, Any] = runpy.run_path(str(SOLUTIONS / name))
    report = CHECKS[name](namespace)
    assert report.passed, str(report)
