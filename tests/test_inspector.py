"""Tests for wslib.teaching.inspector: a real server, a tap in front of it, real clients, port 0."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest
from support import TIMEOUT

import wslib
from wslib.sync import runtime
from wslib.sync.background import BackgroundServer
from wslib.teaching.handshake import SAMPLE_KEY, accept_key, parse_response, upgrade_request
from wslib.teaching.inspector import WireTap
from wslib.teaching.wirelog import Direction, WireEvent

UP, DOWN = Direction.TO_SERVER, Direction.TO_CLIENT


@pytest.fixture
def server() -> Iterator[BackgroundServer]:
    """Run a relay on a free port for one test."""
    background = wslib.start(port=0, name="test-inspector")
    yield background
    background.stop()


@pytest.fixture
def tap(server: BackgroundServer) -> Iterator[WireTap]:
    """Put a tap in front of the test's relay."""
    with WireTap(server.url) as wire_tap:
        yield wire_tap


def kinds(events: list[WireEvent], direction: Direction) -> list[str]:
    """Return the kinds of the events that travelled in ``direction``."""
    return [event.kind for event in events if event.direction is direction]


def raw_exchange(port: int, request: bytes) -> bytes:
    """Send ``request`` over a plain socket; return all the peer sends until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks)


def test_chat_through_the_tap_is_recorded_both_ways(tap: WireTap) -> None:
    """Two clients chat through the tap; each frame is recorded, masked only client→server."""
    with wslib.SyncClient(tap.url) as alice, wslib.SyncClient(tap.url) as bob:
        alice.send("hi bob")
        assert bob.recv(timeout=TIMEOUT) == "Received message from peer: hi bob"
        bob.send("hi alice")
        assert alice.recv(timeout=TIMEOUT) == "Received message from peer: hi alice"
    tap.wait_closed(timeout=TIMEOUT)
    events = tap.events
    assert {event.conn for event in events} == {1, 2}
    assert kinds(events, UP).count("TEXT") == 2
    assert kinds(events, DOWN).count("TEXT") == 2
    assert {event.masked for event in tap.frames if event.direction is UP} == {True}
    assert {event.masked for event in tap.frames if event.direction is DOWN} == {False}
    for conn in (1, 2):
        mine = [event for event in events if event.conn == conn]
        assert kinds(mine, UP) == ["HTTP", "TEXT", "CLOSE", "EOF"]
        assert kinds(mine, DOWN) == ["HTTP", "TEXT", "CLOSE", "EOF"]
    closes = [event.preview for event in tap.frames if event.kind == "CLOSE"]
    assert closes == ["1000 (normal closure)"] * 4
    assert "Received message from peer: hi alice" in tap.table()


def test_server_shutdown_shows_going_away(server: BackgroundServer, tap: WireTap) -> None:
    """When the server stops, its close frame with code 1001 is recorded on its way out."""
    client = wslib.SyncClient(tap.url, reconnect=False)
    server.stop()
    tap.wait_closed(timeout=TIMEOUT)
    client.stop()
    (close,) = [event for event in tap.frames if event.direction is DOWN]
    assert close.preview == "1001 (going away) server shutting down"


def test_handshake_passes_unchanged(tap: WireTap) -> None:
    """A hand-made handshake through the tap is answered for its own key, and recorded."""
    request = upgrade_request(f"127.0.0.1:{tap.port}", "/", SAMPLE_KEY)
    with socket.create_connection(("127.0.0.1", tap.port), timeout=TIMEOUT) as sock:
        sock.sendall(request)
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(4096)
    response = parse_response(head)
    assert response.status == 101
    assert response.header("Sec-WebSocket-Accept") == accept_key(SAMPLE_KEY)
    tap.wait_closed(timeout=TIMEOUT)
    assert tap.log.connections[0].request is not None
    assert tap.log.connections[0].request.header("Sec-WebSocket-Key") == SAMPLE_KEY
    assert tap.handshake(1).splitlines()[0] == "GET / HTTP/1.1"


def test_plain_http_is_recorded_as_a_head_and_data(tap: WireTap) -> None:
    """A health check through the tap shows as an HTTP request, a 200 head and its body."""
    answer = raw_exchange(tap.port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    tap.wait_closed(timeout=TIMEOUT)
    assert kinds(tap.events, UP) == ["HTTP", "EOF"]
    assert kinds(tap.events, DOWN)[:2] == ["HTTP", "DATA"]


def test_unreachable_server_is_an_error_event(server: BackgroundServer, tap: WireTap) -> None:
    """With the server gone, a connection to the tap is closed and the failure recorded."""
    server.stop()
    assert raw_exchange(tap.port, b"") == b""
    tap.wait_closed(timeout=TIMEOUT)
    (event,) = tap.events
    assert event.kind == "ERROR"
    assert event.preview.startswith("cannot reach the server")


def test_subscribers_see_each_event_until_they_unsubscribe(tap: WireTap) -> None:
    """A subscriber is called once per event; after unsubscribing it is not called again."""
    seen: list[WireEvent] = []
    unsubscribe = tap.subscribe(seen.append)
    raw_exchange(tap.port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    tap.wait_closed(timeout=TIMEOUT)
    assert seen == tap.events
    unsubscribe()
    raw_exchange(tap.port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    tap.wait_closed(timeout=TIMEOUT)
    assert len(tap.events) > len(seen)


def test_wait_for_times_out(tap: WireTap) -> None:
    """wait_for raises TimeoutError when its condition never holds."""
    with pytest.raises(TimeoutError):
        tap.wait_for(lambda: False, timeout=TIMEOUT / 50)


def test_stop_all_stops_the_tap_and_cuts_its_connections(server: BackgroundServer) -> None:
    """stop_all stops a tap, closing the connections still passing through it."""
    tap = WireTap(server.url)
    client = wslib.SyncClient(tap.url, reconnect=False)
    tap.stop()  # the tap before the client: the client sees its connection drop
    assert not tap.running
    client.wait_for(lambda: client.status.state == "closed", timeout=TIMEOUT)
    assert client.status.code is None  # dropped, without a close frame: 1006
    client.stop()
    again = WireTap(server.url)
    runtime.stop_all()
    assert not again.running
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", again.port), timeout=TIMEOUT).close()


def test_only_plain_ws_urls_are_accepted() -> None:
    """A wss:// target is refused: its bytes are encrypted, so there is nothing to read."""
    with pytest.raises(ValueError, match="ws:// URLs only"):
        WireTap("wss://example.org/")


def test_url_keeps_the_target_path(server: BackgroundServer) -> None:
    """The tap's URL points at the same path as the target, on the tap's own port."""
    with WireTap(server.chat_url) as tap:
        assert tap.url == f"ws://127.0.0.1:{tap.port}/chat"
        assert tap.port != server.port
        assert repr(tap).endswith(f"-> {server.chat_url} running>")


def test_inspector_imports_without_ipywidgets() -> None:
    """Scripts can use the tap where ipywidgets is not installed; only widget() needs it."""
    code = (
        "import sys; sys.modules['ipywidgets'] = None\n"
        "import wslib.teaching.inspector, wslib.notebook.wireview\n"
        "print('ok')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT * 6
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "ok\n", "")


def test_a_tap_started_under_a_name_replaces_the_earlier_one(server: BackgroundServer) -> None:
    """A WireTap(name=...) stops the running tap of that name instead of adding a second."""
    first = WireTap(server.url, name="cell")
    other = WireTap(server.url, name="other")
    second = WireTap(server.url, name="cell")
    try:
        assert not first.running
        assert other.running
        assert second.running
        assert [item for item in runtime.running() if isinstance(item, WireTap)] == [other, second]
    finally:
        for tap in (first, other, second):
            tap.stop()
