"""Checkers for the notebooks' exercises: run a learner's code for real, answer in plain words.

Each checker has two halves, kept apart as in the rest of the kit:

1. A *runner* puts the learner's code to work against a live server on a free port, with
   several real clients, and records what each client saw (a ``...Run`` dataclass). It
   judges nothing.
2. *Rules* read that record and return one ``Verdict`` per rule: ``✓`` and what holds, or
   ``✗``, what went wrong and what to change. They do no I/O, so every kind of wrong answer
   can be tested without a socket.

A notebook's check cell prints the ``Report``::

    print(check_greeter(greeter))
    # ✓ the greeting counts the people here
    # ✗ Bob never received Alice's message: send each message on to the others
    # ...
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..exceptions import WslibError
from ..sync.background import start
from ..sync.blocking import SyncClient

__all__ = [
    "RELAY_PREFIX",
    "GreeterRun",
    "Handler",
    "Handlers",
    "Report",
    "Verdict",
    "check_greeter",
    "greeter_verdicts",
    "run_greeter",
]

Handler = Callable[[Any], Awaitable[None]]
RELAY_PREFIX = "Received message from peer: "


@dataclass(frozen=True)
class Verdict:
    """One rule of an exercise: whether it holds, and what to say about it."""

    passed: bool
    text: str

    def __str__(self) -> str:
        return f"{'✓' if self.passed else '✗'} {self.text}"


@dataclass(frozen=True)
class Report:
    """Every rule's verdict for one attempt at an exercise, printable as the answer."""

    exercise: str
    verdicts: tuple[Verdict, ...]

    @property
    def passed(self) -> bool:
        """Return whether every rule holds."""
        return all(verdict.passed for verdict in self.verdicts)

    @property
    def failed(self) -> list[str]:
        """Return the text of each rule that does not hold."""
        return [verdict.text for verdict in self.verdicts if not verdict.passed]

    def __str__(self) -> str:
        lines = [str(verdict) for verdict in self.verdicts]
        if self.passed:
            lines.append(f"All {len(self.verdicts)} checks pass: {self.exercise} is done.")
        else:
            lines.append(f"{len(self.failed)} of {len(self.verdicts)} checks fail; try again.")
        return "\n".join(lines)


def _quote(text: str | None) -> str:
    return "nothing" if text is None else repr(text)


# -- greet newcomers (notebook 01) ----------------------------------------------------


