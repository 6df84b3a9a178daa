"""Tests for ``wslib.server.keepalive``: one task pings every connection, closes the silent."""

from __future__ import annotations

import asyncio
import gc
import time
import weakref
from collections import defaultdict
from collections.abc import Awaitable, Coroutine
from typing import Any

import pytest
from rawclient import RawClient, until
from support import TIMEOUT, run_async
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.typing import Data

from wslib import Server
from wslib.core.settings import Limits
from wslib.server import keepalive
from wslib.server.keepalive import TASK_NAME, Keepalive
from wslib.teaching.frames import Opcode, parse_close

SHORT = TIMEOUT / 16


def holding(opened: list[ServerConnection]) -> Server:
    """Return a server whose handler notes each connection and holds it open until it ends."""

    async def handler(connection: ServerConnection) -> None:
        opened.append(connection)
        await connection.wait_closed()

    limits = Limits(ping_interval=SHORT, ping_timeout=SHORT, close_timeout=SHORT)
    return Server(port=0, handler=handler, limits=limits)


def test_a_silent_peer_is_closed_1011_in_time_while_an_answering_peer_stays_open() -> None:
    """A peer that never answers pings gets 1011 "keepalive ping timeout"; one that does stays."""

    async def body() -> None:
        opened: list[ServerConnection] = []
        server = holding(opened)
        async with server, connect(server.url, ping_interval=None) as answering:
            began = time.monotonic()
            silent = await RawClient.connect(server.port)  # reads, never answers
            try:
                first = await silent.read_frame(4 * TIMEOUT)
                assert first is not None
                assert first.opcode is Opcode.PING
                while (frame := await silent.read_frame(4 * TIMEOUT)) is not None:
                    if frame.opcode is Opcode.CLOSE:
                        break
                assert frame is not None
                assert parse_close(frame.payload) == (1011, "keepalive ping timeout")
                assert time.monotonic() - began <= 2 * SHORT + TIMEOUT / 2
            finally:
                await silent.close()
            await until(lambda: server.clients == 1)
            assert answering.state.name == "OPEN"
            assert opened[0].latency > 0  # websockets timed its pong

    run_async(body())


def test_one_task_keeps_every_connection_alive() -> None:
    """Many connections add a task each (their handler), none for keepalive; all are pinged."""

    async def body() -> None:
        opened: list[ServerConnection] = []
        async with holding(opened) as server:
            tasks = len(asyncio.all_tasks())
            clients = [await connect(server.url, ping_interval=None) for _ in range(20)]
            try:
                await until(lambda: len(opened) == 20)
                assert len(asyncio.all_tasks()) == tasks + 20  # their handlers'
                await until(lambda: all(c.latency > 0 for c in opened), 4 * TIMEOUT)
                assert all(c.state.name == "OPEN" for c in opened)
            finally:
                await asyncio.gather(*(client.close() for client in clients))

    run_async(body())


def test_no_ping_is_sent_when_ping_interval_is_none() -> None:
    """With ``Limits(ping_interval=None)`` a silent peer is never pinged nor closed."""

    async def body() -> None:
        limits = Limits(ping_interval=None, ping_timeout=SHORT)
        async with Server(port=0, limits=limits) as server:
            silent = await RawClient.connect(server.port)
            try:
                try:
                    frame = await silent.read_frame(8 * SHORT)
                except TimeoutError:
                    frame = None
                assert frame is None
                assert server.clients == 1
            finally:
                await silent.close()

    run_async(body())


def test_stop_ends_the_keepalive_task() -> None:
    """A stopped server leaves no keepalive task running."""

    async def body() -> None:
        def running() -> list[asyncio.Task[object]]:
            return [task for task in asyncio.all_tasks() if task.get_name() == TASK_NAME]

        server = Server(port=0, limits=Limits(ping_interval=SHORT))
        await server.start()
        assert len(running()) == 1
        await server.stop()
        assert running() == []

    run_async(body())


