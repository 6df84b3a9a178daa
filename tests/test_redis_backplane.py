"""Tests for wslib.server.redis_backplane: two servers, real sockets and a real redis-server."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import textwrap
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from support import TIMEOUT, recv, recv_json, require, restart_port, run_async, spawn
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from wslib import Backoff, ChatClient, Server
from wslib.cli import main
from wslib.server.redis_backplane import RedisBackplane
from wslib.teaching.redis_server import RedisServer

pytestmark = pytest.mark.redis

FAST = Backoff(initial=0.05, minimum=0.05, maximum=0.2)
HEARTBEAT = 0.1 * TIMEOUT
_prefixes = itertools.count(1)


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """Start one throw-away redis-server for the module; each test uses its own keys."""
    require("redis-server", "the Redis backplane tests need a real Redis")
    with RedisServer() as redis:
        yield redis.url


def backplane(url: str, prefix: str, **options: Any) -> RedisBackplane:
    return RedisBackplane(url, prefix=prefix, heartbeat=HEARTBEAT, retry=(0.02, 0.2), **options)


@contextlib.asynccontextmanager
async def servers(url: str, count: int = 2, **options: Any) -> AsyncIterator[list[Server]]:
    """Run ``count`` chat servers on port 0 sharing one chat in Redis; stop them all."""
    prefix = f"test{next(_prefixes)}"
    started = [Server(port=0, backplane=backplane(url, prefix, **options)) for _ in range(count)]
    try:
        for server in started:
            await server.start()
        yield started
    finally:
        for server in started:
            await server.stop()
        for server in started:
            assert server.backplane._task is None  # type: ignore[attr-defined]


@contextlib.asynccontextmanager
async def chatters(*pairs: tuple[Server, str]) -> AsyncIterator[list[ChatClient]]:
    """Join each name on its server, in order, waiting for each welcome; stop them all."""
    clients: list[ChatClient] = []
    try:
        for server, name in pairs:
            client = ChatClient(server.chat_url, name, reconnect=FAST)
            client.seen: list[dict[str, Any]] = []  # type: ignore[misc]
            client.listen(lambda e, c=client: isinstance(e, dict) and c.seen.append(e))  # type: ignore[attr-defined]
            clients.append(client)
            await client.start()
            await client.wait_for(lambda c=client: c.joined, TIMEOUT)
        names = {name for _, name in pairs}
        for client in clients:
            await client.wait_for(lambda c=client: names <= set(c.online), TIMEOUT)
        yield clients
    finally:
        for client in clients:
            await client.stop()


def health(server: Server) -> tuple[int, dict[str, Any]]:
    """Return the status code and JSON body of the server's ``GET /healthz``."""
    try:
        with urllib.request.urlopen(server.http_url + "healthz", timeout=TIMEOUT) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def kinds(client: ChatClient, kind: str) -> list[dict[str, Any]]:
    return [e for e in client.seen if e.get("type") == kind]  # type: ignore[attr-defined]


def texts(client: ChatClient) -> list[str]:
    return [m["text"] for m in kinds(client, "message")]


def test_relay_messages_reach_every_client_on_the_other_server_once_in_order(
    redis_url: str,
) -> None:
    """Each of two senders on A reaches every relay client on B and A exactly once, in order."""

    async def body() -> None:
        async with (
            servers(redis_url) as (a, b),
            connect(a.url) as s1,
            connect(a.url) as s2,
            connect(b.url) as r1,
            connect(b.url) as r2,
        ):
            count = 50
            for i in range(count):
                await s1.send(f"s1 {i}")
                await s2.send(f"s2 {i}")
            for receiver in (r1, r2):
                got = [await recv(receiver) for _ in range(2 * count)]
                for sender in ("s1", "s2"):
                    mine = [
                        m for m in got if m.startswith(f"Received message from peer: {sender} ")
                    ]
                    assert mine == [
                        f"Received message from peer: {sender} {i}" for i in range(count)
                    ]
            own = [await recv(s1) for _ in range(count)]  # s1 gets s2's messages, not its own
            assert all(" s2 " in m for m in own)
            with pytest.raises(TimeoutError):
                await recv(r1, 0.05 * TIMEOUT)

    run_async(body())


