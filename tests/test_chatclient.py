"""Tests for chatclient and blocking's chat client: join, resume, retry, dedupe.

The servers run in the background (``wslib.start``) so that a server can be stopped and
started again on the same port while clients wait to reconnect. One client ("bob") runs on
a ``LoopThread`` of its own, which a test can freeze to keep it offline for a while.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import HOLD_LOCK, TIMEOUT, LoopThread, restart_port, spawn

import wslib
from wslib import Backoff, ChatClient, SyncChatClient

pytestmark = pytest.mark.usefixtures("stop_everything")


FAST = Backoff(initial=TIMEOUT / 50, minimum=TIMEOUT / 100, maximum=TIMEOUT / 25)


@pytest.fixture
def side_loop() -> Iterator[LoopThread]:
    """Yield an event loop on a thread of its own, closed after the test."""
    loop = LoopThread()
    try:
        yield loop
    finally:
        loop.close()


class Remote:
    """A ``ChatClient`` living on a ``LoopThread``, driven with blocking calls."""

    def __init__(
        self,
        loop: LoopThread,
        url: str,
        name: str,
        cls: type[ChatClient] = ChatClient,
        token: str | None = None,
        **options: Any,
    ) -> None:
        self.loop = loop
        self.events: list[Any] = []

        async def make() -> ChatClient:
            client = cls(url, name, on_event=self.events.append, **options)
            client.token = token
            return client

        self.client = loop.run(make())
        loop.run(self.client.start(TIMEOUT))
        self.wait_for(lambda: self.client.joined)

    def wait_for(self, predicate: Any, timeout: float = 2 * TIMEOUT) -> None:
        """Block until ``predicate()`` holds on the client's loop."""
        self.loop.run(self.client.wait_for(predicate, timeout), timeout + TIMEOUT)

    def send(self, text: str) -> str:
        """Send a chat message; return its cid."""
        return self.loop.run(self.client.send(text))

    def stop(self) -> None:
        """Close the client."""
        self.loop.run(self.client.stop())

    def welcomes(self) -> list[dict[str, Any]]:
        """Return the welcome events received so far."""
        return [e for e in self.events if isinstance(e, dict) and e.get("type") == "welcome"]


def texts(messages: list[dict[str, Any]]) -> list[str]:
    """Return the texts of chat message events."""
    return [message["text"] for message in messages]


def test_offline_client_gets_exactly_what_it_missed_across_a_restart(
    tmp_path: Path, side_loop: LoopThread
) -> None:
    """With history_db, a client offline across a restart is replayed just what it missed."""
    db = str(tmp_path / "chat.sqlite3")
    port = restart_port()
    server = wslib.start(port=port, history_db=db)
    alice = SyncChatClient(server.chat_url, "alice", reconnect=FAST)
    bob = Remote(side_loop, server.chat_url, "bob", reconnect=FAST)
    try:
        alice.send("before the restart")
        bob.wait_for(lambda: len(bob.client.messages) == 1)

        server.stop()  # 1001: both clients start reconnecting
        bob.wait_for(lambda: bob.client.status.state == "reconnecting")
        side_loop.freeze()  # bob stays offline until thawed
        try:
            server = wslib.start(port=port, history_db=db)
            alice.wait_for(lambda: alice.client.joined and alice.client.connections == 2)
            alice.send("while bob was away")
            alice.send("and another")
            alice.wait_for(lambda: not alice.client.pending, TIMEOUT)
        finally:
            side_loop.thaw()

        bob.wait_for(lambda: bob.client.joined and len(bob.client.messages) == 3)
        assert texts(bob.client.messages) == [
            "before the restart",
            "while bob was away",
            "and another",
        ]
        rejoin = bob.welcomes()[-1]
        assert rejoin["replay"] == 2
        assert rejoin["reset"] is False
        assert bob.client.history_resets == 0
        assert texts(alice.messages) == texts(bob.client.messages)
        ids = [m["id"] for m in bob.client.messages]
        assert ids == sorted(set(ids))
    finally:
        bob.stop()