class PingLog:
    """Record when each connection is pinged, and how many pings each batch of the task sent.

    A batch is what the keepalive task sends in one step: the first ping of a step
    schedules the batch's end with ``call_soon``, which runs before the task's next step.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.times: dict[ServerConnection, list[float]] = defaultdict(list)
        self.batches: list[int] = []
        self._batch = 0
        ping = ServerConnection.ping

        async def logged(
            connection: ServerConnection, data: Data | None = None
        ) -> Awaitable[float]:
            loop = asyncio.get_running_loop()
            if self._batch == 0:
                loop.call_soon(self._end_batch)
            self._batch += 1
            self.times[connection].append(loop.time())
            return await ping(connection, data)

        monkeypatch.setattr(ServerConnection, "ping", logged)

    def _end_batch(self) -> None:
        self.batches.append(self._batch)
        self._batch = 0

    def pinged(self, times: int) -> int:
        """Return how many connections were pinged at least ``times`` times."""
        return sum(1 for pings in self.times.values() if len(pings) >= times)


async def keep_alive(count: int, interval: float, log: PingLog) -> None:
    """Open ``count`` clients, then keep them alive until each was pinged twice."""

    async def handler(connection: ServerConnection) -> None:
        await connection.wait_closed()

    tasks: set[asyncio.Task[None]] = set()

    def spawn(coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async with serve(handler, "127.0.0.1", 0, ping_interval=None) as server:
        port = server.sockets[0].getsockname()[1]
        url = f"ws://127.0.0.1:{port}"
        clients = [await connect(url, ping_interval=None) for _ in range(count)]
        keepalive = Keepalive(server, interval, None, spawn)
        try:
            keepalive.start()
            await until(lambda: log.pinged(2) == count, 4 * TIMEOUT)
        finally:
            await keepalive.stop()
            await asyncio.gather(*(client.close() for client in clients))
    assert not tasks


def test_a_round_pings_each_connection_once_spread_over_the_interval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """All 20 connections are pinged in the first round, spread over its interval."""
    log = PingLog(monkeypatch)
    run_async(keep_alive(20, SHORT, log))
    firsts = [pings[0] for pings in log.times.values()]
    seconds = [pings[1] for pings in log.times.values()]
    assert len(firsts) == 20
    assert max(firsts) < min(seconds)  # the first round pinged them all, once each
    assert max(firsts) - min(firsts) >= SHORT / 2  # the 20th is due 19/20 of it after


def test_no_step_of_the_task_sends_more_pings_than_the_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With rounds due faster than it can ping, the task sends ``PINGS_PER_TURN`` at most."""
    monkeypatch.setattr(keepalive, "PINGS_PER_TURN", 8)
    log = PingLog(monkeypatch)
    run_async(keep_alive(40, 0.001, log))  # every connection is due at every wake-up
    assert len(log.times) == 40
    assert max(log.batches) == 8  # the bound was reached, never passed


def test_a_connection_that_closes_before_its_turn_in_a_round_is_not_kept_alive(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Connections that close while a round is under way are freed, not held until their
    ping is due (under churn that would keep an interval's worth of closed connections)."""
    began = asyncio.Event()
    ping = ServerConnection.ping

    async def noted(connection: ServerConnection, data: Data | None = None) -> Awaitable[float]:
        began.set()
        return await ping(connection, data)

    monkeypatch.setattr(ServerConnection, "ping", noted)

    async def body() -> int:
        served: list[weakref.ref[ServerConnection]] = []

        async def handler(connection: ServerConnection) -> None:
            served.append(weakref.ref(connection))
            await connection.wait_closed()

        async with serve(handler, "127.0.0.1", 0, ping_interval=None) as server:
            url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
            clients = [await connect(url, ping_interval=None) for _ in range(20)]
            # The round's 20 pings are spread over TIMEOUT / 4: most are due after this.
            keepalive = Keepalive(server, TIMEOUT / 4, None, lambda coroutine: coroutine.close())
            keepalive.start()
            try:
                await asyncio.wait_for(began.wait(), 4 * TIMEOUT)  # the first round began
                await asyncio.gather(*(client.close() for client in clients))
                await until(lambda: not server.handler_tasks)  # websockets let them go
                gc.collect()
                return sum(ref() is not None for ref in served)
            finally:
                await keepalive.stop()

    assert run_async(body()) == 0
