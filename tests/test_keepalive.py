"""Tests for ``wslib.server.keepalive``: one task pings every connection, closes the silent."""

from __future__ import annotations

import asyncio
import time

from rawclient import RawClient, until
from support import TIMEOUT, run_async
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection

from wslib import Server
from wslib.core.settings import Limits
from wslib.server.keepalive import TASK_NAME
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