def test_relayed_messages_past_a_batchs_bytes_cross_in_order_and_whole(redis_url: str) -> None:
    """3 MiB queued at once goes out in batches of at most 1 MiB: every message, in order."""

    async def body() -> None:
        async with servers(redis_url) as (a, b), connect(a.url) as sender, connect(b.url) as far:
            texts = [f"{i:03d} " + "x" * 60_000 for i in range(52)]
            for text in texts:  # as fast as the sender can: they queue up behind Redis
                await sender.send(text)
            got = [await recv(far, TIMEOUT) for _ in texts]
            assert got == [f"Received message from peer: {text}" for text in texts]
            assert a.backplane.dropped == 0  # type: ignore[attr-defined]

    run_async(body())


def test_only_the_chats_commands_try_again_after_a_timeout() -> None:
    """Both clients time out after ``timeout``; a timed-out PUBLISH, which may have run, is not
    sent again (the relay has no dedupe), where the chat's commands are."""
    plane = RedisBackplane("redis://127.0.0.1:1/0", timeout=3.0)
    chat, raw = (client.connection_pool.connection_kwargs for client in (plane._redis, plane._raw))
    assert chat["socket_timeout"] == raw["socket_timeout"] == 3.0
    assert RedisTimeoutError in chat["retry"]._supported_errors
    assert RedisTimeoutError not in raw["retry"]._supported_errors
    assert RedisConnectionError in raw["retry"]._supported_errors


def test_every_chat_event_crosses_servers_once_in_each_senders_order(redis_url: str) -> None:
    """Joins, messages, typing, private messages and leaves from A reach B's clients once."""

    async def body() -> None:
        async with servers(redis_url) as (a, b), chatters((b, "bob"), (b, "carol")) as (bob, carol):
            async with chatters((a, "alice")) as (alice,):
                assert kinds(bob, "joined")[-1] == {
                    "type": "joined",
                    "name": "alice",
                }
                for i in range(20):
                    await alice.send(f"a{i}")
                    await carol.send(f"c{i}")
                # A notice while sends wait their turn is skipped: typing is not kept.
                await alice.wait_for(lambda: not alice.pending, TIMEOUT)
                await alice.typing()
                await alice.send("psst", to="bob")
                for client in (alice, bob, carol):
                    await client.wait_for(lambda c=client: not c.pending, TIMEOUT)
                await bob.wait_for(lambda: "psst" in texts(bob), TIMEOUT)
                await bob.wait_for(lambda: bool(kinds(bob, "typing")), TIMEOUT)
                assert kinds(bob, "typing") == [{"type": "typing", "name": "alice"}]
                assert kinds(carol, "typing") == [{"type": "typing", "name": "alice"}]
                assert kinds(alice, "typing") == []
            await bob.wait_for(lambda: bob.online == ["bob", "carol"], TIMEOUT)
            assert kinds(bob, "left") == [{"type": "left", "name": "alice"}]
            await carol.wait_for(lambda: carol.online == ["bob", "carol"], TIMEOUT)
            for client in (bob, carol):
                public = [t for t in texts(client) if t != "psst"]
                assert [t for t in public if t[0] == "a"] == [f"a{i}" for i in range(20)]
                assert [t for t in public if t[0] == "c"] == [f"c{i}" for i in range(20)]
                ids = [m["id"] for m in kinds(client, "message")]
                assert len(ids) == len(set(ids))
            assert texts(bob).count("psst") == 1
            assert "psst" not in texts(carol)
            assert [m["id"] for m in kinds(bob, "message") if m["text"] != "psst"] == [
                m["id"] for m in kinds(carol, "message")
            ]  # one global order

    run_async(body())


