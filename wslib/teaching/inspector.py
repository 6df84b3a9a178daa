"""A live wire inspector: a loopback proxy that records every byte a connection carries.

A ``WireTap`` listens on a port of its own and forwards each connection to the server it
watches, byte for byte, in both directions. It reads a copy of what passes through a
``WireLog`` (see ``wslib.wirelog``), so it sees exactly what the client and the server
wrote: the HTTP handshake, then every frame with its FIN, opcode, mask and length. Point a
client at ``tap.url`` instead of the server's URL; nothing else changes.

Usage in a script::

    server = wslib.start(port=0)
    tap = WireTap(server.url)
    with wslib.SyncClient(tap.url) as alice, wslib.SyncClient(server.url) as bob:
        alice.send("hello")
        bob.recv(timeout=5)
    tap.wait_closed()
    print(tap.table())

In a notebook, ``wslib.InspectorView(tap)`` shows the same table and keeps it up to date. The
tap runs on the kit's background loop, and ``wslib.stop_all()`` stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from ..core.lifetime import StopOnExit
from ..sync import runtime
from .wirelog import ConnectionLog, Direction, WireEvent, WireLog

__all__ = ["WireTap"]

logger = logging.getLogger("wslib.inspector")

Listener = Callable[[WireEvent], None]

_CHUNK = 64 * 1024
_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 10.0


class WireTap(StopOnExit):
    """Forward connections to a WebSocket server and record everything they carry.

    Listeners (``subscribe``) and the predicates given to ``wait_for`` run on the kit's
    loop, in the order the bytes arrived: a frame is recorded before it is passed on, so
    once a client has received a message, the tap has recorded it.

    Args:
        target: The server to watch, e.g. ``server.url``; ``ws://`` only, since the bytes
            of ``wss://`` are encrypted.
        host: The address the tap listens on.
        port: The port the tap listens on; 0 picks a free one.
        clock: Returns the current time in seconds; for tests.
        name: A running tap of the same name is stopped first, so that re-running a
            notebook cell replaces its tap instead of adding one (``None``: none is).

    Raises:
        ValueError: ``target`` is not a ``ws://`` URL.
    """

    def __init__(
        self,
        target: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
        name: str | None = None,
    ) -> None:
        parts = urlsplit(target)
        if parts.scheme != "ws" or parts.hostname is None:
            raise ValueError(f"a tap can watch ws:// URLs only, not {target!r}")
        self.name = name
        if name is not None:
            for earlier in runtime.running():
                if isinstance(earlier, WireTap) and earlier.name == name:
                    earlier.stop()
        self.target = target
        self.host, self.port = host, port
        self.log = WireLog(clock)
        self._target = (parts.hostname, parts.port or 80)
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._listeners: list[Listener] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._changed: asyncio.Event | None = None
        runtime.run(self._start(), _START_TIMEOUT)
        runtime.remember(self)

    # -- what a cell or script uses ------------------------------------------------------

    @property
    def url(self) -> str:
        """Return the URL a client connects to instead of the target's."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}{self._path}"

    @property
    def running(self) -> bool:
        """Return whether the tap is listening."""
        return self._server is not None

    @property
    def events(self) -> list[WireEvent]:
        """Return every event recorded so far, oldest first."""
        return list(self.log.events)

    @property
    def frames(self) -> list[WireEvent]:
        """Return the events that are frames, oldest first."""
        return self.log.frames

    def table(self, last: int | None = None) -> str:
        """Return the events as a plain-text table; ``last`` keeps only the latest ones."""
        return self.log.table(last)

    def dump(self, last: int | None = None) -> None:
        """Print the table of events, for scripts."""
        print(self.table(last))

    def handshake(self, conn: int = 1) -> str:
        """Return the HTTP request and response heads of connection ``conn`` (from 1)."""
        return self.log.handshake(conn)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(event)`` on the kit's loop for each new event; return an unsubscribe."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def wait_for(self, predicate: Callable[[], bool], timeout: float | None = 10.0) -> None:
        """Block until ``predicate()`` holds; it is checked after each batch of events.

        Raises:
            TimeoutError: It did not hold within ``timeout`` seconds.
        """
        runtime.run(self._wait(predicate), timeout)

    def wait_closed(self, timeout: float | None = 10.0) -> None:
        """Block until no connection is passing through the tap (at once if none is)."""
        self.wait_for(lambda: not self._tasks, timeout)

    def stop(self) -> None:
        """Stop listening, cut the connections still open, and forget this tap."""
        if self._server is not None:
            runtime.run(self._stop(), _STOP_TIMEOUT)
        runtime.forget(self)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<WireTap {self.url} -> {self.target} {state}>"

    # -- on the kit's loop ---------------------------------------------------------------

    async def _start(self) -> None:
        self._changed = asyncio.Event()
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await server.wait_closed()

    async def _wait(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            assert self._changed is not None
            await self._changed.wait()

    def _publish(self, events: Iterable[WireEvent]) -> None:
        for event in events:
            for listener in list(self._listeners):
                try:
                    listener(event)
                except Exception:  # a broken view must not break the connection
                    logger.exception("wire tap listener %r failed", listener)
        self._wake()

    def _wake(self) -> None:
        # Waiters hold the old event; a fresh one is ready for the next batch.
        changed, self._changed = self._changed, asyncio.Event()
        if changed is not None:
            changed.set()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        wire = self.log.connection()
        try:
            try:
                up_reader, up_writer = await asyncio.open_connection(*self._target)
            except OSError as exc:
                self._publish(wire.fail(Direction.TO_SERVER, f"cannot reach the server: {exc}"))
                return
            self._writers.add(up_writer)
            await asyncio.gather(
                self._pump(wire, Direction.TO_SERVER, reader, up_writer),
                self._pump(wire, Direction.TO_CLIENT, up_reader, writer),
            )
            await _close(up_writer)
            self._writers.discard(up_writer)
        except Exception:
            logger.exception("wire tap connection %d failed", wire.conn)
        finally:
            await _close(writer)
            self._writers.discard(writer)
            self._tasks.discard(task)
            self._wake()

    async def _pump(
        self,
        wire: ConnectionLog,
        direction: Direction,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        """Copy bytes one way until the end, recording each chunk before passing it on."""
        try:
            while data := await reader.read(_CHUNK):
                self._publish(wire.feed(direction, data))
                writer.write(data)
                await writer.drain()
            self._publish(wire.feed_eof(direction))
            if writer.can_write_eof():
                writer.write_eof()  # half-close, as the sender did: the other way may go on
        except OSError as exc:  # a reset, or the tap is stopping
            self._publish(wire.fail(direction, f"connection lost: {exc or type(exc).__name__}"))
            writer.transport.abort()  # so that the other direction ends too


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
