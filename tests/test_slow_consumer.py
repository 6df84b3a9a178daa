"""A client that stops reading is dropped; everyone else, even a slow reader, gets everything.

The server's side is what counts here: a stuck client may only ever see its connection
vanish (1006). The tests measure the server's outgoing backlog for each connection right
after every write, by wrapping the ``write`` of each server connection's transport, which
every write goes through, whichever path of ``Fanout`` made it. The wrapper also shrinks
the kernel send buffer of the server's end of a chosen connection, which Linux otherwise
grows to megabytes on loopback: its backlog then builds up after a few kilobytes, as on a
slow network, and the tests need to send little.
"""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest
from rawclient import RawClient, until
from support import TIMEOUT, run_async
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection

from wslib import ChatClient, Server
from wslib.core.settings import Limits

KIB = 1024


class BacklogSpy:
    """Record the largest outgoing backlog the server ever had for each connection."""

    def __init__(self) -> None:
        self.peak: dict[int, int] = {}
        self.slow_ports: set[int] = set()

    def slow_network(self, client_port: int) -> None:
        """Give the server's end of the connection from ``client_port`` a tiny send buffer."""
        self.slow_ports.add(client_port)

    def watch(self, connection: ServerConnection) -> None:
        """Measure ``connection``'s backlog after each write to its transport."""
        transport = connection.transport
        write, key, port = transport.write, connection.id.int, connection.remote_address[1]
        shrunk = False

        def measured(data: bytes | bytearray | memoryview) -> None:
            nonlocal shrunk
            # The test names a slow port once its handshake is done, after the first write.
            if not shrunk and port in self.slow_ports:
                sock = transport.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * KIB)
                shrunk = True
            write(data)
            self.peak[key] = max(self.peak.get(key, 0), transport.get_write_buffer_size())

        transport.write = measured  # type: ignore[method-assign]

    @property
    def highest(self) -> int:
        """Return the largest backlog seen on any connection."""
        return max(self.peak.values(), default=0)


@pytest.fixture
def backlog(monkeypatch: pytest.MonkeyPatch) -> BacklogSpy:
    """Measure the server's per-connection backlog for the duration of a test."""
    spy = BacklogSpy()
    made = ServerConnection.connection_made

    def connection_made(connection: ServerConnection, transport: asyncio.BaseTransport) -> None:
        made(connection, transport)
        spy.watch(connection)

    monkeypatch.setattr(ServerConnection, "connection_made", connection_made)
    return spy


