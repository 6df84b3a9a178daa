# Our solution to "refuse a message too long" in 05-when-things-go-wrong.ipynb.
from websockets.asyncio.server import broadcast

people = set()


async def guard(connection):
    people.add(connection)
    try:
        async for message in connection:
            if len(message) > 100:
                await connection.close(1009, "message too big")  # unsent, to anyone
                break
            broadcast(people - {connection}, f"Received message from peer: {message}")
    finally:
        people.discard(connection)
