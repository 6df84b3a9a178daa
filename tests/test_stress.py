"""Bounded stress: hundreds of clients come and go while thousands of messages flow.

Clients that stay must get every message exactly once and in each sender's order, and
once everyone has gone the server must hold no connection, task or descriptor.
"""

from __future__ import annotations

import asyncio
import os
import resource
from collections.abc import Iterator

import pytest
from rawclient import until
from support import TIMEOUT, run_async
from websockets.asyncio.client import ClientConnection, connect

from wslib import ChatClient, Server
from wslib.core.settings import Limits

CHURNERS = 500
WAVE = 50
STAYERS = 4
PER_STAYER = 600  # 2400 messages in all


@pytest.fixture(autouse=True)
def descriptors() -> Iterator[None]:
    """Raise the soft descriptor limit for the test: each connection costs two here."""
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("counting descriptors needs /proc/self/fd (Linux)")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 4 * (WAVE + STAYERS) + 256
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.skip(f"needs {needed} file descriptors; the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def churn(url: str, waves: int, wave: int) -> int:
    """Connect ``wave`` clients at once, then make them leave (some abruptly); repeat."""
    done = 0
    for number in range(waves):
        # They never read: an unbounded receive queue keeps them from pausing, so that
        # their closing handshake is not stuck behind unread messages.
        clients = await asyncio.gather(*(connect(url, max_queue=None) for _ in range(wave)))
        for index, client in enumerate(clients):
            if (index + number) % 3 == 0:
                client.transport.abort()  # gone without a goodbye
        await asyncio.gather(*(client.close() for client in clients))
        done += len(clients)
    return done


async def receive(client: ClientConnection, count: int) -> list[str]:
    """Return the next ``count`` messages ``client`` receives."""
    return [str(await client.recv()) for _ in range(count)]


@pytest.mark.slow
def test_relay_loses_and_repeats_nothing_while_500_clients_come_and_go() -> None:
    """2400 relayed messages reach the 4 clients that stay exactly once, in order; no leaks."""

    async def body() -> None:
        async with Server(port=0) as server:
            tasks, fds = len(asyncio.all_tasks()), len(os.listdir("/proc/self/fd"))
            stayers = [await connect(server.url) for _ in range(STAYERS)]
            receivers = [
                asyncio.create_task(receive(c, (STAYERS - 1) * PER_STAYER)) for c in stayers
            ]

            async def talk(number: int, client: ClientConnection) -> None:
                for i in range(PER_STAYER):
                    await client.send(f"{number}:{i}")
                    if i % 50 == 0:
                        await asyncio.sleep(0)  # let the churn in between sends

            churning = asyncio.create_task(churn(server.url, CHURNERS // WAVE, WAVE))
            await asyncio.gather(*(talk(n, c) for n, c in enumerate(stayers)))
            assert await asyncio.wait_for(churning, 3 * TIMEOUT) == CHURNERS
            received = await asyncio.wait_for(asyncio.gather(*receivers), 3 * TIMEOUT)
            for number, got in enumerate(received):
                expected = {
                    f"Received message from peer: {other}:{i}"
                    for other in range(STAYERS)
                    if other != number
                    for i in range(PER_STAYER)
                }
                assert len(got) == len(set(got)) == len(expected)
                assert set(got) == expected
                for other in range(STAYERS):  # each sender's messages in the order sent
                    mine = [m for m in got if m.startswith(f"Received message from peer: {other}:")]
                    assert mine == sorted(mine, key=lambda m: int(m.rsplit(":", 1)[1]))
            await asyncio.gather(*(c.close() for c in stayers))
            await until(lambda: server.clients == 0, TIMEOUT)
            await until(lambda: len(asyncio.all_tasks()) <= tasks, TIMEOUT)
            await until(lambda: len(os.listdir("/proc/self/fd")) <= fds, TIMEOUT)

    run_async(body(), timeout=8 * TIMEOUT)


@pytest.mark.slow
def test_chat_keeps_presence_and_messages_right_while_200_clients_come_and_go() -> None:
    """In the chat, stayers see each message once while 200 others join and leave; no leaks."""
    per_stayer = 150

    async def body() -> None:
        # The rate limit is a per-client policy; here three clients talk as fast as they can.
        async with Server(port=0, replay=10, limits=Limits(chat_rate=None)) as server:
            tasks, fds = len(asyncio.all_tasks()), len(os.listdir("/proc/self/fd"))
            names = [f"stayer{n}" for n in range(3)]
            stayers = [ChatClient(server.chat_url, n, reconnect=False) for n in names]
            for stayer in stayers:
                await stayer.start(TIMEOUT)

            async def visit(number: int) -> None:
                visitor = ChatClient(server.chat_url, f"visitor{number}", reconnect=False)
                await visitor.start(TIMEOUT)
                await visitor.stop()

            async def visits() -> None:
                for wave in range(200 // 25):
                    await asyncio.gather(*(visit(wave * 25 + i) for i in range(25)))

            async def talk(stayer: ChatClient) -> None:
                for i in range(per_stayer):
                    await stayer.send(f"{stayer.name} {i}")

            visiting = asyncio.create_task(visits())
            await asyncio.gather(*(talk(s) for s in stayers))
            await asyncio.wait_for(visiting, 3 * TIMEOUT)
            total = 3 * per_stayer
            for stayer in stayers:
                await stayer.wait_for(lambda s=stayer: len(s.messages) == total, 3 * TIMEOUT)
                await stayer.wait_for(lambda s=stayer: sorted(s.online) == names, TIMEOUT)
                texts = [m["text"] for m in stayer.messages]
                assert len(set(texts)) == total
                for name in names:
                    theirs = [t for t in texts if t.startswith(f"{name} ")]
                    assert theirs == [f"{name} {i}" for i in range(per_stayer)]
            for stayer in stayers:
                await stayer.stop()
            await until(lambda: server.clients == 0, TIMEOUT)
            assert server.room.online == []
            await until(lambda: len(asyncio.all_tasks()) <= tasks, TIMEOUT)
            await until(lambda: len(os.listdir("/proc/self/fd")) <= fds, TIMEOUT)

    run_async(body(), timeout=8 * TIMEOUT)
