"""The server's limits on real sockets: sizes, fragments, compression, rates, cap, origins.

Each limit's default is in wslib/settings.py; each test shows what a client meets past it
and that nobody else notices.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from rawclient import RawClient, frame, until
from support import TIMEOUT, recv, recv_json, run_async
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from wslib import ChatClient, Server
from wslib.core.codes import CLOSE_MESSAGE_TOO_BIG, CLOSE_POLICY_VIOLATION
from wslib.core.settings import Limits
from wslib.teaching.frames import Opcode

KIB = 1024


async def assert_nothing_relayed(bob: ClientConnection, carol: ClientConnection) -> None:
    """Assert that ``bob`` got nothing before the marker ``carol`` sends now (relay is in order)."""
    await carol.send("marker")
    assert await recv(bob) == "Received message from peer: marker"


async def closed_with(connection: ClientConnection) -> int | None:
    """Read until ``connection`` is closed; return the code the server sent."""
    async with asyncio.timeout(TIMEOUT):
        try:
            while True:  # ends when the connection closes, or at the timeout
                await connection.recv()
        except ConnectionClosed:
            pass
    received = connection.protocol.close_rcvd
    return None if received is None else received.code


# -- message and frame size ---------------------------------------------------------------


def test_a_message_of_exactly_max_size_is_relayed() -> None:
    """A 64 KiB message, the default maximum, is accepted and relayed."""

    async def body() -> None:
        async with (
            Server(port=0) as server,
            connect(server.url, max_size=None) as alice,
            connect(server.url, max_size=None) as bob,
        ):
            await alice.send(b"\x00" * (64 * KIB))
            assert len(await recv(bob)) == 64 * KIB

    run_async(body())


@pytest.mark.parametrize("kind", ["text", "binary"])
def test_a_message_over_max_size_closes_its_sender_with_1009_and_is_not_relayed(kind: str) -> None:
    """One byte over the 64 KiB default closes the sender with 1009; nobody receives it."""
    big: Any = "x" * (64 * KIB + 1) if kind == "text" else b"x" * (64 * KIB + 1)

    async def body() -> None:
        async with (
            Server(port=0) as server,
            connect(server.url) as alice,
            connect(server.url) as bob,
            connect(server.url) as carol,
        ):
            await alice.send(big)
            assert await closed_with(alice) == CLOSE_MESSAGE_TOO_BIG
            await assert_nothing_relayed(bob, carol)

    run_async(body())


def test_max_size_is_configurable() -> None:
    """``Limits(max_size=...)`` moves the 1009 threshold."""

    async def body() -> None:
        limits = Limits(max_size=1000, max_fragment=1000)
        async with Server(port=0, limits=limits) as server, connect(server.url) as alice:
            await alice.send("y" * 1001)
            assert await closed_with(alice) == CLOSE_MESSAGE_TOO_BIG

    run_async(body())


@pytest.mark.parametrize(
    "fragments",
    [
        [
            frame(Opcode.TEXT, b"a" * 30 * KIB, fin=False),
            frame(Opcode.CONT, b"b" * 30 * KIB, fin=False),
            frame(Opcode.CONT, b"c" * 30 * KIB),
        ],
        [frame(Opcode.BINARY, b"", fin=False), *[frame(Opcode.CONT, b"", fin=False)] * 5000],
        [frame(Opcode.BINARY, b"z" * (64 * KIB + 1), fin=False)],
    ],
    ids=["fragments adding up past max_size", "5000 empty fragments", "one fragment too big"],
)
def test_fragmented_messages_are_bounded_in_size_and_count(fragments: list[bytes]) -> None:
    """Fragments that add up past max_size, too many fragments or one too big all get 1009."""

    async def body() -> None:
        # After a 1009 the server reads no more of the offender's queued fragments, so it
        # misses its TCP close and lets close_timeout end the connection: keep that short.
        limits = Limits(close_timeout=TIMEOUT / 10)
        async with (
            Server(port=0, limits=limits) as server,
            connect(server.url) as bob,
            connect(server.url) as carol,
        ):
            mallory = await RawClient.connect(server.port)
            try:
                await mallory.send(b"".join(fragments))
                assert await mallory.close_code() == CLOSE_MESSAGE_TOO_BIG
            finally:
                await mallory.close()
            await assert_nothing_relayed(bob, carol)

    run_async(body())


# -- compression ----------------------------------------------------------------------


def test_compression_is_not_negotiated_even_when_the_client_offers_it() -> None:
    """A client offering permessage-deflate gets no extension back, so no bomb can be sent."""

    async def body() -> None:
        async with (
            Server(port=0) as server,
            connect(server.url, compression="deflate") as alice,
        ):
            assert "permessage-deflate" in alice.request.headers["Sec-WebSocket-Extensions"]
            assert alice.response.headers.get("Sec-WebSocket-Extensions") is None
            assert alice.protocol.extensions == []

    run_async(body())


# -- message rates ----------------------------------------------------------------------


async def join(url: str, name: str) -> ClientConnection:
    """Open a chat connection and join as ``name``; return it after the welcome."""
    connection = await connect(url)
    await connection.send(json.dumps({"type": "join", "name": name, "v": 1}))
    welcome = await recv_json(connection)
    assert welcome["type"] == "welcome", welcome
    for _ in range(welcome["replay"]):
        await recv_json(connection)
    return connection


def test_a_chat_flood_is_closed_with_1008_and_the_others_carry_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A chat client sending hundreds of messages at once is closed with 1008; others chat on."""
    caplog.set_level(logging.INFO, logger="wslib")

    async def body() -> None:
        # A close_timeout longer than the wait below: only a server that keeps reading
        # after its close frame lets the closing handshake finish in time.
        async with Server(port=0, limits=Limits(close_timeout=4 * TIMEOUT)) as server:
            flooder = await join(server.chat_url, "flooder")
            bob = await join(server.chat_url, "bob")
            try:
                for i in range(200):
                    try:
                        await flooder.send(
                            json.dumps({"type": "send", "cid": f"c{i}", "text": "!"})
                        )
                    except ConnectionClosed:
                        break
                assert await closed_with(flooder) == CLOSE_POLICY_VIOLATION
                await bob.send(json.dumps({"type": "send", "cid": "b1", "text": "calm again"}))
                async with asyncio.timeout(TIMEOUT):
                    while (event := await recv_json(bob))["type"] != "ack":
                        pass
                assert event["cid"] == "b1"
            finally:
                await flooder.close()
                await bob.close()

    run_async(body())
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in warnings if "rate" in r.getMessage()] != []
    assert len(warnings) == 1


