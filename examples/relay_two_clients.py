"""Start the article's relay and pass a message between two clients.

Alice's message reaches Bob with the article's prefix; Alice gets nothing back. Run it
from a terminal, or in a notebook after ``wslib.allow_nested_asyncio()`` with ``%run``.
"""

import asyncio

from websockets.asyncio.client import connect

import wslib


async def main() -> None:
    async with (
        wslib.Server(port=0) as server,
        connect(server.url) as alice,
        connect(server.url) as bob,
    ):
        await alice.send("hi Bob")
        print(f"Bob got: {await bob.recv()}")
        await bob.send("hi Alice")
        print(f"Alice got: {await alice.recv()}")
    print("The server logged:")
    for line in server.log.lines:
        print(f"  {line}")


if __name__ == "__main__":
    asyncio.run(main())
