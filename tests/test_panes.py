"""Tests for wslib.notebook.panes without a browser: live panes against a real server on port 0.

A front end changes a widget by sending it new state, which ipywidgets applies with
``set_state``; the tests do the same, so they go through the path a browser takes.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from support import TIMEOUT, restart_port

import wslib
from wslib.client.transcript import Line
from wslib.notebook.panes import (
    ChatPane,
    PaneRow,
    ServerLog,
    chat_panes,
    side_by_side,
)
from wslib.sync import runtime
from wslib.sync.background import BackgroundServer

XSS = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>alert('hi')</script>"


@pytest.fixture
def server() -> Iterator[BackgroundServer]:
    """Start a kit server on a free port and stop it afterwards."""
    background = wslib.start(port=0, name="test_panes")
    try:
        yield background
    finally:
        background.stop()


@pytest.fixture
def stop_later() -> Iterator[Callable[[Any], Any]]:
    """Collect panes and logs to stop after the test, whatever happens in it."""
    started: list[Any] = []
    yield lambda item: started.append(item) or item
    for item in reversed(started):
        item.stop()


def flush_kit_loop() -> None:
    """Wait until the kit's loop has run every callback scheduled so far (renders)."""
    runtime.run(asyncio.sleep(0), TIMEOUT)


def press_send(pane: ChatPane, content: Any) -> None:
    """Deliver ``content`` as the box's front end sends it on Enter or Send (a custom message)."""
    pane.input._handle_custom_msg(content, [])


def enter(pane: ChatPane, text: str) -> None:
    """Send ``text`` from the pane's box as the browser does on Enter or a click on Send."""
    press_send(pane, {"event": "send", "text": text})


def relay_pair(server: BackgroundServer, stop_later: Callable[[Any], Any]) -> PaneRow:
    row = chat_panes(server, "Alice", "Bob", timeout=TIMEOUT)
    for pane in row:
        stop_later(pane)
    return row


def test_a_relay_message_reaches_the_other_pane_and_the_sender_sees_a_local_line(
    server: BackgroundServer, stop_later: Callable[[Any], Any]
) -> None:
    """Alice's message shows in Bob's pane as the relay sent it, and in hers as local."""
    alice, bob = relay_pair(server, stop_later)
    alice.send("hi Bob")
    assert bob.wait_for_line("hi Bob", timeout=TIMEOUT) == Line(
        "peer", "Received message from peer: hi Bob"
    )
    alice.wait_for_line("hi Bob", "local", timeout=TIMEOUT)
    bob.send("marker")  # relayed in order: had Alice been sent anything, it came first
    alice.wait_for_line("marker", timeout=TIMEOUT)
    assert alice.transcript.texts("peer") == ["Received message from peer: marker"]


def test_panes_open_before_chat_panes_returns(
    server: BackgroundServer, stop_later: Callable[[Any], Any]
) -> None:
    """chat_panes returns open panes, each with its name and status in the header."""
    row = relay_pair(server, stop_later)
    assert [pane.status for pane in row] == ["open", "open"]
    assert row["Bob"] is row[1]
    assert "<b>Bob</b>" in row[1].header.value
    assert ">open</span>" in row[1].header.value
    with pytest.raises(KeyError):
        row["Carol"]


def test_text_from_the_box_is_sent_whole_and_in_order(
    server: BackgroundServer, stop_later: Callable[[Any], Any]
) -> None:
    """Each text the box's front end sends on Enter goes out exactly as typed, in order."""
    alice, bob = relay_pair(server, stop_later)
    long_text = "x" * 3000 + " end"
    texts = [f"message {n}" for n in range(20)] + [long_text]
    for text in texts:
        enter(alice, text)
    bob.wait_for_line(" end", timeout=TIMEOUT)
    prefix = "Received message from peer: "
    assert bob.transcript.texts("peer") == [prefix + text for text in texts]


