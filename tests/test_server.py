"""Tests for server on real sockets: the article's relay, echo, a handler and the chat."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import pytest
from support import TIMEOUT, port_is_free, recv, recv_json, run_async
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from wslib import PortInUseError, Server
from wslib.core.protocol import MAX_NAME, MAX_TEXT
from wslib.core.settings import Limits
from wslib.server.logbook import LogBook


async def assert_silent(connection: ClientConnection, marker: ClientConnection) -> None:
    """Assert that ``connection`` received nothing before a message that ``marker`` sends now.

    The server relays in order, so if ``connection`` had been sent anything earlier it would
    arrive before the marker's relayed message.
    """
    await marker.send("marker")
    assert await recv(connection) == "Received message from peer: marker"


def test_relay_reaches_every_other_client_with_the_articles_prefix() -> None:
    """A text message reaches every other client as 'Received message from peer: <m>'."""

    async def body() -> None:
        async with (
            Server(port=0) as server,
            connect(server.url) as alice,
            connect(server.url) as bob,
            connect(server.url) as carol,
        ):
            await alice.send("hello, world")
            assert await recv(bob) == "Received message from peer: hello, world"
            assert await recv(carol) == "Received message from peer: hello, world"

    run_async(body())


def test_relay_sends_nothing_back_to_the_sender() -> None:
    """The sender of a relayed message gets nothing back."""

    async def body() -> None:
        async with (
            Server(port=0) as server,
            connect(server.url) as alice,
            connect(server.url) as bob,
        ):
            await alice.send("only for bob")
            assert await recv(bob) == "Received message from peer: only for bob"
            await assert_silent(alice, bob)

    run_async(body())


def test_relay_passes_binary_messages_unchanged_as_binary() -> None:
    """A binary message reaches the others as the same bytes, in a binary frame."""

    async def body() -> None:
        payload = bytes(range(256))
        async with (
            Server(port=0) as server,
            connect(server.url) as alice,
            connect(server.url) as bob,
        ):
            await alice.send(payload)
            received = await recv(bob)
            assert isinstance(received, bytes)
            assert received == payload
            await assert_silent(alice, bob)

    run_async(body())


def test_relay_logs_each_message_and_each_disconnect() -> None:
    """The log gets 'Received message: <m>' per message and 'Client disconnected' per disconnect."""

    async def body() -> None:
        async with Server(port=0) as server:
            async with connect(server.url) as alice, connect(server.url) as bob:
                await alice.send("one")
                await recv(bob)
                await bob.send("two")
                await recv(alice)
                await alice.send(b"\x00\x01\x02")
                await recv(bob)
            await wait_for_lines(server.log, 5)
            assert server.log.lines == [
                "Received message: one",
                "Received message: two",
                "Received message: <3 bytes>",
                "Client disconnected",
                "Client disconnected",
            ]

    run_async(body())


def _awaited_coroutines(task: asyncio.Task[Any]) -> list[str]:
    """Return the names of the coroutines ``task``'s own coroutine awaits, outermost first."""
    names = []
    awaited = task.get_coro().cr_await  # type: ignore[union-attr]
    while asyncio.iscoroutine(awaited):
        names.append(awaited.cr_code.co_name)  # type: ignore[attr-defined]
        awaited = awaited.cr_await  # type: ignore[attr-defined]
    return names


def test_an_idle_relay_client_is_served_without_a_coroutine_of_its_own() -> None:
    """websockets' task for an idle relay client awaits a future, no coroutine of the kit's
    (0.3 kB each), and the client relays and is counted out when it leaves as before."""

    async def body() -> None:
        async with Server(port=0) as server:
            async with connect(server.url) as alice, connect(server.url) as bob:
                await alice.send("one")
                assert await recv(bob) == "Received message from peer: one"
                handlers = [
                    task
                    for task in asyncio.all_tasks()
                    if task.get_coro().cr_code.co_name == "protocol_handler"  # type: ignore[union-attr]
                ]
                assert len(handlers) == 2
                assert [_awaited_coroutines(task) for task in handlers] == [[], []]
            await wait_for_lines(server.log, 3)
            assert server.log.lines[1:] == ["Client disconnected"] * 2
            assert server.clients == 0

    run_async(body())


def test_relay_log_escapes_control_characters() -> None:
    """A peer's escape sequences are escaped in the log line but relayed unchanged."""

    async def body() -> None:
        async with (
            Server(port=0) as server,
            connect(server.url) as alice,
            connect(server.url) as bob,
        ):
            await alice.send("\x1b[2Jgone")
            assert await recv(bob) == "Received message from peer: \x1b[2Jgone"
            assert server.log.lines == ["Received message: \\x1b[2Jgone"]

    run_async(body())


