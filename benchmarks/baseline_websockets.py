"""Relay server on plain websockets 17: the Python baseline for the benchmarks.

Every message a client sends goes to every *other* client as
``Received message from peer: <message>`` through :func:`websockets.broadcast`.
The first stdout line is the URL served; then one ``Client disconnected`` line per
disconnect. Nothing is printed per message.

Usage::

    python benchmarks/baseline_websockets.py --host 127.0.0.1 --port 0
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

PREFIX = "Received message from peer: "


async def relay(websocket: ServerConnection, peers: set[ServerConnection]) -> None:
    """Forward each message from ``websocket`` to every other peer until it leaves."""
    peers.add(websocket)
    try:
        async for message in websocket:
            others = [peer for peer in peers if peer is not websocket]
            if isinstance(message, str):
                broadcast(others, PREFIX + message)
            else:
                broadcast(others, PREFIX.encode() + message)
    except ConnectionClosed:
        pass  # An abrupt disconnect is still just a disconnect.
    finally:
        peers.discard(websocket)
        print("Client disconnected", flush=True)


async def run(host: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT, printing the URL first."""
    peers: set[ServerConnection] = set()
    stop = asyncio.get_running_loop().create_future()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.cancel)

    async def handler(websocket: ServerConnection) -> None:
        await relay(websocket, peers)

    async with serve(handler, host, port, backlog=4096) as server:
        bound_port = server.sockets[0].getsockname()[1]
        print(f"ws://{host}:{bound_port}/", flush=True)
        with contextlib.suppress(asyncio.CancelledError):
            await stop


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and serve; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    asyncio.run(run(args.host, args.port))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