@pytest.mark.slow
def test_a_fast_typist_never_trips_the_chat_rate_limit() -> None:
    """Ten messages a second for three seconds, each after a typing event, are all accepted."""

    async def body() -> None:
        async with (
            Server(port=0) as server,
            ChatClient(server.chat_url, "typist", reconnect=False) as typist,
            ChatClient(server.chat_url, "reader", reconnect=False) as reader,
        ):
            loop = asyncio.get_running_loop()
            start = loop.time()
            for i in range(30):
                # Pacing, not synchronisation: this is how fast a person types.
                await asyncio.sleep(max(0.0, start + i / 10 - loop.time()))
                await typist.typing()
                await typist.send(str(i))
            await reader.wait_for(lambda: len(reader.messages) == 30, TIMEOUT)
            assert [m["text"] for m in reader.messages] == [str(i) for i in range(30)]
            assert typist.is_open
            assert typist.errors == []

    run_async(body())


def test_the_relay_has_no_rate_limit_by_default() -> None:
    """On the article's relay, 1000 messages sent at once all arrive and nobody is closed."""

    async def body() -> None:
        async with (
            Server(port=0) as server,
            connect(server.url) as alice,
            connect(server.url) as bob,
        ):
            for i in range(1000):
                await alice.send(str(i))
            got = [await recv(bob) for _ in range(1000)]
            assert got == [f"Received message from peer: {i}" for i in range(1000)]

    run_async(body())


def test_a_relay_rate_can_be_set_and_then_gives_1008() -> None:
    """With ``Limits(relay_rate=...)`` a relay flooder is closed with 1008."""

    async def body() -> None:
        limits = Limits(relay_rate=(5.0, 5.0))
        async with Server(port=0, limits=limits) as server, connect(server.url) as alice:
            for i in range(20):
                try:
                    await alice.send(str(i))
                except ConnectionClosed:
                    break
            assert await closed_with(alice) == CLOSE_POLICY_VIOLATION

    run_async(body())


# -- the connection cap -----------------------------------------------------------------


def test_past_the_connection_cap_the_handshake_gets_503_until_someone_leaves() -> None:
    """With max_connections=2 a third client gets HTTP 503; once one leaves, it gets in."""

    async def body() -> None:
        async with (
            Server(port=0, limits=Limits(max_connections=2)) as server,
            connect(server.url) as alice,
        ):
            async with connect(server.url):
                with pytest.raises(InvalidStatus) as refused:
                    async with connect(server.url):
                        pass
                assert refused.value.response.status_code == 503
            await until(lambda: server.clients == 1)
            async with connect(server.url) as carol:
                await alice.send("room for one more")
                assert await recv(carol) == "Received message from peer: room for one more"

    run_async(body())


# -- origins ----------------------------------------------------------------------------


def origins_answers(limits: Limits | None, cases: list[dict[str, str]]) -> list[int]:
    """Return, for each set of extra headers, 101 or the status the server answered."""

    async def body() -> list[int]:
        answers = []
        async with Server(port=0, limits=limits) as server:
            for headers in cases:
                own = {k: v.replace("PORT", str(server.port)) for k, v in headers.items()}
                try:
                    async with connect(server.url, additional_headers=own):
                        answers.append(101)
                except InvalidStatus as refused:
                    answers.append(refused.response.status_code)
        return answers

    return run_async(body())


def test_origins_no_origin_and_the_own_page_are_accepted_a_stranger_gets_403() -> None:
    """No Origin, the page's own origin and a proxied origin open; another site gets 403."""
    cases = [
        {},
        {"Origin": "http://127.0.0.1:PORT"},
        {"Origin": "https://hub.example.org", "X-Forwarded-Host": "hub.example.org"},
        {"Origin": "https://evil.example"},
        {"Origin": "http://127.0.0.1:1"},
        {"Origin": "null"},
    ]
    assert origins_answers(None, cases) == [101, 101, 101, 403, 403, 403]


def test_origins_can_be_configured() -> None:
    """``Limits(origins=...)`` admits the listed sites, and ``("*",)`` admits every site."""
    cases = [{"Origin": "https://course.example.org"}, {"Origin": "https://evil.example"}]
    listed = Limits(origins=("https://course.example.org",))
    assert origins_answers(listed, cases) == [101, 403]
    assert origins_answers(Limits(origins=("*",)), cases) == [101, 101]


def test_a_refused_origin_is_one_warning_naming_it(caplog: pytest.LogCaptureFixture) -> None:
    """A refused origin costs one warning line that names it, and no traceback."""
    caplog.set_level(logging.INFO, logger="wslib")
    assert origins_answers(None, [{"Origin": "https://evil.example"}]) == [403]
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == ["refused a WebSocket from origin https://evil.example"]
    assert not [r for r in caplog.records if r.exc_info]
