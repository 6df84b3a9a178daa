"""Tests for wslib.core.room: the chat rules, driven by plain calls with no sockets at all."""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wslib.core.codes import CLOSE_REASONS, CLOSE_TAKEN_OVER
from wslib.core.protocol import MAX_TEXT, encode
from wslib.core.room import Action, Close, Room, Send
from wslib.storage.history import MemoryHistory, SqliteHistory

Event = Mapping[str, object]


def make_room(history: MemoryHistory | SqliteHistory | None = None, **options: int) -> Room:
    """Return a room with a clock that ticks one second per message and numbered tokens."""
    ticks = itertools.count(1000)
    tokens = itertools.count(1)
    return Room(
        history if history is not None else MemoryHistory(epoch="ep"),
        clock=lambda: float(next(ticks)),
        new_token=lambda: f"token-{next(tokens)}",
        **options,
    )


def to(actions: Sequence[Action], conn: int) -> list[Event]:
    """Return the events that ``actions`` send to ``conn``, in order."""
    return [a.event for a in actions if isinstance(a, Send) and conn in a.to]


def kinds(actions: Sequence[Action], conn: int) -> list[object]:
    """Return the types of the events that ``actions`` send to ``conn``."""
    return [event["type"] for event in to(actions, conn)]


def join(room: Room, conn: int, name: str, **fields: object) -> list[Action]:
    """Join ``conn`` as ``name`` with any extra join fields."""
    return room.receive(conn, json.dumps({"type": "join", "name": name, **fields}))


def say(room: Room, conn: int, text: str, cid: str = "c1", **fields: object) -> list[Action]:
    """Send ``text`` from ``conn`` with client id ``cid``."""
    return room.receive(conn, json.dumps({"type": "send", "cid": cid, "text": text, **fields}))


def chat(room: Room, count: int, start: int = 0) -> list[str]:
    """Have alice (conn 1, joined if needed) say m<start>... ``count`` lines; return their ids."""
    if room.name(1) is None:
        join(room, 1, "alice")
    lines = range(start, start + count)
    return [str(to(say(room, 1, f"m{n}", cid=f"m{n}"), 1)[0]["id"]) for n in lines]


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


def test_join_gets_a_welcome_and_the_others_hear_of_it() -> None:
    """A join gets a welcome with version, token, epoch and who is online; others get joined."""
    room = make_room()
    first = join(room, 1, "alice")
    assert first == [Send((1,), welcome_of(first, 1))]
    assert welcome_of(first, 1) == {
        "type": "welcome",
        "v": 1,
        "name": "alice",
        "token": "token-1",
        "epoch": "ep",
        "online": ["alice"],
        "replay": 0,
        "reset": False,
    }
    second = join(room, 2, "bob")
    assert to(second, 1) == [{"type": "joined", "name": "bob", "online": ["alice", "bob"]}]
    assert kinds(second, 2) == ["welcome"]
    assert room.online == ["alice", "bob"]


def test_a_message_is_stamped_acked_and_sent_to_everyone() -> None:
    """The server stamps name, id and time; the sender gets an ack, then all get the message."""
    room = make_room()
    join(room, 1, "alice")
    join(room, 2, "bob")
    actions = say(room, 1, "hi", name="bob", id="forged", ts=0)
    message = {"type": "message", "id": "ep-000000000001", "name": "alice", "text": "hi"}
    assert to(actions, 1) == [
        {"type": "ack", "cid": "c1", "id": "ep-000000000001", "duplicate": False},
        {**message, "ts": 1000.0},
    ]
    assert to(actions, 2) == [{**message, "ts": 1000.0}]


def test_a_repeated_cid_is_acked_with_the_first_id_and_not_shown() -> None:
    """A second send with the same cid gets a duplicate ack with the original id, nothing else."""
    room = make_room()
    join(room, 1, "alice")
    join(room, 2, "bob")
    first_id = to(say(room, 1, "hi"), 1)[0]["id"]
    again = say(room, 1, "hi")
    assert again == [Send((1,), {"type": "ack", "cid": "c1", "id": first_id, "duplicate": True})]


