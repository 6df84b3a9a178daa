"""Measure the Python cost of relaying one message through a whole server, without sockets.

``fanout_cost.py`` times only the fan-out. At 10 receivers a message costs more before it
gets there than after: websockets' frame parser, the hand-over to the relay, the log line,
the framing. This script runs all of it in one process, on a real ``wslib`` ``Server``
that is never started: its relay clients are ``DirectConnection`` objects on transports
that count the bytes and throw them away, and its log lines go through a ``LineWriter``
to ``/dev/null``, as ``wslib serve``'s go to stdout. Each turn of the event loop the
sender's connection is handed ``--burst`` masked text frames in one ``data_received()``
(as one read from its socket), the relay relays them, and the turn ends (the fan-out
writes). The figure is the process's CPU time (all threads) per message, the loop's own
turn included; each checkout runs in a child process of its own, alternating.

Usage::

    python benchmarks/relay_cost.py                          # this checkout
    python benchmarks/relay_cost.py /tmp/before .            # side by side, ratio to the first
    taskset -c 1 python benchmarks/relay_cost.py /tmp/before . --burst 1 --runs 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

MESSAGE = "{:05d} 1234567890123456"  # a sequence number and a time, as the load generator's


def child(receivers: int, burst: int, turns: int, rounds: int) -> None:
    """Relay ``turns`` bursts ``rounds`` times with the ``wslib`` on the path; print ns/msg."""
    from fanout_cost import NullTransport  # this script's neighbour in benchmarks/
    from websockets.asyncio.connection import Connection
    from websockets.frames import Frame, Opcode
    from websockets.protocol import OPEN
    from websockets.protocol import Protocol as SansIOProtocol
    from websockets.server import ServerProtocol

    import wslib
    from wslib.server.fanout import DirectConnection, receive_directly
    from wslib.server.logbook import LogBook
    from wslib.server.output import LineWriter
    from wslib.server.server import Server

    writes = [0]

    class CountingTransport(NullTransport):
        """A transport that counts every write, throws the bytes away, never backs up."""

        def write(self, data: Any) -> None:
            writes[0] += 1

    async def measure(devnull: Any) -> list[float]:
        out = LineWriter(devnull)
        server = Server(port=0, log=LogBook(out))
        # Where a relay client's whole messages go: the server's receiver (since
        # 2026-11-30 evening), or before that its inlet.
        receiver: Callable[[], Any] = getattr(server, "_receiver", None) or server._inlet
        members = []
        for _ in range(receivers + 1):
            connection = DirectConnection(ServerProtocol(), server=None)
            Connection.connection_made(connection, CountingTransport())
            protocol = connection.protocol
            protocol.state = OPEN
            protocol.parser = SansIOProtocol.parse(protocol)  # past the handshake
            next(protocol.parser)
            receive_directly(connection, receiver())
            server._relay.join(connection)
            members.append(connection)
        sender = members[0]
        data = b"".join(
            Frame(Opcode.TEXT, MESSAGE.format(n).encode()).serialize(mask=True, extensions=[])
            for n in range(burst)
        )
        results = []
        for _ in range(rounds):
            start = time.process_time()
            for _ in range(turns):
                sender.data_received(data)
                await asyncio.sleep(0)  # the turn ends: the fan-out writes
            results.append((time.process_time() - start) / (turns * burst) * 1e9)
        out.close()
        if writes[0] != rounds * turns * receivers:
            raise SystemExit(f"expected {rounds * turns * receivers} writes, got {writes[0]}")
        return results

    with open(os.devnull, "w") as devnull:
        results = asyncio.run(measure(devnull))
    print(f"{statistics.median(results):.1f} {wslib.__file__}")


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, measure each checkout in turn, print; return 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs="*", type=Path, default=[Path(".")])
    parser.add_argument("--receivers", type=int, default=10)
    parser.add_argument("--burst", type=int, default=4, help="messages per loop turn")
    parser.add_argument("--turns", type=int, default=3000, help="loop turns per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per run (median)")
    parser.add_argument("--runs", type=int, default=3, help="runs per checkout, alternating")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.receivers, args.burst, args.turns, args.rounds)
        return 0
    settings = [
        f"--{name}={getattr(args, name)}" for name in ("receivers", "burst", "turns", "rounds")
    ]
    results: dict[Path, list[float]] = {tree: [] for tree in args.trees}
    for _ in range(args.runs):
        for tree in args.trees:
            env = dict(os.environ, PYTHONPATH=str(tree.resolve()))
            out = subprocess.run(
                [sys.executable, __file__, "--child", *settings],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            if Path(out[1]).resolve().parents[1] != tree.resolve():
                raise SystemExit(f"{tree} did not import its own wslib but {out[1]}")
            results[tree].append(float(out[0]))
    first = statistics.median(results[args.trees[0]])
    for tree, values in results.items():
        median = statistics.median(values)
        print(
            f"{tree}: {median:.0f} ns per message (min {min(values):.0f}, max "
            f"{max(values):.0f}, {len(values)} runs), {median / first:.2f}x {args.trees[0]}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
