"""Tests for wslib.core.relay: the article's broadcast rule, with no sockets."""

from __future__ import annotations

from wslib.core.relay import DISCONNECT_LINE, PEER_PREFIX, RECEIVED_PREFIX, Relay, log_line


def test_text_goes_to_every_other_member_with_the_peer_prefix() -> None:
    """A text message is for every member but the sender, prefixed as the article does."""
    relay: Relay[str] = Relay()
    for name in ("alice", "bob", "carol"):
        relay.join(name)
    delivery = relay.receive("bob", "hi")
    assert delivery.recipients == ["alice", "carol"]
    assert delivery.payload == "Received message from peer: hi"
    assert delivery.log_line == "Received message: hi"
    assert PEER_PREFIX == "Received message from peer: "
    assert RECEIVED_PREFIX == "Received message: "


def test_binary_is_relayed_unchanged_and_logged_by_size() -> None:
    """A binary message is passed on as the same bytes and logged as its length."""
    relay: Relay[int] = Relay()
    relay.join(1)
    relay.join(2)
    delivery = relay.receive(1, b"\x00\x01\x02")
    assert delivery.payload == b"\x00\x01\x02"
    assert delivery.recipients == [2]
    assert delivery.log_line == "Received message: <3 bytes>"


def test_a_lone_member_sends_to_no_one() -> None:
    """With nobody else connected a message reaches no one, and is still logged."""
    relay: Relay[str] = Relay()
    relay.join("alice")
    delivery = relay.receive("alice", "anyone?")
    assert delivery.recipients == []
    assert delivery.log_line == "Received message: anyone?"


def test_leave_removes_the_member_and_returns_the_disconnect_line() -> None:
    """Leaving stops deliveries to a member and yields 'Client disconnected', even twice."""
    relay: Relay[str] = Relay()
    relay.join("alice")
    relay.join("bob")
    assert relay.leave("bob") == DISCONNECT_LINE == "Client disconnected"
    assert relay.leave("bob") == "Client disconnected"
    assert relay.members == ["alice"]
    assert relay.receive("alice", "x").recipients == []


def test_members_keep_join_order() -> None:
    """Members are listed, and receive, in the order they joined."""
    relay: Relay[str] = Relay()
    for name in ("carol", "alice", "bob"):
        relay.join(name)
    assert relay.members == ["carol", "alice", "bob"]
    assert relay.receive("dave", "not a member").recipients == ["carol", "alice", "bob"]


def test_log_line_escapes_control_characters_but_payload_keeps_them() -> None:
    """Control characters are escaped in the log line and left intact in what is relayed."""
    relay: Relay[str] = Relay()
    relay.join("a")
    relay.join("b")
    delivery = relay.receive("a", "bell\x07 and\nnewline")
    assert delivery.payload == "Received message from peer: bell\x07 and\nnewline"
    assert delivery.log_line == "Received message: bell\\x07 and\\x0anewline"


def test_log_line_is_the_articles_line_for_text_and_a_size_for_binary() -> None:
    """``log_line`` gives the same line ``Relay.receive`` logs, without any membership."""
    assert log_line("hi") == RECEIVED_PREFIX + "hi"
    assert log_line("a\x1bb") == RECEIVED_PREFIX + "a\\x1bb"
    assert log_line(b"\x00\x01") == RECEIVED_PREFIX + "<2 bytes>"
    assert Relay[str]().receive("alice", "hi").log_line == log_line("hi")
