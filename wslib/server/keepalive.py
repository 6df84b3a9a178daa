"""Keep a server's connections alive from one task, not one task per connection.

websockets' own keepalive (``serve(ping_interval=...)``) runs a task for every connection,
and an idle connection's task, coroutine and timer cost about 1.5 kB of its memory. A
``Keepalive`` does the same work for all of a server's connections from one task, through
websockets' public API: every ``interval`` seconds it pings each open connection with
``connection.ping()`` (which records ``connection.latency`` when the pong comes), and
closes with 1011 "keepalive ping timeout" each one whose pong has not come ``timeout``
seconds later. ``wslib.core.pings`` decides who is due and who is late.

A round's pings are spread evenly over the interval, at most ``PINGS_PER_TURN`` in one
turn of the event loop: pinging 10,000 connections at once, and then reading their
10,000 pongs, held the loop up for tens of milliseconds at a time, and the many pings in
flight together outlived young collections, which made full ones of hundreds of
milliseconds (see benchmarks/README.md, "What stalls the loop").

Give websockets ``ping_interval=None`` so that it does not ping as well.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable, Coroutine
from typing import Any

from websockets.asyncio.server import Server, ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from ..core.codes import CLOSE_INTERNAL_ERROR
from ..core.display import describe_address
from ..core.pings import BATCH, PingRounds

__all__ = ["PINGS_PER_TURN", "TASK_NAME", "Keepalive"]

logger = logging.getLogger("wslib.server")

#: The most pings sent in one turn of the event loop (each costs some 30-70 µs with its
#: pong): pings gather into batches of this size, and a round that falls behind catches
#: up a batch at a time. The rules' own default, named here for the server.
PINGS_PER_TURN = BATCH

#: The name of the task that pings, one per server.
TASK_NAME = "wslib keepalive"


class Keepalive:
    """Ping every open connection of a server each ``interval``; close the silent ones.

    Usage::

        keepalive = Keepalive(ws_server, 20.0, 20.0, spawn=spawn_task)
        keepalive.start()
        ...
        await keepalive.stop()

    Args:
        server: The websockets server whose ``connections`` to keep alive.
        interval: Seconds between two pings of a connection.
        timeout: Seconds a pong may take before the connection is closed; ``None`` for
            no limit.
        spawn: Runs a coroutine in a task the server waits for when it stops (the closes).
    """

    def __init__(
        self,
        server: Server,
        interval: float,
        timeout: float | None,
        spawn: Callable[[Coroutine[Any, Any, None]], None],
    ) -> None:
        self._server = server
        self._spawn = spawn
        self._rounds: PingRounds[ServerConnection] = PingRounds(
            interval, timeout, 0.0, batch=PINGS_PER_TURN
        )
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the task, on the running loop."""
        loop = asyncio.get_running_loop()
        rounds = self._rounds
        self._rounds = PingRounds(rounds.interval, rounds.timeout, loop.time(), batch=rounds.batch)
        self._task = loop.create_task(self._run(), name=TASK_NAME)

    async def stop(self) -> None:
        """Stop the task and wait until it has ended."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        rounds = self._rounds
        # The round's connections, in the order of their pings, held weakly: one that
        # closes before its turn is freed at once, not an interval later.
        peers: list[weakref.ref[ServerConnection] | None] = []
        while True:
            await asyncio.sleep(max(0.0, rounds.wake_at() - loop.time()))
            now = loop.time()
            for connection in rounds.overdue(now):
                if connection.transport.is_closing():
                    continue  # closing already: websockets will not be hurried
                logger.info(
                    "closed %s: no pong within %ss",
                    describe_address(connection.remote_address),
                    rounds.timeout,
                )
                self._spawn(connection.close(CLOSE_INTERNAL_ERROR, "keepalive ping timeout"))
            if rounds.due(now):
                peers = [weakref.ref(connection) for connection in self._server.connections]
                rounds.begin(now, len(peers))
            for index in rounds.take(now):
                peer, peers[index] = peers[index], None
                if peer is not None:
                    await self._ping_one(peer, rounds)

    async def _ping_one(
        self, peer: weakref.ref[ServerConnection], rounds: PingRounds[ServerConnection]
    ) -> None:
        connection = peer()  # a local of this call only: the task's own frame keeps none
        if connection is None or connection.state is not State.OPEN:
            return  # closed since the round began
        if rounds.waiting(connection):
            return  # its last pong is still due
        rounds.pinged(connection, asyncio.get_running_loop().time())
        transport = connection.transport
        low, _ = transport.get_write_buffer_limits()
        if transport.get_write_buffer_size() > low:
            # Its writes may be paused: ping() waits for them to resume, and must not hold
            # up everyone else's. The ping's deadline still runs.
            self._spawn(self._ping(connection, rounds))
        else:
            await self._ping(connection, rounds)  # returns without waiting

    async def _ping(
        self, connection: ServerConnection, rounds: PingRounds[ServerConnection]
    ) -> None:
        try:
            pong = await connection.ping()
        except ConnectionClosed:
            rounds.answered(connection)
            return
        except Exception:  # a ping must never stop the others': log it and go on
            logger.exception(
                "keepalive ping failed for %s", describe_address(connection.remote_address)
            )
            rounds.answered(connection)
            return
        asyncio.ensure_future(pong).add_done_callback(lambda _: rounds.answered(connection))
