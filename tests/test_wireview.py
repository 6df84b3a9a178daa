"""Tests for wslib.notebook.wireview: the HTML it renders, and a live view following a real tap."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator

import pytest
from support import TIMEOUT

import wslib
from wslib.notebook.wireview import InspectorView, render_handshakes, render_table
from wslib.sync.background import BackgroundServer
from wslib.teaching.frames import Frame, Opcode, encode_frame
from wslib.teaching.handshake import SAMPLE_KEY, upgrade_request
from wslib.teaching.inspector import WireTap
from wslib.teaching.wirelog import Direction, WireLog

pytest.importorskip("ipywidgets")

HOSTILE = '<img src=x onerror="alert(1)">'


@pytest.fixture
def server() -> Iterator[BackgroundServer]:
    """Run a relay on a free port for one test."""
    background = wslib.start(port=0, name="test-wireview")
    yield background
    background.stop()


def hostile_log() -> WireLog:
    """Return a log whose request line and one frame carry HTML markup."""
    log = WireLog()
    wire = log.connection()
    wire.feed(Direction.TO_SERVER, upgrade_request("h", f"/{HOSTILE.replace(' ', '')}", SAMPLE_KEY))
    wire.feed(Direction.TO_CLIENT, b"HTTP/1.1 101 Switching Protocols\r\n\r\n")
    wire.feed(Direction.TO_CLIENT, encode_frame(Frame(Opcode.TEXT, HOSTILE.encode()), None))
    return log


def test_table_escapes_everything_from_the_wire() -> None:
    """Markup in a payload or a request line reaches the table only as escaped text."""
    page = render_table(hostile_log().events)
    assert "<img" not in page
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page
    assert page.count("<tr") == 4  # the header and three events


def test_table_caption_says_when_rows_are_left_out() -> None:
    """When only the latest events are passed, the caption gives the total."""
    events = hostile_log().events
    assert "3 events</div>" in render_table(events)
    assert "3 events, the last 1 shown" in render_table(events[-1:], total=3)


def test_handshakes_are_escaped_inside_details() -> None:
    """Each connection's headers sit in a <details> block, escaped."""
    page = render_handshakes(hostile_log().connections)
    assert page.startswith("<details><summary>connection 1: handshake headers</summary>")
    assert "<img" not in page
    assert "GET /&lt;imgsrc=x" in page


def test_view_follows_the_tap_live(server: BackgroundServer) -> None:
    """The view shows each new frame, escaped, as soon as it is recorded, until closed."""
    with WireTap(server.url) as tap:
        view = InspectorView(tap)
        assert isinstance(view, InspectorView)
        assert "0 events" in view.box.children[1].value
        with wslib.SyncClient(tap.url) as alice, wslib.SyncClient(server.url) as bob:
            alice.send(HOSTILE)
            bob.recv(timeout=TIMEOUT)
        tap.wait_closed(timeout=TIMEOUT)  # the refresh runs on the loop before this returns
        table = view.box.children[1].value
        assert "&lt;img src=x" in table
        assert "<img" not in table
        assert "Sec-WebSocket-Key" in view.box.children[0].value
        assert repr(view) == f"<InspectorView of {tap.url}>"
        assert view._repr_mimebundle_()["text/plain"] == repr(view)
        view.close()
        with wslib.SyncClient(tap.url):
            pass
        tap.wait_closed(timeout=TIMEOUT)
        assert view.box.children[1].value == table  # closed: no longer following


def test_view_refreshes_in_an_empty_context(server: BackgroundServer) -> None:
    """Refreshes run outside the tap's inherited context, so ipykernel tags the running cell."""
    marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker")
    token = marker.set("the cell that made the tap")
    try:
        with WireTap(server.url) as tap:
            view = InspectorView(tap)
            seen: list[str | None] = []
            refresh = view.refresh
            view.refresh = lambda: (seen.append(marker.get(None)), refresh())  # type: ignore[method-assign]
            with wslib.SyncClient(tap.url):
                pass
            tap.wait_closed(timeout=TIMEOUT)
            view.close()
    finally:
        marker.reset(token)
    assert seen
    assert set(seen) == {None}