def test_leaving_the_box_sends_nothing(
    server: BackgroundServer, stop_later: Callable[[Any], Any]
) -> None:
    """What a box commits when the focus leaves it (a value, a bare submit) is never sent."""
    alice, bob = relay_pair(server, stop_later)
    alice.input.set_state({"value": "half-typed"})  # ipywidgets' Text commits this on blur
    press_send(alice, {"event": "submit"})  # and this on Enter, without the text
    enter(alice, "whole")
    bob.wait_for_line("whole", timeout=TIMEOUT)
    assert bob.transcript.texts("peer") == ["Received message from peer: whole"]
    assert alice.transcript.texts("local") == ["whole"]


def test_blank_or_malformed_messages_send_nothing(
    server: BackgroundServer, stop_later: Callable[[Any], Any]
) -> None:
    """Only spaces, no text, a text that is not a string or another event sends nothing."""
    alice, bob = relay_pair(server, stop_later)
    for content in (
        {"event": "send", "text": "   "},
        {"event": "send"},
        {"event": "send", "text": 5},
        {"event": "paste", "text": "not a send"},
        "send",
    ):
        press_send(alice, content)
    enter(alice, "real")
    bob.wait_for_line("real", timeout=TIMEOUT)
    assert bob.transcript.texts("peer") == ["Received message from peer: real"]


def test_the_box_has_a_label_and_says_how_to_send() -> None:
    """The box is labelled with the pane's name for screen readers; its placeholder says Enter."""
    pane = ChatPane("ws://127.0.0.1:9/", "Bob", reconnect=False, wait=False)
    try:
        assert pane.input.label == "Message from Bob"
        assert pane.input.placeholder == "message from Bob, then Enter"
    finally:
        pane.stop()


def test_received_html_reaches_the_log_as_the_text_it_is(
    server: BackgroundServer, stop_later: Callable[[Any], Any]
) -> None:
    """A peer's <img onerror> or <script> goes to the log as plain text, for textContent."""
    alice, bob = relay_pair(server, stop_later)
    for text in (XSS, SCRIPT):
        alice.send(text)
        bob.wait_for_line(text, timeout=TIMEOUT)
    alice.wait_for_line(SCRIPT, "local", timeout=TIMEOUT)
    assert bob.log_view.shown[-2:] == [
        ("chat-line chat-peer", f"← Received message from peer: {XSS}"),
        ("chat-line chat-peer", f"← Received message from peer: {SCRIPT}"),
    ]
    assert alice.log_view.texts[-2:] == [f"→ {XSS}", f"→ {SCRIPT}"]


def test_names_are_escaped_in_the_header_and_the_css_class() -> None:
    """A name with markup is escaped in the header and reduced to a safe CSS class."""
    pane = ChatPane("ws://127.0.0.1:9/", "<b>Dr. Who</b>", reconnect=False, wait=False)
    try:
        assert "&lt;b&gt;Dr. Who&lt;/b&gt;" in pane.header.value
        assert "chat-pane--b-Dr--Who--b-" in pane.widget._dom_classes
    finally:
        pane.stop()


def test_each_line_carries_chat_line_and_its_kind_as_css_classes() -> None:
    """Each line carries chat-line and chat-<kind>, so a page or a test can find it."""
    pane = ChatPane("ws://127.0.0.1:9/", "Dora", reconnect=False, wait=False)
    try:
        # Nothing listens on port 9: its "closed" line must come before the three added
        # here, not among them (it once did, on a busy machine).
        pane.wait_for(lambda: pane.transcript.find("closed", "system") is not None, TIMEOUT)
        for kind, text in (("local", "a"), ("peer", "b"), ("error", "<c>\x1b[2J")):
            pane.transcript.add(kind, text)
        pane.wait_for(lambda: pane.transcript.find("<c>") is not None, TIMEOUT)
        assert pane.log_view.shown[-3:] == [
            ("chat-line chat-local", "→ a"),
            ("chat-line chat-peer", "← b"),
            ("chat-line chat-error", "! <c>\\x1b[2J"),
        ]
        assert pane.log_view.label == "Dora's messages"
    finally:
        pane.stop()


