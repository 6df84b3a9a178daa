"""Tests for notebook 05's exercise checker: a relay that refuses a message too long."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import broadcast

from wslib.teaching.guard import check_guard

SOLUTION = Path(__file__).resolve().parents[1] / "notebooks" / "solutions" / "guard.py"


def relay(limit: int | None = None, code: int = 1009, relay_first: bool = False) -> Any:
    """Return a relay that closes a sender past ``limit`` with ``code``; None: the scaffold."""
    people: set[Any] = set()

    async def guard(connection: Any) -> None:
        people.add(connection)
        try:
            async for message in connection:
                too_long = limit is not None and len(message) > limit
                if relay_first or not too_long:
                    broadcast(people - {connection}, f"Received message from peer: {message}")
                if too_long:
                    await connection.close(code, "message too big")
                    break
        finally:
            people.discard(connection)

    return guard


def test_the_scaffold_as_shipped_fails_with_helpful_words() -> None:
    """The unchanged scaffold, a plain relay, is told to close the sender and not relay it."""
    report = check_guard(relay(), wait=0.5)
    assert report.failed == [
        "Mallory is still connected after a 101-character message: close her connection with"
        " code 1009",
        "Bob received Mallory's long message: refuse it unsent",
    ]


def test_the_solution_passes() -> None:
    """The solution closes Mallory with 1009 and relays everything else."""
    report = check_guard(runpy.run_path(str(SOLUTION))["guard"])
    assert report.passed, str(report)


@pytest.mark.parametrize(
    ("guard", "message"),
    [
        (relay(limit=100, code=1000), "Mallory was closed with 1000, not 1009 (message too big)"),
        (relay(limit=99), "Bob never received Alice's 100-character message"),
        (relay(limit=100, relay_first=True), "Bob received Mallory's long message"),
    ],
    ids=["wrong-code", "off-by-one", "relays-then-closes"],
)
def test_each_wrong_guard_gets_its_own_message(guard: Any, message: str) -> None:
    """A guard wrong in one way is told that way, in words."""
    report = check_guard(guard, wait=0.5)
    assert any(message in text for text in report.failed), str(report)
