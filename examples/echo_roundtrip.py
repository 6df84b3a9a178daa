"""Send one message to an echo server and print what comes back.

Run it from a terminal with ``python examples/echo_roundtrip.py``, or in a notebook after
``wslib.allow_nested_asyncio()`` with ``%run examples/echo_roundtrip.py``.
"""

import asyncio

from websockets.asyncio.client import connect

import wslib


async def main() -> None:
    async with wslib.Server(port=0, mode="echo") as server:
        async with connect(server.url) as client:
            await client.send("hello, echo")
            reply = await client.recv()
        print(f"sent 'hello, echo', got back {reply!r}")


if __name__ == "__main__":
    asyncio.run(main())