@dataclass
class GreeterRun:
    """What three clients of a greeter saw: Alice and Bob chat, Bob leaves, Carol comes.

    Attributes:
        greetings: Each client's first message, by name (``None``: nothing came).
        received: What Alice and Bob received after their greetings, by name.
        errors: Exceptions the handler raised, as ``"NameError: ..."`` text.
    """

    greetings: dict[str, str | None] = field(default_factory=dict)
    received: dict[str, list[str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


class Handlers:
    """Run the learner's handler for each connection; count those running; keep errors."""

    def __init__(self, handler: Handler, errors: list[str]) -> None:
        self.handler, self.errors = handler, errors
        self.running = 0
        self._changed = threading.Condition()

    async def serve(self, connection: Any) -> None:
        with self._changed:
            self.running += 1
        try:
            await self.handler(connection)
        except Exception as exc:  # the rules report it; the client sees 1011, as unhandled
            self.errors.append(f"{type(exc).__name__}: {exc}")
            await connection.close(1011, "the handler raised an error")
        finally:
            with self._changed:
                self.running -= 1
                self._changed.notify_all()

    def wait_until(self, count: int, timeout: float) -> bool:
        """Block until ``count`` handlers run (or ``timeout`` passes); return whether they do."""
        with self._changed:
            return self._changed.wait_for(lambda: self.running == count, timeout)


def _count(greeting: str | None) -> int | None:
    """Return the first number in ``greeting``, or ``None`` when it holds none."""
    found = re.search(r"\d+", greeting or "")
    return int(found.group()) if found else None


def greeter_verdicts(run: GreeterRun) -> list[Verdict]:
    """Judge a greeter by what its clients saw: greetings, relaying, no echo, no errors."""
    verdicts: list[Verdict] = []
    if run.errors:
        verdicts.append(Verdict(False, f"the handler raised {run.errors[0]}"))
    alice, bob, carol = (run.greetings.get(name) for name in ("Alice", "Bob", "Carol"))
    counts = (_count(alice), _count(bob), _count(carol))
    if None in counts:
        verdicts.append(
            Verdict(False, f"the greeting does not say how many people are here: {_quote(alice)}")
        )
    elif counts[:2] != (1, 2):
        verdicts.append(
            Verdict(
                False,
                f"Alice, alone, was told {counts[0]} and Bob, second, {counts[1]}: count"
                " everyone connected, the newcomer too",
            )
        )
    elif counts[2] != 2:
        verdicts.append(
            Verdict(
                False,
                f"after Bob left, Carol was told {counts[2]} people are here, not 2: forget a"
                " connection once it closes",
            )
        )
    else:
        verdicts.append(Verdict(True, "the greeting counts the people here"))
    alice_got, bob_got = run.received.get("Alice", []), run.received.get("Bob", [])
    expected = RELAY_PREFIX + "hello from Alice"
    if expected in bob_got:
        verdicts.append(Verdict(True, "Bob received Alice's message, as the relay words it"))
    elif any("hello from Alice" in text for text in bob_got):
        wrong = next(text for text in bob_got if "hello from Alice" in text)
        verdicts.append(Verdict(False, f"Bob received {wrong!r}: the relay words it {expected!r}"))
    else:
        verdicts.append(
            Verdict(False, "Bob never received Alice's message: send each message to the others")
        )
    if RELAY_PREFIX + "hello from Bob" in alice_got:
        verdicts.append(Verdict(True, "Alice received Bob's answer: it works both ways"))
    else:
        verdicts.append(Verdict(False, "Alice never received Bob's message"))
    if any("hello from Alice" in text for text in alice_got):
        verdicts.append(
            Verdict(False, "the sender got its own message back: the relay skips the sender")
        )
    else:
        verdicts.append(Verdict(True, "the sender did not get its own message back"))
    return verdicts


def run_greeter(handler: Handler, *, wait: float = 2.0) -> GreeterRun:
    """Serve ``handler`` on a free port and record what Alice, Bob and Carol see.

    Args:
        handler: The learner's ``async def greeter(connection)``.
        wait: How long to wait for a message that a right answer would send, in seconds.
    """
    run = GreeterRun()
    handlers = Handlers(handler, run.errors)

    def first(client: SyncClient) -> str | None:
        try:
            message = client.recv(timeout=wait)
        except (TimeoutError, ConnectionError):
            return None
        return message if isinstance(message, str) else repr(message)

    def say(client: SyncClient, text: str) -> None:
        with contextlib.suppress(WslibError):  # closed by a broken handler: the rules say so
            client.send(text)

    def until(client: SyncClient, text: str) -> list[str]:
        """Return what ``client`` receives up to a message containing ``text`` (or a pause)."""
        got: list[str] = []
        while not any(text in message for message in got):
            message = first(client)
            if message is None:
                break
            got.append(message)
        return got

    server = start(port=0, name="exercise: greeter", handler=handlers.serve)
    try:
        with SyncClient(server.url, reconnect=False) as alice:
            run.greetings["Alice"] = first(alice)
            with SyncClient(server.url, reconnect=False) as bob:
                run.greetings["Bob"] = first(bob)
                say(alice, "hello from Alice")
                run.received["Bob"] = until(bob, "hello from Alice")
                say(bob, "hello from Bob")
                run.received["Alice"] = until(alice, "hello from Bob")
            handlers.wait_until(1, wait)  # Bob's handler has returned: he has left
            with SyncClient(server.url, reconnect=False) as carol:
                run.greetings["Carol"] = first(carol)
    finally:
        server.stop()
    return run


def check_greeter(handler: Handler, *, wait: float = 2.0) -> Report:
    """Run the "greet newcomers" exercise's handler for real and judge it, rule by rule.

    Usage in notebook 01::

        print(check_greeter(greeter))
    """
    return Report("greet newcomers", tuple(greeter_verdicts(run_greeter(handler, wait=wait))))
