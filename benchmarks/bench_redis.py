"""Measure relay fan-out across two servers linked by Redis, against one server alone.

One sender sends numbered messages with a bounded window (messages not yet seen by every
receiver); N receivers check that each message arrives once and in order. Three set-ups:

- ``one``: sender and receivers on one server, no Redis (the kit's default);
- ``one+redis``: the same, with ``--redis`` (pays for publishing, though nobody listens);
- ``two``: sender on server A, receivers on server B: every message crosses Redis.

Each server is a ``python -m wslib serve`` process; the load generator is this process
(websockets' asyncio client), so its own cost bounds the figures: compare the rows.

Usage::

    python benchmarks/bench_redis.py                      # N=100, 2000 messages, 3 runs
    python benchmarks/bench_redis.py --receivers 10 --messages 5000 --runs 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import subprocess
import sys
import time
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from wslib.teaching.redis_server import RedisServer  # noqa: E402

STALL = 10.0  # seconds a receiver may wait for its next message
PREFIX = "Received message from peer: "


class Serve:
    """A ``wslib serve`` process on a free port; ``url`` is its first stdout line."""

    def __init__(self, redis: str | None) -> None:
        command = [sys.executable, "-m", "wslib", "serve", "--port", "0"]
        command += ["--redis", redis] if redis else []
        self.proc = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        # Drain the per-message log lines so that the server never blocks on a full pipe.
        self._drain = asyncio.get_running_loop().run_in_executor(None, self.proc.stdout.read)

    async def stop(self) -> None:
        self.proc.terminate()
        await self._drain
        self.proc.wait(10)


async def barrier(sender: ClientConnection, receivers: list[ClientConnection]) -> None:
    """Send probes until every receiver gets one: then all are subscribed everywhere."""
    ready = [False] * len(receivers)

    async def wait(i: int, receiver: ClientConnection) -> None:
        while not (await receiver.recv(decode=True)).startswith(PREFIX + "probe"):
            pass
        ready[i] = True

    waiting = [asyncio.create_task(wait(i, r)) for i, r in enumerate(receivers)]
    while not all(ready):
        await sender.send("probe")
        await asyncio.wait(waiting, timeout=0.05)

    async def drain(receiver: ClientConnection) -> None:
        with contextlib.suppress(TimeoutError):
            while True:  # drop the extra probes still on their way
                async with asyncio.timeout(0.2):
                    await receiver.recv()

    await asyncio.gather(*(drain(r) for r in receivers))


async def fan_out(send_url: str, recv_url: str, receivers: int, messages: int) -> float:
    """Return deliveries per second; raise if any message is lost, repeated or reordered."""
    window = 64
    done = [0] * messages
    finished = 0
    progress = asyncio.Condition()
    async with connect(send_url) as sender:
        conns = [await connect(recv_url, max_queue=None) for _ in range(receivers)]
        try:
            await barrier(sender, conns)

            async def receive(conn: ClientConnection) -> None:
                nonlocal finished
                for expected in range(messages):
                    async with asyncio.timeout(STALL):
                        text = await conn.recv()
                    if text != f"{PREFIX}{expected}":
                        raise RuntimeError(f"expected {expected}, got {text!r}")
                    done[expected] += 1
                    if done[expected] == receivers:
                        finished += 1
                        async with progress:
                            progress.notify_all()

            async def send_all() -> None:
                for i in range(messages):
                    async with progress:
                        while i - finished >= window:
                            await progress.wait()
                    await sender.send(str(i))

            start = time.perf_counter()
            # One receiver's error (or a message STALL seconds late) ends the whole run.
            async with asyncio.TaskGroup() as group:
                group.create_task(send_all())
                for conn in conns:
                    group.create_task(receive(conn))
            return receivers * messages / (time.perf_counter() - start)
        finally:
            for conn in conns:
                await conn.close()


async def run(args: argparse.Namespace) -> None:
    rows: dict[str, list[float]] = {"one": [], "one+redis": [], "two": []}
    with RedisServer() as redis:
        for _ in range(args.runs):
            for setup in rows:
                url = redis.url if setup != "one" else None
                a = Serve(url)
                b = Serve(url) if setup == "two" else a
                try:
                    rate = await fan_out(a.url, b.url, args.receivers, args.messages)
                    rows[setup].append(rate)
                finally:
                    await a.stop()
                    if b is not a:
                        await b.stop()
    print(f"fan-out, N={args.receivers} receivers, {args.messages} messages, window 64")
    print("| set-up | median deliveries/s | min-max | runs |")
    print("|---|---|---|---|")
    for setup, rates in rows.items():
        print(
            f"| {setup} | {statistics.median(rates):,.0f} "
            f"| {min(rates):,.0f}-{max(rates):,.0f} | {len(rates)} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--receivers", type=int, default=100)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
