"""Tests for wslib.server.chat: one conformance suite, run over every store.

Each test drives the one chat engine (``ChatLink`` around a ``Room``) over a memory store, an
SQLite file and a real redis-server, with no sockets, and checks what each connection is
sent, event by event. The same assertions hold for all three.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from support import require, run_async

from wslib.core.codes import CLOSE_REASONS, CLOSE_TAKEN_OVER
from wslib.core.protocol import MAX_TEXT, encode
from wslib.core.room import Action, Close, Room, Send
from wslib.exceptions import StoreError
from wslib.server.chat import ChatLink
from wslib.storage.history import MemoryHistory
from wslib.storage.local import LocalStore
from wslib.storage.sqlite import SqliteHistory
from wslib.teaching.redis_server import RedisServer

Event = Mapping[str, object]
STORES = ["memory", "sqlite", pytest.param("redis", marks=pytest.mark.redis)]
_prefixes = itertools.count(1)


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """Start one throw-away redis-server for the module; each chat uses its own keys."""
    require("redis-server", "the conformance suite runs over a real Redis too")
    with RedisServer() as redis:
        yield redis.url


class Recorder:
    """Stand in for a server: keep every action the engine hands it."""

    def __init__(self) -> None:
        self.actions: list[Action] = []

    def deliver(self, actions: Sequence[Action], *, log: bool = True) -> None:
        self.actions.extend(actions)

    def relay_in(self, payload: str | bytes) -> None:
        raise AssertionError("the chat never relays")

    def close_chat(self, code: int, reason: str) -> None:
        raise AssertionError("a lone chat never closes every connection")


class Chat:
    """One chat engine over one store, driven frame by frame."""

    def __init__(self, link: ChatLink, recorder: Recorder) -> None:
        self.link = link
        self.recorder = recorder

    @property
    def online(self) -> list[str]:
        return self.link.room.online

    async def frame(self, conn: int, data: str | bytes) -> list[Action]:
        """Feed one frame; return every action it caused, once its entry was applied."""
        start = len(self.recorder.actions)
        await self.link.receive(conn, data)
        return self.recorder.actions[start:]

    async def join(self, conn: int, name: str, **fields: object) -> list[Action]:
        return await self.frame(conn, json.dumps({"type": "join", "name": name, **fields}))

    async def say(self, conn: int, text: str, cid: str = "c1", **fields: object) -> list[Action]:
        event = {"type": "send", "cid": cid, "text": text, **fields}
        return await self.frame(conn, json.dumps(event))

    async def disconnect(self, conn: int) -> list[Action]:
        start = len(self.recorder.actions)
        await self.link.disconnect(conn)
        return self.recorder.actions[start:]

    async def chat(self, count: int, start: int = 0) -> list[str]:
        """Have alice (conn 1, joined if needed) say m<start>...; return the messages' ids."""
        if self.link.room.name(1) is None:
            await self.join(1, "alice")
        ids = []
        for n in range(start, start + count):
            ids.append(str(to(await self.say(1, f"m{n}", cid=f"m{n}"), 1)[0]["id"]))
        return ids


Maker = Callable[..., Any]


