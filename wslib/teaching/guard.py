"""The checker for notebook 05's exercise: a relay that closes a sender of too long a message.

The learner writes ``async def guard(connection)``: the article's relay, plus one rule
from notebook 05. A message longer than ``LIMIT`` characters closes its sender with 1009
(*message too big*) and goes to nobody; everyone else keeps chatting. The runner serves
the handler with Alice, Bob and Mallory as real clients; I/O-free rules judge what they
saw (see ``wslib.teaching.exercises``).

Usage in notebook 05::

    print(check_guard(guard))
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from ..exceptions import WslibError
from ..sync.background import start
from ..sync.blocking import SyncClient
from .exercises import RELAY_PREFIX, Handler, Handlers, Report, Verdict

__all__ = ["LIMIT", "GuardRun", "check_guard", "guard_verdicts", "run_guard"]

LIMIT = 100
LONG = "m" * (LIMIT + 1)
JUST_RIGHT = "a" * LIMIT


@dataclass
class GuardRun:
    """What Alice, Bob and Mallory saw when Mallory sent too much.

    Attributes:
        mallory_closed: Mallory's close code after her long message (``None``: still open).
        mallory_reason: The reason that came with it.
        bob_got: What Bob received, up to Alice's message of exactly ``LIMIT`` characters.
        alice_got: What Alice received after Bob spoke last.
        errors: Exceptions the handler raised.
    """

    mallory_closed: int | None = None
    mallory_reason: str = ""
    bob_got: list[str] = field(default_factory=list)
    alice_got: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def guard_verdicts(run: GuardRun) -> list[Verdict]:
    """Judge a guard: 1009 for the long message, nobody gets it, the rest chat on."""
    verdicts: list[Verdict] = []
    if run.errors:
        verdicts.append(Verdict(False, f"the handler raised {run.errors[0]}"))
    if run.mallory_closed == 1009:
        verdicts.append(Verdict(True, f"a {LIMIT + 1}-character message closes its sender: 1009"))
    elif run.mallory_closed is None:
        verdicts.append(
            Verdict(
                False,
                f"Mallory is still connected after a {LIMIT + 1}-character message: close her"
                " connection with code 1009",
            )
        )
    else:
        verdicts.append(
            Verdict(
                False, f"Mallory was closed with {run.mallory_closed}, not 1009 (message too big)"
            )
        )
    if any(LONG in text for text in run.bob_got):
        verdicts.append(Verdict(False, "Bob received Mallory's long message: refuse it unsent"))
    else:
        verdicts.append(Verdict(True, "nobody received the long message"))
    if RELAY_PREFIX + JUST_RIGHT in run.bob_got:
        verdicts.append(
            Verdict(True, f"a message of exactly {LIMIT} characters still goes through")
        )
    else:
        verdicts.append(
            Verdict(
                False,
                f"Bob never received Alice's {LIMIT}-character message: only longer ones are"
                " refused",
            )
        )
    if RELAY_PREFIX + "still here" in run.alice_got:
        verdicts.append(Verdict(True, "Alice and Bob keep chatting after Mallory is gone"))
    else:
        verdicts.append(Verdict(False, "Alice never received Bob's 'still here'"))
    return verdicts


def run_guard(handler: Handler, *, wait: float = 2.0) -> GuardRun:
    """Serve ``handler`` on a free port; Mallory sends too much, Alice and Bob chat on."""
    run = GuardRun()
    handlers = Handlers(handler, run.errors)
    server = start(port=0, name="exercise: guard", handler=handlers.serve)
    try:
        with (
            SyncClient(server.url, reconnect=False) as alice,
            SyncClient(server.url, reconnect=False) as bob,
            SyncClient(server.url, reconnect=False) as mallory,
        ):
            with contextlib.suppress(WslibError):
                mallory.send(LONG)
            with contextlib.suppress(TimeoutError):
                mallory.wait_for(lambda: mallory.status.state == "closed", wait)
            if mallory.status.state == "closed":
                run.mallory_closed = mallory.status.code
                run.mallory_reason = mallory.status.reason
            with contextlib.suppress(WslibError):
                alice.send(JUST_RIGHT)
            run.bob_got = _until(bob, JUST_RIGHT, wait)
            with contextlib.suppress(WslibError):
                bob.send("still here")
            run.alice_got = _until(alice, "still here", wait)
    finally:
        server.stop()
    return run


def _until(client: SyncClient, text: str, wait: float) -> list[str]:
    """Return what ``client`` receives up to a message ending in ``text`` (or a pause)."""
    got: list[str] = []
    while not any(message.endswith(text) for message in got):
        try:
            got.append(str(client.recv(timeout=wait)))
        except (TimeoutError, WslibError):
            break
    return got


def check_guard(handler: Handler, *, wait: float = 2.0) -> Report:
    """Run notebook 05's "refuse a message too long" exercise for real and judge it.

    Usage in notebook 05::

        print(check_guard(guard))
    """
    return Report("refuse a message too long", tuple(guard_verdicts(run_guard(handler, wait=wait))))