def test_sends_made_while_disconnected_are_retried_and_appear_once(tmp_path: Path) -> None:
    """A message sent while the server is down goes out after the reconnect, exactly once."""
    db = str(tmp_path / "chat.sqlite3")
    port = restart_port()
    server = wslib.start(port=port, history_db=db)
    alice = SyncChatClient(server.chat_url, "alice", reconnect=FAST)
    server.stop()
    alice.wait_for(lambda: alice.status.state == "reconnecting", TIMEOUT)

    alice.send("sent while the server was down")
    assert len(alice.client.pending) == 1

    server = wslib.start(port=port, history_db=db)
    bob = SyncChatClient(server.chat_url, "bob")
    alice.wait_for(lambda: not alice.client.pending, 2 * TIMEOUT)
    bob.wait_for(lambda: len(bob.messages) == 1, TIMEOUT)
    assert texts(bob.messages) == ["sent while the server was down"]
    assert texts(alice.messages) == ["sent while the server was down"]


def test_sixty_sends_typed_while_the_server_was_down_all_arrive_once_and_the_client_stays() -> None:
    """60 sends made while the server is down are resent at a pace the server's rate limit
    accepts: all are delivered once, in order, and the client stays open (no 1008)."""
    # In memory, the restarted server takes the 60 as fast as they come (SQLite would
    # spread them out): the pace is what keeps them under the rate limit.
    port = restart_port()
    server = wslib.start(port=port)
    alice = SyncChatClient(server.chat_url, "alice", reconnect=FAST)
    server.stop()
    alice.wait_for(lambda: alice.status.state == "reconnecting", TIMEOUT)
    sent = [f"line {n}" for n in range(60)]
    for line in sent:
        alice.send(line)
    assert len(alice.client.pending) == 60

    server = wslib.start(port=port)
    bob = SyncChatClient(server.chat_url, "bob")
    alice.wait_for(lambda: not alice.client.pending, 4 * TIMEOUT)
    bob.wait_for(lambda: len(bob.messages) == 60, TIMEOUT)
    assert texts(bob.messages) == sent
    assert alice.status.state == "open"
    assert alice.client.connections == 2  # one reconnection: never closed for going too fast
    assert not [e for e in alice.client.errors if e.get("code") == "not_delivered"]


def test_a_client_closed_for_going_too_fast_slows_down_and_delivers_the_rest(
    tmp_path: Path,
) -> None:
    """Against a server stricter than SEND_RATE, the 1008 for speed makes the client
    reconnect at half its pace: every send arrives once."""
    strict = wslib.Limits(chat_rate=(4.0, 8.0))
    server = wslib.start(port=0, limits=strict)
    alice = SyncChatClient(server.chat_url, "alice", reconnect=FAST)
    bob = SyncChatClient(server.chat_url, "bob")
    sent = [f"fast {n}" for n in range(30)]
    for line in sent:
        alice.send(line)
    alice.wait_for(lambda: not alice.client.pending, 8 * TIMEOUT)
    bob.wait_for(lambda: len(bob.messages) == 30, TIMEOUT)
    assert texts(bob.messages) == sent
    assert alice.client.connections >= 2  # it was closed with 1008 at least once
    assert alice.status.state == "open"


def test_a_client_closed_for_good_with_sends_pending_says_which() -> None:
    """A final close (here the server's 4000-range kick is simulated by a stop while the
    server is gone) with sends unacknowledged emits one not_delivered error listing them."""
    server = wslib.start(port=0)
    events: list[Any] = []
    alice = SyncChatClient(server.chat_url, "alice", reconnect=FAST, on_event=events.append)
    server.stop()
    alice.wait_for(lambda: alice.status.state == "reconnecting", TIMEOUT)
    alice.send("never sent")
    alice.stop()
    told = [e for e in events if isinstance(e, dict) and e.get("code") == "not_delivered"]
    assert len(told) == 1
    assert told[0]["local"] is True
    assert "'never sent'" in told[0]["detail"]
    assert [e["text"] for e in alice.client.undelivered] == ["never sent"]


