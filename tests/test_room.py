"""Tests for wslib.core.room: the chat engine's rules, driven by plain calls with no I/O.

``tests/test_chat.py`` runs the same engine over every store; these tests feed the room
hand-written log entries, as any store would write them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from wslib.core.codes import CLOSE_TAKEN_OVER, CLOSE_TRY_AGAIN_LATER
from wslib.core.protocol import Message
from wslib.core.room import (
    UNAVAILABLE_REASON,
    Close,
    JoinRequest,
    LeaveRequest,
    PostRequest,
    Room,
    Send,
    TypingRequest,
    Welcome,
)


def join(name: str, **extra: str) -> str:
    return json.dumps({"type": "join", "name": name, **extra})


def send(cid: str, text: str, to: str | None = None) -> str:
    event = {"type": "send", "cid": cid, "text": text}
    return json.dumps(event if to is None else {**event, "to": to})


def events(actions: Sequence[object]) -> list[tuple[tuple[int, ...], dict[str, Any]]]:
    return [(a.to, dict(a.event)) for a in actions if isinstance(a, Send)]


def joined_entry(name: str, srv: str, conn: int, online: list[str], **extra: str) -> dict[str, str]:
    fields = {"k": "j", "name": name, "srv": srv, "conn": str(conn), "resumed": "0"}
    return {**fields, "ghost_srv": "", "ghost_conn": "", "online": json.dumps(online), **extra}


def message_entry(name: str, cid: str, srv: str, conn: int, **extra: str) -> dict[str, str]:
    fields = {"k": "m", "name": name, "text": f"text of {cid}", "ts": "1.5", "cid": cid}
    return {**fields, "srv": srv, "conn": str(conn), **extra}


def joined(room: Room, conn: int, name: str, entry_id: str, online: list[str]) -> None:
    """Join ``name`` on ``conn`` of ``room`` through its request, entry and welcome."""
    (request,) = room.receive(conn, join(name))
    assert isinstance(request, JoinRequest)
    *_, welcome = room.apply(entry_id, joined_entry(name, room.server, conn, online))
    assert isinstance(welcome, Welcome)
    room.welcome(welcome, [], reset=False, epoch="e")


def test_a_join_becomes_a_request_then_a_welcome_when_its_entry_is_read() -> None:
    """The joiner is welcomed only when its own entry comes back, with the fetched history."""
    room = Room("a", new_token=lambda: "fresh")
    (request,) = room.receive(1, join("Alice", last_id="3-0"))
    assert request == JoinRequest(1, "Alice", "alice", None, "fresh", "3-0")
    (welcome,) = room.apply("5-0", joined_entry("Alice", "a", 1, ["Alice"]))
    assert welcome == Welcome(1, "3-0", "5-0", ("Alice",), False)
    assert isinstance(welcome, Welcome)
    history = [Message("4-0", "bob", "hi", 1.0)]
    sent = events(room.welcome(welcome, history, reset=False, epoch="e1"))
    assert sent[0][1]["type"] == "welcome"
    assert sent[0][1]["token"] == "fresh"
    assert (sent[0][1]["replay"], sent[0][1]["epoch"]) == (1, "e1")
    assert sent[1] == (
        (1,),
        {"type": "message", "id": "4-0", "name": "bob", "text": "hi", "ts": 1.0},
    )
    assert room.conns == [1]


def test_a_resumed_join_keeps_the_token_the_client_presented() -> None:
    """When the store says the token matched, the welcome carries that same token."""
    room = Room("a", new_token=lambda: "fresh")
    room.receive(1, join("alice", token="old"))
    (welcome,) = room.apply("5-0", joined_entry("alice", "a", 1, ["alice"], resumed="1"))
    assert isinstance(welcome, Welcome)
    assert events(room.welcome(welcome, [], reset=True, epoch="e"))[0][1]["token"] == "old"


def test_others_see_a_join_but_a_takeover_closes_the_ghost_quietly() -> None:
    """A fresh join is announced; a resume elsewhere closes the old connection with 4001 only."""
    room = Room("a")
    joined(room, 1, "alice", "1-0", ["alice"])
    joined(room, 2, "bob", "2-0", ["alice", "bob"])
    announced = room.apply("3-0", joined_entry("carol", "b", 9, ["alice", "bob", "carol"]))
    assert events(announced) == [((1, 2), {"type": "joined", "name": "carol"})]
    takeover = joined_entry("bob", "b", 4, ["alice", "bob", "carol"], resumed="1")
    actions = room.apply("4-0", {**takeover, "ghost_srv": "a", "ghost_conn": "2"})
    assert actions == [Close(2, CLOSE_TAKEN_OVER, actions[0].reason)]  # type: ignore[union-attr]
    assert room.receive(2, send("c1", "late")) == []
    assert room.disconnect(2) == []
    assert room.conns == [1]


def test_a_message_entry_acks_its_sender_just_before_everyone_gets_it() -> None:
    """The origin connection gets its ack, then every local client gets the message once."""
    room = Room("a", new_token=lambda: "token")
    joined(room, 1, "alice", "1-0", ["alice"])
    joined(room, 2, "bob", "2-0", ["alice", "bob"])
    (request,) = room.receive(1, send("c1", "text of c1"))
    assert request == PostRequest(1, "alice", "token", "c1", "text of c1", None)
    sent = events(room.apply("3-0", message_entry("alice", "c1", "a", 1)))
    assert sent[0] == ((1,), {"type": "ack", "cid": "c1", "id": "3-0", "duplicate": False})
    assert sent[1][0] == (1, 2)
    assert sent[1][1]["id"] == "3-0"
    assert len(sent) == 2
    elsewhere = events(room.apply("4-0", message_entry("carol", "c9", "b", 1)))
    assert [to for to, _ in elsewhere] == [(1, 2)]  # conn 1 on server b is not ours


def test_events_for_everyone_share_one_recipient_tuple_until_the_members_change() -> None:
    """Until someone joins or leaves, every event for everyone names the same tuple object."""
    room = Room("a")
    joined(room, 1, "alice", "1-0", ["alice"])
    joined(room, 2, "bob", "2-0", ["alice", "bob"])
    first, second = (events(room.apply(f"{n}-0", message_entry("x", "c", "b", 9))) for n in (3, 4))
    assert first[0][0] == (1, 2)
    assert first[0][0] is second[0][0]
    room.disconnect(2)
    third = events(room.apply("5-0", message_entry("x", "c", "b", 9)))
    assert third[0][0] == (1,)
    joined(room, 3, "carol", "6-0", ["alice", "carol"])
    assert events(room.apply("7-0", message_entry("x", "c", "b", 9)))[0][0] == (1, 3)


def test_a_private_entry_reaches_only_the_sender_and_the_recipient() -> None:
    """A message with ``to`` goes to the two names concerned, on whichever server they are."""
    room = Room("a")
    for conn, name in enumerate(["alice", "bob", "carol"], start=1):
        joined(room, conn, name, f"{conn}-0", [name])
    sent = events(room.apply("9-0", message_entry("Dave", "c1", "b", 5, to="Bob")))
    assert [(to, event["to"]) for to, event in sent] == [((2,), "Bob")]


def test_left_and_typing_go_to_the_right_local_clients() -> None:
    """A left entry reaches every local client; a typing notice all but the typist."""
    room = Room("a")
    joined(room, 1, "alice", "1-0", ["alice"])
    joined(room, 2, "bob", "2-0", ["alice", "bob"])
    assert room.receive(2, '{"type": "typing"}') == [TypingRequest("bob")]
    assert events(room.typing("bob")) == [((1,), {"type": "typing", "name": "bob"})]
    left = room.apply("3-0", {"k": "l", "name": "carol"})
    assert events(left) == [((1, 2), {"type": "left", "name": "carol"})]


def test_refusals_answer_the_one_client_and_keep_the_cid() -> None:
    """A refused join closes with 1013 so the client rejoins; a refused send names its cid."""
    room = Room("a")
    (request,) = room.receive(1, join("alice"))
    assert isinstance(request, JoinRequest)
    error, close = room.unavailable(request)
    assert events([error])[0][1]["code"] == "unavailable"
    assert close == Close(1, CLOSE_TRY_AGAIN_LATER, UNAVAILABLE_REASON)  # rejoin after backoff
    assert isinstance(room.receive(1, join("alice"))[0], JoinRequest)  # not "already joined"
    joined(room, 2, "bob", "2-0", ["bob"])
    (post,) = room.receive(2, send("c7", "hello"))
    assert isinstance(post, PostRequest)
    ((to, error),) = events(room.unavailable(post))
    assert (to, error["code"], error["cid"]) == ((2,), "unavailable", "c7")
    ((_, ack),) = events(room.settle(post, "dup", "1-0"))
    assert ack == {"type": "ack", "cid": "c7", "id": "1-0", "duplicate": True}


def test_bad_frames_and_early_sends_are_refused_without_a_request() -> None:
    """Invalid events never reach the store: the client gets an error event at once."""
    room = Room("a")
    assert events(room.receive(1, "not json"))[0][1]["code"] == "bad_json"
    assert events(room.receive(1, send("c1", "hi")))[0][1]["code"] == "not_joined"
    joined(room, 1, "alice", "1-0", ["alice"])
    assert events(room.receive(1, join("again")))[0][1]["code"] == "already_joined"


def test_a_connection_that_ends_while_joining_still_frees_its_name() -> None:
    """Its claim may already be stored, so disconnect asks to free it; its entry is ignored."""
    room = Room("a")
    room.receive(1, join("alice"))
    assert room.disconnect(1) == [LeaveRequest(1, "alice")]
    assert room.apply("1-0", joined_entry("alice", "a", 1, ["alice"])) == []
    assert room.disconnect(1) == []


def test_typing_is_kept_from_every_connection_joined_under_the_typists_name() -> None:
    """Typing excludes by name, so a ghost not yet closed never hears its successor type."""
    room = Room("a")
    joined(room, 1, "alice", "1-0", ["alice"])
    joined(room, 2, "bob", "2-0", ["alice", "bob"])
    assert events(room.typing("ALICE")) == [((2,), {"type": "typing", "name": "ALICE"})]


def test_settle_turns_the_stores_answers_into_errors_for_the_sender() -> None:
    """name_taken and no_such_user are built once, here, whatever store answered."""
    room = Room("a")
    (request,) = room.receive(1, join("alice"))
    assert isinstance(request, JoinRequest)
    assert events(room.settle(request, "taken")) == [
        (
            (1,),
            {
                "type": "error",
                "code": "name_taken",
                "detail": "The name 'alice' is already in use.",
            },
        )
    ]
    assert room.settle(request, "ok") == []
    joined(room, 2, "bob", "2-0", ["bob"])
    (post,) = room.receive(2, send("c1", "hi", to="zed"))
    assert isinstance(post, PostRequest)
    assert events(room.settle(post, "nouser"))[0][1]["code"] == "no_such_user"


def test_online_follows_the_log_joins_and_leaves() -> None:
    """The room knows everyone online from the last join's list and the leaves after it."""
    room = Room("a")
    room.apply(
        "1-0", {"k": "j", "name": "bob", "srv": "b", "conn": "3", "online": '["bob", "eve"]'}
    )
    room.apply("2-0", {"k": "l", "name": "eve"})
    assert room.online == ["bob"]