def test_server_copies_log_lines_to_its_stream() -> None:
    """A server given LogBook(stream) writes each line to that stream and flushes it."""

    async def body() -> str:
        stream = io.StringIO()
        async with Server(port=0, log=LogBook(stream)) as server:
            async with connect(server.url) as alice:
                await alice.send("hi")
            await wait_for_lines(server.log, 2)
        return stream.getvalue()

    assert run_async(body()) == "Received message: hi\nClient disconnected\n"


def test_echo_mode_sends_each_message_back_unchanged_to_its_sender_only() -> None:
    """In echo mode a text or binary message comes back unchanged to its sender, not to others."""

    async def body() -> None:
        async with (
            Server(port=0, mode="echo") as server,
            connect(server.url) as alice,
            connect(server.url) as bob,
        ):
            await alice.send("ping")
            assert await recv(alice) == "ping"
            await alice.send(b"\xff\x00")
            assert await recv(alice) == b"\xff\x00"
            await bob.send("bob's")
            assert await recv(bob) == "bob's"
            assert server.log.lines == [
                "Received message: ping",
                "Received message: <2 bytes>",
                "Received message: bob's",
            ]

    run_async(body())


def test_custom_handler_serves_the_root_path() -> None:
    """A learner's own async handler serves '/', while '/chat' still serves the chat."""

    async def shout(connection: ServerConnection) -> None:
        async for message in connection:
            await connection.send(str(message).upper())

    async def body() -> None:
        async with Server(port=0, handler=shout) as server:
            async with connect(server.url) as client:
                await client.send("quiet")
                assert await recv(client) == "QUIET"
            async with connect(server.chat_url) as chat:
                await chat.send(json.dumps({"type": "join", "name": "alice"}))
                assert (await recv_json(chat))["type"] == "welcome"

    run_async(body())


def test_max_size_closes_an_oversized_message_with_1009() -> None:
    """A message over max_size closes that client with 1009; others keep being served."""

    async def body() -> None:
        async with (
            Server(port=0, limits=Limits(max_size=1024, max_fragment=1024)) as server,
            connect(server.url) as alice,
            connect(server.url) as bob,
            connect(server.url, max_size=None) as big,
        ):
            await big.send("x" * 2048)
            with pytest.raises(ConnectionClosed):
                await recv(big)
            assert big.close_code == 1009
            await alice.send("still here")
            assert await recv(bob) == "Received message from peer: still here"

    run_async(body())


def test_start_on_a_taken_port_raises_port_in_use() -> None:
    """Starting a second server on a port in use raises PortInUseError naming the port."""

    async def body() -> None:
        async with Server(port=0) as first:
            second = Server(port=first.port)
            with pytest.raises(PortInUseError) as caught:
                await second.start()
            assert caught.value.port == first.port
            assert str(first.port) in str(caught.value)
            assert not second.running

    run_async(body())


def test_stop_closes_every_client_with_1001_and_frees_the_port() -> None:
    """Stopping the server closes each client with 1001 and the port can be bound again."""

    async def body() -> None:
        server = Server(port=0)
        await server.start()
        try:
            clients = [await connect(server.url) for _ in range(3)]
            await server.stop()
            for client in clients:
                with pytest.raises(ConnectionClosed):
                    await recv(client)
                assert client.close_code == 1001
            assert not server.running
            assert port_is_free(server.port)
        finally:
            await server.stop()

    run_async(body())


def test_serve_forever_returns_once_stopped() -> None:
    """serve_forever starts the server and returns when another task stops it."""

    async def body() -> None:
        server = Server(port=0)
        await server.start()
        serving = asyncio.create_task(server.serve_forever())
        try:
            async with connect(server.url):
                pass
            await server.stop()
            async with asyncio.timeout(TIMEOUT):
                await serving
        finally:
            serving.cancel()
            await server.stop()

    run_async(body())


def test_server_restarts_on_the_same_port() -> None:
    """A stopped server's port can be used at once by a new server (no 'address in use')."""

    async def body() -> None:
        async with Server(port=0) as first, connect(first.url) as client:
            port = first.port
            await first.stop()
            with pytest.raises(ConnectionClosed):
                await recv(client)
            async with Server(port=port) as second, connect(second.url) as again:
                assert second.port == port
                await again.send("back")

    run_async(body())


async def wait_for_lines(log: LogBook, count: int) -> None:
    """Wait until ``log`` holds at least ``count`` lines (disconnects are logged after close)."""
    arrived = asyncio.Event()
    unsubscribe = log.subscribe(lambda _: arrived.set() if len(log.lines) >= count else None)
    try:
        if len(log.lines) < count:
            async with asyncio.timeout(TIMEOUT):
                await arrived.wait()
    finally:
        unsubscribe()


# -- the JSON chat over real sockets: every bad input gets an error for that client only ---