def test_names_are_unique_across_servers_and_a_resume_takes_over_quietly(redis_url: str) -> None:
    """A name on A is taken on B, unless the join has its token: then A's ghost gets 4001."""

    async def body() -> None:
        async with servers(redis_url) as (a, b), chatters((a, "alice"), (b, "bob")) as (alice, bob):
            async with connect(b.chat_url) as intruder:
                await intruder.send(json.dumps({"type": "join", "name": "ALICE"}))
                assert (await recv_json(intruder))["code"] == "name_taken"
            async with connect(b.chat_url) as again:
                resume = {"type": "join", "name": "alice", "token": alice.token}
                await again.send(json.dumps(resume))
                welcome = await recv_json(again)
                assert (welcome["type"], welcome["token"]) == ("welcome", alice.token)
                await alice.wait_for(lambda: alice.status.state == "closed", TIMEOUT)
                assert alice.status.code == 4001
                await again.send(json.dumps({"type": "send", "cid": "x", "text": "moved"}))
                await bob.wait_for(lambda: "moved" in texts(bob), TIMEOUT)
            await bob.wait_for(lambda: bob.online == ["bob"], TIMEOUT)
            assert [e["name"] for e in kinds(bob, "left")] == ["alice"]
            assert [e["name"] for e in kinds(bob, "joined")] == []  # bob joined after alice

    run_async(body())


def test_history_resume_and_retried_sends_work_across_servers(redis_url: str) -> None:
    """A client of A resumes on B with exactly what it missed; a retried cid is acked, not shown."""

    async def body() -> None:
        async with servers(redis_url) as (a, b), chatters((a, "alice")) as (alice,):
            for i in range(3):
                await alice.send(f"m{i}")
            await alice.wait_for(lambda: len(alice.messages) == 3, TIMEOUT)
            async with connect(b.chat_url) as bob:
                await bob.send(json.dumps({"type": "join", "name": "bob"}))
                welcome = await recv_json(bob)
                assert (welcome["replay"], welcome["reset"]) == (3, False)
                replay = [await recv_json(bob) for _ in range(3)]
                assert [m["text"] for m in replay] == ["m0", "m1", "m2"]
                await bob.send(json.dumps({"type": "send", "cid": "b1", "text": "hi"}))
                ack = await recv_json(bob)
                assert (ack["type"], ack["duplicate"]) == ("ack", False)
                assert (await recv_json(bob))["id"] == ack["id"]
            token, last_id = welcome["token"], replay[-1]["id"]
            await alice.send("while bob was away")
            await alice.wait_for(lambda: texts(alice)[-1] == "while bob was away", TIMEOUT)
            async with connect(a.chat_url) as bob:
                join = {"type": "join", "name": "bob", "token": token, "last_id": last_id}
                await bob.send(json.dumps(join))
                welcome = await recv_json(bob)
                assert (welcome["replay"], welcome["reset"], welcome["token"]) == (2, False, token)
                missed = [await recv_json(bob) for _ in range(2)]
                assert [m["text"] for m in missed] == ["hi", "while bob was away"]
                await bob.send(json.dumps({"type": "send", "cid": "b1", "text": "hi"}))
                assert await recv_json(bob) == {**ack, "duplicate": True}
            async with connect(b.chat_url) as late:
                await late.send(json.dumps({"type": "join", "name": "x", "last_id": "1-0"}))
                assert (await recv_json(late))["reset"] is True  # older than the stream
            assert texts(alice).count("hi") == 1

    run_async(body())


def test_presence_expires_when_a_server_dies(redis_url: str) -> None:
    """When a server process is killed, its users leave for the others after its heartbeat ends."""
    prefix = f"test{next(_prefixes)}"
    script = textwrap.dedent(
        f"""
        import asyncio
        from wslib import Server
        from wslib.server.redis_backplane import RedisBackplane

        async def main():
            backplane = RedisBackplane({redis_url!r}, prefix={prefix!r}, heartbeat={HEARTBEAT})
            server = Server(port=0, backplane=backplane)
            await server.start()
            print(server.chat_url, flush=True)
            await asyncio.Event().wait()

        asyncio.run(main())
        """
    )

    async def body(doomed_url: str) -> None:
        alive = Server(port=0, backplane=backplane(redis_url, prefix))
        await alive.start()
        try:
            async with chatters((alive, "alice")) as (alice,):
                doomed = ChatClient(doomed_url, "bob", reconnect=False)
                await doomed.start()
                await alice.wait_for(lambda: alice.online == ["alice", "bob"], TIMEOUT)
                child.proc.kill()
                await alice.wait_for(lambda: alice.online == ["alice"], 2 * TIMEOUT)
                left = kinds(alice, "left")
                assert left == [{"type": "left", "name": "bob"}]
                await doomed.stop()
        finally:
            await alive.stop()

    with spawn("-c", script) as child:
        url = child.line(2 * TIMEOUT)
        run_async(body(url))