def test_dedupe_is_per_name() -> None:
    """The same cid from another name is a new message."""
    room = make_room()
    join(room, 1, "alice")
    join(room, 2, "bob")
    say(room, 1, "hi")
    assert to(say(room, 2, "hi"), 2)[0]["duplicate"] is False


def test_leaving_tells_the_others() -> None:
    """A joined connection that ends sends left with the new online list to the others."""
    room = make_room()
    join(room, 1, "alice")
    join(room, 2, "bob")
    assert room.disconnect(1) == [
        Send((2,), {"type": "left", "name": "alice", "online": ["bob"]}),
    ]
    assert room.online == ["bob"]
    assert room.name(1) is None


def test_a_stranger_leaving_says_nothing() -> None:
    """A connection that never joined ends without any event."""
    room = make_room()
    join(room, 1, "alice")
    assert room.disconnect(2) == []


def test_resume_takes_the_name_over_quietly() -> None:
    """Rejoining with the token closes the ghost with 4001 and broadcasts no left or joined."""
    room = make_room()
    token = welcome_of(join(room, 1, "alice"), 1)["token"]
    join(room, 2, "bob")
    actions = join(room, 3, "alice", token=token)
    assert actions[0] == Close(1, CLOSE_TAKEN_OVER, CLOSE_REASONS[CLOSE_TAKEN_OVER])
    assert welcome_of(actions, 3)["token"] == token
    assert welcome_of(actions, 3)["online"] == ["alice", "bob"]
    assert to(actions, 2) == []
    assert room.receive(1, '{"type": "typing"}') == []
    assert room.disconnect(1) == []
    assert to(say(room, 3, "back"), 2)[0]["name"] == "alice"


def test_a_wrong_token_cannot_take_a_name() -> None:
    """A join for an online name without its token is name_taken, even in other case."""
    room = make_room()
    join(room, 1, "alice")
    assert only_error(join(room, 2, "alice", token="guess"), 2)["code"] == "name_taken"
    assert only_error(join(room, 2, "Alice"), 2)["code"] == "name_taken"
    assert room.online == ["alice"]


def test_a_token_resumes_only_the_exact_name() -> None:
    """A valid token with another spelling of an online name does not take it over."""
    room = make_room()
    token = welcome_of(join(room, 1, "alice"), 1)["token"]
    assert only_error(join(room, 2, "ALICE", token=token), 2)["code"] == "name_taken"


def test_a_fresh_join_of_a_free_name_revokes_the_old_token() -> None:
    """When someone else takes a name that was free, the old token no longer resumes it."""
    room = make_room()
    old = welcome_of(join(room, 1, "alice"), 1)["token"]
    room.disconnect(1)
    assert welcome_of(join(room, 2, "alice"), 2)["token"] != old
    assert only_error(join(room, 3, "alice", token=old), 3)["code"] == "name_taken"


def test_a_stale_token_for_a_free_name_is_a_fresh_join() -> None:
    """A token the store does not know, for a free name, just joins with a new token."""
    room = make_room()
    assert welcome_of(join(room, 1, "alice", token="stale"), 1)["token"] == "token-1"


def test_a_newcomer_gets_the_last_messages() -> None:
    """A newcomer is sent the last ``replay`` messages after its welcome, oldest first."""
    room = make_room(replay=3)
    chat(room, 5)
    actions = join(room, 2, "bob")
    assert welcome_of(actions, 2)["replay"] == 3
    assert kinds(actions, 2) == ["welcome", "message", "message", "message"]
    assert replayed(actions, 2) == ["m2", "m3", "m4"]


def test_reconnect_with_last_id_gets_exactly_what_was_missed() -> None:
    """Rejoining with the last seen id replays only the later messages, with no reset."""
    room = make_room(replay=2)
    token = welcome_of(join(room, 2, "bob"), 2)["token"]
    ids = chat(room, 2)
    room.disconnect(2)
    chat(room, 5, start=2)
    actions = join(room, 2, "bob", token=token, last_id=ids[-1])
    assert welcome_of(actions, 2)["reset"] is False
    assert replayed(actions, 2) == ["m2", "m3", "m4", "m5", "m6"]
    assert kinds(actions, 1) == ["joined"]


