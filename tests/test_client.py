"""Tests for wslib.client.client: the reconnecting async client, on real servers on port 0."""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import TIMEOUT, recv, require, restart_port, run_async
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection

from wslib import Backoff, Client, NotConnectedError, Server, Status
from wslib.client.client import RECONNECT_CODES, should_reconnect

# Short delays keep reconnection tests quick; the jitter still applies.
FAST = Backoff(initial=TIMEOUT / 50, minimum=TIMEOUT / 100, maximum=TIMEOUT / 25)


@pytest.fixture
def closed_port() -> Iterator[int]:
    """Yield a port that is bound (so nothing else takes it) but refuses connections."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.mark.parametrize("code", [None, 1001, 1005, 1006, 1011, 1012, 1013, 1014])
def test_should_reconnect_after_going_away_or_a_drop(code: int | None) -> None:
    """A drop (no code), 1001 and the server-trouble codes are worth a reconnect."""
    assert should_reconnect(code)


@pytest.mark.parametrize("code", [1000, 1002, 1003, 1007, 1008, 1009, 1010, 4000, 4001, 4999])
def test_should_not_reconnect_after_a_final_code(code: int) -> None:
    """A normal close, a protocol or policy error and the kit's 4000-range codes are final."""
    assert not should_reconnect(code)
    assert code not in RECONNECT_CODES


def test_status_reads_as_state_code_and_reason() -> None:
    """A Status prints as its state, plus the close code and reason once there is one."""
    assert str(Status("open")) == "open"
    assert str(Status("closed", 1000)) == "closed (1000)"
    assert str(Status("reconnecting", 1001, "bye")) == "reconnecting (1001 bye)"


def test_backoff_starts_below_initial_then_grows_to_the_maximum() -> None:
    """Backoff's delays: first random below initial, then minimum growing by factor to maximum."""
    backoff = Backoff(initial=1.0, minimum=0.5, maximum=3.0, factor=2.0)
    delays = list(itertools.islice(backoff.delays(), 6))
    assert 0 <= delays[0] <= 1.0
    assert delays[1:] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_client_receives_relayed_messages_and_sends() -> None:
    """A Client sends, and records and queues what it receives, in order."""

    async def body() -> None:
        async with Server(port=0) as server, Client(server.url) as alice, Client(server.url) as bob:
            assert alice.is_open
            await alice.send("one")
            await alice.send(b"two")
            assert await bob.recv(TIMEOUT) == "Received message from peer: one"
            assert await bob.recv(TIMEOUT) == b"two"
            assert bob.received == ["Received message from peer: one", b"two"]
            assert alice.received == []

    run_async(body())


def test_client_reconnects_by_itself_after_a_restart_on_the_same_port() -> None:
    """After the server goes away with 1001 and comes back on its port, the client reconnects."""

    async def body() -> None:
        port = restart_port()
        server = Server(port=port)
        await server.start()
        client = Client(server.url, reconnect=FAST)
        try:
            await client.start(TIMEOUT)
            await server.stop()
            await client.wait_for(lambda: client.status.state == "reconnecting", TIMEOUT)
            assert client.status.code == 1001
            with pytest.raises(NotConnectedError):
                await client.send("while away")
            async with Server(port=port) as again, connect(again.url) as peer:
                await client.wait_for(lambda: client.is_open, 2 * TIMEOUT)
                assert client.connections == 2
                await client.send("back again")
                assert await recv(peer) == "Received message from peer: back again"
        finally:
            await client.stop()
            await server.stop()

    run_async(body())


def test_client_reconnects_after_a_dropped_connection() -> None:
    """A connection dropped without a close frame (1006) is reconnected."""
    accepted = 0

    async def drop_the_first(connection: ServerConnection) -> None:
        nonlocal accepted
        accepted += 1
        if accepted == 1:
            connection.transport.abort()
            return
        async for message in connection:
            await connection.send(message)

    async def body() -> None:
        async with Server(port=0, handler=drop_the_first) as server:
            client = Client(server.url, reconnect=FAST)
            try:
                await client.start(TIMEOUT)
                await client.wait_for(lambda: client.connections == 2 and client.is_open, TIMEOUT)
                await client.send("still there?")
                assert await client.recv(TIMEOUT) == "still there?"
            finally:
                await client.stop()

    run_async(body())


@pytest.mark.parametrize("code", [4000, 4001, 1000, 1008])
def test_client_stays_closed_after_a_final_code(code: int) -> None:
    """A close with 4000 (replaced), 4001, 1000 or 1008 is final: the client does not reconnect."""

    async def body() -> None:
        async with Server(port=0) as server:
            client = Client(server.url, reconnect=FAST)
            try:
                await client.start(TIMEOUT)
                await server.stop(code, "final")
                await client.wait_for(lambda: client.status.state == "closed", TIMEOUT)
                assert client.status == Status("closed", code, "final")
                assert client._task is not None
                await asyncio_wait(client._task)
                assert client.connections == 1
            finally:
                await client.stop()

    run_async(body())