async def caught_up(alice: ChatClient, bob: ChatClient) -> None:
    """Wait until both are back and alice's "during" reached bob, after "before", once."""
    for client in (alice, bob):
        await client.wait_for(lambda c=client: c.joined and c.is_open, 2 * TIMEOUT)
    await alice.wait_for(lambda: not alice.pending, TIMEOUT)
    await bob.wait_for(lambda: texts(bob)[-1:] == ["during"], TIMEOUT)
    assert [m["text"] for m in bob.messages] == ["before", "during"]


def test_redis_killed_and_restarted_mid_chat_loses_nothing() -> None:
    """While Redis is down chat is refused (1013, 503); afterwards every send arrives once."""
    require("redis-server", "the Redis backplane tests need a real Redis")

    async def body(redis: RedisServer) -> None:
        async with servers(redis.url) as (a, b), chatters((a, "alice"), (b, "bob")) as (alice, bob):
            await alice.send("before")
            await bob.wait_for(lambda: texts(bob) == ["before"], TIMEOUT)
            redis.kill()
            await alice.wait_for(lambda: alice.status.code == 1013, TIMEOUT)
            assert "lost Redis" in alice.status.reason
            code, body = await asyncio.to_thread(health, a)
            assert (code, body["status"]) == (503, "degraded")
            with pytest.raises(InvalidStatus) as refused:
                await connect(a.chat_url)
            assert refused.value.response.status_code == 503
            await alice.send("during")  # not connected: it waits in pending
            assert [p["text"] for p in alice.pending.values()] == ["during"]
            redis.restart()
            await caught_up(alice, bob)
            assert [m["text"] for m in alice.messages] == ["before", "during"]
            assert (alice.history_resets, bob.history_resets) == (0, 0)
            assert (await asyncio.to_thread(health, b))[1]["status"] == "ok"

    with RedisServer(restart_port(), persist=True) as redis:
        run_async(body(redis))


def test_a_redis_that_hangs_is_taken_for_lost_within_its_timeout_and_loses_nothing() -> None:
    """A Redis that stops answering, its sockets open, degrades the server as a dead one does.

    The command timeout is 1 s, so three tries end within a few seconds; with none, the
    heartbeat and every command waited on the stopped Redis for tens of seconds.
    """
    require("redis-server", "the Redis backplane tests need a real Redis")

    async def body(redis: RedisServer) -> None:
        quick = servers(redis.url, timeout=1.0)
        async with quick as (a, b), chatters((a, "alice"), (b, "bob")) as (alice, bob):
            await alice.send("before")
            await bob.wait_for(lambda: texts(bob) == ["before"], TIMEOUT)
            redis.pause()
            try:
                await alice.wait_for(lambda: alice.status.code == 1013, 2 * TIMEOUT)
                assert "lost Redis" in alice.status.reason
                assert (await asyncio.to_thread(health, a))[1]["status"] == "degraded"
                await alice.send("during")  # not connected: it waits in pending
            finally:
                redis.resume()
            await caught_up(alice, bob)
            assert (await asyncio.to_thread(health, a))[1]["status"] == "ok"

    with RedisServer() as redis:
        run_async(body(redis))


def test_a_command_timeout_shorter_than_the_loops_wait_is_refused() -> None:
    """Each loop blocks in Redis for 0.25 s: a shorter timeout would take that for a hang."""
    with pytest.raises(ValueError, match="at least 1 s"):
        RedisBackplane("redis://127.0.0.1:6379/0", timeout=0.5)


