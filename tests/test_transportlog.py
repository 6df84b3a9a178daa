"""Tests for wslib.server.transportlog: a mass disconnect is one warning line, not thousands."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct

import pytest
from support import TIMEOUT, run_async

from wslib import ChatClient, Server
from wslib.server.transportlog import ClosedSendWarnings

ASYNCIO_LINE = "socket.send() raised exception."


def test_a_burst_of_closed_socket_warnings_becomes_one_counted_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """500 of asyncio's closed-socket warnings reach no handler; one line counts them."""
    said = asyncio.Event()

    class Tell(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            said.set()

    async def body() -> None:
        quiet = ClosedSendWarnings(quiet=0.05)
        quiet.install()
        tell = Tell()
        logging.getLogger("wslib.server").addHandler(tell)
        try:
            for _ in range(500):
                logging.getLogger("asyncio").warning(ASYNCIO_LINE)
            logging.getLogger("asyncio").warning("something else")
            async with asyncio.timeout(TIMEOUT):
                await said.wait()
        finally:
            logging.getLogger("wslib.server").removeHandler(tell)
            quiet.remove()
        assert quiet.count == 500

    with caplog.at_level(logging.WARNING):
        run_async(body())
    messages = [r.getMessage() for r in caplog.records]
    assert ASYNCIO_LINE not in messages
    assert "something else" in messages
    assert [m for m in messages if "already closed" in m] == [
        f"500 writes went to connections that had already closed and were dropped "
        f"(asyncio: {ASYNCIO_LINE!r})"
    ]


def test_outside_a_loop_the_warning_passes_unchanged(caplog: pytest.LogCaptureFixture) -> None:
    """A closed-socket warning logged with no running loop is left alone."""
    quiet = ClosedSendWarnings()
    quiet.install()
    try:
        with caplog.at_level(logging.WARNING):
            logging.getLogger("asyncio").warning(ASYNCIO_LINE)
    finally:
        quiet.remove()
    assert [r.getMessage() for r in caplog.records] == [ASYNCIO_LINE]


class LateWriter(asyncio.Protocol):
    """A plain asyncio server protocol that, like a fan-out that has not yet heard of the
    loss, writes to its transport ten more times after the connection is gone."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport."""
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        """Write ten times to the lost socket: asyncio warns from the fifth write on."""
        for _ in range(10):
            self.transport.write(b"too late")


def _reset(sock: socket.socket) -> None:
    """Close ``sock`` with a TCP reset, as a killed process's unread socket is closed."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_a_mass_disconnect_is_at_most_one_line_while_the_server_runs_and_bystanders_chat(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """200 sockets reset at once, each written to after its loss (about 1,200 of asyncio's
    warnings), log one counted line while a kit server runs; its chat carries on."""

    async def body() -> None:
        loop = asyncio.get_running_loop()
        async with (
            Server(port=0) as server,
            ChatClient(server.chat_url, "alice") as alice,
            ChatClient(server.chat_url, "bob") as bob,
        ):
            await alice.send("before")
            plain = await loop.create_server(LateWriter, "127.0.0.1", 0)
            port = plain.sockets[0].getsockname()[1]
            crowd = []
            for _ in range(200):
                sock = socket.socket()
                sock.setblocking(False)
                await loop.sock_connect(sock, ("127.0.0.1", port))
                crowd.append(sock)
            for sock in crowd:
                _reset(sock)
            plain.close()
            await plain.wait_closed()  # every connection_lost, and its late writes, are done
            await alice.send("after")
            await bob.wait_for(lambda: len(bob.messages) == 2, TIMEOUT)
            assert [m["text"] for m in bob.messages] == ["before", "after"]
            await alice.wait_for(lambda: not alice.pending, TIMEOUT)

    with caplog.at_level(logging.WARNING):
        run_async(body(), 4 * TIMEOUT)
    messages = [r.getMessage() for r in caplog.records]
    assert ASYNCIO_LINE not in messages
    summaries = [m for m in messages if "already closed" in m]
    assert len(summaries) == 1
    assert int(summaries[0].split()[0]) == 200 * 6  # writes 5 to 10 of each socket
