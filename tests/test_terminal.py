"""Tests for wslib.client.terminal: the lines the terminal chat client prints."""

from __future__ import annotations

import io
from typing import Any

import pytest

from wslib import Status
from wslib.client.terminal import TerminalView, format_event


@pytest.mark.parametrize(
    ("event", "line"),
    [
        (Status("open"), "# open"),
        (
            Status("reconnecting", 1001, "server shutting down"),
            "# reconnecting (1001 server shutting down)",
        ),
        ("Received message from peer: hi", "Received message from peer: hi"),
        (b"\x00\x01\x02", "<3 bytes>"),
        ({"type": "message", "name": "alice", "text": "hi"}, "alice: hi"),
        ({"type": "message", "name": "alice", "text": "psst", "to": "bob"}, "alice → bob: psst"),
        (
            {"type": "welcome", "name": "bob", "online": ["alice", "bob"], "reset": False},
            "* joined as bob; online: alice, bob",
        ),
        (
            {"type": "welcome", "name": "bob", "online": ["bob"], "reset": True},
            "* joined as bob; online: bob (history was reset)",
        ),
        ({"type": "joined", "name": "carol"}, "* carol joined"),
        ({"type": "left", "name": "carol"}, "* carol left"),
        ({"type": "error", "code": "bad_json", "detail": "Not JSON."}, "! bad_json: Not JSON."),
        ({"type": "ack", "cid": "c1", "id": "x"}, None),
        ({"type": "typing", "name": "alice"}, None),
        ({"type": "from the future"}, None),
    ],
)
def test_format_event_gives_one_marked_line_per_event(event: Any, line: str | None) -> None:
    """Messages print as 'name: text', joins and leaves with '*', errors with '!', acks not."""
    assert format_event(event) == line


def test_format_event_escapes_what_peers_control() -> None:
    """Names and texts from peers cannot move the cursor or break the line."""
    event = {"type": "message", "name": "e\x1b[2Jve", "text": "two\nlines"}
    assert format_event(event) == "e\\x1b[2Jve: two\\x0alines"
    assert format_event("\x1b[31m") == "\\x1b[31m"


class Recording(io.StringIO):
    """A stream that records where flushes happened."""

    def __init__(self) -> None:
        super().__init__()
        self.flushed_at: list[int] = []

    def flush(self) -> None:
        """Note how much had been written when flushed."""
        self.flushed_at.append(len(self.getvalue()))


def test_terminal_view_writes_and_flushes_each_line() -> None:
    """Each shown event, sent line and problem is written as one line and flushed at once."""
    stream = Recording()
    view = TerminalView(stream)
    view.show({"type": "joined", "name": "carol"})
    view.show({"type": "ack"})
    view.sent("hello\x07")
    view.problem("not connected")
    assert stream.getvalue() == "* carol joined\n(you) hello\\x07\n! not connected\n"
    assert stream.flushed_at == [15, 31, 47]
