"""Tests for fanout: the bytes are websockets' own, framed once, never sent to the slow.

A ``Fanout`` writes pre-built frames straight to each transport, below websockets' public
API, and holds them until the end of the loop turn so that a burst costs one write per
recipient. These tests hold it to the bytes websockets' ``broadcast()`` writes for the same
messages, on real ``ServerConnection`` objects whose transport is a recording stub, so that
a change in websockets that breaks the shortcut fails here first.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import logging
import sys
import threading
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import websockets.asyncio.server
from rawclient import RawClient, frame, until
from support import TIMEOUT, recv, run_async
from websockets.asyncio.client import connect
from websockets.asyncio.connection import Connection
from websockets.asyncio.server import ServerConnection, broadcast
from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import Frame as WsFrame
from websockets.http11 import Request
from websockets.protocol import CLOSED, CLOSING, CONNECTING, OPEN, State
from websockets.protocol import Protocol as SansIOProtocol
from websockets.server import ServerProtocol

import wslib.server.fanout
import wslib.server.server
from wslib import Server
from wslib.core.relay import PEER_PREFIX, Relay
from wslib.server.fanout import (
    FLUSH_AT,
    READ_SIZE,
    DirectConnection,
    Fanout,
    OnMessage,
    frame_bytes,
    handle_directly,
    receive_directly,
    shed_handshake,
    taken,
)
from wslib.server.logbook import LogBook
from wslib.teaching.frames import Opcode

# Payload lengths on both sides of the 7-bit, 16-bit and 64-bit length forms (RFC 6455 §5.2).
SIZES = [0, 1, 125, 126, 127, 1000, 65535, 65536, 65537, 200_000]


class TransportStub(asyncio.Transport):
    """A transport that records what is written and reports a chosen backlog."""

    def __init__(self, backlog: int = 0) -> None:
        super().__init__()
        self.chunks: list[bytes] = []
        self.backlog = backlog
        self.asked = 0  # how often the backlog was asked for

    @property
    def written(self) -> bytes:
        return b"".join(self.chunks)

    def write(self, data: Any) -> None:
        self.chunks.append(data)

    def get_write_buffer_size(self) -> int:
        self.asked += 1
        return self.backlog

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        pass

    def abort(self) -> None:
        pass

    def close(self) -> None:
        pass


def connection(backlog: int = 0, state: State = OPEN) -> tuple[ServerConnection, TransportStub]:
    """Return a server connection in ``state`` on a stub transport (call on a running loop)."""
    conn = ServerConnection(ServerProtocol(), server=None)  # type: ignore[arg-type]
    transport = TransportStub(backlog)
    # The base class's hook: the server's own would start a handler task for a real server.
    Connection.connection_made(conn, transport)
    conn.protocol.state = state
    return conn, transport


def text_of(size: int) -> str:
    """Return text whose UTF-8 form is ``size`` bytes, with multi-byte characters in it."""
    return "é" * (size // 2) + "x" * (size % 2)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("kind", ["text", "binary"])
def test_fan_out_writes_the_same_bytes_as_broadcast(kind: str, size: int) -> None:
    """For text and binary of every length form, fan_out writes what broadcast() writes."""
    message: str | bytes = text_of(size) if kind == "text" else bytes(range(256)) * (size // 256)
    message = message if kind == "text" else bytes(message) + b"\x07" * (size % 256)

    async def body() -> None:
        fanout = Fanout()
        theirs, their_transport = connection()
        ours, our_transport = connection()
        broadcast([theirs], message)
        assert fanout.send([ours], message, None) == []
        fanout.flush()
        assert our_transport.written == their_transport.written
        assert len(our_transport.chunks) == 1

    run_async(body())


@pytest.mark.parametrize("kind", ["text", "binary"])
def test_frame_bytes_are_websockets_own_for_every_short_length_first_time_and_after(
    kind: str,
) -> None:
    """Short frames, whose header is kept once made, stay byte for byte websockets' own."""
    for size in range(130):
        message: str | bytes = (
            "é" * (size // 2) + "x" * (size % 2) if kind == "text" else b"\x01" * size
        )
        payload = message.encode() if isinstance(message, str) else message
        opcode = Opcode.TEXT if kind == "text" else Opcode.BINARY
        expected = WsFrame(opcode, payload).serialize(mask=False, extensions=[])
        assert frame_bytes(message) == expected  # maybe the first of its length
        assert frame_bytes(message) == expected  # with the header kept


def test_fan_out_frames_a_message_once_for_all_recipients() -> None:
    """Every recipient is handed the very same bytes object: the frame is built once."""

    async def body() -> None:
        fanout = Fanout()
        pairs = [connection() for _ in range(5)]
        fanout.send([conn for conn, _ in pairs], "hello, all", None)
        fanout.flush()
        chunks = [transport.chunks[0] for _, transport in pairs]
        assert all(chunk is chunks[0] for chunk in chunks)
        assert chunks[0] == frame_bytes("hello, all")

    run_async(body())


@pytest.mark.parametrize("state", [CONNECTING, CLOSING, CLOSED], ids=lambda s: s.name)
def test_fan_out_skips_connections_that_are_not_open(state: State) -> None:
    """A connection still opening, closing or closed gets nothing and is not called slow."""

    async def body() -> None:
        fanout = Fanout()
        shut, shut_transport = connection(state=state)
        open_, open_transport = connection()
        assert fanout.send([shut, open_], "hi", 1024) == []
        fanout.flush()
        assert shut_transport.chunks == []
        assert open_transport.written == frame_bytes("hi")

    run_async(body())


def test_fan_out_skips_a_connection_in_the_middle_of_a_fragmented_message() -> None:
    """A connection busy sending a fragmented message is skipped, as broadcast() does."""

    async def body() -> None:
        fanout = Fanout()
        busy, busy_transport = connection()
        busy.send_in_progress = asyncio.get_running_loop().create_future()
        assert fanout.send([busy], "hi", None) == []
        fanout.flush()
        assert busy_transport.chunks == []

    run_async(body())


def test_fan_out_leaves_out_and_returns_connections_over_the_limit() -> None:
    """A backlog over the limit means no write and a place in the returned list; at it, a write."""

    async def body() -> None:
        fanout = Fanout()
        over, over_transport = connection(backlog=1025)
        at, at_transport = connection(backlog=1024)
        assert fanout.send([over, at], "hi", 1024) == [over]
        fanout.flush()
        assert over_transport.chunks == []
        assert at_transport.written == frame_bytes("hi")

    run_async(body())


def test_fan_out_without_a_limit_writes_whatever_the_backlog() -> None:
    """With ``limit=None`` nobody is skipped for being slow."""

    async def body() -> None:
        fanout = Fanout()
        slow, transport = connection(backlog=10**9)
        assert fanout.send([slow], b"\x00", None) == []
        fanout.flush()
        assert transport.written == frame_bytes(b"\x00")

    run_async(body())


def test_fan_out_defers_to_broadcast_when_an_extension_was_negotiated() -> None:
    """With permessage-deflate on a connection, the bytes are broadcast()'s compressed ones."""

    async def body() -> None:
        fanout = Fanout()
        theirs, their_transport = connection()
        ours, our_transport = connection()
        for conn in (theirs, ours):
            conn.protocol.extensions = [PerMessageDeflate(False, False, 15, 15)]
        message = "compress me " * 50
        broadcast([theirs], message)
        fanout.send([ours], message, None)
        fanout.flush()
        assert our_transport.written == their_transport.written
        assert our_transport.written != frame_bytes(message)

    run_async(body())


def test_a_burst_in_one_turn_is_one_write_of_broadcasts_bytes() -> None:
    """Messages fanned out in one loop turn reach each transport as one write, in order."""
    messages: list[str | bytes] = ["one", b"\x02", "three " * 40, ""]

    async def body() -> None:
        fanout = Fanout()
        theirs, their_transport = connection()
        pairs = [connection() for _ in range(3)]
        for message in messages:
            broadcast([theirs], message)
            fanout.send([conn for conn, _ in pairs], message, None)
        assert all(transport.chunks == [] for _, transport in pairs)  # held until the turn ends
        fanout.flush()
        for _, transport in pairs:
            assert transport.chunks == [their_transport.written]

    run_async(body())


def test_held_frames_are_written_before_the_next_callback_runs() -> None:
    """Without a fanout.flush() call, the frames go out when the loop turn that queued them ends."""

    async def body() -> None:
        fanout = Fanout()
        conn, transport = connection()
        fanout.send([conn], "later", None)
        turn_over = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(turn_over.set_result, None)  # queued after the flush
        await turn_over
        assert transport.written == frame_bytes("later")

    run_async(body())


def test_held_frames_are_dropped_once_the_connection_starts_closing() -> None:
    """No data frame follows a close frame: a connection closing before the flush gets none."""

    async def body() -> None:
        fanout = Fanout()
        conn, transport = connection()
        fanout.send([conn], "too late", None)
        conn.protocol.state = CLOSING  # as if a close frame went out in this same turn
        fanout.flush()
        assert transport.chunks == []

    run_async(body())


def test_a_fanout_used_on_a_new_loop_forgets_what_a_stopped_loop_held() -> None:
    """Frames held on a loop that stopped before flushing them never reach a later loop."""
    fanout = Fanout()
    loop = asyncio.new_event_loop()
    stale, stale_transport = [], []

    def hold_then_stop() -> None:
        conn, transport = connection()
        stale.append(conn)
        stale_transport.append(transport)
        fanout.send([conn], "never sent", None)
        loop.stop()  # this turn is the last: the flush, queued for the next, never runs

    loop.call_soon(hold_then_stop)
    loop.run_forever()
    loop.close()

    async def body() -> None:
        conn, transport = connection()
        fanout.send([conn], "on another loop", None)
        fanout.flush()
        assert transport.written == frame_bytes("on another loop")

    run_async(body())
    assert stale_transport[0].chunks == []


def test_frames_are_written_at_once_when_held_bytes_reach_flush_at() -> None:
    """A burst never waits in memory past FLUSH_AT bytes: it is written as it grows."""
    message = "x" * (FLUSH_AT // 4)

    async def body() -> None:
        fanout = Fanout()
        conn, transport = connection()
        for _ in range(4):
            fanout.send([conn], message, None)
        assert transport.written == frame_bytes(message) * 4  # no fanout.flush() needed
        fanout.send([conn], "big " * FLUSH_AT, None)  # alone past FLUSH_AT: written at once
        assert transport.written.endswith(frame_bytes("big " * FLUSH_AT))

    run_async(body())


def test_the_limit_counts_frames_held_in_this_turn() -> None:
    """A connection is slow once its transport backlog plus its held frames pass the limit."""
    message = "m" * 100
    size = len(frame_bytes(message))

    async def body() -> None:
        fanout = Fanout()
        conn, transport = connection(backlog=size)
        limit = 2 * size  # room for the backlog and one held frame, not two
        assert fanout.send([conn], message, limit) == []
        assert fanout.send([conn], message, limit) == []  # backlog + 1 held = limit: still in
        assert fanout.send([conn], message, limit) == [conn]  # backlog + 2 held > limit: out
        fanout.flush()
        assert transport.written == frame_bytes(message) * 2

    run_async(body())


def group(size: int) -> tuple[Relay[ServerConnection], list[TransportStub]]:
    """Return a relay whose ``size`` members are stub connections, and their transports."""
    relay: Relay[ServerConnection] = Relay()
    transports = []
    for _ in range(size):
        conn, transport = connection()
        relay.join(conn)
        transports.append(transport)
    return relay, transports


def test_publish_writes_broadcasts_bytes_to_every_member_but_the_sender() -> None:
    """A turn's messages reach each other member as one write of broadcast()'s bytes."""
    messages: list[str | bytes] = ["one", b"\x02", "three " * 40, "", text_of(70_000)]

    async def body() -> None:
        fanout = Fanout()
        theirs, their_transport = connection()
        relay, transports = group(4)
        sender = relay.members[0]
        for message in messages[:-1]:
            broadcast([theirs], message)
            fanout.publish(relay, message, sender=sender, limit=None)
        assert all(t.chunks == [] for t in transports)  # held until the turn ends
        fanout.flush()
        assert transports[0].chunks == []  # the sender gets none of its own
        for transport in transports[1:]:
            assert transport.chunks == [their_transport.written]
        assert all(t.chunks[0] is transports[1].chunks[0] for t in transports[1:])  # joined once

    run_async(body())


def test_publish_gives_each_sender_the_others_frames_in_order() -> None:
    """With several senders in one turn, each member gets everyone else's frames, in order."""

    async def body() -> None:
        fanout = Fanout()
        relay, transports = group(4)
        members = relay.members
        sent = [(members[i % 3], f"m{n} from {i % 3}") for n, i in enumerate(range(12))]
        for sender, message in sent:
            fanout.publish(relay, message, sender=sender, limit=None)
        fanout.publish(relay, "from elsewhere", sender=None, limit=None)  # e.g. the backplane
        fanout.flush()
        for member, transport in zip(members, transports, strict=True):
            wanted = [m for s, m in sent if s is not member] + ["from elsewhere"]
            assert transport.chunks == [b"".join(frame_bytes(m) for m in wanted)]

    run_async(body())


def test_publish_sends_nothing_sent_before_a_join_to_the_newcomer() -> None:
    """Who receives a message is fixed when it is published, even within one turn."""

    async def body() -> None:
        fanout = Fanout()
        relay, (old,) = group(1)
        fanout.publish(relay, "before", sender=None, limit=None)
        newcomer, new_transport = connection()
        relay.join(newcomer)
        fanout.publish(relay, "after", sender=None, limit=None)
        fanout.flush()
        assert old.written == frame_bytes("before") + frame_bytes("after")
        assert new_transport.written == frame_bytes("after")

    run_async(body())


def test_publish_skips_members_that_are_closing_or_busy() -> None:
    """A member that started closing, or is mid-fragment, gets nothing, as with broadcast()."""

    async def body() -> None:
        fanout = Fanout()
        relay, transports = group(3)
        closing, busy, _ = relay.members
        busy.send_in_progress = asyncio.get_running_loop().create_future()
        fanout.publish(relay, "hi", sender=None, limit=None)
        closing.protocol.state = CLOSING  # a close frame went out in this same turn
        fanout.flush()
        assert [t.written for t in transports] == [b"", b"", frame_bytes("hi")]

    run_async(body())


def test_publish_keeps_to_the_limit_and_reports_the_slow() -> None:
    """A member gets each frame that starts within its limit, then is reported slow."""
    message = "m" * 100
    size = len(frame_bytes(message))

    async def body() -> None:
        slow: list[ServerConnection] = []
        fanout = Fanout(on_slow=slow.append)
        relay: Relay[ServerConnection] = Relay()
        pairs = [connection(backlog=b) for b in (0, size, 3 * size)]
        for conn, _ in pairs:
            relay.join(conn)
        for _ in range(3):
            fanout.publish(relay, message, sender=None, limit=2 * size)
        fanout.flush()
        (_, roomy), (tight_conn, tight), (over_conn, over) = pairs
        assert roomy.written == frame_bytes(message) * 3  # its backlog never passes the limit
        assert tight.written == frame_bytes(message) * 2  # backlog + 1 held = limit: still in
        assert over.chunks == []
        assert slow == [tight_conn, over_conn]

    run_async(body())


def test_publish_asks_for_the_backlog_only_of_a_paused_connection_far_below_the_limit() -> None:
    """A transport pauses its connection past ``write_limit_high``: only then can it be slow.

    With the default 1 MiB limit an unpaused member is written without asking its
    transport; a paused one is asked, and over the limit it is left out and reported.
    """
    message = "m" * 100
    limit = 1024 * 1024

    async def body() -> None:
        slow: list[ServerConnection] = []
        fanout = Fanout(on_slow=slow.append)
        relay: Relay[ServerConnection] = Relay()
        (calm, calm_transport), (stuck, stuck_transport) = connection(), connection(limit + 1)
        stuck.pause_writing()  # what its transport did when its backlog passed the mark
        assert limit > calm.write_limit_high + len(frame_bytes(message))
        relay.join(calm)
        relay.join(stuck)
        fanout.publish(relay, message, sender=None, limit=limit)
        fanout.flush()
        assert (calm_transport.written, calm_transport.asked) == (frame_bytes(message), 0)
        assert (stuck_transport.chunks, stuck_transport.asked) == ([], 1)
        assert slow == [stuck]

    run_async(body())


def test_publish_writes_at_once_when_a_turn_reaches_flush_at() -> None:
    """A burst to a group never waits in memory past FLUSH_AT bytes."""
    message = "x" * (FLUSH_AT // 4)

    async def body() -> None:
        fanout = Fanout()
        relay, (transport,) = group(1)
        for _ in range(4):
            fanout.publish(relay, message, sender=None, limit=None)
        assert transport.written == frame_bytes(message) * 4  # no flush() needed

    run_async(body())


def test_publish_defers_to_broadcast_when_an_extension_was_negotiated() -> None:
    """With permessage-deflate on a member, its bytes are broadcast()'s, one per message."""

    async def body() -> None:
        fanout = Fanout()
        theirs, their_transport = connection()
        relay, (transport,) = group(1)
        for conn in (theirs, relay.members[0]):
            conn.protocol.extensions = [PerMessageDeflate(False, False, 15, 15)]
        for message in ("compress me " * 50, "and me " * 50):
            broadcast([theirs], message)
            fanout.publish(relay, message, sender=None, limit=None)
        fanout.flush()
        assert transport.written == their_transport.written

    run_async(body())


def test_send_and_publish_in_one_turn_keep_each_connections_order_in_one_write() -> None:
    """Frames sent to a few (send) among frames to a group (publish) arrive in call order."""

    async def body() -> None:
        fanout = Fanout()
        relay, transports = group(4)
        a, b, c, _ = relay.members
        outsider, outside = connection()
        fanout.send([a], "ack 1", None)
        fanout.publish(relay, "m1", sender=a, limit=None)
        fanout.send([b, outsider], "ack 2", None)
        fanout.publish(relay, "m2", sender=b, limit=None)
        fanout.send([a, b, c], "note", None)
        fanout.flush()
        wanted = [
            ["ack 1", "m2", "note"],  # a: none of its own
            ["m1", "ack 2", "note"],  # b: its ack where it was sent, none of its own
            ["m1", "m2", "note"],
            ["m1", "m2"],
        ]
        for transport, messages in zip(transports, wanted, strict=True):
            assert transport.chunks == [b"".join(frame_bytes(m) for m in messages)]
        assert outside.chunks == [frame_bytes("ack 2")]

    run_async(body())


def test_sends_among_one_senders_burst_reach_the_sender_alone_and_in_order() -> None:
    """With one sender in a turn, it gets only what was sent to it; the others get all, in order."""

    async def body() -> None:
        fanout = Fanout()
        relay, transports = group(3)
        a, b, _ = relay.members
        fanout.publish(relay, "m1", sender=a, limit=None)
        fanout.send([a, b], "ack 1", None)
        fanout.publish(relay, "m2", sender=a, limit=None)
        fanout.send([a], "ack 2", None)
        fanout.publish(relay, "m3", sender=a, limit=None)
        fanout.flush()
        wanted = [["ack 1", "ack 2"], ["m1", "ack 1", "m2", "m3"], ["m1", "m2", "m3"]]
        for transport, messages in zip(transports, wanted, strict=True):
            assert transport.chunks == [b"".join(frame_bytes(m) for m in messages)]

    run_async(body())


def test_the_limit_counts_sends_held_among_a_groups_frames() -> None:
    """A member's frames from send() and publish() count together towards its limit."""
    message = "m" * 100
    size = len(frame_bytes(message))

    async def body() -> None:
        slow: list[ServerConnection] = []
        fanout = Fanout(on_slow=slow.append)
        relay: Relay[ServerConnection] = Relay()
        conn, transport = connection(backlog=size)
        relay.join(conn)
        fanout.send([conn], message, 2 * size)
        for _ in range(2):
            fanout.publish(relay, message, sender=None, limit=2 * size)
        fanout.flush()
        assert transport.written == frame_bytes(message) * 2  # the third starts past the limit
        assert slow == [conn]

    run_async(body())


def test_two_servers_on_two_loops_in_two_threads_deliver_everything() -> None:
    """Two servers, each on its own loop and thread, relay full-rate bursts without a loss."""
    clients, count = 4, 300
    start = threading.Barrier(2, timeout=TIMEOUT)
    failures: list[BaseException] = []

    async def chat() -> None:
        async with Server(port=0) as server:
            peers = [await connect(server.url, max_queue=None) for _ in range(clients)]
            try:
                await until(lambda: server.clients == clients)
                await asyncio.to_thread(start.wait)  # both servers busy at the same time

                async def blast(i: int) -> None:
                    for n in range(count):
                        await peers[i].send(f"{i} {n}")

                async def check(i: int) -> None:
                    seen = [0] * clients
                    for _ in range((clients - 1) * count):
                        text = await recv(peers[i])
                        sender, n = map(int, text.removeprefix(PEER_PREFIX).split())
                        assert sender != i, text
                        assert n == seen[sender], text
                        seen[sender] += 1

                await asyncio.gather(*map(blast, range(clients)), *map(check, range(clients)))
            finally:
                for peer in peers:
                    await peer.close()

    def thread() -> None:
        try:
            run_async(chat())
        except BaseException as exc:  # reported by the main thread below
            failures.append(exc)
            start.abort()

    threads = [threading.Thread(target=thread) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(8 * TIMEOUT)
    assert not any(t.is_alive() for t in threads)
    assert failures == []


def test_a_burst_from_one_sender_reaches_a_raw_client_in_order() -> None:
    """Through a real server, messages sent in one TCP write arrive as frames, in order."""
    count = 50

    async def body() -> None:
        async with Server(port=0) as server:
            sender = await RawClient.connect(server.port)
            reader = await RawClient.connect(server.port)
            try:
                await until(lambda: server.clients == 2)
                burst = b"".join(frame(Opcode.TEXT, f"m{i}".encode()) for i in range(count))
                await sender.send(burst)
                for i in range(count):
                    received = await reader.read_frame()
                    assert received is not None
                    assert (received.opcode, received.fin, received.masked) == (
                        Opcode.TEXT,
                        True,
                        False,
                    )
                    assert received.payload == f"Received message from peer: m{i}".encode()
            finally:
                await sender.close()
                await reader.close()

    run_async(body())


@pytest.mark.parametrize("size", [125, 126, 65535, 65536])
def test_a_relayed_message_arrives_as_one_unmasked_frame_on_the_wire(size: int) -> None:
    """Through a real server, a client reads one unmasked, final frame holding the message."""
    payload = b"\x01" * size

    async def body() -> None:
        async with (
            Server(port=0) as server,
            connect(server.url, max_size=None) as alice,
        ):
            reader = await RawClient.connect(server.port)
            try:
                await alice.send(payload)
                received = await reader.read_frame()
                assert received is not None
                assert (received.opcode, received.fin, received.masked) == (
                    Opcode.BINARY,
                    True,
                    False,
                )
                assert received.payload == payload
            finally:
                await reader.close()

    run_async(body())


def test_open_relay_connections_forget_their_handshake_response(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The server drops each relay connection's handshake (the request's parser too) but the
    request's path, which connections on one path share, and relays."""
    shed: list[ServerConnection] = []
    statuses: list[int | None] = []  # each response's status, read before it is shed
    requests: list[Request] = []  # each request as websockets parsed it
    parsers: list[object] = []  # the code of each parser that runs on after the shedding

    def spy(connection: ServerConnection, shared: Any = None) -> None:
        statuses.append(connection.response.status_code if connection.response else None)
        assert connection.request is not None
        requests.append(connection.request)
        shed_handshake(connection, shared)
        parsers.append(connection.protocol.parser.gi_code)  # type: ignore[attr-defined]
        shed.append(connection)

    monkeypatch.setattr(wslib.server.server, "shed_handshake", spy)

    async def body() -> None:
        async with Server(port=0) as server, connect(server.url) as alice:
            async with connect(server.url) as bob:
                await alice.send("still here")
                assert await recv(bob) == "Received message from peer: still here"
            assert statuses == [101, 101]
            for shed_connection in shed:
                assert shed_connection.response is None
                assert shed_connection.request is not None
                assert shed_connection.request.path == "/"  # what the server routes by
                assert not shed_connection.request.headers
            assert requests
            assert not any(request.headers for request in requests)  # not a copy: emptied
            assert shed[0].request is shed[1].request  # one path: one request, shared
            assert parsers == [SansIOProtocol.parse.__code__] * 2  # not the request's

    run_async(body())


HANDSHAKE = (
    b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def _opened_protocol(path: bytes = b"/") -> ServerConnection:
    """Return a stub connection whose protocol parsed a real opening request and accepted it."""
    conn, _ = connection(state=CONNECTING)
    protocol = conn.protocol
    protocol.receive_data(HANDSHAKE % path)
    (request,) = protocol.events_received()
    assert isinstance(request, Request)
    conn.request = request
    protocol.send_response(protocol.accept(request))
    assert protocol.state is OPEN
    return conn


def _frames(conn: ServerConnection) -> list[tuple[int, bytes]]:
    return [(int(e.opcode), bytes(e.data)) for e in conn.protocol.events_received()]


def test_an_idle_open_connection_drops_the_generator_that_parsed_its_request() -> None:
    """With nothing half read, the frame parser is swapped for a fresh one (the request's
    generator is let go), and frames, fragments and the close frame parse as before."""

    async def body() -> None:
        conn = _opened_protocol()
        protocol = conn.protocol
        shed_handshake(conn)
        assert protocol.parser.gi_code is SansIOProtocol.parse.__code__  # type: ignore[attr-defined]
        protocol.receive_data(frame(Opcode.TEXT, b"hi") + frame(Opcode.TEXT, b"a", fin=False))
        protocol.receive_data(frame(Opcode.CONT, b"b") + frame(Opcode.BINARY, b"\x00"))
        assert _frames(conn) == [(1, b"hi"), (1, b"a"), (0, b"b"), (2, b"\x00")]
        protocol.receive_data(frame(Opcode.CLOSE, b"\x03\xe8"))
        assert protocol.state is CLOSING
        assert protocol.close_rcvd is not None
        assert protocol.close_rcvd.code == 1000

    run_async(body())


def test_connections_on_one_path_share_one_headerless_request_until_all_are_gone() -> None:
    """With ``shared``, connections that asked for the same path keep one headerless
    request between them, another path its own; once none holds it, it is forgotten."""

    async def body() -> None:
        shared: weakref.WeakValueDictionary[tuple[str, str, str], Request] = (
            weakref.WeakValueDictionary()
        )
        first, second, other = _opened_protocol(), _opened_protocol(), _opened_protocol(b"/x")
        for each in (first, second, other):
            shed_handshake(each, shared)
        assert first.request is second.request
        assert other.request is not first.request
        assert [(c.request.path, dict(c.request.headers)) for c in (second, other)] == [
            ("/", {}),
            ("/x", {}),
        ]
        assert len(shared) == 2
        del first, second, other, each
        gc.collect()  # the connections' own reference cycles
        assert len(shared) == 0

    run_async(body())


def test_a_half_read_frame_keeps_the_parser_that_is_reading_it() -> None:
    """If the handshake's bytes were followed by part of a frame, the parser stays, and the
    frame completes when the rest arrives."""

    async def body() -> None:
        conn = _opened_protocol()
        protocol = conn.protocol
        whole = frame(Opcode.TEXT, b"split across reads")
        protocol.receive_data(whole[:6])  # the header and the mask key, taken from the buffer
        assert not protocol.reader.buffer
        before = protocol.parser
        shed_handshake(conn)
        assert protocol.parser is before
        protocol.receive_data(whole[6:])
        assert _frames(conn) == [(1, b"split across reads")]

    run_async(body())


# -- DirectConnection: whole messages straight from the parser, never ahead of queued ones ----

WHOLE_THEN_FRAGMENTED = [
    frame(Opcode.TEXT, b"1"),
    frame(Opcode.TEXT, b"2a", fin=False),
    frame(Opcode.CONT, b"2b"),
    frame(Opcode.TEXT, b"3"),
    frame(Opcode.BINARY, b"\x004"),
]


class Recorder:
    """A ``DirectHandler`` that notes what ``recv()`` gave as ("recv", it), and each finish."""

    def __init__(self, got: list[tuple[str, str | bytes]]) -> None:
        self.got = got
        self.finished: list[ServerConnection] = []
        self.fail_on: str | None = None  # take() raises on this message

    async def take(self, connection: ServerConnection, message: str | bytes) -> None:
        if message == self.fail_on:
            raise RuntimeError("this handler fails on purpose")
        self.got.append(("recv", message))

    def finish(self, connection: ServerConnection) -> None:
        self.finished.append(connection)


# Two ways to serve a DirectConnection: a coroutine of one's own, or handle_directly().
STYLES = ["coroutine", "handle_directly"]


async def _direct_server(
    on_message: OnMessage,
    got: list[tuple[str, str | bytes]],
    style: str = "coroutine",
    recorder: Recorder | None = None,
) -> websockets.asyncio.server.Server:
    """Serve DirectConnections that give whole messages to ``on_message``; the rest is
    taken from recv() (by a coroutine, or by ``handle_directly`` with ``recorder``) and
    noted as ("direct"|"recv", it)."""

    def install(connection: ServerConnection, request: Request) -> None:
        assert receive_directly(connection, on_message)

    async def handler(connection: ServerConnection) -> None:
        while True:
            message = await connection.recv()
            taken(connection)
            got.append(("recv", message))

    def direct_handler(connection: ServerConnection) -> Awaitable[None]:
        done = handle_directly(connection, recorder or Recorder(got))
        assert done is not None
        return done

    return await websockets.asyncio.server.serve(
        handler if style == "coroutine" else direct_handler,  # type: ignore[arg-type]
        "127.0.0.1",
        0,
        process_request=install,
        create_connection=DirectConnection,
        compression=None,
    )


@pytest.mark.parametrize("style", STYLES)
def test_a_whole_message_goes_to_the_callback_and_the_rest_follow_through_recv_in_order(
    style: str,
) -> None:
    """A one-frame message skips recv(); a fragmented one goes through recv(), and so does
    every message after it until the handler has taken it, so the order is the client's."""
    got: list[tuple[str, str | bytes]] = []

    def direct(connection: ServerConnection, message: str | bytes) -> bool:
        got.append(("direct", message))
        return True

    async def body() -> None:
        async with await _direct_server(direct, got, style) as server:
            client = await RawClient.connect(server.sockets[0].getsockname()[1])
            try:
                await client.send(b"".join(WHOLE_THEN_FRAGMENTED))  # one write: one read
                await until(lambda: len(got) == 4)
                await client.send_text("5")  # the queue is empty again: direct once more
                await until(lambda: len(got) == 5)
            finally:
                await client.close()

    run_async(body())
    assert got == [
        ("direct", "1"),
        ("recv", "2a2b"),
        ("recv", "3"),
        ("recv", b"\x004"),
        ("direct", "5"),
    ]


def test_a_direct_connection_reads_its_socket_read_size_at_a_time() -> None:
    """asyncio's transport reads READ_SIZE bytes at a time, and a message several reads
    long still reaches the callback whole."""
    got: list[tuple[str, str | bytes]] = []
    sizes: list[int] = []
    big = bytes(range(256)) * (3 * READ_SIZE // 256) + b"!"

    def direct(connection: ServerConnection, message: str | bytes) -> bool:
        sizes.append(connection.transport.max_size)  # type: ignore[attr-defined]
        got.append(("direct", message))
        return True

    async def body() -> None:
        async with await _direct_server(direct, got) as server:
            client = await RawClient.connect(server.sockets[0].getsockname()[1])
            try:
                await client.send(frame(Opcode.BINARY, big))
                await until(lambda: len(got) == 1)
            finally:
                await client.close()

    run_async(body())
    assert READ_SIZE < 128 * 1024  # below glibc's mmap threshold
    assert sizes == [READ_SIZE]
    assert got == [("direct", big)]


@pytest.mark.parametrize("style", STYLES)
def test_a_declined_message_and_invalid_utf8_go_to_recv(style: str) -> None:
    """A message the callback declines reaches recv() in its place; invalid UTF-8 is left
    to recv(), which fails the connection with 1007 as websockets always does."""
    got: list[tuple[str, str | bytes]] = []

    def direct(connection: ServerConnection, message: str | bytes) -> bool:
        if message == "decline me":
            return False
        got.append(("direct", message))
        return True

    async def body() -> int | None:
        async with await _direct_server(direct, got, style) as server:
            client = await RawClient.connect(server.sockets[0].getsockname()[1])
            try:
                await client.send_text("decline me")
                await until(lambda: len(got) == 1)
                await client.send_text("ok")
                await until(lambda: len(got) == 2)
                await client.send(frame(Opcode.TEXT, b"caf\xc3("))
                return await client.close_code()
            finally:
                await client.close()

    assert run_async(body()) == 1007
    assert got == [("recv", "decline me"), ("direct", "ok")]


def _decline(connection: ServerConnection, message: str | bytes) -> bool:
    return False  # everything goes through recv(), to the DirectHandler


def test_a_directly_handled_connection_finishes_once_when_the_client_closes() -> None:
    """handle_directly's future ends once the client closed and everything queued was
    taken: ``finish`` runs once, and the client gets a clean 1000."""
    got: list[tuple[str, str | bytes]] = []
    recorder = Recorder(got)

    async def body() -> int | None:
        async with await _direct_server(_decline, got, "handle_directly", recorder) as server:
            client = await RawClient.connect(server.sockets[0].getsockname()[1])
            try:
                await client.send(frame(Opcode.TEXT, b"last") + frame(Opcode.CLOSE, b"\x03\xe8"))
                code = await client.close_code()
                await client.close()  # the TCP connection ends: the server's is lost
                await until(lambda: len(recorder.finished) == 1)
                await until(lambda: not server.handler_tasks)
                return code
            finally:
                await client.close()

    assert run_async(body()) == 1000
    assert got == [("recv", "last")]
    assert len(recorder.finished) == 1


def test_a_directly_handled_connection_whose_take_raises_is_closed_with_1011() -> None:
    """If ``take`` raises, ``finish`` runs once and websockets closes that client with
    1011, as for any failing handler."""
    got: list[tuple[str, str | bytes]] = []
    recorder = Recorder(got)
    recorder.fail_on = "boom"

    async def body() -> int | None:
        async with await _direct_server(_decline, got, "handle_directly", recorder) as server:
            client = await RawClient.connect(server.sockets[0].getsockname()[1])
            try:
                await client.send_text("fine")
                await client.send_text("boom")
                code = await client.close_code()
                await client.close()
                await until(lambda: not server.handler_tasks)
                return code
            finally:
                await client.close()

    assert run_async(body()) == 1011
    assert got == [("recv", "fine")]
    assert len(recorder.finished) == 1


def test_cancelling_a_directly_handled_connections_task_cancels_none_of_websockets_futures() -> (
    None
):
    """Cancelling the task that awaits handle_directly's future cancels that future only:
    websockets still closes the connection, and ``finish`` runs once it is lost."""
    got: list[tuple[str, str | bytes]] = []
    recorder = Recorder(got)

    async def body() -> tuple[bool, int | None]:
        async with await _direct_server(_decline, got, "handle_directly", recorder) as server:
            client = await RawClient.connect(server.sockets[0].getsockname()[1])
            try:
                await client.send_text("before")
                await until(lambda: len(got) == 1)
                (task,) = server.handler_tasks
                (connection,) = server.connections
                task.cancel()
                code = await client.close_code()
                await client.close()
                await until(lambda: len(recorder.finished) == 1)
                await asyncio.wait([task], timeout=TIMEOUT)
                return connection.connection_lost_waiter.cancelled(), code
            finally:
                await client.close()

    lost_waiter_cancelled, code = run_async(body())
    assert not lost_waiter_cancelled
    assert code == 1011  # websockets closes a handler that did not return as failed
    assert len(recorder.finished) == 1


def test_the_relay_keeps_each_senders_order_across_whole_and_fragmented_messages() -> None:
    """Whole and fragmented messages sent in one burst reach another client in order."""

    async def body() -> list[str | bytes]:
        async with Server(port=0) as server, connect(server.url) as bob:
            sender = await RawClient.connect(server.port)
            try:
                await until(lambda: server.clients == 2)
                await sender.send(b"".join(WHOLE_THEN_FRAGMENTED * 3))
                return [await recv(bob) for _ in range(12)]
            finally:
                await sender.close()

    assert (
        run_async(body())
        == [PEER_PREFIX + "1", PEER_PREFIX + "2a2b", PEER_PREFIX + "3", b"\x004"] * 3
    )


def test_a_closed_relay_connection_leaves_nothing_for_the_collector() -> None:
    """Once clients have left, cleanly or by dropping the TCP connection, reference
    counting alone has freed the server's side of them: nothing waits in a cycle."""

    def server_sides(port: int) -> dict[int, list[weakref.ref[object]]]:
        """The protocol and transport of each of the server's connections, weakly, by the
        client's port (only this server's: other tests' objects may still be alive)."""
        sides: dict[int, list[weakref.ref[object]]] = {}
        for thing in gc.get_objects():
            if isinstance(thing, weakref.ProxyTypes):
                continue  # a proxy to what is gone: asking it anything raises
            if (
                isinstance(thing, ServerConnection)
                and thing.state is State.OPEN  # not one an earlier test left behind
                and thing.local_address[1] == port
            ):
                refs = [weakref.ref(thing.protocol), weakref.ref(thing.transport)]
                sides[thing.remote_address[1]] = refs
        return sides

    def alive(refs: list[weakref.ref[object]]) -> list[str]:
        return sorted(type(thing).__name__ for ref in refs if (thing := ref()) is not None)

    async def body() -> tuple[list[str], list[str]]:
        async with Server(port=0) as server, connect(server.url) as bob:
            clean = await connect(server.url)
            dropped = await RawClient.connect(server.port)
            await until(lambda: server.clients == 3)
            await clean.send("hi")
            await dropped.send_text("hi")
            assert [await recv(bob) for _ in range(2)] == [PEER_PREFIX + "hi"] * 2
            sides = server_sides(server.port)
            assert len(sides) == 3
            kept = sides.pop(bob.local_address[1])
            left = [ref for refs in sides.values() for ref in refs]
            gc.collect()
            gc.disable()  # from here on, only reference counting frees anything
            try:
                await clean.close()
                await dropped.close()  # no closing handshake: an abnormal closure
                await until(lambda: server.clients == 1)
                with contextlib.suppress(TimeoutError):  # in a cycle, they never go
                    await until(lambda: not alive(left))  # the handler tasks' last steps
                return alive(left), alive(kept)
            finally:
                gc.enable()

    left, kept = run_async(body())
    assert left == []
    assert kept == ["ServerProtocol", "_SelectorSocketTransport"]  # bob's, still open


# -- shed_queues: lists where websockets keeps deques that are almost always empty ------------


def _holding_server(
    handler: Callable[[ServerConnection], Any],
) -> Server:
    """Return a server whose every connection goes to ``handler``."""
    return Server(port=0, handler=handler)


def test_shed_frame_queues_keep_order_through_bursts_and_an_interrupted_read() -> None:
    """With its queues shed, a connection reads a burst and a fragmented message in order,
    also after a read that was cancelled between fragments (websockets puts them back)."""
    got: list[str | bytes] = []
    interrupted = asyncio.Event()

    async def handler(connection: ServerConnection) -> None:
        assert type(connection.recv_messages.frames.queue) is not collections.deque
        assert type(connection.drain_waiters) is list
        with pytest.raises(TimeoutError):  # two of three fragments in: cancelled mid-message
            await asyncio.wait_for(connection.recv(), TIMEOUT / 8)
        interrupted.set()
        while len(got) < 31:
            got.append(await connection.recv())
        await connection.send("done")

    async def body() -> None:
        async with _holding_server(handler) as server:
            client = await RawClient.connect(server.port)
            try:
                await client.send(
                    frame(Opcode.TEXT, b"a", fin=False) + frame(Opcode.CONT, b"b", fin=False)
                )
                await asyncio.wait_for(interrupted.wait(), TIMEOUT)
                burst = b"".join(frame(Opcode.TEXT, f"m{i}".encode()) for i in range(30))
                await client.send(frame(Opcode.CONT, b"c") + burst)
                reply = await client.read_frame()
                assert reply is not None
                assert reply.payload == b"done"
            finally:
                await client.close()
        assert got == ["abc", *(f"m{i}" for i in range(30))]

    run_async(body())


def test_a_shed_connection_waits_for_a_slow_reader_and_then_sends_everything() -> None:
    """A send that must wait for a client that stopped reading waits, then resumes in full."""
    chunk = "x" * 60_000
    opened: list[ServerConnection] = []
    sent: list[int] = [0]
    stop = asyncio.Event()

    async def handler(connection: ServerConnection) -> None:
        opened.append(connection)
        while not stop.is_set():  # until a send has had to wait for the reader
            await connection.send(chunk)
            sent[0] += 1
        await connection.send("done")

    async def body() -> None:
        async with _holding_server(handler) as server:
            client = await RawClient.connect(server.port, rcvbuf=4096)
            client.transport.pause_reading()
            try:
                await until(lambda: bool(opened and opened[0].drain_waiters), 4 * TIMEOUT)
                transport = opened[0].transport
                assert transport.get_write_buffer_size() > 0
                if sys.version_info >= (3, 12):  # the spare gave way to a real deque
                    assert type(transport._buffer) is collections.deque  # type: ignore[attr-defined]
                stop.set()
                client.transport.resume_reading()
                payloads = []
                while (received := await client.read_frame()) is not None:
                    payloads.append(received.payload)
                    if received.payload == b"done":
                        break
                assert payloads == [chunk.encode()] * sent[0] + [b"done"]
            finally:
                await client.close()

    run_async(body())


def test_an_open_connection_drops_its_finished_handshake_future() -> None:
    """Once open, a connection no longer holds ``request_rcvd``; its frame queue is a list."""

    async def body() -> None:
        opened: list[ServerConnection] = []

        async def handler(connection: ServerConnection) -> None:
            opened.append(connection)
            await connection.wait_closed()

        async with _holding_server(handler) as server, connect(server.url):
            await until(lambda: len(opened) == 1)
            assert opened[0].request_rcvd is None
            assert opened[0].recv_messages.frames.queue == []

    run_async(body())


class _BufferedTransport:
    """Stands in for asyncio's socket transport: an attribute ``_buffer`` and a weakref."""

    _buffer: Any = None


def test_a_spare_write_buffer_answers_as_an_empty_deque_until_bytes_must_wait() -> None:
    """Empty, it answers as an empty deque; the first bytes to wait give the transport a
    real deque holding them; it keeps no strong reference to the transport."""
    spare_class = wslib.server.fanout._SpareBuffer
    for put, expected in [
        (lambda b: b.append(b"x"), [b"x"]),
        (lambda b: b.appendleft(b"y"), [b"y"]),
        (lambda b: b.extend([b"a", b"b"]), [b"a", b"b"]),
    ]:
        transport = _BufferedTransport()
        spare = transport._buffer = spare_class(transport)
        assert len(spare) == 0
        assert not spare
        assert list(spare) == []
        spare.clear()
        with pytest.raises(IndexError):
            spare.popleft()
        put(spare)
        assert type(transport._buffer) is collections.deque
        assert list(transport._buffer) == expected
    gone = _BufferedTransport()
    orphan = spare_class(gone)
    del gone
    orphan.append(b"late")  # no transport left to give a deque to, and no error
    assert sys.getsizeof(orphan) + sys.getsizeof(weakref.ref(_BufferedTransport)) < sys.getsizeof(
        collections.deque()
    )


def test_an_open_connections_empty_write_buffer_is_a_spare_where_asyncio_has_a_deque() -> None:
    """On CPython 3.12 and newer asyncio's transport keeps a deque for unsent bytes; an open
    connection has the spare in its place. On 3.11 the transport's bytearray is left."""

    async def body() -> None:
        opened: list[ServerConnection] = []

        async def handler(connection: ServerConnection) -> None:
            opened.append(connection)
            await connection.send(await connection.recv())  # the spare answers a write
            await connection.wait_closed()

        async with _holding_server(handler) as server, connect(server.url) as client:
            await until(lambda: len(opened) == 1)
            buffer = opened[0].transport._buffer  # type: ignore[attr-defined]
            if sys.version_info >= (3, 12):
                assert type(buffer) is wslib.server.fanout._SpareBuffer
            else:
                assert type(buffer) is bytearray
            await client.send("echo")
            assert await recv(client) == "echo"
            # A socket that takes every write whole leaves the spare where it was.
            assert opened[0].transport._buffer is buffer  # type: ignore[attr-defined]

    run_async(body())


def test_an_idle_relay_client_that_sends_many_fragments_is_read_to_the_end() -> None:
    """Fragments enough to pause reading, sent to an idle relay connection (its handler
    waiting outside recv()), are taken as they come: the message completes and is relayed."""
    count = 40  # well past websockets' default queue of 16 frames

    async def body() -> str:
        async with Server(port=0) as server, connect(server.url) as bob:
            sender = await RawClient.connect(server.port)
            try:
                await until(lambda: server.clients == 2)
                first = [frame(Opcode.TEXT, b"f", fin=False)]
                more = [frame(Opcode.CONT, b"f", fin=False)] * (count - 2)
                await sender.send(b"".join([*first, *more, frame(Opcode.PING, b"seen?")]))
                pong = await sender.read_frame()  # the server has parsed every fragment
                assert pong is not None
                assert pong.payload == b"seen?"
                await sender.send(frame(Opcode.CONT, b"f"))  # read only if reading resumed
                return str(await recv(bob))
            finally:
                await sender.close()

    assert run_async(body()) == PEER_PREFIX + "f" * count


def test_a_direct_connections_log_records_still_name_their_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """websockets' records about a DirectConnection carry its ``websocket`` field, as with
    websockets' own logger, though no dict per connection keeps it."""
    caplog.set_level(logging.ERROR, logger="websockets")
    opened: list[ServerConnection] = []

    async def handler(connection: ServerConnection) -> None:
        opened.append(connection)
        raise RuntimeError("this handler fails on purpose")

    async def body() -> None:
        async with (
            await websockets.asyncio.server.serve(
                handler, "127.0.0.1", 0, create_connection=DirectConnection
            ) as server,
            connect(f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/") as client,
        ):
            await client.wait_closed()

    run_async(body())
    (record,) = [r for r in caplog.records if r.getMessage() == "connection handler failed"]
    assert record.websocket.id == opened[0].id  # type: ignore[attr-defined]
    assert opened[0].logger.extra is None  # nothing kept: made for each record


def test_a_failing_relay_step_closes_that_client_with_1011_and_the_others_carry_on() -> None:
    """If relaying a message raises (here a log listener), the sender is closed with 1011
    as websockets closes any failing handler, not aborted; the server keeps relaying."""
    log = LogBook()

    def listener(line: str) -> None:
        if "boom" in line:
            raise RuntimeError("a listener that fails on purpose")

    log.subscribe(listener)

    async def body() -> tuple[int | None, str]:
        async with (
            Server(port=0, log=log) as server,
            connect(server.url) as alice,
            connect(server.url) as bob,
            connect(server.url) as carol,
        ):
            await until(lambda: server.clients == 3)
            await alice.send("boom")
            await alice.wait_closed()
            await bob.send("still here?")
            return alice.close_code, str(await recv(carol))

    code, got = run_async(body())
    assert code == 1011
    assert got == PEER_PREFIX + "still here?"
