"""Tests for wslib.teaching.wirelog: bytes fed in, events out, with no sockets at all."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wslib.teaching.frames import Frame, Opcode, close_payload, encode_frame
from wslib.teaching.handshake import SAMPLE_KEY, accept_key, upgrade_request
from wslib.teaching.wirelog import MAX_HEAD, ConnectionLog, Direction, WireLog, format_event

UP, DOWN = Direction.TO_SERVER, Direction.TO_CLIENT
KEY = bytes.fromhex("37fa213d")
REQUEST = upgrade_request("127.0.0.1:8080", "/", SAMPLE_KEY)
RESPONSE = (
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    f"Sec-WebSocket-Accept: {accept_key(SAMPLE_KEY)}\r\n\r\n"
).encode()


class Clock:
    """A clock that moves only when a test says so."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def opened() -> tuple[WireLog, ConnectionLog]:
    """Return a log and a connection whose handshake has already been fed."""
    log = WireLog()
    wire = log.connection()
    wire.feed(UP, REQUEST)
    wire.feed(DOWN, RESPONSE)
    return log, wire


def test_handshake_heads_become_http_events() -> None:
    """The request and the 101 response each give one HTTP event with size and start line."""
    log = WireLog()
    wire = log.connection()
    (request,) = wire.feed(UP, REQUEST)
    (response,) = wire.feed(DOWN, RESPONSE)
    assert (request.kind, request.length, request.preview) == (
        "HTTP",
        len(REQUEST),
        "GET / HTTP/1.1",
    )
    assert (response.kind, response.preview) == ("HTTP", "HTTP/1.1 101 Switching Protocols")
    assert wire.request is not None
    assert wire.request.header("sec-websocket-key") == SAMPLE_KEY
    assert wire.response is not None
    assert wire.response.status == 101
    assert (request.fin, request.masked, request.frame) == (None, None, None)


def test_handshake_text_shows_both_heads() -> None:
    """handshake() lists the request, a blank line, then the response, header by header."""
    log, _ = opened()
    text = log.handshake(1)
    assert text.startswith("GET / HTTP/1.1\nHost: 127.0.0.1:8080\n")
    assert "\n\nHTTP/1.1 101 Switching Protocols\n" in text
    assert text.endswith(f"Sec-WebSocket-Accept: {accept_key(SAMPLE_KEY)}")


def test_handshake_of_unknown_connection_is_an_index_error() -> None:
    """Asking for a connection that never opened raises IndexError naming the count."""
    with pytest.raises(IndexError, match="no connection 2; 1 so far"):
        opened()[0].handshake(2)


def test_frames_in_both_directions_after_101() -> None:
    """After the 101, a masked client frame and an unmasked server frame are decoded."""
    log, wire = opened()
    (up,) = wire.feed(UP, encode_frame(Frame(Opcode.TEXT, b"Hello"), KEY))
    (down,) = wire.feed(DOWN, encode_frame(Frame(Opcode.TEXT, b"Hi"), None))
    assert (up.kind, up.fin, up.masked, up.length, up.preview) == ("TEXT", True, True, 5, "Hello")
    assert (down.kind, down.masked, down.preview) == ("TEXT", False, "Hi")
    assert up.frame == Frame(Opcode.TEXT, b"Hello", mask_key=KEY)
    assert [event.kind for event in log.frames] == ["TEXT", "TEXT"]


def test_frame_split_byte_by_byte_gives_one_event_when_complete() -> None:
    """A frame fed one byte at a time yields nothing until its last byte, then one event."""
    _, wire = opened()
    wire_bytes = encode_frame(Frame(Opcode.BINARY, bytes(300)), KEY)  # a 16-bit length
    results = [wire.feed(UP, wire_bytes[i : i + 1]) for i in range(len(wire_bytes))]
    assert all(not events for events in results[:-1])
    (event,) = results[-1]
    assert (event.kind, event.length, event.masked) == ("BINARY", 300, True)


def test_response_and_first_frame_in_one_chunk() -> None:
    """A server frame that arrives in the same chunk as the 101 is decoded too."""
    log = WireLog()
    wire = log.connection()
    wire.feed(UP, REQUEST)
    events = wire.feed(DOWN, RESPONSE + encode_frame(Frame(Opcode.PING, b"?"), None))
    assert [event.kind for event in events] == ["HTTP", "PING"]


def test_close_frames_show_code_and_meaning() -> None:
    """A close frame's preview names its code, the code's meaning and the reason."""
    _, wire = opened()
    (event,) = wire.feed(UP, encode_frame(Frame(Opcode.CLOSE, close_payload(1001, "bye")), KEY))
    assert event.preview == "1001 (going away) bye"


