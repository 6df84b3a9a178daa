"""Serve and fetch a stream of messages over plain HTTP/1.1, by short or long polling.

A ``Feed`` holds the messages published so far. A ``PollServer`` answers two requests on
kept-alive connections, both with a JSON list of texts:

1. ``GET /poll?after=N`` answers at once with the messages after the first N (short polling);
2. ``GET /wait?after=N`` holds the request until there is at least one (long polling).

A ``Poller`` is the matching client on one connection. Nothing here measures anything;
``wslib.polling`` puts a ``ByteMeter`` in between and counts. Usage::

    feed = Feed()
    server = PollServer(feed)
    poller = Poller(await server.start(), headers={})
    feed.publish(["hello"])
    await poller.get("/poll", after=0)  # ["hello"]
    await poller.close()
    await server.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import time
from collections.abc import Callable, Mapping, Sequence

__all__ = ["Feed", "PollServer", "Poller", "Signal"]


class Signal:
    """Wake waiters whenever something changed; they re-check their own condition."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        """Wake every waiter once."""
        self._event.set()
        self._event = asyncio.Event()

    async def until(self, predicate: Callable[[], bool]) -> None:
        """Return as soon as ``predicate()`` is true, checking again after each ``notify``."""
        while not predicate():
            await self._event.wait()


class Feed:
    """The messages published so far, with when each was published.

    Attributes:
        texts: Every message, in order.
        times: ``time.perf_counter()`` at which each message was published.
        changed: Notified after each ``publish``.
    """

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.times: list[float] = []
        self.changed = Signal()

    def publish(self, texts: Sequence[str]) -> None:
        """Append ``texts``, all stamped with the same moment, and wake the waiters."""
        now = time.perf_counter()
        self.texts.extend(texts)
        self.times.extend(now for _ in texts)
        self.changed.notify()

    async def beyond(self, count: int) -> None:
        """Return once more than ``count`` messages have been published."""
        await self.changed.until(lambda: len(self.texts) > count)


class PollServer:
    """Answer ``/poll`` and ``/wait`` requests for a ``Feed`` on 127.0.0.1.

    Attributes:
        feed: Where the messages come from.
        requests: Requests answered or parked so far.
        parked: Long polls waiting for a message right now.
        changed: Notified each time a long poll parks.
    """

    def __init__(self, feed: Feed) -> None:
        self.feed = feed
        self.requests = self.parked = 0
        self.changed = Signal()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        """Listen on a free port and return it."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Close the listener and every connection, parked long polls included."""
        assert self._server is not None
        self._server.close()
        for task in self._tasks:
            task.cancel()  # a parked long poll would otherwise wait for ever
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path, _, query = head.split(b" ", 2)[1].decode().partition("?")
                after = int(query.removeprefix("after="))
                self.requests += 1
                if path == "/wait":
                    self.parked += 1
                    self.changed.notify()
                    try:
                        await self.feed.beyond(after)
                    finally:
                        self.parked -= 1
                body = json.dumps(self.feed.texts[after:]).encode()
                writer.write(_response(body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client went away: nothing more to serve
        finally:
            writer.close()
            self._tasks.discard(task)


def _response(body: bytes) -> bytes:
    # An origin server with a clock must send Date (RFC 9110, section 6.6.1); its text
    # always has the same length, so byte counts stay the same from run to run.
    head = (
        "HTTP/1.1 200 OK\r\n"
        f"Date: {email.utils.formatdate(usegmt=True)}\r\n"
        "Content-Type: application/json\r\n"
        "Cache-Control: no-store\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class Poller:
    """An HTTP/1.1 client on one kept-alive connection, opened on the first request.

    Args:
        port: The port of a ``PollServer`` (or of a meter in front of one) on 127.0.0.1.
        headers: Extra request headers sent with every request.
    """

    def __init__(self, port: int, headers: Mapping[str, str]) -> None:
        self.port, self.headers = port, headers
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def get(self, path: str, after: int) -> list[str]:
        """Request ``path`` (``/poll`` or ``/wait``) for the messages after the first ``after``.

        Returns:
            The texts of the answer, possibly none for ``/poll``.
        """
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self._reader is not None
        lines = [f"GET {path}?after={after} HTTP/1.1", f"Host: 127.0.0.1:{self.port}"]
        lines += [f"{name}: {value}" for name, value in self.headers.items()]
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = await self._reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        texts: list[str] = json.loads(await self._reader.readexactly(length))
        return texts

    async def close(self) -> None:
        """Close the connection, if one was opened."""
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
