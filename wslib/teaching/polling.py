"""Short polling, long polling and a WebSocket, measured on the same stream of messages.

Each ``measure`` call starts a small local server (a ``PollServer`` from ``wslib.pollserver``
or a WebSocket server), puts a ``ByteMeter`` in front of it, runs one client through the meter
while a publisher feeds the server a stream of messages, and returns what crossed the wire and
how late each message arrived.

Time runs in ticks. A short-polling client asks once per tick; the stream says at which
tick each message appears (by default one message every 5 ticks). Two ways to run it:

1. ``tick=None`` (the default): ticks are steps, not seconds. Each step publishes what is
   due, then waits until the client has done what it does at that step. Nothing depends
   on timing, so the byte counts are the same on every run and every machine.
2. ``tick=0.05``: ticks are real seconds; messages appear at random moments within their
   tick (a seeded random), and the latencies are the ones to look at.

Usage::

    result = await measure("long polling")
    print(table([result]))
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve

from .meter import ByteMeter
from .pollserver import Feed, Poller, PollServer, Signal

__all__ = ["BROWSER_HEADERS", "METHODS", "Measurement", "Method", "measure", "schedule", "table"]

Method = Literal["short polling", "long polling", "websocket"]
METHODS: tuple[Method, ...] = ("short polling", "long polling", "websocket")

#: Request headers of the kind a browser adds to a ``fetch()`` of the same site, for a run
#: that looks more like a web page than a script (the values are made up, the sizes typical).
BROWSER_HEADERS: Mapping[str, str] = {
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Accept": "*/*",
    "Accept-Language": "en-GB,en;q=0.9",
    "Accept-Encoding": "gzip, deflate, br, zstd",
    "Referer": "http://localhost/quotes.html",
    "Sec-Fetch-Dest": "empty",
    "Sec-Fetch-Mode": "cors",
    "Sec-Fetch-Site": "same-origin",
    "Cookie": "session=5f0c9a6e2b7d4e8f9a1b3c5d7e9f0a2b; theme=light",
}


def schedule(count: int = 20, every: int = 5) -> list[tuple[int, str]]:
    """Return a stream of ``count`` short messages, one every ``every`` ticks: (tick, text)."""
    return [(i * every, f"quote {i:02d}: ACME {100 + i * 0.25:.2f}") for i in range(count)]


@dataclass(frozen=True)
class Measurement:
    """What one method cost for one stream of messages.

    Attributes:
        method: ``"short polling"``, ``"long polling"`` or ``"websocket"``.
        messages: Messages the client received.
        requests: HTTP requests the client made (the WebSocket makes one: the handshake).
        connections: TCP connections the client opened.
        up: Bytes from client to server, all included.
        down: Bytes from server to client, all included.
        handshake: Of those, the bytes of the WebSocket opening handshake (both ways).
        payload: Bytes of the message texts themselves (UTF-8).
        latencies: Seconds from publishing each message to its arrival at the client.
    """

    method: Method
    messages: int
    requests: int
    connections: int
    up: int
    down: int
    handshake: int
    payload: int
    latencies: tuple[float, ...]

    @property
    def total(self) -> int:
        """Return all bytes, both ways."""
        return self.up + self.down

    @property
    def per_message(self) -> float:
        """Return the bytes on the wire per message delivered."""
        return self.total / self.messages


class _Received:
    """What the client got, and when."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.changed = Signal()

    def add(self, count: int) -> None:
        now = time.perf_counter()
        self.times.extend(now for _ in range(count))
        self.changed.notify()


