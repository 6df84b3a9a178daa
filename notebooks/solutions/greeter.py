# Our solution to "greet newcomers" in 01-websockets-in-ten-minutes.ipynb.
# broadcast() is websockets' way to send one message to many connections: it skips those
# that are closing, as the article's Node.js server checks readyState before each send.
from websockets.asyncio.server import broadcast

people = set()


async def greeter(connection):
    people.add(connection)
    try:
        count = len(people)
        here = "1 person is" if count == 1 else f"{count} people are"
        await connection.send(f"Welcome! {here} here.")
        async for message in connection:
            broadcast(people - {connection}, f"Received message from peer: {message}")
    finally:
        people.discard(connection)
