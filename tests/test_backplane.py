"""Tests for wslib.server.backplane: servers in one process sharing the relay and the chat."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Coroutine, Sequence
from typing import Any

import pytest
from support import TIMEOUT

from wslib.core.room import Action, Send
from wslib.server.backplane import LocalBackplane
from wslib.server.server import _open_backplane
from wslib.storage.history import MemoryHistory
from wslib.storage.local import LocalStore


class FakeNode:
    """Record what a backplane hands to one server."""

    def __init__(self) -> None:
        self.delivered: list[tuple[list[Action], bool]] = []
        self.relayed: list[str | bytes] = []
        self.closed: list[tuple[int, str]] = []

    def deliver(self, actions: Sequence[Action], *, log: bool = True) -> None:
        self.delivered.append((list(actions), log))

    def relay_in(self, payload: str | bytes) -> None:
        self.relayed.append(payload)

    def close_chat(self, code: int, reason: str) -> None:
        self.closed.append((code, reason))


def join(name: str) -> str:
    return json.dumps({"type": "join", "name": name})


def store() -> LocalStore:
    return LocalStore(MemoryHistory())


def test_a_lone_server_gets_its_rooms_actions() -> None:
    """With one server attached, a join is welcomed and a leave frees the name."""

    async def body() -> None:
        hub, node = LocalBackplane(), FakeNode()
        room = await hub.attach(node, store(), 100)
        await hub.receive(node, 1, join("alice"))
        assert room.online == ["alice"]
        (actions, log), *_ = node.delivered
        assert log is True
        assert isinstance(actions[0], Send)
        assert actions[0].event["type"] == "welcome"
        assert await hub.disconnect(node, 1) == "alice"
        assert room.online == []
        await hub.detach(node)

    asyncio.run(body())


def test_servers_sharing_a_local_backplane_share_one_chat() -> None:
    """A second server joins the first one's chat: its clients see the first's joins."""

    async def body() -> None:
        hub, a, b = LocalBackplane(), FakeNode(), FakeNode()
        await hub.attach(a, store(), 100)
        room_b = await hub.attach(b, store(), 100)
        await hub.receive(a, 1, join("alice"))
        await hub.receive(b, 2, join("bob"))
        assert room_b.online == ["alice", "bob"]

        def sent_to_a() -> list[object]:
            return [x.event for actions, _ in a.delivered for x in actions if isinstance(x, Send)]

        for _ in range(1000):  # a's own reader delivers it, a few turns of the loop later
            if {"type": "joined", "name": "bob"} in sent_to_a():
                break
            await asyncio.sleep(0)
        assert {"type": "joined", "name": "bob"} in sent_to_a()
        for node in (a, b):
            await hub.detach(node)

    asyncio.run(body())


def test_local_relay_reaches_only_the_other_servers() -> None:
    """A relayed message goes to every other attached server, never back to its own."""

    async def body() -> None:
        hub, a, b, c = LocalBackplane(), FakeNode(), FakeNode(), FakeNode()
        for node in (a, b, c):
            await hub.attach(node, store(), 100)
        await hub.relay(a, "hi")
        assert (a.relayed, b.relayed, c.relayed) == ([], ["hi"], ["hi"])
        for node in (a, b, c):
            await hub.detach(node)

    asyncio.run(body())


def test_the_shared_store_is_forgotten_when_the_last_server_detaches() -> None:
    """A server restarted alone gets its own store, as it did before backplanes existed."""

    async def body() -> None:
        hub, node = LocalBackplane(), FakeNode()
        await hub.attach(node, store(), 100)
        await hub.receive(node, 1, join("alice"))
        await hub.detach(node)
        room = await hub.attach(node, store(), 100)
        assert room.online == []
        await hub.receive(node, 2, join("alice"))
        assert room.online == ["alice"]
        await hub.detach(node)

    asyncio.run(body())


def test_a_server_on_another_event_loop_is_refused_with_a_clear_error() -> None:
    """The hub calls its servers directly, so one on another thread's loop cannot join it."""
    hub, a, b = LocalBackplane(), FakeNode(), FakeNode()
    other = asyncio.new_event_loop()  # server a's loop, in a thread of its own
    thread = threading.Thread(target=other.run_forever)
    thread.start()

    def on_other(coroutine: Coroutine[Any, Any, object]) -> object:
        return asyncio.run_coroutine_threadsafe(coroutine, other).result(TIMEOUT)

    async def second() -> None:
        with pytest.raises(RuntimeError, match=r"one event loop.*RedisBackplane"):
            await hub.attach(b, store(), 100)

    async def alone() -> None:
        await hub.attach(b, store(), 100)  # once a has gone, any loop may start afresh
        await hub.detach(b)

    try:
        on_other(hub.attach(a, store(), 100))
        asyncio.run(second())
        on_other(hub.relay(a, "still alone"))
        assert b.relayed == []  # the refusal linked nothing
        on_other(hub.detach(a))
        asyncio.run(alone())
    finally:
        other.call_soon_threadsafe(other.stop)
        thread.join(TIMEOUT)
        other.close()


def test_open_backplane_refuses_both_a_backplane_and_a_redis_url() -> None:
    """Giving both a backplane and a Redis URL is an error, not a silent choice."""
    with pytest.raises(ValueError, match="either"):
        _open_backplane(LocalBackplane(), "redis://127.0.0.1:6379/0")
    assert isinstance(_open_backplane(None, None), LocalBackplane)
