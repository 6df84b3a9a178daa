"""Faults: peers that vanish mid-message, reset, or go silent, and a server restart mid-chat.

After each fault the server must have cleaned up: the others told (``left``), no
connection, task or file descriptor left behind.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from rawclient import RawClient, frame, until
from support import TIMEOUT, restart_port, run_async

from wslib import Backoff, ChatClient, Server, Status
from wslib.core.settings import Limits
from wslib.teaching.frames import Opcode

QUICK = Backoff(initial=0.05, minimum=0.05, maximum=0.2, factor=1.5)


def open_fds() -> int:
    """Return how many file descriptors this process holds."""
    return len(os.listdir("/proc/self/fd"))


@asynccontextmanager
async def no_leaks(server: Server) -> AsyncIterator[None]:
    """Check that what runs inside leaves no connection, task or descriptor behind."""
    tasks, fds = len(asyncio.all_tasks()), open_fds()
    yield
    await until(lambda: server.clients == 0)
    await until(lambda: len(asyncio.all_tasks()) <= tasks)
    await until(lambda: open_fds() <= fds)


@pytest.fixture(autouse=True)
def _needs_proc() -> None:
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("counting descriptors needs /proc/self/fd (Linux)")


async def join_raw(server: Server, name: str) -> RawClient:
    """Join the chat as ``name`` on a bare socket and read up to the welcome."""
    client = await RawClient.connect(server.port, "/chat")
    await client.send_text(f'{{"type": "join", "name": "{name}", "v": 1}}')
    welcome = await client.read_frame()
    assert welcome is not None
    assert b'"welcome"' in welcome.payload
    return client


def left_names(client: ChatClient) -> list[str]:
    """Return the names in the ``left`` events ``client`` has seen, via its listener."""
    return client.left  # type: ignore[attr-defined, no-any-return]


def watch_leaves(client: ChatClient) -> ChatClient:
    """Make ``client`` record the names of ``left`` events in ``client.left``."""
    client.left = []  # type: ignore[attr-defined]

    def listen(event: Any) -> None:
        if isinstance(event, dict) and event.get("type") == "left":
            client.left.append(event["name"])  # type: ignore[attr-defined]

    client.listen(listen)
    return client


def kill_mid_message(client: RawClient) -> None:
    """Send the first bytes of a frame that promises 1000 bytes, then close the socket."""
    whole = frame(Opcode.TEXT, b'{"type": "send", "cid": "x", "text": "' + b"a" * 1000)
    client.writer.write(whole[:40])
    client.transport.abort()


def reset(client: RawClient) -> None:
    """Close the socket with SO_LINGER 0, so the kernel sends RST instead of FIN."""
    sock = client.writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.transport.abort()


@pytest.mark.parametrize("fault", [kill_mid_message, reset], ids=["killed mid-frame", "reset"])
def test_a_peer_that_vanishes_is_cleaned_up_and_announced(fault: Any) -> None:
    """A chat peer killed mid-frame or reset is removed, 'left' is sent, nothing leaks."""

    async def body() -> None:
        async with Server(port=0) as server, no_leaks(server):
            witness = watch_leaves(ChatClient(server.chat_url, "witness", reconnect=False))
            async with witness:
                victim = await join_raw(server, "victim")
                await witness.wait_for(lambda: "victim" in witness.online, TIMEOUT)
                fault(victim)
                await witness.wait_for(lambda: left_names(witness) == ["victim"], TIMEOUT)
                assert "victim" not in server.room.online
                await witness.send("still here")
                await witness.wait_for(lambda: len(witness.messages) == 1, TIMEOUT)

    run_async(body())


def test_a_relay_peer_killed_mid_frame_is_logged_once_and_leaks_nothing() -> None:
    """On the relay, a peer killed mid-frame costs one 'Client disconnected' line and no leak."""

    async def body() -> None:
        async with Server(port=0) as server, no_leaks(server):
            victim = await RawClient.connect(server.port)
            await until(lambda: server.clients == 1)
            kill_mid_message(victim)
            await until(lambda: server.log.lines == ["Client disconnected"])

    run_async(body())


def test_a_half_open_peer_is_found_by_keepalive_and_announced_in_time() -> None:
    """A peer that stops answering pings is dropped within ping interval + timeout (+ close)."""
    short = TIMEOUT / 16  # the witness must answer pings in time too, even on a busy machine
    limits = Limits(ping_interval=short, ping_timeout=short, close_timeout=short)
    deadline = limits.ping_interval + limits.ping_timeout + limits.close_timeout  # type: ignore[operator]

    async def body() -> None:
        async with Server(port=0, limits=limits) as server, no_leaks(server):
            witness = watch_leaves(ChatClient(server.chat_url, "witness", reconnect=False))
            ghost = ChatClient(server.chat_url, "ghost", reconnect=False)
            async with witness, ghost:
                await witness.wait_for(lambda: "ghost" in witness.online, TIMEOUT)
                # The ghost's machine is gone: nothing it receives is read or answered.
                ghost._connection.transport.pause_reading()  # type: ignore[union-attr]
                began = time.monotonic()
                await witness.wait_for(lambda: left_names(witness) == ["ghost"], TIMEOUT)
                assert time.monotonic() - began <= deadline + TIMEOUT / 10
                ghost._connection.transport.abort()  # type: ignore[union-attr]

    run_async(body())


def test_close_timeout_bounds_how_long_stop_waits_for_a_silent_peer() -> None:
    """A peer that never answers the close frame holds ``stop()`` for close_timeout only."""

    async def body() -> None:
        close_timeout = TIMEOUT / 16
        server = Server(port=0, limits=Limits(close_timeout=close_timeout))
        await server.start()
        silent = await RawClient.connect(server.port)
        silent.transport.pause_reading()
        try:
            began = time.monotonic()
            await server.stop()
            assert time.monotonic() - began < close_timeout + TIMEOUT / 5
        finally:
            silent.transport.abort()

    run_async(body())


# -- a restart mid-chat -------------------------------------------------------------------


def restart_chat(history_db: str | None) -> tuple[list[ChatClient], list[list[Status]]]:
    """Chat, restart the server on its port, chat on; return the clients and their statuses."""

    async def body() -> tuple[list[ChatClient], list[list[Status]]]:
        port = restart_port()
        first = Server(port=port, history_db=history_db)
        await first.start()
        statuses: list[list[Status]] = [[], []]
        clients = [
            ChatClient(first.chat_url, name, reconnect=QUICK, on_event=seen.append)
            for name, seen in zip(["alice", "bob"], statuses, strict=True)
        ]
        alice, bob = clients
        second: Server | None = None
        try:
            for client in clients:
                await client.start(TIMEOUT)
            for i in range(3):
                await alice.send(f"before {i}")
                await bob.send(f"bob before {i}")
            await bob.wait_for(lambda: len(bob.messages) == 6, TIMEOUT)
            await first.stop()  # code 1001
            await alice.wait_for(lambda: alice.status.state == "reconnecting", TIMEOUT)
            await alice.send("while down")  # kept as pending, sent after the rejoin
            second = Server(port=port, history_db=history_db)
            await second.start()
            for client in clients:  # rejoined: ``joined`` alone still holds while reconnecting
                await client.wait_for(
                    lambda c=client: c.joined and c.is_open and not c.pending, TIMEOUT
                )
            await bob.send("after")
            for client in clients:
                await client.wait_for(
                    lambda c=client: any(m["text"] == "after" for m in c.messages), TIMEOUT
                )
        finally:
            for client in clients:
                await client.stop()
            if second is not None:
                await second.stop()
            await first.stop()
        return clients, [[s for s in seen if isinstance(s, Status)] for seen in statuses]

    return run_async(body())


def test_a_restart_with_history_db_shows_every_message_exactly_once(tmp_path: Path) -> None:
    """With --history-db, both clients reconnect after 1001 and see each message exactly once."""
    clients, statuses = restart_chat(str(tmp_path / "chat.db"))
    expected = [f"{who}before {i}" for i in range(3) for who in ("", "bob ")]
    expected += ["while down", "after"]
    for client, seen in zip(clients, statuses, strict=True):
        texts = [m["text"] for m in client.messages]
        assert sorted(texts) == sorted(expected), client.name
        assert len({m["id"] for m in client.messages}) == len(client.messages)
        assert texts[-2:] == ["while down", "after"]
        assert client.history_resets == 0
        assert Status("reconnecting", 1001, "server shutting down") in seen


def test_a_restart_without_history_db_tells_the_clients_history_was_reset() -> None:
    """Without --history-db, the clients reconnect after 1001 and are told history was reset."""
    clients, statuses = restart_chat(None)
    for client, seen in zip(clients, statuses, strict=True):
        assert client.history_resets == 1, client.name
        assert [m["text"] for m in client.messages][-2:] == ["while down", "after"]
        assert Status("reconnecting", 1001, "server shutting down") in seen
