"""Measure the Python cost of the relay's fan-out per delivery, without sockets.

The relay benchmarks time whole servers, and on a shared machine their noise hides a
change of a few percent in the per-recipient loop. This script runs the fan-out of
``wslib/server/fanout.py`` (``Fanout.publish``, as the relay calls it, or the older
``fan_out`` function) on real ``ServerConnection`` objects whose transports throw the bytes
away, so it times only the Python work: 64 messages (``--messages``) from one sender to
each of ``--receivers`` connections per loop turn, as in the fan-out scenario (one
message a turn is the latency scenario's steady rate). Give it several
checkouts to compare them in one process, alternating.

Usage::

    python benchmarks/fanout_cost.py                         # this checkout
    python benchmarks/fanout_cost.py . /tmp/before           # side by side
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from websockets.asyncio.connection import Connection
from websockets.asyncio.server import ServerConnection
from websockets.protocol import OPEN
from websockets.server import ServerProtocol

MESSAGE = "12345 1234567890123456"  # a sequence number and a time, as the load generator's


class NullTransport(asyncio.Transport):
    """A transport that takes every write and never has a backlog."""

    def write(self, data: Any) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def load(tree: Path) -> ModuleType:
    """Import the fan-out module from ``tree`` under a name of its own."""
    path = tree / "wslib" / "server" / "fanout.py"
    if not path.exists():
        path = tree / "wslib" / "fanout.py"  # before the layout moved it
    spec = importlib.util.spec_from_file_location(f"fanout_{abs(hash(tree))}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def open_connection() -> ServerConnection:
    """Return an open server connection on a NullTransport (call on a running loop)."""
    connection = ServerConnection(ServerProtocol(), server=None)  # type: ignore[arg-type]
    Connection.connection_made(connection, NullTransport())
    connection.protocol.state = OPEN
    return connection


class Members:
    """A fixed group for ``Fanout.publish``: the sender first, then the receivers."""

    version = 0

    def __init__(self, members: list[ServerConnection]) -> None:
        self.members = members


def one_turn(module: ModuleType, group: Members, messages: int = 64) -> Callable[[], None]:
    """Return a function that fans out one turn's ``messages`` messages with ``module``."""
    sender, receivers = group.members[0], group.members[1:]
    if hasattr(module, "Fanout"):
        fanout = module.Fanout()

        def publish() -> None:
            for _ in range(messages):
                fanout.publish(group, MESSAGE, sender=sender, limit=1 << 20)
            fanout.flush()

        return publish
    flush = getattr(module, "flush", lambda: None)  # older versions wrote at once

    def fan_out() -> None:
        for _ in range(messages):
            module.fan_out(receivers, MESSAGE, 1 << 20)
        flush()

    return fan_out


async def measure(
    modules: dict[str, ModuleType], rounds: int, turns: int, receivers: int, messages: int = 64
) -> None:
    """Time each module's fan-out, alternating, and print ns per delivery."""
    group = Members([open_connection() for _ in range(receivers + 1)])
    turn = {name: one_turn(module, group, messages) for name, module in modules.items()}
    results: dict[str, list[float]] = {name: [] for name in modules}
    for _ in range(rounds):
        for name in modules:
            start = time.perf_counter()
            for _ in range(turns):
                turn[name]()
            deliveries = turns * messages * receivers
            results[name].append((time.perf_counter() - start) / deliveries * 1e9)
    for name, values in results.items():
        print(
            f"{name}: {statistics.median(values):.0f} ns per delivery "
            f"(min {min(values):.0f}, max {max(values):.0f}, {len(values)} rounds)"
        )


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, measure, print; return 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs="*", type=Path, default=[Path(".")])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--receivers", type=int, default=100)
    parser.add_argument("--messages", type=int, default=64, help="messages per loop turn")
    args = parser.parse_args(argv)
    modules = {str(tree): load(tree.resolve()) for tree in args.trees}
    asyncio.run(measure(modules, args.rounds, args.turns, args.receivers, args.messages))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
