"""Tests for notebook 07's exercise checker: two servers that share one chat."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pytest

import wslib
from wslib.server.backplane import LocalBackplane
from wslib.teaching.linking import check_pair

SOLUTION = Path(__file__).resolve().parents[1] / "notebooks" / "solutions" / "start_pair.py"


def check(start_pair: Any) -> list[str]:
    """Return the failed rules' texts for ``start_pair`` with an in-process backplane."""
    return check_pair(start_pair, {"backplane": LocalBackplane()}, wait=0.5).failed


def scaffold(link: dict[str, Any]) -> tuple[wslib.BackgroundServer, wslib.BackgroundServer]:
    """Return notebook 07's scaffold as shipped: B under A's name, and unlinked."""
    a = wslib.start(port=0, name="mine-a", **link)
    b = wslib.start(port=0, name="mine-a")
    return a, b


def test_the_scaffold_as_shipped_fails_with_helpful_words() -> None:
    """The unchanged scaffold is told to give B a name of its own and to link both."""
    assert check(scaffold) == [
        "server A stopped when B started: give each server a name of its own",
        "Ann on server A does not see Ben on server B: link both with **link",
        "Ben, on server B, never received Ann's message",
    ]


def test_the_solution_passes() -> None:
    """The solution's two servers run side by side and share presence and messages."""
    assert check(runpy.run_path(str(SOLUTION))["start_pair"]) == []


def unlinked(link: dict[str, Any]) -> Any:
    """Start two servers, only the first one linked."""
    return wslib.start(port=0, name="t-a", **link), wslib.start(port=0, name="t-b")


def one_server(link: dict[str, Any]) -> Any:
    """Return a single server instead of two."""
    return wslib.start(port=0, name="t-one", **link)


def raising(link: dict[str, Any]) -> Any:
    """Read a key the link does not have."""
    return wslib.start(port=0, name="t-r", redis=link["redis"]), None


@pytest.mark.parametrize(
    ("start_pair", "message"),
    [
        (unlinked, "Ann on server A does not see Ben on server B: link both with **link"),
        (one_server, "start_pair returned <BackgroundServer"),
        (raising, "start_pair raised KeyError: 'redis'"),
    ],
    ids=["unlinked", "one-server", "raises"],
)
def test_each_wrong_pair_gets_its_own_message(start_pair: Any, message: str) -> None:
    """A pair wrong in one way is told that way, in words."""
    try:
        failed = check(start_pair)
    finally:
        wslib.stop_all()
    assert any(text.startswith(message) for text in failed), failed