def test_refused_handshake_leaves_plain_data() -> None:
    """After an answer other than 101, what follows in either direction is shown as DATA."""
    log = WireLog()
    wire = log.connection()
    wire.feed(UP, REQUEST)
    head, body = wire.feed(DOWN, b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope")
    assert (head.preview, body.kind, body.length, body.preview) == (
        "HTTP/1.1 404 Not Found",
        "DATA",
        4,
        "nope",
    )
    (more,) = wire.feed(UP, b"\x81\x00")
    assert more.kind == "DATA"


def test_plain_http_request_is_not_parsed_as_frames() -> None:
    """A request without Upgrade: websocket is followed by data, not frames."""
    log = WireLog()
    wire = log.connection()
    head, body = wire.feed(UP, b"POST /x HTTP/1.1\r\nHost: a\r\n\r\n\x81\x00")
    assert (head.kind, body.kind, body.preview) == ("HTTP", "DATA", "\\x81\\x00")


def test_broken_frame_gives_an_error_then_data() -> None:
    """A reserved opcode ends frame parsing that way with an ERROR event; the rest is DATA."""
    _, wire = opened()
    error, rest = wire.feed(DOWN, b"\x83\x00\x81\x00")
    assert (error.kind, error.preview) == ("ERROR", "reserved opcode 0x3")
    assert (rest.kind, rest.length) == ("DATA", 4)


def test_endless_head_gives_an_error() -> None:
    """A head with no blank line within MAX_HEAD bytes is reported, then shown as data."""
    log = WireLog()
    error, rest = log.connection().feed(UP, b"G" * (MAX_HEAD + 1))
    assert (error.kind, rest.kind, rest.length) == ("ERROR", "DATA", MAX_HEAD + 1)
    assert rest.preview.endswith("…")


def test_eof_reports_leftover_bytes() -> None:
    """feed_eof gives an EOF event that says how many bytes never made a whole frame."""
    _, wire = opened()
    assert wire.feed_eof(DOWN)[0].preview == "TCP FIN: nothing more this way"
    wire.feed(UP, b"\x81\x85")
    (event,) = wire.feed_eof(UP)
    assert (event.kind, event.direction, event.preview) == (
        "EOF",
        UP,
        "TCP FIN, 2 bytes left unparsed",
    )


def test_times_count_from_the_first_event_and_connections_are_numbered() -> None:
    """Event times are relative to the log's first event; each connection gets the next number."""
    clock = Clock()
    log = WireLog(clock)
    first, second = log.connection(), log.connection()
    clock.now = 105.0
    (a,) = first.feed(UP, REQUEST)
    clock.now = 105.25
    (b,) = second.feed(UP, REQUEST)
    assert [(a.time, a.conn), (b.time, b.conn)] == [(0.0, 1), (0.25, 2)]


def test_table_lays_out_one_line_per_event() -> None:
    """table() has a header and one aligned line per event; last= keeps the latest ones."""
    log, wire = opened()
    wire.feed(UP, encode_frame(Frame(Opcode.TEXT, b"Hello"), KEY))
    lines = log.table().splitlines()
    assert lines[0].split() == [
        "seconds",
        "#",
        "direction",
        "type",
        "fin",
        "masked",
        "length",
        "payload",
    ]
    assert lines[3] == format_event(log.events[2])
    assert lines[3].split()[2:] == ["client", "→", "server", "TEXT", "1", "yes", "5", "Hello"]
    assert log.table(last=1).splitlines()[1:] == lines[3:]
    assert log.table(last=0).splitlines() == lines[:1]


def test_previews_escape_control_characters() -> None:
    """Terminal escapes and bidi overrides in a payload are shown escaped, never raw."""
    _, wire = opened()
    (event,) = wire.feed(DOWN, encode_frame(Frame(Opcode.TEXT, "\x1b[2J\u202e".encode()), None))
    assert event.preview == "\\x1b[2J\\u202e"


frame_strategy = st.builds(
    Frame,
    st.sampled_from([Opcode.TEXT, Opcode.BINARY, Opcode.CONT]),
    st.binary(max_size=300),
    st.booleans(),
)


@given(st.lists(frame_strategy, max_size=5), st.data())
def test_any_split_of_the_stream_gives_the_same_frames(
    frames: list[Frame], data: st.DataObject
) -> None:
    """However the bytes are cut into chunks, the same frames come out in the same order."""
    stream = RESPONSE + b"".join(encode_frame(frame, None) for frame in frames)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    log = WireLog()
    wire = log.connection()
    wire.feed(UP, REQUEST)
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        wire.feed(DOWN, stream[start:end])
    assert [event.frame for event in log.frames] == frames