class LosesFirstAck(ChatClient):
    """A chat client whose first acknowledgement is lost, as if the network ate it."""

    acks_lost = 0

    def on_message(self, message: str | bytes) -> None:
        """Drop the first ack; handle everything else as usual."""
        if self.acks_lost == 0 and json.loads(message).get("type") == "ack":
            self.acks_lost += 1
            return
        super().on_message(message)


def test_a_send_whose_ack_was_lost_is_retried_and_shown_once(
    tmp_path: Path, side_loop: LoopThread
) -> None:
    """A send the server accepted but never acknowledged is retried after a restart, once."""
    db = str(tmp_path / "chat.sqlite3")
    port = restart_port()
    server = wslib.start(port=port, history_db=db)
    bob = SyncChatClient(server.chat_url, "bob", reconnect=FAST)
    alice = Remote(side_loop, server.chat_url, "alice", cls=LosesFirstAck, reconnect=FAST)
    client = alice.client
    try:
        alice.send("accepted, ack lost")
        bob.wait_for(lambda: len(bob.messages) == 1, TIMEOUT)
        alice.wait_for(lambda: len(client.messages) == 1)
        assert len(client.pending) == 1  # its ack never arrived

        server.stop()
        server = wslib.start(port=port, history_db=db)
        alice.wait_for(lambda: client.connections == 2 and not client.pending)
        acks = [e for e in alice.events if isinstance(e, dict) and e["type"] == "ack"]
        assert [a["duplicate"] for a in acks] == [True]

        bob.wait_for(lambda: bob.client.connections == 2 and bob.client.joined, 2 * TIMEOUT)
        alice.send("after")
        bob.wait_for(lambda: len(bob.messages) == 2, TIMEOUT)
        assert texts(bob.messages) == ["accepted, ack lost", "after"]
        alice.wait_for(lambda: len(client.messages) == 2)
        assert texts(client.messages) == ["accepted, ack lost", "after"]
    finally:
        alice.stop()


def test_without_history_db_a_resuming_client_is_told_history_was_reset() -> None:
    """Without history_db a restart loses history, and a resuming client is told so."""
    port = restart_port()
    server = wslib.start(port=port)
    alice = SyncChatClient(server.chat_url, "alice", reconnect=FAST)
    alice.send("soon forgotten")
    alice.wait_for(lambda: len(alice.messages) == 1, TIMEOUT)
    server.stop()
    server = wslib.start(port=port)
    alice.wait_for(lambda: alice.client.connections == 2 and alice.client.joined, 2 * TIMEOUT)
    assert alice.client.history_resets == 1
    assert texts(alice.messages) == ["soon forgotten"]


def test_resume_token_takes_the_name_over_and_closes_the_ghost_with_4001(
    side_loop: LoopThread,
) -> None:
    """Rejoining with the token takes the name at once; the ghost gets 4001; no leave or join."""
    server = wslib.start(port=0)
    bob = SyncChatClient(server.chat_url, "bob")
    ghost = SyncChatClient(server.chat_url, "alice", reconnect=FAST)
    bob.wait_for(lambda: bob.online == ["alice", "bob"], TIMEOUT)
    seen: list[Any] = []
    bob.client.listen(seen.append)

    alice = Remote(side_loop, server.chat_url, "alice", token=ghost.client.token)
    try:
        ghost.wait_for(lambda: ghost.status.state == "closed", TIMEOUT)
        assert ghost.status.code == wslib.CLOSE_TAKEN_OVER == 4001
        assert ghost.client.connections == 1
        alice.send("it is me")
        bob.wait_for(lambda: len(bob.messages) == 1, TIMEOUT)
        assert [e["type"] for e in seen if isinstance(e, dict)] == ["message"]
    finally:
        alice.stop()
    assert bob.messages[0]["name"] == "alice"


