"""Feed a ``Flow`` (``wslib.core.flow``) from the server's connections.

The server calls these only while it has a flow (``Server.flow``), so a server without
one pays nothing but an ``is not None`` check per message. They read what the flow needs
from a websockets connection: its address and route when it opens, which recipients a
fan-out really wrote to, and how it closed once it has closed.
"""

from __future__ import annotations

from collections.abc import Sequence

from websockets.asyncio.server import ServerConnection
from websockets.protocol import OPEN

from ..core.flow import Flow
from ..core.routes import classify

__all__ = ["close_of", "closed", "opened", "peer", "written"]


def peer(connection: ServerConnection) -> str:
    """Return the client's address as ``host:port``, as its own socket names it."""
    address = connection.remote_address
    return f"{address[0]}:{address[1]}" if address else ""


def opened(flow: Flow, node: object, connection: ServerConnection, *, drawn: bool = True) -> None:
    """Record that ``connection`` opened on ``node`` (``drawn=False``: it was already open)."""
    request = connection.request
    route = classify(request.path, "websocket").value if request is not None else ""
    flow.opened(node, connection, peer(connection), route, drawn=drawn)


def written(
    recipients: Sequence[ServerConnection], slow: Sequence[ServerConnection]
) -> list[ServerConnection]:
    """Return the recipients a fan-out wrote to: open ones it did not skip as ``slow``."""
    return [c for c in recipients if c.protocol.state is OPEN and c not in slow]


def close_of(connection: ServerConnection) -> tuple[int | None, bool | None]:
    """Return the close code of a closed connection and whether the server closed first.

    ``(None, None)`` means that no close frame went either way: the connection dropped.
    """
    protocol = connection.protocol
    sent, received = protocol.close_sent, protocol.close_rcvd
    if sent is not None and (received is None or not protocol.close_rcvd_then_sent):
        return sent.code, True
    if received is not None:
        return received.code, False
    return None, None


async def closed(flow: Flow, node: object, connection: ServerConnection) -> None:
    """Wait until ``connection`` has closed, then record how."""
    await connection.wait_closed()
    code, by_server = close_of(connection)
    flow.closed(node, connection, code, by_server=by_server)