def test_a_stopped_server_frees_its_names_and_heartbeat(redis_url: str) -> None:
    """Stopping a server publishes its users' leaves and deletes its heartbeat key at once."""

    async def body() -> None:
        async with servers(redis_url) as (a, b), chatters((a, "alice")) as (alice,):
            backplane = b.backplane
            assert isinstance(backplane, RedisBackplane)
            async with chatters((b, "bob")):
                await alice.wait_for(lambda: alice.online == ["alice", "bob"], TIMEOUT)
            key = backplane.store.heartbeat_key(backplane.server_id)
            assert await backplane.store.redis.exists(key) == 1
            await b.stop()
            await alice.wait_for(lambda: alice.online == ["alice"], TIMEOUT)
            assert isinstance(a.backplane, RedisBackplane)
            assert await a.backplane.store.redis.exists(key) == 0

    run_async(body())


def test_cli_says_in_one_line_when_redis_cannot_be_reached(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``wslib serve --redis URL`` with nothing listening exits 1 with one clear line."""
    code = main(["serve", "--port", "0", "--redis", "redis://127.0.0.1:9/0"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("wslib: cannot reach Redis at redis://127.0.0.1:9/0")
    assert len(err.splitlines()) == 1


def test_a_bug_in_the_backplane_is_logged_with_its_traceback_not_taken_for_lost_redis(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """An unexpected exception in a loop is logged with its traceback, closes 1011, then heals."""

    async def body() -> None:
        async with servers(redis_url) as (a, b), chatters((a, "alice"), (b, "bob")) as (alice, bob):
            backplane = a.backplane
            assert isinstance(backplane, RedisBackplane)
            typing = backplane.room.typing

            def broken(name: str) -> Any:
                backplane.room.typing = typing  # type: ignore[method-assign]
                raise RuntimeError("a bug in the kit")

            backplane.room.typing = broken  # type: ignore[method-assign]
            await bob.typing()
            await alice.wait_for(lambda: alice.status.code == 1011, TIMEOUT)
            await alice.wait_for(lambda: alice.joined and alice.is_open, 2 * TIMEOUT)
            await alice.send("after the bug")
            await bob.wait_for(lambda: "after the bug" in texts(bob), TIMEOUT)

    with caplog.at_level("WARNING", logger="wslib.redis"):
        run_async(body())
    bugs = [r for r in caplog.records if r.exc_info is not None]
    assert len(bugs) == 1
    assert "unexpected error" in bugs[0].getMessage()
    assert bugs[0].exc_info is not None
    assert isinstance(bugs[0].exc_info[1], RuntimeError)
    assert not any("lost Redis" in r.getMessage() for r in caplog.records)


def test_redis_keeps_a_bounded_set_of_tokens_and_forgets_idle_ones(redis_url: str) -> None:
    """Past ``tokens`` names the least recently used token goes; one idle past its ttl too."""
    from redis.asyncio import Redis

    from wslib.core.room import JoinRequest, LeaveRequest
    from wslib.storage.redis_store import RedisStore

    async def body() -> None:
        client = Redis.from_url(redis_url, decode_responses=True)
        prefix = f"test{next(_prefixes)}"
        store = RedisStore(client, prefix, tokens=2, token_ttl=3600)
        try:
            for conn, name in enumerate(["ann", "ben", "cat"], start=1):
                request = JoinRequest(conn, name, name, None, f"t-{name}", None)
                assert await store.join(request, "s") == "ok"
                await store.leave(LeaveRequest(conn, name), "s")
            assert await client.hgetall(f"{prefix}:tokens") == {"ben": "t-ben", "cat": "t-cat"}
            await client.zadd(f"{prefix}:tokens:used", {"ben": 1})  # idle since 1970
            resumed = JoinRequest(9, "cat", "cat", "t-cat", "unused", None)
            assert await store.join(resumed, "s") == "ok"
            assert await client.hgetall(f"{prefix}:tokens") == {"cat": "t-cat"}
        finally:
            await client.aclose()

    run_async(body())