def test_chat_mode_uses_names_and_shows_our_own_message_as_local(
    server: BackgroundServer, stop_later: Callable[[Any], Any]
) -> None:
    """In chat mode the server stamps names; our own message comes back as a local line."""
    row = chat_panes(server, "alice", "bob", mode="chat", timeout=TIMEOUT)
    alice, bob = (stop_later(pane) for pane in row)
    alice.send("hello bob")
    assert bob.wait_for_line("hello bob", timeout=TIMEOUT) == Line("peer", "alice: hello bob")
    alice.wait_for_line("hello bob", "local", timeout=TIMEOUT)
    assert alice.transcript.find("bob joined", "system") is not None
    bob.stop()
    alice.wait_for_line("bob left", "system", timeout=TIMEOUT)


def test_a_chat_pane_stopped_says_a_later_send_was_not_sent(
    server: BackgroundServer, stop_later: Callable[[Any], Any]
) -> None:
    """After Stop, a chat pane's send shows one error line, as a relay pane's does."""
    alice = stop_later(ChatPane(server, "alice", mode="chat", timeout=TIMEOUT))
    alice.stop()
    alice.send("after stop")
    line = alice.wait_for_line("after stop", "error", timeout=TIMEOUT)
    assert line.text.startswith("not sent, not connected to ws://")
    assert alice.transcript.find("waiting to reconnect", "system") is None
    assert not alice.client.pending


def test_a_taken_name_fails_to_open_with_the_servers_reason(
    server: BackgroundServer, stop_later: Callable[[Any], Any]
) -> None:
    """A chat pane asking for a name another client holds raises ConnectionError saying why."""
    stop_later(wslib.SyncChatClient(server.chat_url, "alice"))
    with pytest.raises(ConnectionError, match="name_taken"):
        stop_later(ChatPane(server, "alice", mode="chat", timeout=TIMEOUT))


def test_stop_closes_with_1000_and_the_server_logs_the_disconnect(
    server: BackgroundServer, stop_later: Callable[[Any], Any]
) -> None:
    """stop() closes the pane's connection with 1000; later sends show an error line."""
    alice, _bob = relay_pair(server, stop_later)
    alice.stop()
    assert alice.status == "closed (1000)"
    assert alice not in runtime._running
    alice.send("too late")
    alice.wait_for_line("too late", "error", timeout=TIMEOUT)
    assert "Client disconnected" in server.lines


def test_a_replaced_server_closes_panes_for_good(stop_later: Callable[[Any], Any]) -> None:
    """Starting a server under the same name closes old panes with 4000; they stay closed."""
    first = wslib.start(port=0, name="test_panes_replace")
    pane = stop_later(ChatPane(first, "Alice", timeout=TIMEOUT))
    second = wslib.start(port=0, name="test_panes_replace")
    try:
        pane.wait_for_line("closed for good", "system", timeout=TIMEOUT)
        assert pane.status.startswith("closed (4000")
        assert pane not in runtime._running  # a re-run leaves nothing behind to stop
    finally:
        second.stop()


def test_a_dropped_server_makes_the_pane_reconnect(stop_later: Callable[[Any], Any]) -> None:
    """A server going away (1001) shows 'reconnecting' and the pane comes back when it does."""
    port = restart_port()
    first = wslib.start(port=port, name="test_panes_restart")
    pane = stop_later(ChatPane(first, "Alice", reconnect=wslib.Backoff(0.05, 0.05, 0.2)))
    first.stop()
    pane.wait_for(lambda: pane.status.startswith("reconnecting (1001"), timeout=TIMEOUT)
    second = wslib.start(port=port, name="test_panes_restart")
    try:
        pane.wait_for(lambda: pane.status == "open", timeout=TIMEOUT)
    finally:
        second.stop()


def test_a_pane_with_no_server_fails_to_open() -> None:
    """With reconnect=False and nothing listening, opening raises ConnectionError."""
    with socket.socket() as probe:  # bound, not listening: refused, and no one else's
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        with pytest.raises(ConnectionError, match="could not connect"):
            ChatPane(f"ws://127.0.0.1:{port}/", "Alice", reconnect=False, timeout=TIMEOUT)