def test_reconnect_with_the_newest_id_gets_nothing() -> None:
    """A client that saw everything is replayed nothing."""
    room = make_room()
    ids = chat(room, 3)
    actions = join(room, 2, "bob", last_id=ids[-1])
    assert (welcome_of(actions, 2)["replay"], welcome_of(actions, 2)["reset"]) == (0, False)


@pytest.mark.parametrize("last_id", ["ep-000000000001", "other-000000000004", "junk"])
def test_a_gap_that_cannot_be_filled_is_a_history_reset(last_id: str) -> None:
    """A gap older than the history, or an id from another epoch, is reported as reset."""
    room = make_room(MemoryHistory(3, epoch="ep"), replay=2)
    chat(room, 5)
    actions = join(room, 2, "bob", last_id=last_id)
    assert welcome_of(actions, 2)["reset"] is True
    assert replayed(actions, 2) == ["m3", "m4"]


@given(count=st.integers(1, 15), seen=st.integers(0, 14))
def test_resume_from_any_id_returns_exactly_the_later_messages(count: int, seen: int) -> None:
    """For any id a client saw, rejoining with it replays every later message and no other."""
    room = make_room(replay=1)
    ids = chat(room, count)
    actions = join(room, 2, "bob", last_id=ids[min(seen, count - 1)])
    assert replayed(actions, 2) == [f"m{n}" for n in range(min(seen, count - 1) + 1, count)]


def test_resume_and_dedupe_survive_a_restart(tmp_path: Path) -> None:
    """With SQLite, a client resumes its name, misses nothing and is not shown twice."""
    path = tmp_path / "chat.sqlite3"
    with SqliteHistory(path) as history:
        room = make_room(history)
        token = welcome_of(join(room, 1, "alice"), 1)["token"]
        first = to(say(room, 1, "before", cid="a"), 1)[0]["id"]
        join(room, 2, "bob")
        say(room, 2, "while you were away", cid="b")
    with SqliteHistory(path) as history:
        room = Room(history, new_token=lambda: "fresh")
        actions = join(room, 1, "alice", token=token, last_id=first)
        assert welcome_of(actions, 1)["token"] == token
        assert replayed(actions, 1) == ["while you were away"]
        assert to(say(room, 1, "before", cid="a"), 1)[0] == {
            "type": "ack",
            "cid": "a",
            "id": first,
            "duplicate": True,
        }


def test_typing_goes_to_the_others_and_is_not_kept() -> None:
    """A typing event reaches everyone but the typist and is never replayed."""
    room = make_room()
    join(room, 1, "alice")
    join(room, 2, "bob")
    assert room.receive(1, '{"type": "typing"}') == [
        Send((2,), {"type": "typing", "name": "alice"})
    ]
    assert replayed(join(room, 3, "carol"), 3) == []


def test_typing_alone_sends_nothing() -> None:
    """Typing with nobody else online yields no action at all."""
    room = make_room()
    join(room, 1, "alice")
    assert room.receive(1, '{"type": "typing"}') == []


def test_a_private_message_reaches_only_the_two() -> None:
    """A send with 'to' goes to that user and back to the sender, and is never replayed."""
    room = make_room()
    join(room, 1, "alice")
    join(room, 2, "bob")
    join(room, 3, "carol")
    actions = say(room, 1, "psst", to="Bob")
    assert kinds(actions, 1) == ["ack", "message"]
    assert to(actions, 2) == [to(actions, 1)[1]]
    assert to(actions, 2)[0]["to"] == "bob"
    assert to(actions, 3) == []
    assert replayed(join(room, 4, "dave"), 4) == []


def test_a_private_message_to_oneself_arrives_once() -> None:
    """Sending privately to your own name delivers one copy."""
    room = make_room()
    join(room, 1, "alice")
    assert kinds(say(room, 1, "note to self", to="alice"), 1) == ["ack", "message"]


