"""Tests for wslib.notebook.flowview without a browser: a live diagram of a real server."""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import TIMEOUT

import wslib
from wslib.notebook.flowview import FlowDiagram
from wslib.notebook.panes import ChatPane, chat_panes
from wslib.sync import runtime
from wslib.sync.background import BackgroundServer

XSS = "<img src=x onerror=alert(1)>"
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def server() -> Iterator[BackgroundServer]:
    """Start a kit server on a free port and stop it, and every pane, afterwards."""
    background = wslib.start(port=0, name="test_flowview")
    try:
        yield background
    finally:
        background.stop()


def arrows_drawn(diagram: FlowDiagram) -> int:
    """Return how many arrows the widget's SVG draws now."""
    value = str(diagram.widget.value)
    svg = ET.fromstring(value[value.index("<svg") : value.index("</svg>") + 6])
    return sum(1 for line in svg.iter(f"{SVG}line") if "arrow" in line.get("class", ""))


def test_alices_message_fans_out_to_bob_and_carol_in_the_widget_and_the_text(
    server: BackgroundServer,
) -> None:
    """The widget draws three new arrows for Alice's message; the text names the panes."""
    panes = chat_panes(server, "Alice", "Bob", "Carol")
    alice, bob, carol = panes
    try:
        diagram = FlowDiagram(server, panes=panes)
        assert diagram.flow is server.server.flow
        assert arrows_drawn(diagram) == 0  # the panes were open before: lanes, no arrows
        alice.send("Hi Bob and Carol!")
        bob.wait_for_line("Hi Bob and Carol!")
        carol.wait_for_line("Hi Bob and Carol!")
        assert diagram.text(last=1).splitlines() == [
            "  server      Alice       Bob       Carol",
            "     │◄─────────┤          │          │       Hi Bob and Carol!",
            "     ├────────────────────►│          │",
            "     ├───────────────────────────────►│",
        ]
        diagram.refresh()
        assert arrows_drawn(diagram) == 3
        assert repr(diagram) == "FlowDiagram(1 server)"
    finally:
        for pane in panes:
            pane.stop()


def test_the_widget_redraws_by_itself_after_a_message(server: BackgroundServer) -> None:
    """Without refresh(), the widget shows the new arrows soon after the message."""
    alice = ChatPane(server, "Alice")
    bob = ChatPane(server, "Bob")
    try:
        diagram = FlowDiagram(server, panes=[alice, bob])
        drawn = threading.Event()
        diagram.widget.observe(
            lambda change: "hello" in change["new"] and drawn.set(), names="value"
        )
        alice.send("hello")
        assert drawn.wait(TIMEOUT)
        assert arrows_drawn(diagram) == 2
    finally:
        alice.stop()
        bob.stop()


def test_peer_text_is_escaped_in_the_widget(server: BackgroundServer) -> None:
    """A message that holds markup is drawn as text: the widget's HTML has no img element."""
    alice = ChatPane(server, XSS)
    bob = ChatPane(server, "Bob")
    try:
        diagram = FlowDiagram(server, panes=[alice, bob])
        alice.send(XSS)
        bob.wait_for_line(XSS)
        diagram.refresh()
        value = str(diagram.widget.value)
        assert "<img" not in value
        assert "&lt;img src=x onerror=alert(1)&gt;" in value
    finally:
        alice.stop()
        bob.stop()


def test_chat_lanes_are_named_by_the_server_and_private_messages_reach_one_lane(
    server: BackgroundServer,
) -> None:
    """In chat mode the welcome names the lanes; a private message goes to two lanes only."""
    diagram = FlowDiagram(server)
    ann = ChatPane(server, "Ann", mode="chat")
    ben = ChatPane(server, "Ben", mode="chat")
    cy = ChatPane(server, "Cy", mode="chat")
    try:
        mark = diagram.mark()
        runtime.run(cy.client.send("lunch?", to="Ann"), TIMEOUT)
        ann.wait_for_line("lunch?")
        text = diagram.text(since=mark)
        assert text.splitlines()[0].split() == ["server", "Ann", "Ben", "Cy"]
        assert "═" in text  # a private message has its own line
        lanes = {lane.name: lane.id for lane in diagram.flow.lanes}
        private = [
            arrow.targets
            for step in diagram.flow.steps
            for arrow in step.arrows
            if arrow.kind == "private" and arrow.source < 0
        ]
        assert private == [(lanes["Ann"], lanes["Cy"])]
    finally:
        for pane in (ann, ben, cy):
            pane.stop()


def test_save_svg_writes_the_diagram(server: BackgroundServer, tmp_path: Path) -> None:
    """save_svg writes a standalone SVG file with the arrows drawn."""
    alice = ChatPane(server, "Alice")
    bob = ChatPane(server, "Bob")
    try:
        diagram = FlowDiagram(server, panes=[alice, bob])
        alice.send("saved")
        bob.wait_for_line("saved")
        path = diagram.save_svg(tmp_path / "flow.svg", last=1)
        svg = ET.parse(path).getroot()
        assert svg.tag == f"{SVG}svg"
        assert (
            len([line for line in svg.iter(f"{SVG}line") if "arrow" in line.get("class", "")]) == 2
        )
    finally:
        alice.stop()
        bob.stop()


def test_a_diagram_needs_a_server() -> None:
    """FlowDiagram() with no server is refused with a clear error."""
    with pytest.raises(ValueError, match="at least one server"):
        FlowDiagram()


def test_a_dropped_chat_pane_resumes_and_the_diagram_shows_both_lanes(
    server: BackgroundServer,
) -> None:
    """drop() ends Ben's lane with 1006; his new lane opens and joins again with his token."""
    ann = ChatPane(server, "Ann", mode="chat")
    ben = ChatPane(server, "Ben", mode="chat", reconnect=wslib.Backoff(initial=0.1, minimum=0.1))
    try:
        diagram = FlowDiagram(server, panes=[ann, ben])
        mark = diagram.mark()
        ben.drop()
        ben.wait_for(lambda: ben.client.connections == 2 and ben.client.joined)
        ann.wait_for_line("Ben joined")
        text = diagram.text(since=mark)
        assert text.splitlines()[0].split() == ["server", "Ann", "Ben"]  # Ben keeps his column
        assert "close 1006 (dropped, no close frame)" in text
        assert "join as Ben, resuming" in text
        assert [lane.name for lane in diagram.flow.lanes] == ["Ann", "Ben", "Ben"]
    finally:
        ann.stop()
        ben.stop()


def test_name_names_clients_that_are_not_panes(server: BackgroundServer) -> None:
    """name() takes a SyncClient, a socket or an address and names that client's lane."""
    diagram = FlowDiagram(server)
    with wslib.SyncClient(server.url) as alice, wslib.SyncClient(server.url) as bob:
        diagram.name(Alice=alice, Bob=bob.client.local_address)
        alice.send("hi")
        bob.wait_for(lambda: len(bob.received) == 1, timeout=TIMEOUT)
        assert diagram.text(last=1).splitlines()[1].split() == ["server", "Alice", "Bob"]
    with pytest.raises(ValueError, match="not connected"):
        diagram.name(Alice=alice)


def test_wait_for_blocks_until_an_arrow_says_it(server: BackgroundServer) -> None:
    """wait_for returns once the server has recorded the close; it times out on what never comes."""
    diagram = FlowDiagram(server)
    client = wslib.SyncClient(server.url)
    client.stop()
    diagram.wait_for("close 1000", timeout=TIMEOUT)
    with pytest.raises(TimeoutError, match="close 4321"):
        diagram.wait_for("close 4321", timeout=0.2)