async def join(connection: ClientConnection, name: str) -> dict[str, Any]:
    """Join the chat as ``name`` and return the welcome event (after any replay)."""
    await connection.send(json.dumps({"type": "join", "name": name}))
    welcome = await recv_json(connection)
    assert welcome["type"] == "welcome", welcome
    for _ in range(welcome["replay"]):
        await recv_json(connection)
    return welcome


JOINED_BAD_INPUTS = [
    pytest.param("not json at all", "bad_json", id="not-json"),
    pytest.param('["a", "list"]', "bad_field", id="not-an-object"),
    pytest.param(b"\x00binary", "binary", id="binary"),
    pytest.param('{"type": "dance"}', "unknown_type", id="unknown-type"),
    pytest.param('{"text": "no type"}', "bad_field", id="missing-type"),
    pytest.param('{"type": "send", "text": "no cid"}', "bad_field", id="missing-cid"),
    pytest.param('{"type": "send", "cid": "c1"}', "bad_field", id="missing-text"),
    pytest.param('{"type": "send", "cid": "c1", "text": 42}', "bad_field", id="mistyped-text"),
    pytest.param('{"type": "send", "cid": 7, "text": "hi"}', "bad_field", id="mistyped-cid"),
    pytest.param(
        json.dumps({"type": "send", "cid": "c1", "text": "x" * (MAX_TEXT + 1)}),
        "too_long",
        id="text-too-long",
    ),
    pytest.param('{"type": "send", "cid": "c1", "text": "a\\ud800b"}', "bad_text", id="surrogate"),
    pytest.param('{"type": "send", "cid": "c1", "text": "a\\u0000b"}', "bad_text", id="nul-escape"),
    pytest.param('{"type": "send", "cid": "c1", "text": "a\x00b"}', "bad_text", id="nul-raw"),
    pytest.param(
        '{"type": "send", "cid": "c1", "text": "hi", "to": "nobody"}',
        "no_such_user",
        id="unknown-recipient",
    ),
    pytest.param('{"type": "join", "name": "mallory"}', "already_joined", id="join-twice"),
]


@pytest.mark.parametrize(("frame", "code"), JOINED_BAD_INPUTS)
def test_bad_input_from_a_joined_client_gets_an_error_for_it_alone(
    frame: str | bytes, code: str
) -> None:
    """A joined client's bad frame gets it one error event; the others keep chatting."""
    run_async(bad_input_scenario(frame, code, joined=True))


JOIN_BAD_INPUTS = [
    pytest.param('{"type": "join", "name": ""}', "bad_name", id="empty-name"),
    pytest.param('{"type": "join", "name": "   "}', "bad_name", id="blank-name"),
    pytest.param(
        json.dumps({"type": "join", "name": "m" * (MAX_NAME + 1)}), "bad_name", id="long-name"
    ),
    pytest.param('{"type": "join", "name": "alice"}', "name_taken", id="taken-name"),
    pytest.param('{"type": "join", "name": "ALICE"}', "name_taken", id="taken-other-case"),
    pytest.param('{"type": "join"}', "bad_field", id="missing-name"),
    pytest.param('{"type": "join", "name": 5}', "bad_field", id="mistyped-name"),
    pytest.param('{"type": "join", "name": "m\\u0000"}', "bad_text", id="nul-in-name"),
    pytest.param('{"type": "join", "name": "a", "v": 99}', "bad_version", id="bad-version"),
    pytest.param('{"type": "send", "cid": "c1", "text": "hi"}', "not_joined", id="send-unjoined"),
]


@pytest.mark.parametrize(("frame", "code"), JOIN_BAD_INPUTS)
def test_bad_join_gets_an_error_for_that_client_alone(frame: str, code: str) -> None:
    """A bad or refused join gets one error event; the others see no join and keep chatting."""
    run_async(bad_input_scenario(frame, code, joined=False))


async def bad_input_scenario(frame: str | bytes, code: str, *, joined: bool) -> None:
    """Send ``frame`` from a third client while alice and bob chat; check who sees what."""
    async with (
        Server(port=0) as server,
        connect(server.chat_url) as alice,
        connect(server.chat_url) as bob,
        connect(server.chat_url) as mallory,
    ):
        await join(alice, "alice")
        await join(bob, "bob")
        assert (await recv_json(alice))["type"] == "joined"
        if joined:
            await join(mallory, "mallory")
            for other in (alice, bob):
                assert (await recv_json(other))["name"] == "mallory"
        online = server.room.online

        await mallory.send(frame)
        error = await recv_json(mallory)
        assert error["type"] == "error"
        assert error["code"] == code
        assert isinstance(error["detail"], str)
        assert error["detail"]
        assert server.room.online == online

        # The others chat on, and the first thing each sees is that chat, not the error.
        await alice.send(json.dumps({"type": "send", "cid": "a1", "text": "still fine"}))
        assert (await recv_json(alice))["type"] == "ack"
        assert (await recv_json(alice))["text"] == "still fine"
        assert (await recv_json(bob))["text"] == "still fine"

        # The offender's connection stays open and it can go on with a valid event.
        if joined:
            assert (await recv_json(mallory))["text"] == "still fine"
            await mallory.send(json.dumps({"type": "send", "cid": "m1", "text": "sorry"}))
            assert (await recv_json(mallory))["type"] == "ack"
        else:
            welcome = await join(mallory, "mallory")
            assert welcome["name"] == "mallory"
        assert (await recv_json(bob))["name"] == "mallory"