def test_reprs_do_not_change_with_the_connection(
    server: BackgroundServer, stop_later: Callable[[Any], Any]
) -> None:
    """The text reprs that nbval compares stay the same before, during and after a chat."""
    row = relay_pair(server, stop_later)
    log = stop_later(ServerLog(server))
    before = [repr(row), repr(row[0]), row._repr_mimebundle_()["text/plain"]]
    row[0].send("hi")
    row[1].wait_for_line("hi", timeout=TIMEOUT)
    row[0].stop()
    assert [repr(row), repr(row[0]), row._repr_mimebundle_()["text/plain"]] == before
    assert before[0] == "PaneRow(ChatPane(name='Alice', mode='relay'), " + (
        "ChatPane(name='Bob', mode='relay'))"
    )
    assert repr(log) == f"ServerLog({server.url!r})"
    bundle = row[0]._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_server_log_shows_new_lines_as_text_until_stopped(
    server: BackgroundServer, stop_later: Callable[[Any], Any]
) -> None:
    """The server log widget follows the server's lines live, as text, until stopped."""
    log = stop_later(ServerLog(server))
    alice, bob = relay_pair(server, stop_later)
    alice.send(XSS)
    bob.wait_for_line("onerror", timeout=TIMEOUT)
    flush_kit_loop()
    assert ("log-line", f"Received message: {XSS}") in log.log_view.shown
    assert log.log_view.texts == log.lines
    log.stop()
    alice.send("after stop")
    bob.wait_for_line("after stop", timeout=TIMEOUT)
    flush_kit_loop()
    assert "Received message: after stop" not in log.log_view.texts
    assert log.lines[-1] == "Received message: after stop"


def test_server_log_numbers_lines_from_before_it_was_made(
    server: BackgroundServer, stop_later: Callable[[Any], Any]
) -> None:
    """A server log made late shows the last ``keep`` lines, then appends each new one once."""
    alice, bob = relay_pair(server, stop_later)
    for n in range(5):
        alice.send(f"early {n}")
    bob.wait_for_line("early 4", timeout=TIMEOUT)
    log = stop_later(ServerLog(server, keep=3))
    assert log.log_view.texts == server.lines[-3:]
    alice.send("late")
    bob.wait_for_line("late", timeout=TIMEOUT)
    log.refresh()
    assert log.log_view.texts == server.lines[-3:]
    assert log.log_view.texts[-1] == "Received message: late"


def test_side_by_side_puts_any_views_in_one_row(
    server: BackgroundServer, stop_later: Callable[[Any], Any]
) -> None:
    """side_by_side shows panes and a server log in one HBox, in the order given."""
    alice = stop_later(ChatPane(server, "Alice", timeout=TIMEOUT))
    log = stop_later(ServerLog(server))
    row = side_by_side(alice, log)
    assert list(row) == [alice, log]
    assert row.widget.children == (alice.widget, log.widget)
    assert "chat-pane-Alice" in alice.widget._dom_classes


def test_the_view_catches_up_with_the_model(
    server: BackgroundServer, stop_later: Callable[[Any], Any]
) -> None:
    """After a wait on the pane returns, its widgets already show what the model holds."""
    alice, bob = relay_pair(server, stop_later)
    for n in range(50):
        alice.send(f"burst {n}")
    bob.wait_for_line("burst 49", timeout=TIMEOUT)
    assert bob.log_view.texts[-1] == "← Received message from peer: burst 49"
    assert [classes for classes, _ in bob.log_view.shown].count("chat-line chat-peer") == 50


def test_a_new_pane_with_the_same_name_and_url_replaces_the_earlier_one(
    server: BackgroundServer, stop_later: Callable[[Any], Any]
) -> None:
    """Re-running a pane's cell closes the earlier pane (1000) instead of keeping both open."""
    first = stop_later(ChatPane(server, "Alice", timeout=TIMEOUT))
    second = stop_later(ChatPane(server, "Alice", timeout=TIMEOUT))
    other = stop_later(ChatPane(server, "Bob", timeout=TIMEOUT))
    assert first.status == "closed (1000)"
    assert first.lines[-1] == Line("system", "replaced by a new pane")
    panes = [item for item in runtime.running() if isinstance(item, ChatPane)]
    assert [pane for pane in panes if pane.url == server.url] == [second, other]