async def measure(
    method: Method,
    stream: Sequence[tuple[int, str]] | None = None,
    *,
    tick: float | None = None,
    headers: Mapping[str, str] | None = None,
    seed: int = 6455,
) -> Measurement:
    """Deliver ``stream`` to one client by ``method`` and measure bytes and latencies.

    Args:
        method: One of ``METHODS``.
        stream: ``(tick, text)`` pairs in tick order; default ``schedule()``.
        tick: ``None`` for steps (deterministic bytes), or the length of a tick in seconds.
        headers: Extra request headers for the HTTP methods, e.g. ``BROWSER_HEADERS``.
        seed: Seeds where within its tick each message appears, when ticks are seconds.

    Returns:
        The ``Measurement``; in step mode its byte counts are the same on every run.
    """
    stream = list(stream if stream is not None else schedule())
    # The run goes on for one gap between messages after the last one, as a real feed would.
    ticks = stream[-1][0] + max(1, stream[-1][0] // max(1, len(stream) - 1))
    feed, got = Feed(), _Received()
    http: PollServer | None = None
    async with contextlib.AsyncExitStack() as stack:
        if method == "websocket":
            # No compression, no keepalive pings and no product names in headers: the
            # handshake and frames are then the same size on every machine and version.
            ws_server = await serve(
                lambda c: _push(c, feed),
                "127.0.0.1",
                0,
                compression=None,
                ping_interval=None,
                server_header=None,
            )
            stack.push_async_callback(ws_server.wait_closed)
            stack.callback(ws_server.close)
            port = ws_server.sockets[0].getsockname()[1]
        else:
            http = PollServer(feed)
            port = await http.start()
            stack.push_async_callback(http.stop)
        meter = ByteMeter(port)
        await meter.start()
        stack.push_async_callback(meter.stop)
        run = _Run(method, feed, got, meter.port, headers or {})
        await run.open()
        run.handshake = meter.up + meter.down  # nothing but the handshake has been sent yet
        if tick is None:
            for now in range(ticks):
                feed.publish([text for at, text in stream if at == now])
                await run.step(http)
        else:
            await run.timed(stream, ticks, tick, random.Random(seed))
        await got.changed.until(lambda: len(got.times) >= len(stream))
        await run.close()
        if http is not None:
            await http.stop()
        await meter.idle()
        requests = 1 if http is None else http.requests
    return Measurement(
        method=method,
        messages=len(got.times),
        requests=requests,
        connections=meter.connections,
        up=meter.up,
        down=meter.down,
        handshake=run.handshake,
        payload=sum(len(text.encode()) for text in feed.texts),
        latencies=tuple(b - a for a, b in zip(feed.times, got.times, strict=True)),
    )


async def _push(connection: ServerConnection, feed: Feed) -> None:
    """Send each new message of ``feed`` as one text frame until the client leaves."""
    sent = 0
    closed = asyncio.ensure_future(connection.wait_closed())
    while True:
        more = asyncio.ensure_future(feed.beyond(sent))
        await asyncio.wait({more, closed}, return_when=asyncio.FIRST_COMPLETED)
        if closed.done():
            more.cancel()
            return
        for text in feed.texts[sent:]:
            await connection.send(text)
        sent = len(feed.texts)


class _Run:
    """One client of one method: what it does at each step, or on its own clock."""

    def __init__(
        self, method: Method, feed: Feed, got: _Received, port: int, headers: Mapping[str, str]
    ) -> None:
        self.method, self.feed, self.got, self.port = method, feed, got, port
        self.handshake = 0
        self._poller = Poller(port, headers)
        self._after = 0
        self._task: asyncio.Task[None] | None = None
        self._ws: ClientConnection | None = None

    async def open(self) -> None:
        """Connect a WebSocket, or start the long-polling loop; short polling waits."""
        if self.method == "websocket":
            self._ws = await connect(
                f"ws://127.0.0.1:{self.port}/",
                compression=None,
                ping_interval=None,
                user_agent_header=None,
            )
            self._task = asyncio.create_task(self._listen(self._ws))
        elif self.method == "long polling":
            self._task = asyncio.create_task(self._long_poll())

    async def step(self, http: PollServer | None) -> None:
        """Do one tick's work: poll once, or wait until the push arrived (and a long poll
        is parked at the server again, so its request bytes are counted every time)."""
        if self.method == "short polling":
            await self._poll_once()
            return
        await self.got.changed.until(lambda: len(self.got.times) >= len(self.feed.texts))
        if http is not None:
            await http.changed.until(lambda: http.parked == 1)

    async def timed(
        self, stream: Sequence[tuple[int, str]], ticks: int, tick: float, rng: random.Random
    ) -> None:
        """Publish each message at a random moment of its tick; short-poll once a tick."""
        start = time.perf_counter()

        async def at(seconds: float) -> None:
            await asyncio.sleep(max(0.0, start + seconds - time.perf_counter()))

        async def publish() -> None:
            for when, text in stream:
                await at((when + rng.random()) * tick)
                self.feed.publish([text])

        async def short_poll() -> None:
            for now in range(ticks + 1):
                await at(now * tick)
                await self._poll_once()

        jobs = [publish()] + ([short_poll()] if self.method == "short polling" else [])
        await asyncio.gather(*jobs)

    async def close(self) -> None:
        """Close the connection (a WebSocket with its closing handshake)."""
        if self._ws is not None:
            await self._ws.close()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._poller.close()

    async def _poll_once(self) -> None:
        texts = await self._poller.get("/poll", self._after)
        self._after += len(texts)
        self.got.add(len(texts))

    async def _long_poll(self) -> None:
        while True:
            texts = await self._poller.get("/wait", self._after)
            self._after += len(texts)
            self.got.add(len(texts))

    async def _listen(self, ws: ClientConnection) -> None:
        async for _ in ws:
            self.got.add(1)


def table(measurements: Sequence[Measurement]) -> str:
    """Return the byte counts of ``measurements`` as a plain-text table."""
    rows = [("method", "messages", "requests", "bytes up", "bytes down", "total", "per message")]
    for m in measurements:
        rows.append(
            (
                m.method,
                str(m.messages),
                str(m.requests),
                f"{m.up:,}",
                f"{m.down:,}",
                f"{m.total:,}",
                f"{m.per_message:,.1f}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    )