def drops(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Return the server's 'dropped a slow client' log lines."""
    return [r.getMessage() for r in caplog.records if "dropped a slow client" in r.getMessage()]


async def read_all(connection: ClientConnection, count: int, pause: float = 0.0) -> list[str]:
    """Read ``count`` messages, waiting ``pause`` seconds after each one (a slow reader)."""
    received = []
    for _ in range(count):
        received.append(await connection.recv())
        if pause:
            await asyncio.sleep(pause)  # the reader's own slowness, not synchronisation
    return received


def test_a_client_that_stops_reading_is_dropped_and_the_others_get_everything(
    backlog: BacklogSpy, caplog: pytest.LogCaptureFixture
) -> None:
    """With the default 1 MiB write limit, a stuck reader is dropped, others lose nothing."""
    caplog.set_level(logging.INFO, logger="wslib")
    limits = Limits(drop_grace=TIMEOUT / 10)
    count, size = 160, 16 * KIB  # 2.5 MiB: more than twice the limit

    async def body() -> None:
        async with Server(port=0, limits=limits) as server:
            # A tiny receive buffer, and a reader that stops after 1 KiB: it never reads.
            stuck = await RawClient.connect(server.port, rcvbuf=4 * KIB, limit=KIB)
            backlog.slow_network(stuck.writer.get_extra_info("sockname")[1])
            try:
                async with connect(server.url) as alice, connect(server.url) as bob:
                    readers = [
                        asyncio.create_task(read_all(bob, count)),
                        asyncio.create_task(read_all(alice, 1)),
                    ]
                    for i in range(count):
                        await alice.send(f"{i:06d}" + "x" * size)
                    await bob.send("done")
                    got, (done,) = await asyncio.wait_for(asyncio.gather(*readers), TIMEOUT)
                    assert [m[28:34] for m in got] == [f"{i:06d}" for i in range(count)]
                    assert done == "Received message from peer: done"
                    await until(lambda: server.clients == 2)
            finally:
                await stuck.close()

    run_async(body())
    assert len(drops(caplog)) == 1
    assert backlog.highest <= limits.write_limit + size + 64  # the limit, plus one frame
    assert not [r for r in caplog.records if r.exc_info]


def test_without_a_write_limit_the_backlog_grows_with_what_is_sent(backlog: BacklogSpy) -> None:
    """With ``write_limit=None`` nothing is dropped and the stuck reader's backlog just grows."""
    size, count = 16 * KIB, 160

    async def body() -> None:
        async with Server(port=0, limits=Limits(write_limit=None)) as server:
            stuck = await RawClient.connect(server.port, rcvbuf=4 * KIB, limit=KIB)
            backlog.slow_network(stuck.writer.get_extra_info("sockname")[1])
            try:
                async with connect(server.url) as alice, connect(server.url) as bob:
                    reading = asyncio.create_task(read_all(bob, count))
                    for _ in range(count):
                        await alice.send("x" * size)
                    await asyncio.wait_for(reading, TIMEOUT)
                    assert server.clients == 3
            finally:
                stuck.transport.abort()

    run_async(body())
    assert backlog.highest > 1024 * KIB  # what the default limit would have stopped


def test_a_slow_but_reading_client_is_not_dropped(
    backlog: BacklogSpy, caplog: pytest.LogCaptureFixture
) -> None:
    """A reader that lags behind each burst but keeps reading stays connected and gets all."""
    caplog.set_level(logging.INFO, logger="wslib")
    limits = Limits(write_limit=256 * KIB)
    bursts, per_burst, size = 8, 12, 16 * KIB  # 1.5 MiB in all, 192 KiB per burst

    async def body() -> None:
        async with Server(port=0, limits=limits) as server, connect(server.url) as alice:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * KIB)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port))
            backlog.slow_network(sock.getsockname()[1])
            async with connect(server.url, sock=sock) as slow:
                for burst in range(bursts):
                    reading = asyncio.create_task(read_all(slow, per_burst, pause=0.002))
                    for i in range(per_burst):
                        await alice.send(f"{burst:02d}{i:02d}" + "y" * size)
                    got = await asyncio.wait_for(reading, TIMEOUT)
                    assert [m[28:32] for m in got] == [
                        f"{burst:02d}{i:02d}" for i in range(per_burst)
                    ]
                assert server.clients == 2

    run_async(body())
    assert drops(caplog) == []
    assert backlog.highest > 0  # it really did fall behind


def test_a_chat_client_that_stops_reading_is_dropped_and_the_others_see_it_leave(
    backlog: BacklogSpy, caplog: pytest.LogCaptureFixture
) -> None:
    """In the chat, a stuck reader is dropped and the others get its 'left' event."""
    caplog.set_level(logging.INFO, logger="wslib")
    limits = Limits(write_limit=64 * KIB, chat_rate=None, drop_grace=TIMEOUT / 10)

    async def body() -> None:
        async with Server(port=0, limits=limits) as server:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * KIB)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port))
            backlog.slow_network(sock.getsockname()[1])
            async with (
                ChatClient(server.chat_url, "alice", reconnect=False) as alice,
                ChatClient(server.chat_url, "bob", reconnect=False) as bob,
                ChatClient(server.chat_url, "stuck", reconnect=False, sock=sock) as stuck,
            ):
                await alice.wait_for(lambda: "stuck" in alice.online, TIMEOUT)
                stuck._connection.transport.pause_reading()  # type: ignore[union-attr]
                sent = 0
                for i in range(400):
                    if "stuck" not in bob.online:
                        break
                    await alice.send(f"{i}: " + "z" * 4000)
                    sent += 1
                    await alice.wait_for(lambda: not alice.pending, TIMEOUT)
                await bob.wait_for(lambda: "stuck" not in bob.online, TIMEOUT)
                await bob.wait_for(lambda: len(bob.messages) == sent, TIMEOUT)
                assert [m["text"].split(":")[0] for m in bob.messages] == [
                    str(i) for i in range(sent)
                ]
                stuck._connection.transport.resume_reading()  # type: ignore[union-attr]

    run_async(body())
    assert len(drops(caplog)) == 1
