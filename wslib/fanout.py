"""Send one message to many connections: frame it once, skip the slow, write the rest.

This is the only module that reaches below websockets' public API. websockets'
``broadcast()`` builds the same frame again for every recipient and queues it whatever
the recipient's backlog. Server frames are never masked, so without extensions (the kit
turns compression off) every recipient gets the very same bytes: this module serializes
the frame once and writes it to each open transport. It also leaves out any connection
whose outgoing buffer already holds more than ``limit`` bytes, and returns those so the
server can drop them (a client that stopped reading would otherwise grow the server's
memory without bound).

What it relies on, checked by tests/test_fanout.py against websockets' own
``broadcast()``: ``connection.protocol.state``, ``connection.send_in_progress``,
``connection.protocol.extensions`` and ``connection.transport``. The supported websockets
versions are pinned in pyproject.toml to those it was tested with.
"""

from __future__ import annotations

from collections.abc import Iterable

from websockets.asyncio.server import ServerConnection, broadcast
from websockets.frames import Frame, Opcode
from websockets.protocol import OPEN

__all__ = ["fan_out", "frame_bytes"]


def frame_bytes(message: str | bytes) -> bytes:
    """Return the unmasked, unfragmented frame a server sends for ``message``."""
    if isinstance(message, str):
        return Frame(Opcode.TEXT, message.encode()).serialize(mask=False, extensions=[])
    return Frame(Opcode.BINARY, message).serialize(mask=False, extensions=[])


def fan_out(
    connections: Iterable[ServerConnection], message: str | bytes, limit: int | None
) -> list[ServerConnection]:
    """Write ``message`` to every open connection whose backlog is within ``limit`` bytes.

    Args:
        connections: The recipients.
        message: A text or binary message.
        limit: The most bytes a connection may have waiting to be sent before it is
            skipped; ``None`` for no limit.

    Returns:
        The connections that were skipped because their backlog exceeded ``limit``.
    """
    data: bytes | None = None
    slow: list[ServerConnection] = []
    for connection in connections:
        if connection.protocol.state is not OPEN or connection.send_in_progress is not None:
            continue  # closing, or in the middle of a fragmented message: as broadcast()
        transport = connection.transport
        if limit is not None and transport.get_write_buffer_size() > limit:
            slow.append(connection)
            continue
        if connection.protocol.extensions:  # a negotiated extension changes the bytes
            broadcast([connection], message)
            continue
        if data is None:
            data = frame_bytes(message)
        transport.write(data)
    return slow
