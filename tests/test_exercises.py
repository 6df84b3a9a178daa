"""Tests for the exercise checkers: the rules alone, then real handlers of every kind.

Each exercise's scaffold (as the notebook ships it) must fail with helpful words, its
solution must pass, and each kind of wrong answer must get its own message.
"""

from __future__ import annotations

import functools
import gc
import weakref
from collections.abc import Callable
from typing import Any

import pytest
from websockets.asyncio.server import broadcast

from wslib.teaching.exercises import (
    GreeterRun,
    Report,
    Verdict,
    check_greeter,
    greeter_verdicts,
)

RIGHT = GreeterRun(
    greetings={"Alice": "Welcome! 1 person", "Bob": "Welcome! 2 people", "Carol": "2 here"},
    received={
        "Bob": ["Received message from peer: hello from Alice"],
        "Alice": ["Received message from peer: hello from Bob"],
    },
)


def test_a_report_lists_each_verdict_and_sums_up() -> None:
    """A report prints one ✓ or ✗ line per rule, then whether the exercise is done."""
    report = Report("x", (Verdict(True, "this holds"), Verdict(False, "that does not")))
    assert str(report) == "✓ this holds\n✗ that does not\n1 of 2 checks fail; try again."
    assert not report.passed
    assert report.failed == ["that does not"]
    assert str(Report("x", (Verdict(True, "ok"),))).endswith("All 1 checks pass: x is done.")


def test_the_rules_pass_a_right_run() -> None:
    """What a right greeter's clients see passes every rule."""
    assert all(verdict.passed for verdict in greeter_verdicts(RIGHT))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"greetings": {"Alice": "Hi", "Bob": "Hi", "Carol": "Hi"}}, "does not say how many"),
        ({"greetings": {"Alice": "0", "Bob": "1", "Carol": "1"}}, "count everyone connected"),
        ({"greetings": {"Alice": "1", "Bob": "2", "Carol": "3"}}, "after Bob left"),
        ({"received": {"Bob": [], "Alice": []}}, "Bob never received Alice's message"),
        ({"received": {"Bob": ["hello from Alice"], "Alice": []}}, "the relay words it"),
        ({"errors": ["NameError: name 'x' is not defined"]}, "the handler raised NameError"),
    ],
)
def test_each_wrong_run_gets_its_own_message(change: dict[str, Any], message: str) -> None:
    """A run that breaks one rule fails that rule, with words that say which and why."""
    run = GreeterRun(**{**RIGHT.__dict__, **change})
    failed = [verdict.text for verdict in greeter_verdicts(run) if not verdict.passed]
    assert any(message in text for text in failed), failed


# -- real handlers, served on a free port --------------------------------------------


def scaffold() -> Any:
    """Return notebook 01's scaffold as shipped: a bare welcome, and an echo."""
    people: set[Any] = set()

    async def greeter(connection: Any) -> None:
        people.add(connection)
        try:
            await connection.send("Welcome!")
            async for message in connection:
                await connection.send(message)
        finally:
            people.discard(connection)

    return greeter


def greeter_of(*, count_from: int = 0, forget: bool = True, to_all: bool = False) -> Any:
    """Return a greeter that is right by default, or wrong in the one way asked for."""
    people: set[Any] = set()

    async def greeter(connection: Any) -> None:
        people.add(connection)
        try:
            await connection.send(f"Welcome! {len(people) + count_from} here.")
            async for message in connection:
                to = people if to_all else people - {connection}
                broadcast(to, f"Received message from peer: {message}")
        finally:
            if forget:
                people.discard(connection)

    return greeter


def raising() -> Any:
    """Return a greeter with a typo in it."""

    async def greeter(connection: Any) -> None:
        await connection.send(f"Welcome! {len(peeple)} here.")  # type: ignore[name-defined]  # noqa: F821

    return greeter


def test_the_scaffold_as_shipped_fails_with_helpful_words() -> None:
    """The unchanged scaffold fails every rule, each with what to change."""
    report = check_greeter(scaffold(), wait=0.5)
    assert not report.passed
    assert report.failed == [
        "the greeting does not say how many people are here: 'Welcome!'",
        "Bob never received Alice's message: send each message to the others",
        "Alice never received Bob's message",
        "the sender got its own message back: the relay skips the sender",
    ]


def test_a_right_greeter_passes() -> None:
    """A greeter that counts, forgets leavers and relays to the others passes every rule."""
    report = check_greeter(greeter_of())
    assert report.passed, str(report)


# Factories, not greeters: a greeter made here would live as long as pytest's collected
# items, and the one that never forgets would keep its three closed connections (and the
# stopped server they point to) alive for the rest of the session.
@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            functools.partial(greeter_of, count_from=-1),
            "Alice, alone, was told 0 and Bob, second, 1",
        ),
        (
            functools.partial(greeter_of, forget=False),
            "after Bob left, Carol was told 3 people are here",
        ),
        (functools.partial(greeter_of, to_all=True), "the sender got its own message back"),
        (raising, "the handler raised NameError: name 'peeple' is not defined"),
    ],
    ids=["counts-without-newcomer", "never-forgets", "echoes-the-sender", "raises"],
)
def test_each_wrong_greeter_gets_its_own_message(make: Callable[[], Any], message: str) -> None:
    """A greeter wrong in one way is told that way, in words."""
    report = check_greeter(make(), wait=0.5)
    assert any(message in text for text in report.failed), str(report)


def test_a_check_keeps_nothing_of_the_handler_it_judged() -> None:
    """Once a check has returned and the handler is dropped, the collector frees the handler
    and the connections it kept, even those of a handler that never forgets one."""
    greeter = greeter_of(forget=False)
    check_greeter(greeter, wait=0.5)
    (people,) = (
        cell.cell_contents
        for cell in greeter.__closure__ or ()
        if isinstance(cell.cell_contents, set)
    )
    assert len(people) == 3  # Alice, Bob and Carol, all closed, none forgotten
    kept = [weakref.ref(thing) for thing in (greeter, *people)]
    del greeter, people
    gc.collect()
    assert [ref() for ref in kept] == [None] * 4