def test_a_private_message_to_someone_offline_is_refused() -> None:
    """A send to a name that is not online is no_such_user, naming the refused cid."""
    room = make_room()
    join(room, 1, "alice")
    error = only_error(say(room, 1, "hello?", cid="c7", to="bob"), 1)
    assert (error["code"], error["cid"]) == ("no_such_user", "c7")


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ("not json", "bad_json"),
        ("[1, 2]", "bad_field"),
        ('{"type": "dance"}', "unknown_type"),
        ('{"type": "send", "cid": 5, "text": "hi"}', "bad_field"),
        (b"\x00\x01", "binary"),
        ('{"type": "join", "name": ""}', "bad_name"),
        ('{"type": "join", "name": "' + "x" * 33 + '"}', "bad_name"),
        ('{"type": "join", "name": "a\\u0007b"}', "bad_name"),
        ('{"type": "join", "name": "bob"}', "name_taken"),
        ('{"type": "join", "name": "zed", "v": 2}', "bad_version"),
        ('{"type": "send", "cid": "c", "text": "a\\u0000b"}', "bad_text"),
        ('{"type": "send", "cid": "c", "text": "\\udfff"}', "bad_text"),
        ('{"type": "send", "cid": "c", "text": "' + "x" * (MAX_TEXT + 1) + '"}', "too_long"),
    ],
)
def test_bad_input_is_answered_to_the_sender_only(data: str | bytes, code: str) -> None:
    """Bad input yields one error event with its code for the sender, changing nothing else."""
    room = make_room()
    join(room, 1, "alice")
    join(room, 2, "bob")
    error = only_error(room.receive(3, data), 3)
    assert error["code"] == code
    assert room.online == ["alice", "bob"]


def test_sending_before_joining_is_refused() -> None:
    """Send and typing from a connection that has not joined are not_joined."""
    room = make_room()
    assert only_error(say(room, 1, "hi"), 1)["code"] == "not_joined"
    assert only_error(room.receive(1, '{"type": "typing"}'), 1)["code"] == "not_joined"


def test_joining_twice_is_refused() -> None:
    """A second join on the same connection is already_joined and keeps the first name."""
    room = make_room()
    join(room, 1, "alice")
    assert only_error(join(room, 1, "alicia"), 1)["code"] == "already_joined"
    assert room.online == ["alice"]


def test_too_long_text_names_the_cid_and_keeps_the_connection() -> None:
    """Text over the limit is an error carrying the cid, with no Close, and sending goes on."""
    room = make_room()
    join(room, 1, "alice")
    error = only_error(say(room, 1, "x" * (MAX_TEXT + 1), cid="big"), 1)
    assert (error["code"], error["cid"]) == ("too_long", "big")
    assert kinds(say(room, 1, "short", cid="big"), 1) == ["ack", "message"]


@given(st.one_of(st.text(max_size=200), st.binary(max_size=50)))
def test_any_refused_frame_touches_no_one_else(data: str | bytes) -> None:
    """Any frame from a joined client either is accepted or yields one error to it alone."""
    room = make_room()
    join(room, 1, "alice")
    join(room, 2, "bob")
    actions = room.receive(1, data)
    if any(isinstance(a, Send) and a.event["type"] == "error" for a in actions):
        only_error(actions, 1)
    assert room.online == ["alice", "bob"]


def test_every_event_encodes_as_json() -> None:
    """Every event the room emits encodes to JSON that decodes to the same value."""
    room = make_room()
    actions = [*join(room, 1, "alice"), *join(room, 2, "bob"), *say(room, 1, "hi")]
    actions += [*say(room, 1, "x", to="bob"), *room.receive(1, b""), *room.disconnect(2)]
    for action in actions:
        assert isinstance(action, Send)
        assert json.loads(encode(action.event)) == action.event


def test_a_negative_replay_is_refused() -> None:
    """Room refuses a negative replay count."""
    with pytest.raises(ValueError, match="negative"):
        Room(replay=-1)
