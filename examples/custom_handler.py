"""Serve your own handler: this one answers each message with its word count.

The kit serves ``count_words`` on ``/`` the way it serves its own relay. Run it from a
terminal, or in a notebook after ``wslib.allow_nested_asyncio()`` with ``%run``.
"""

import asyncio

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection

import wslib


async def count_words(connection: ServerConnection) -> None:
    async for message in connection:
        words = len(str(message).split())
        await connection.send(f"{words} word{'' if words == 1 else 's'}")


async def main() -> None:
    async with (
        wslib.Server(port=0, handler=count_words) as server,
        connect(server.url) as client,
    ):
        for text in ("hello", "WebSockets in ten minutes"):
            await client.send(text)
            print(f"{text!r}: {await client.recv()}")


if __name__ == "__main__":
    asyncio.run(main())