def test_client_with_reconnect_off_stays_closed_after_1001() -> None:
    """With reconnect=False, even a 1001 (server going away) closes the client for good."""

    async def body() -> None:
        async with Server(port=0) as server:
            client = Client(server.url, reconnect=False)
            try:
                await client.start(TIMEOUT)
                await server.stop()
                await client.wait_for(lambda: client.status.state == "closed", TIMEOUT)
                assert client.status.code == 1001
                assert client._task is not None
                await asyncio_wait(client._task)
                assert client.connections == 1
            finally:
                await client.stop()

    run_async(body())


def test_start_without_reconnect_fails_at_once_on_a_refused_port(closed_port: int) -> None:
    """start() with reconnect=False raises ConnectionError when nothing listens."""

    async def body() -> None:
        client = Client(f"ws://127.0.0.1:{closed_port}/", reconnect=False)
        with pytest.raises(ConnectionError):
            await client.start(TIMEOUT)
        assert client.status.state == "closed"
        await client.stop()

    run_async(body())


def test_start_with_reconnect_gives_up_after_its_timeout(closed_port: int) -> None:
    """start(timeout) with reconnection on raises TimeoutError if no connection opens in time."""

    async def body() -> None:
        client = Client(f"ws://127.0.0.1:{closed_port}/", reconnect=FAST)
        try:
            with pytest.raises(TimeoutError):
                await client.start(TIMEOUT / 10)
        finally:
            await client.stop()
        assert client.status.state == "closed"

    run_async(body())


def test_listeners_see_statuses_and_messages_in_order() -> None:
    """on_event gets each status change and each message, in the order they happened."""

    async def body() -> list[Any]:
        events: list[Any] = []
        async with Server(port=0) as server, connect(server.url) as peer:
            client = Client(server.url, on_event=events.append)
            await client.start(TIMEOUT)
            await peer.send("hi")
            await client.recv(TIMEOUT)
            await client.stop()
        return events

    assert run_async(body()) == [
        Status("open"),
        "Received message from peer: hi",
        Status("closed", 1000),
    ]


def test_a_failing_listener_does_not_break_the_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A listener that raises is logged, and the client keeps receiving."""

    def broken(event: Any) -> None:
        raise ValueError("a broken view")

    async def body() -> None:
        async with (
            Server(port=0) as server,
            connect(server.url) as peer,
            Client(server.url, on_event=broken) as client,
        ):
            await peer.send("first")
            await peer.send("second")
            assert await client.recv(TIMEOUT) == "Received message from peer: first"
            assert await client.recv(TIMEOUT) == "Received message from peer: second"

    with caplog.at_level(logging.ERROR, logger="wslib.client"):
        run_async(body())
    assert "event listener failed" in caplog.text


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Make a throw-away self-signed certificate for 127.0.0.1 and return (cert, key)."""
    openssl = require("openssl", "it makes the certificate for the wss:// client test")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    command = [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    command += ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"]
    command += ["-addext", "subjectAltName=IP:127.0.0.1"]
    subprocess.run(
        command,
        check=True,
        capture_output=True,
        timeout=4 * TIMEOUT,
    )
    return cert, key


def test_client_speaks_wss(certificate: tuple[Path, Path]) -> None:
    """The kit's Client connects to a wss:// URL with an ssl context, and relays over TLS."""
    cert, key = certificate
    context = ssl.create_default_context(cafile=str(cert))

    async def body() -> None:
        async with Server(port=0, certfile=str(cert), keyfile=str(key)) as server:
            assert server.url.startswith("wss://")
            async with (
                Client(server.url, ssl=context) as alice,
                Client(server.url, ssl=context) as bob,
            ):
                await alice.send("secret")
                assert await bob.recv(TIMEOUT) == "Received message from peer: secret"

    run_async(body())


async def asyncio_wait(task: Any) -> None:
    """Wait for the client's connection task to finish: it has nothing left to do."""
    async with asyncio.timeout(TIMEOUT):
        await asyncio.gather(task, return_exceptions=True)


def test_a_client_told_not_to_wait_gives_up_at_once_when_nothing_listens(
    closed_port: int,
) -> None:
    """With ``wait_for_server=False`` a refused first connection raises instead of retrying."""

    async def body() -> None:
        url = f"ws://127.0.0.1:{closed_port}/"
        eager = Client(url, wait_for_server=False)
        with pytest.raises(ConnectionError):
            await eager.start(timeout=TIMEOUT)
        assert eager.status.state == "closed"
        assert eager.backoff is not None  # it would reconnect later, once it had connected

    run_async(body())


def test_drop_cuts_the_connection_without_a_close_frame_and_the_client_comes_back() -> None:
    """After drop() the server sees no close code; the client reconnects from a new address."""
    codes: list[int | None] = []
    ended = asyncio.Event()

    async def handler(connection: ServerConnection) -> None:
        try:
            async for _ in connection:
                pass
        finally:  # a drop ends the loop with ConnectionClosedError
            codes.append(connection.close_code)
            ended.set()

    async def body() -> None:
        async with Server(port=0, handler=handler) as server:
            client = Client(server.url, reconnect=FAST)
            await client.start()
            first = client.local_address
            assert first is not None
            await client.drop()
            await client.wait_for(lambda: client.connections == 2 and client.is_open, TIMEOUT)
            assert client.local_address not in (None, first)
            await asyncio.wait_for(ended.wait(), TIMEOUT)
            assert codes == [1006]
            await client.stop()
            assert client.local_address is None

    run_async(body())