def test_chat_stamps_the_senders_name_and_an_id() -> None:
    """The server stamps each chat message with the sender's joined name, an id and a time."""

    async def body() -> None:
        async with (
            Server(port=0) as server,
            connect(server.chat_url) as alice,
            connect(server.chat_url) as bob,
        ):
            await join(alice, "alice")
            await join(bob, "bob")
            await recv_json(alice)  # bob joined
            forged = {"type": "send", "cid": "c1", "text": "hi", "name": "bob", "id": "x"}
            await alice.send(json.dumps(forged))
            ack = await recv_json(alice)
            message = await recv_json(bob)
            assert message["name"] == "alice"
            assert message["id"] == ack["id"] != "x"
            assert isinstance(message["ts"], float)
            assert "Received message: hi (chat, from alice)" in server.log.lines

    run_async(body())


def test_a_busy_chat_gives_everyone_every_message_in_order_after_the_senders_ack() -> None:
    """With a dozen clients all sending at once, each gets every message in the one order,
    and each sender its ack before its own message."""
    count, rounds = 12, 3

    async def body() -> None:
        async with Server(port=0) as server:
            clients = [await connect(server.chat_url) for _ in range(count)]
            try:
                for n, client in enumerate(clients):
                    await join(client, f"user{n}")
                for n, client in enumerate(clients):  # each hears of those who came after
                    for _ in range(count - 1 - n):
                        assert (await recv_json(client))["type"] == "joined"
                for r in range(rounds):
                    for n, client in enumerate(clients):
                        await client.send(
                            json.dumps({"type": "send", "cid": f"c{r}", "text": f"{n}.{r}"})
                        )
                seen = []
                for n, client in enumerate(clients):
                    events = [await recv_json(client) for _ in range(count * rounds + rounds)]
                    texts = [e["text"] for e in events if e["type"] == "message"]
                    acks = [i for i, e in enumerate(events) if e["type"] == "ack"]
                    own = [i for i, e in enumerate(events) if e.get("name") == f"user{n}"]
                    assert len(acks) == len(own) == rounds
                    assert all(ack < mine for ack, mine in zip(acks, own, strict=True))
                    seen.append(texts)
                assert all(texts == seen[0] for texts in seen)
                assert sorted(seen[0]) == sorted(
                    f"{n}.{r}" for n in range(count) for r in range(rounds)
                )
            finally:
                for client in clients:
                    await client.close()

    run_async(body())


def test_presence_is_a_full_list_on_welcome_then_deltas() -> None:
    """The welcome lists everyone online; joined and left name only who came or went."""

    async def body() -> None:
        async with Server(port=0) as server, connect(server.chat_url) as alice:
            await join(alice, "alice")
            async with connect(server.chat_url) as bob:
                welcome = await join(bob, "bob")
                assert welcome["online"] == ["alice", "bob"]
                assert await recv_json(alice) == {"type": "joined", "name": "bob"}
            assert await recv_json(alice) == {"type": "left", "name": "bob"}

    run_async(body())


def test_a_squatters_cids_never_hide_the_owners_retry() -> None:
    """Dedupe follows the resume token: the owner's send reusing a squatter's cid is shown."""

    async def body() -> None:
        async with Server(port=0) as server, connect(server.chat_url) as witness:
            await join(witness, "witness")
            async with connect(server.chat_url) as owner:
                token = (await join(owner, "bob"))["token"]
            async with connect(server.chat_url) as squatter:
                await join(squatter, "bob")  # the name was free: a fresh token
                await squatter.send(json.dumps({"type": "send", "cid": "x1", "text": "squat"}))
                assert (await recv_json(squatter))["duplicate"] is False
            async with connect(server.chat_url) as owner:
                await owner.send(json.dumps({"type": "join", "name": "bob", "token": token}))
                welcome = await recv_json(owner)
                for _ in range(welcome["replay"]):
                    await recv_json(owner)
                await owner.send(json.dumps({"type": "send", "cid": "x1", "text": "mine"}))
                assert (await recv_json(owner))["duplicate"] is False
            seen = [await recv_json(witness) for _ in range(7)]
            texts = [event.get("text") for event in seen if event["type"] == "message"]
            assert texts == ["squat", "mine"]

    run_async(body())
