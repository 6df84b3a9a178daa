"""Send one message to many connections: frame it once, skip the slow, write once per turn.

This is the only module that reaches below websockets' public API. websockets'
``broadcast()`` builds the same frame again for every recipient, queues it whatever the
recipient's backlog, and writes it at once: one ``send()`` system call per recipient per
message, which is where a busy relay spends most of its time. This module instead:

1. serializes the frame once: server frames are never masked, so without extensions (the
   kit turns compression off) every recipient gets the very same bytes;
2. leaves out any connection whose bytes waiting to be sent already exceed ``limit``, and
   returns those so the server can drop them (a client that stopped reading would
   otherwise grow the server's memory without bound);
3. holds the frames for each connection until the end of the current turn of the event
   loop, then writes them with one ``transport.write()``: when a sender's burst of
   messages arrives in one read, each recipient gets the burst in one system call. A
   connection's frames go out early once they reach ``FLUSH_AT`` bytes, and are dropped
   if the connection started closing meanwhile (no data may follow a close frame).

What it relies on, checked by tests/test_fanout.py against websockets' own
``broadcast()``: ``connection.protocol.state``, ``connection.send_in_progress``,
``connection.protocol.extensions`` and ``connection.transport``. The supported websockets
versions are pinned in pyproject.toml to those it was tested with.

One more shortcut lives here because it, too, leans on how websockets works inside:
``shed_handshake`` lets an open relay connection forget its opening handshake's response,
which websockets would otherwise keep, headers and all, for the connection's whole life.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from websockets.asyncio.server import ServerConnection, broadcast
from websockets.frames import Frame, Opcode
from websockets.protocol import OPEN

__all__ = ["FLUSH_AT", "fan_out", "flush", "frame_bytes", "shed_handshake"]

logger = logging.getLogger("wslib.fanout")

# Frames held for one connection are written as soon as they reach this many bytes: the
# kernel's send buffer takes them at once, and a burst never waits in Python memory.
FLUSH_AT = 64 * 1024


class _Held:
    """The frames held for one connection until the end of this loop turn."""

    __slots__ = ("backlog", "chunks", "size")

    def __init__(self, data: bytes, backlog: int) -> None:
        self.chunks = [data]
        self.size = len(data)
        self.backlog = backlog  # the transport's, when the first frame was held


# Per event loop (a notebook's background loop and a test's loop may both serve): the
# frames held for each connection. An entry lives for one loop turn; flush() removes it.
_held: dict[asyncio.AbstractEventLoop, dict[ServerConnection, _Held]] = {}


def frame_bytes(message: str | bytes) -> bytes:
    """Return the unmasked, unfragmented frame a server sends for ``message``."""
    if isinstance(message, str):
        return Frame(Opcode.TEXT, message.encode()).serialize(mask=False, extensions=[])
    return Frame(Opcode.BINARY, message).serialize(mask=False, extensions=[])


def fan_out(
    connections: Iterable[ServerConnection], message: str | bytes, limit: int | None
) -> list[ServerConnection]:
    """Send ``message`` to every open connection whose backlog is within ``limit`` bytes.

    The frames reach the transports at the end of this turn of the event loop (or at
    once, past ``FLUSH_AT`` bytes), so it must run on the loop that serves the
    connections. Call ``flush()`` to write them sooner.

    Args:
        connections: The recipients.
        message: A text or binary message.
        limit: The most bytes a connection may have waiting to be sent, in its transport
            and held here, before it is skipped; ``None`` for no limit.

    Returns:
        The connections that were skipped because their backlog exceeded ``limit``.
    """
    loop = asyncio.get_running_loop()
    held = _held.get(loop)
    if held is None:
        for closed in [other for other in _held if other.is_closed()]:
            del _held[closed]  # it stopped before its flush ran: let it and its clients go
        held = _held[loop] = {}
        loop.call_soon(_flush_loop, loop)
    data = frame_bytes(message)
    slow: list[ServerConnection] = []
    # This loop runs once per recipient per message: keep it short.
    for connection in connections:
        protocol = connection.protocol
        if protocol.state is not OPEN or connection.send_in_progress is not None:
            continue  # closing, or in the middle of a fragmented message: as broadcast()
        mine = held.get(connection)
        if mine is not None:  # more in this turn: the transport's backlog is already known
            if limit is not None and mine.backlog + mine.size > limit:
                slow.append(connection)
                continue
            mine.chunks.append(data)
            mine.size += len(data)
            if mine.size >= FLUSH_AT:
                del held[connection]
                _write(connection, mine.chunks)
            continue
        backlog = connection.transport.get_write_buffer_size()
        if limit is not None and backlog > limit:
            slow.append(connection)
        elif protocol.extensions:  # a negotiated extension changes the bytes; never held
            broadcast([connection], message)
        elif len(data) < FLUSH_AT:
            held[connection] = _Held(data, backlog)
        else:
            connection.transport.write(data)
    return slow


def flush() -> None:
    """Write the frames ``fan_out`` holds on the running loop now, in order."""
    _flush_loop(asyncio.get_running_loop())


def _flush_loop(loop: asyncio.AbstractEventLoop) -> None:
    last: list[bytes] = []
    joined = b""
    for connection, mine in _held.pop(loop, {}).items():
        if connection.protocol.state is not OPEN:
            continue  # it sent or received a close frame: no data may follow
        if mine.chunks != last:  # usually all recipients got the same burst: join it once
            last = mine.chunks
            joined = last[0] if len(last) == 1 else b"".join(last)
        _write(connection, joined)


def _write(connection: ServerConnection, data: bytes | list[bytes]) -> None:
    if isinstance(data, list):
        data = b"".join(data)
    try:
        connection.transport.write(data)
    except Exception:  # e.g. a transport already shut: the others must still get theirs
        logger.exception("could not write %d bytes to a connection", len(data))


def shed_handshake(connection: ServerConnection) -> None:
    """Let an open connection forget the response it sent in the opening handshake.

    websockets keeps ``connection.response`` after the handshake, though it never reads
    it again; its headers are about 1.6 kB of an idle connection's 15 kB. The request
    stays: the server routes by its path.
    """
    connection.response = None
