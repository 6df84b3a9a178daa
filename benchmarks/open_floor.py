"""The least a Python server can do to open a WebSocket connection: floors for open_cost.py.

Not a server to use. It answers every opening handshake with 101 and then leaves the
connection idle: it sends nothing and relays nothing. Each ``--handshake`` adds one layer:

- ``key`` does less than any real server: it finds ``Sec-WebSocket-Key`` and answers it
  with ``websockets.utils.accept_key``, checking nothing. What it costs per connection
  opened is what the event loop (asyncio, or uvloop) costs.
- ``websockets`` runs websockets' own handshake: its sans-I/O ``ServerProtocol`` parses the
  request, checks it and writes the response, with none of ``websockets.asyncio``'s
  connection, tasks and timers around it.
- ``serve`` is ``websockets.asyncio.server.serve`` set as ``wslib serve`` sets it (no
  compression, no keepalive task per connection), with a handler that waits for the
  close: websockets' whole asyncio server, without the kit.

Usage (the first stdout line is the URL; SIGTERM stops it)::

    python benchmarks/open_floor.py --handshake key --port 0
    python benchmarks/open_floor.py --handshake websockets --uvloop --port 0
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
from typing import Any, cast

from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as websockets_serve
from websockets.http11 import Request
from websockets.server import ServerProtocol
from websockets.utils import accept_key

KEY = b"\r\nsec-websocket-key:"
RESPONSE = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: %s\r\n\r\n"
)


class KeyOnly(asyncio.Protocol):
    """Answer the first request's key with 101; take nothing else from the connection."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.head: bytes | None = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self.head is None or self.transport is None:
            return  # answered: what follows is ignored
        head = self.head + data
        end = head.find(b"\r\n\r\n")
        if end < 0:
            self.head = head
            return
        self.head = None
        start = head.lower().find(KEY)
        if start < 0:
            self.transport.close()
            return
        start += len(KEY)
        key = head[start : head.index(b"\r\n", start)].strip().decode()
        self.transport.write(RESPONSE % accept_key(key).encode())


class SansIO(asyncio.Protocol):
    """Open the connection with websockets' sans-I/O server protocol, then ignore it."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.protocol = ServerProtocol()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        protocol = self.protocol
        protocol.receive_data(data)
        for event in protocol.events_received():
            if isinstance(event, Request):
                protocol.send_response(protocol.accept(event))
        out = protocol.data_to_send()
        if out and self.transport is not None:
            self.transport.write(b"".join(out))


HANDSHAKES: dict[str, type[asyncio.Protocol]] = {"key": KeyOnly, "websockets": SansIO}


async def wait_closed(connection: ServerConnection) -> None:
    """Hold the connection until it closes (``serve``'s handler)."""
    await connection.wait_closed()


async def serve(handshake: str, host: str, port: int) -> None:
    """Serve until the process is stopped, printing the URL first."""
    if handshake == "serve":
        options: dict[str, Any] = {"compression": None, "ping_interval": None, "backlog": 4096}
        async with websockets_serve(wait_closed, host, port, **options) as server:
            print(f"ws://{host}:{server.sockets[0].getsockname()[1]}/", flush=True)
            await asyncio.Event().wait()
        return
    loop = asyncio.get_running_loop()
    plain = await loop.create_server(HANDSHAKES[handshake], host, port, backlog=4096)
    print(f"ws://{host}:{plain.sockets[0].getsockname()[1]}/", flush=True)
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and serve; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--handshake", choices=[*HANDSHAKES, "serve"], default="websockets")
    parser.add_argument("--uvloop", action="store_true", help="on uvloop's event loop")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    factory = importlib.import_module("uvloop").new_event_loop if args.uvloop else None
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(serve(args.handshake, args.host, args.port))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