@pytest.fixture(params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    """Name the store a test runs over."""
    return str(request.param)


@pytest.fixture
def make(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Maker:
    """Return ``chat(limit=..., replay=..., path=...)``: an async context giving a ``Chat``."""

    @asynccontextmanager
    async def chat(
        *, limit: int = 1000, replay: int = 100, path: Path | None = None
    ) -> AsyncIterator[Chat]:
        tokens = itertools.count(1)
        room = Room("s1", new_token=lambda: f"token-{next(tokens)}")
        recorder = Recorder()
        closing: list[Callable[[], Any]] = []
        failures: tuple[type[BaseException], ...] = (StoreError,)
        if store_kind == "redis":
            from redis.asyncio import Redis
            from redis.exceptions import RedisError

            from wslib.storage.redis_store import RedisFeed, RedisStore

            url = request.getfixturevalue("redis_url")
            client = Redis.from_url(url, decode_responses=True)
            prefix = getattr(request.node, "_chat_prefix", None) or f"conf{next(_prefixes)}"
            request.node._chat_prefix = prefix  # a second chat in one test is a restart
            store: Any = RedisStore(client, prefix, maxlen=limit)
            feed: Any = RedisFeed(store, await store.last_id())
            failures = (RedisError, OSError)
            closing.append(client.aclose)
        else:
            if store_kind == "memory":
                local = LocalStore(MemoryHistory(limit))
            else:
                sqlite = SqliteHistory(path or tmp_path / "chat.sqlite3", limit=limit)
                local = LocalStore(sqlite, blocking=True)
                closing.append(lambda: local.close(history=True))
            store, feed = local, local.feed()
        failed: list[BaseException] = []
        link = ChatLink(
            recorder,
            room,
            store,
            replay=replay,
            typing=lambda name: _typed(link, name),
            failures=failures,
            failed=failed.append,
        )
        link.epoch = await store.open()
        halt = asyncio.Event()
        pump = asyncio.get_running_loop().create_task(link.pump(feed, halt, 0.05))
        try:
            yield Chat(link, recorder)
        finally:
            halt.set()
            await pump
            for close in closing:
                await close()
        assert failed == []

    return chat


async def _typed(link: ChatLink, name: str) -> None:
    link.typing_in(name)


def to(actions: Sequence[Action], conn: int) -> list[Event]:
    """Return the events that ``actions`` send to ``conn``, in order."""
    return [a.event for a in actions if isinstance(a, Send) and conn in a.to]


def kinds(actions: Sequence[Action], conn: int) -> list[object]:
    """Return the types of the events that ``actions`` send to ``conn``."""
    return [event["type"] for event in to(actions, conn)]


def only_error(actions: Sequence[Action], conn: int) -> Event:
    """Check that ``actions`` are one error event for ``conn`` alone, and return it."""
    assert len(actions) == 1
    assert isinstance(actions[0], Send)
    assert actions[0].to == (conn,)
    assert actions[0].event["type"] == "error"
    return actions[0].event


def welcome_of(actions: Sequence[Action], conn: int) -> Event:
    """Return the welcome event sent to ``conn``."""
    return next(event for event in to(actions, conn) if event["type"] == "welcome")


def replayed(actions: Sequence[Action], conn: int) -> list[object]:
    """Return the texts of the messages sent to ``conn`` after its welcome."""
    return [event["text"] for event in to(actions, conn) if event["type"] == "message"]


def test_join_gets_a_welcome_and_the_others_hear_of_it(make: Maker) -> None:
    """A join gets a welcome with version, token, epoch and everyone online; others a delta."""

    async def body() -> None:
        async with make() as chat:
            first = await chat.join(1, "alice")
            welcome = welcome_of(first, 1)
            assert welcome == {
                "type": "welcome",
                "v": 2,
                "name": "alice",
                "token": "token-1",
                "epoch": chat.link.epoch,
                "online": ["alice"],
                "replay": 0,
                "reset": False,
            }
            actions = await chat.join(2, "Bob")
            assert welcome_of(actions, 2)["online"] == ["Bob", "alice"]
            assert to(actions, 1) == [{"type": "joined", "name": "Bob"}]
            assert chat.online == ["Bob", "alice"]

    run_async(body())


def test_a_message_is_stamped_acked_and_sent_to_everyone(make: Maker) -> None:
    """The server stamps name, id and time; the sender gets an ack, then all get the message."""

    async def body() -> None:
        async with make() as chat:
            await chat.join(1, "alice")
            await chat.join(2, "bob")
            actions = await chat.say(1, "hi", name="mallory", id="x")
            ack, message = to(actions, 1)
            assert ack == {"type": "ack", "cid": "c1", "id": message["id"], "duplicate": False}
            assert (message["name"], message["text"]) == ("alice", "hi")
            assert isinstance(message["ts"], float)
            assert to(actions, 2) == [message]

    run_async(body())


def test_a_repeated_cid_is_acked_with_the_first_id_and_not_shown(make: Maker) -> None:
    """A second send with the same cid gets a duplicate ack with the original id, nothing else."""

    async def body() -> None:
        async with make() as chat:
            await chat.join(1, "alice")
            await chat.join(2, "bob")
            first = to(await chat.say(1, "hi"), 1)[0]["id"]
            again = await chat.say(1, "hi")
            assert again == [
                Send((1,), {"type": "ack", "cid": "c1", "id": first, "duplicate": True})
            ]

    run_async(body())


def test_dedupe_belongs_to_the_identity_not_the_name(make: Maker) -> None:
    """Another name's cid, or a squatter's cid on a free name, never hides the owner's retry."""

    async def body() -> None:
        async with make() as chat:
            await chat.join(1, "alice")
            token = welcome_of(await chat.join(2, "bob"), 2)["token"]
            await chat.say(1, "from alice", cid="same")
            assert kinds(await chat.say(2, "from bob", cid="same"), 2) == ["ack", "message"]
            await chat.disconnect(2)
            # A squatter takes bob's free name (and a new token) and uses the owner's cid.
            await chat.join(3, "bob")
            assert kinds(await chat.say(3, "squat", cid="owners"), 3) == ["ack", "message"]
            await chat.disconnect(3)
            # The owner comes back: its token was revoked, so it joins afresh; its own
            # send with that cid is new, not a duplicate of the squatter's.
            actions = await chat.join(4, "bob", token=token)
            assert welcome_of(actions, 4)["token"] != token
            sent = to(await chat.say(4, "mine", cid="owners"), 4)
            assert sent[0]["duplicate"] is False
            assert sent[1]["text"] == "mine"

    run_async(body())


def test_leaving_tells_the_others(make: Maker) -> None:
    """A joined connection that ends sends a left delta to the others."""

    async def body() -> None:
        async with make() as chat:
            await chat.join(1, "alice")
            await chat.join(2, "bob")
            actions = await chat.disconnect(2)
            assert actions == [Send((1,), {"type": "left", "name": "bob"})]
            assert chat.online == ["alice"]

    run_async(body())


def test_a_stranger_leaving_says_nothing(make: Maker) -> None:
    """A connection that never joined ends without any event."""

    async def body() -> None:
        async with make() as chat:
            await chat.join(1, "alice")
            assert await chat.disconnect(2) == []

    run_async(body())


def test_resume_takes_the_name_over_quietly(make: Maker) -> None:
    """Rejoining with the token closes the ghost with 4001 and announces no left or joined."""

    async def body() -> None:
        async with make() as chat:
            token = welcome_of(await chat.join(1, "alice"), 1)["token"]
            await chat.join(2, "bob")
            actions = await chat.join(3, "alice", token=token)
            assert actions[0] == Close(1, CLOSE_TAKEN_OVER, CLOSE_REASONS[CLOSE_TAKEN_OVER])
            assert welcome_of(actions, 3)["token"] == token
            assert to(actions, 2) == []
            assert await chat.frame(1, '{"type": "typing"}') == []
            assert await chat.disconnect(1) == []
            assert chat.online == ["alice", "bob"]

    run_async(body())


def test_a_wrong_token_cannot_take_a_name(make: Maker) -> None:
    """A join for an online name without its token is name_taken, even in other case."""

    async def body() -> None:
        async with make() as chat:
            await chat.join(1, "alice")
            assert only_error(await chat.join(2, "ALICE"), 2)["code"] == "name_taken"
            error = only_error(await chat.join(2, "alice", token="guess"), 2)
            assert error == {
                "type": "error",
                "code": "name_taken",
                "detail": "The name 'alice' is already in use.",
            }
            assert (await chat.join(2, "carol"))[0] == Send(
                (1,), {"type": "joined", "name": "carol"}
            )

    run_async(body())


def test_a_token_resumes_only_the_exact_name(make: Maker) -> None:
    """A valid token with another spelling of an online name does not take it over."""

    async def body() -> None:
        async with make() as chat:
            token = welcome_of(await chat.join(1, "alice"), 1)["token"]
            assert only_error(await chat.join(2, "ALICE", token=token), 2)["code"] == "name_taken"

    run_async(body())


def test_a_fresh_join_of_a_free_name_revokes_the_old_token(make: Maker) -> None:
    """When someone else takes a name that was free, the old token no longer resumes it."""

    async def body() -> None:
        async with make() as chat:
            old = welcome_of(await chat.join(1, "alice"), 1)["token"]
            await chat.disconnect(1)
            assert welcome_of(await chat.join(2, "alice"), 2)["token"] != old
            assert only_error(await chat.join(3, "alice", token=old), 3)["code"] == "name_taken"

    run_async(body())


def test_a_stale_token_for_a_free_name_is_a_fresh_join(make: Maker) -> None:
    """A token the store does not know, for a free name, just joins with a new token."""

    async def body() -> None:
        async with make() as chat:
            assert welcome_of(await chat.join(1, "alice", token="stale"), 1)["token"] == "token-1"

    run_async(body())


def test_a_newcomer_gets_the_last_messages(make: Maker) -> None:
    """A newcomer is sent the last ``replay`` messages after its welcome, oldest first."""

    async def body() -> None:
        async with make(replay=3) as chat:
            await chat.chat(5)
            actions = await chat.join(2, "bob")
            assert welcome_of(actions, 2)["replay"] == 3
            assert kinds(actions, 2) == ["welcome", "message", "message", "message"]
            assert replayed(actions, 2) == ["m2", "m3", "m4"]

    run_async(body())


def test_reconnect_with_last_id_gets_exactly_what_was_missed(make: Maker) -> None:
    """Rejoining with the last seen id replays only the later messages, with no reset."""

    async def body() -> None:
        async with make(replay=2) as chat:
            token = welcome_of(await chat.join(2, "bob"), 2)["token"]
            ids = await chat.chat(2)
            await chat.disconnect(2)
            await chat.chat(5, start=2)
            actions = await chat.join(2, "bob", token=token, last_id=ids[-1])
            assert welcome_of(actions, 2)["reset"] is False
            assert replayed(actions, 2) == ["m2", "m3", "m4", "m5", "m6"]
            assert kinds(actions, 1) == ["joined"]

    run_async(body())


def test_reconnect_with_the_newest_id_gets_nothing(make: Maker) -> None:
    """A client that saw everything is replayed nothing."""

    async def body() -> None:
        async with make() as chat:
            ids = await chat.chat(3)
            actions = await chat.join(2, "bob", last_id=ids[-1])
            assert (welcome_of(actions, 2)["replay"], welcome_of(actions, 2)["reset"]) == (0, False)

    run_async(body())


@pytest.mark.parametrize("last_id", ["other-000000000004", "junk", "1-0"])
def test_an_id_the_store_cannot_place_is_a_history_reset(make: Maker, last_id: str) -> None:
    """An id from another epoch or store, or one older than the log, is reported as reset."""

    async def body() -> None:
        async with make(replay=2) as chat:
            await chat.chat(5)
            actions = await chat.join(2, "bob", last_id=last_id)
            assert welcome_of(actions, 2)["reset"] is True
            assert replayed(actions, 2) == ["m3", "m4"]

    run_async(body())


@pytest.mark.parametrize("store_kind", ["memory", "sqlite"])
def test_a_gap_older_than_the_history_is_a_reset(make: Maker) -> None:
    """A last id whose later messages were partly dropped gets the newest, with reset."""

    async def body() -> None:
        async with make(limit=3, replay=2) as chat:
            ids = await chat.chat(5)
            actions = await chat.join(2, "bob", last_id=ids[0])
            assert welcome_of(actions, 2)["reset"] is True
            assert replayed(actions, 2) == ["m3", "m4"]

    run_async(body())


def test_resume_from_any_id_returns_exactly_the_later_messages(make: Maker) -> None:
    """For every id a client saw, rejoining with it replays every later message and no other."""

    async def body() -> None:
        async with make(replay=1) as chat:
            ids = await chat.chat(6)
            for seen, last_id in enumerate(ids):
                actions = await chat.join(2, "bob", last_id=last_id)
                assert replayed(actions, 2) == [f"m{n}" for n in range(seen + 1, 6)]
                await chat.disconnect(2)

    run_async(body())


def test_typing_goes_to_the_others_and_is_not_kept(make: Maker) -> None:
    """A typing event reaches everyone not joined under the typist's name, and is not kept."""

    async def body() -> None:
        async with make() as chat:
            await chat.join(1, "alice")
            await chat.join(2, "bob")
            assert await chat.frame(1, '{"type": "typing"}') == [
                Send((2,), {"type": "typing", "name": "alice"})
            ]
            assert replayed(await chat.join(3, "carol"), 3) == []

    run_async(body())


def test_typing_alone_sends_nothing(make: Maker) -> None:
    """Typing with nobody else online yields no action at all."""

    async def body() -> None:
        async with make() as chat:
            await chat.join(1, "alice")
            assert await chat.frame(1, '{"type": "typing"}') == []

    run_async(body())


def test_a_private_message_reaches_only_the_two(make: Maker) -> None:
    """A send with 'to' goes to that user and back to the sender, and is never replayed."""

    async def body() -> None:
        async with make() as chat:
            await chat.join(1, "alice")
            await chat.join(2, "bob")
            await chat.join(3, "carol")
            actions = await chat.say(1, "psst", to="Bob")
            assert kinds(actions, 1) == ["ack", "message"]
            assert to(actions, 2) == [to(actions, 1)[1]]
            assert to(actions, 2)[0]["to"] == "bob"
            assert to(actions, 3) == []
            assert replayed(await chat.join(4, "dave"), 4) == []

    run_async(body())


def test_a_private_message_to_oneself_arrives_once(make: Maker) -> None:
    """Sending privately to your own name delivers one copy."""

    async def body() -> None:
        async with make() as chat:
            await chat.join(1, "alice")
            assert kinds(await chat.say(1, "note to self", to="alice"), 1) == ["ack", "message"]

    run_async(body())


def test_a_private_message_to_someone_offline_is_refused(make: Maker) -> None:
    """A send to a name that is not online is no_such_user, naming the refused cid."""

    async def body() -> None:
        async with make() as chat:
            await chat.join(1, "alice")
            error = only_error(await chat.say(1, "hello?", cid="c7", to="bob"), 1)
            assert error == {
                "type": "error",
                "code": "no_such_user",
                "detail": "No one named 'bob' is online.",
                "cid": "c7",
            }

    run_async(body())


BAD_INPUT = [
    ("not json", "bad_json"),
    ("[1, 2]", "bad_field"),
    ('{"type": "dance"}', "unknown_type"),
    ('{"type": "send", "cid": 5, "text": "hi"}', "bad_field"),
    (b"\x00\x01", "binary"),
    ('{"type": "join", "name": ""}', "bad_name"),
    ('{"type": "join", "name": "' + "x" * 33 + '"}', "bad_name"),
    ('{"type": "join", "name": "a\\u0007b"}', "bad_name"),
    ('{"type": "join", "name": "bob"}', "name_taken"),
    ('{"type": "join", "name": "zed", "v": 3}', "bad_version"),
    ('{"type": "send", "cid": "c", "text": "a\\u0000b"}', "bad_text"),
    ('{"type": "send", "cid": "c", "text": "\\udfff"}', "bad_text"),
    ('{"type": "send", "cid": "c", "text": "' + "x" * (MAX_TEXT + 1) + '"}', "too_long"),
    ('{"type": "send", "cid": "c", "text": "hi"}', "not_joined"),
    ('{"type": "typing"}', "not_joined"),
]


def test_bad_input_is_answered_to_the_sender_only(make: Maker) -> None:
    """Bad input yields one error event with its code for the sender, changing nothing else."""

    async def body() -> None:
        async with make() as chat:
            await chat.join(1, "alice")
            await chat.join(2, "bob")
            for data, code in BAD_INPUT:
                assert only_error(await chat.frame(3, data), 3)["code"] == code
            assert chat.online == ["alice", "bob"]

    run_async(body())


def test_joining_twice_is_refused_with_the_name_held(make: Maker) -> None:
    """A second join on the same connection is already_joined, naming the first name."""

    async def body() -> None:
        async with make() as chat:
            await chat.join(1, "alice")
            assert only_error(await chat.join(1, "alicia"), 1) == {
                "type": "error",
                "code": "already_joined",
                "detail": "You have already joined as 'alice'.",
            }
            assert chat.online == ["alice"]

    run_async(body())


def test_text_with_nul_or_a_lone_surrogate_names_the_cid(make: Maker) -> None:
    """bad_text carries the refused send's cid, as too_long does: its client waits for it."""

    async def body() -> None:
        async with make() as chat:
            await chat.join(1, "alice")
            for text in ("a\\u0000b", "\\udfff"):
                frame = '{"type": "send", "cid": "dirty", "text": "' + text + '"}'
                error = only_error(await chat.frame(1, frame), 1)
                assert (error["code"], error["cid"]) == ("bad_text", "dirty")
            assert kinds(await chat.say(1, "clean", cid="clean"), 1) == ["ack", "message"]

    run_async(body())


def test_too_long_text_names_the_cid_and_keeps_the_connection(make: Maker) -> None:
    """Text over the limit is an error carrying the cid, with no Close, and sending goes on."""

    async def body() -> None:
        async with make() as chat:
            await chat.join(1, "alice")
            error = only_error(await chat.say(1, "x" * (MAX_TEXT + 1), cid="big"), 1)
            assert (error["code"], error["cid"]) == ("too_long", "big")
            assert kinds(await chat.say(1, "short", cid="big"), 1) == ["ack", "message"]

    run_async(body())


def test_every_event_encodes_as_json(make: Maker) -> None:
    """Every event the engine emits encodes to JSON that decodes to the same value."""

    async def body() -> None:
        async with make() as chat:
            actions = [*await chat.join(1, "alice"), *await chat.join(2, "bob")]
            actions += [*await chat.say(1, "hi"), *await chat.say(1, "x", cid="2", to="bob")]
            actions += [*await chat.frame(1, b""), *await chat.disconnect(2)]
            for action in actions:
                assert isinstance(action, Send)
                assert json.loads(encode(action.event)) == action.event

    run_async(body())


@pytest.mark.parametrize("store_kind", ["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def test_resume_and_dedupe_survive_a_restart(make: Maker, tmp_path: Path) -> None:
    """With a lasting store, a client resumes its name, misses nothing and is not shown twice."""

    async def body() -> None:
        async with make() as chat:
            token = welcome_of(await chat.join(1, "alice"), 1)["token"]
            first = to(await chat.say(1, "before", cid="a"), 1)[0]["id"]
            await chat.join(2, "bob")
            await chat.say(2, "while you were away", cid="b")
            await chat.disconnect(1)
            await chat.disconnect(2)
        async with make() as chat:
            actions = await chat.join(1, "alice", token=token, last_id=first)
            assert welcome_of(actions, 1)["token"] == token
            assert replayed(actions, 1) == ["while you were away"]
            assert to(await chat.say(1, "before", cid="a"), 1) == [
                {"type": "ack", "cid": "a", "id": first, "duplicate": True}
            ]

    run_async(body())