def test_name_taken_is_an_error_for_the_newcomer_only() -> None:
    """Joining with a name in use records an error for the newcomer; the holder is untouched."""
    server = wslib.start(port=0)
    alice = SyncChatClient(server.chat_url, "alice")
    impostor = SyncChatClient(server.chat_url, "Alice", reconnect=False)
    assert not impostor.client.joined
    assert [e["code"] for e in impostor.client.errors] == ["name_taken"]
    alice.send("still mine")
    alice.wait_for(lambda: len(alice.messages) == 1, TIMEOUT)
    assert alice.online == ["alice"]


def test_private_message_reaches_only_its_recipient_and_sender() -> None:
    """A message sent ``to`` one name reaches that user and the sender, and no one else."""
    server = wslib.start(port=0)
    alice = SyncChatClient(server.chat_url, "alice")
    bob = SyncChatClient(server.chat_url, "bob")
    carol = SyncChatClient(server.chat_url, "carol")
    alice.wait_for(lambda: len(alice.online) == 3, TIMEOUT)
    alice.send("just for bob", to="bob")
    alice.send("for everyone")
    carol.wait_for(lambda: len(carol.messages) == 1, TIMEOUT)
    bob.wait_for(lambda: len(bob.messages) == 2, TIMEOUT)
    alice.wait_for(lambda: len(alice.messages) == 2, TIMEOUT)
    assert texts(carol.messages) == ["for everyone"]
    assert bob.messages[0]["to"] == "bob"
    assert texts(bob.messages) == texts(alice.messages) == ["just for bob", "for everyone"]


def test_newcomer_is_replayed_recent_history_once() -> None:
    """A client joining late is replayed the recent messages, each once, in order."""
    server = wslib.start(port=0, replay=2)
    alice = SyncChatClient(server.chat_url, "alice")
    for text in ("one", "two", "three"):
        alice.send(text)
    alice.wait_for(lambda: len(alice.messages) == 3, TIMEOUT)
    bob = SyncChatClient(server.chat_url, "bob")
    bob.wait_for(lambda: len(bob.messages) == 2, TIMEOUT)
    assert texts(bob.messages) == ["two", "three"]
    assert bob.client.last_id == alice.messages[-1]["id"]


def test_a_send_the_server_refuses_leaves_pending_and_is_not_retried() -> None:
    """A send refused with an error event carrying its cid is dropped from ``pending``."""
    server = wslib.start(port=0)
    alice = SyncChatClient(server.chat_url, "alice")
    cid = alice.send("x" * 5000)  # over the chat text limit
    alice.wait_for(lambda: bool(alice.client.errors), TIMEOUT)
    assert alice.client.errors[0]["code"] == "too_long"
    assert alice.client.errors[0]["cid"] == cid
    assert cid not in alice.client.pending
    alice.send("short")
    alice.wait_for(lambda: not alice.client.pending and len(alice.messages) == 1, TIMEOUT)


@pytest.mark.parametrize("dirty", ["nul \x00 inside", "half a pair \ud83d"])
def test_a_send_refused_for_its_text_does_not_hold_back_the_next(dirty: str) -> None:
    """Text the server refuses (NUL, a lone surrogate) is answered by cid; the next line goes."""
    server = wslib.start(port=0)
    alice = SyncChatClient(server.chat_url, "alice")
    bob = SyncChatClient(server.chat_url, "bob")
    cid = alice.send(dirty)
    alice.send("a normal line")  # sent right behind it: it waits for the refusal's answer
    bob.wait_for(lambda: len(bob.messages) == 1, TIMEOUT)
    assert texts(bob.messages) == ["a normal line"]
    assert [(e["code"], e["cid"]) for e in alice.client.errors] == [("bad_text", cid)]
    alice.wait_for(lambda: not alice.client.pending, TIMEOUT)


def refused(client: ChatClient) -> list[str]:
    """Return the cids of the sends the server refused with ``unavailable``, in order."""
    return [e["cid"] for e in client.errors if e.get("code") == "unavailable"]


