"""Count the bytes that cross TCP connections, both ways, with a small relaying proxy.

A ``ByteMeter`` listens on a port of its own and passes each connection on to a server,
counting every byte it relays. Point a client at the meter instead of the server and you
see what that client and server really sent each other: request lines, headers, bodies,
WebSocket handshakes and frames. It counts TCP payload; the TCP/IP headers that the
operating system adds to each packet (40 bytes or more) are not included.

Usage::

    meter = ByteMeter(server_port)
    await meter.start()
    ...                     # connect clients to meter.port
    await meter.idle()      # every relayed connection has ended
    print(meter.up, meter.down)
    await meter.stop()
"""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["ByteMeter"]

_CHUNK = 65536


class ByteMeter:
    """Relay TCP connections from ``port`` to ``target_port`` and count the bytes.

    Args:
        target_port: The server's port.
        host: The address of the server, and the one the meter listens on.

    Attributes:
        up: Bytes relayed from clients to the server so far.
        down: Bytes relayed from the server to clients so far.
        connections: How many connections the meter has accepted.
    """

    def __init__(self, target_port: int, host: str = "127.0.0.1") -> None:
        self.target_port, self.host = target_port, host
        self.port = 0
        self.up = self.down = self.connections = 0
        self._server: asyncio.Server | None = None
        self._active: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Listen on a free port (read it back from ``port``)."""
        self._server = await asyncio.start_server(self._relay, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def idle(self) -> None:
        """Wait until every connection the meter relayed has closed on both sides."""
        while self._active:
            await asyncio.gather(*self._active, return_exceptions=True)

    async def stop(self) -> None:
        """Stop listening and cut the connections still open."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in self._active:
            task.cancel()
        await self.idle()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._active.add(task)
        self.connections += 1
        upstream: asyncio.StreamWriter | None = None
        try:
            server_reader, upstream = await asyncio.open_connection(self.host, self.target_port)
            await asyncio.gather(
                self._pipe(reader, upstream, up=True), self._pipe(server_reader, writer, up=False)
            )
        except OSError:
            pass
        finally:
            for side in (writer, upstream):
                if side is not None:
                    side.close()
            self._active.discard(task)

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, up: bool
    ) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(_CHUNK):
                # Count before writing: once the far side has the bytes, the count has them.
                if up:
                    self.up += len(data)
                else:
                    self.down += len(data)
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()  # pass the half-close on, as TCP would