def test_a_send_refused_as_unavailable_is_retried_on_the_open_connection_in_order(
    tmp_path: Path,
) -> None:
    """A send the store refuses for now is retried, with backoff, on the same connection;
    a later send waits behind it, and both arrive once, in order."""
    journal = tmp_path / "chat.sqlite3-journal"
    server = wslib.start(port=0, history_db=str(tmp_path / "chat.sqlite3"))
    alice = SyncChatClient(server.chat_url, "alice", reconnect=FAST)
    bob = SyncChatClient(server.chat_url, "bob")
    journal.mkdir()  # a folder where SQLite's journal must go: every write fails, for now
    try:
        first = alice.send("during the outage")
        alice.wait_for(lambda: len(refused(alice.client)) >= 2, 2 * TIMEOUT)  # retried
        alice.send("after it")
        alice.wait_for(lambda: len(refused(alice.client)) >= 4, 2 * TIMEOUT)
        assert set(refused(alice.client)) == {first}  # "after it" waits, unsent
    finally:
        journal.rmdir()
    alice.wait_for(lambda: not alice.client.pending, 2 * TIMEOUT)
    bob.wait_for(lambda: len(bob.messages) == 2, TIMEOUT)
    assert texts(bob.messages) == ["during the outage", "after it"]
    assert alice.status.state == "open"
    assert alice.client.connections == 1  # retried on the open connection, not a new one


def test_a_send_refused_while_another_process_locks_the_database_keeps_its_place(
    tmp_path: Path,
) -> None:
    """A second send made while the first waits on a locked database is not stored before
    it: once the lock is gone, the first is retried and both arrive, in order."""
    path = tmp_path / "chat.sqlite3"
    server = wslib.start(port=0, history_db=str(path))
    alice = SyncChatClient(server.chat_url, "alice", reconnect=FAST)
    bob = SyncChatClient(server.chat_url, "bob")
    with spawn("-c", HOLD_LOCK, str(path)) as holder:
        assert holder.line() == "locked"
        first = alice.send("during the lock")
        alice.send("typed while it waits")  # before the server has answered the first
        alice.wait_for(lambda: bool(refused(alice.client)), 2 * TIMEOUT)
        assert refused(alice.client) == [first]
        assert holder.proc.stdin is not None
        holder.proc.stdin.close()  # let go of the lock
        assert holder.wait() == 0
    alice.wait_for(lambda: not alice.client.pending, 2 * TIMEOUT)
    bob.wait_for(lambda: len(bob.messages) == 2, TIMEOUT)
    assert texts(bob.messages) == ["during the lock", "typed while it waits"]
    assert alice.client.connections == 1


def test_sends_still_refused_when_the_client_stops_are_listed_as_not_delivered(
    tmp_path: Path,
) -> None:
    """Retries go on until stop(); then the refused send and the one queued behind it are
    listed, oldest first, in one not_delivered error."""
    journal = tmp_path / "chat.sqlite3-journal"
    server = wslib.start(port=0, history_db=str(tmp_path / "chat.sqlite3"))
    events: list[Any] = []
    alice = SyncChatClient(server.chat_url, "alice", reconnect=FAST, on_event=events.append)
    journal.mkdir()
    try:
        alice.send("refused")
        alice.wait_for(lambda: len(refused(alice.client)) >= 2, 2 * TIMEOUT)
        alice.send("queued behind")
        alice.stop()
    finally:
        journal.rmdir()
    told = [e for e in events if isinstance(e, dict) and e.get("code") == "not_delivered"]
    assert len(told) == 1
    assert [e["text"] for e in alice.client.undelivered] == ["refused", "queued behind"]


def test_a_send_after_stop_raises_not_connected_and_is_not_kept() -> None:
    """After stop() the client is no longer joined, and a send raises NotConnectedError."""
    server = wslib.start(port=0)
    alice = SyncChatClient(server.chat_url, "alice")
    alice.stop()
    assert not alice.client.joined
    with pytest.raises(wslib.NotConnectedError, match="closed"):
        alice.send("after stop")
    assert not alice.client.pending
