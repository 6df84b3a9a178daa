"""Tests for wslib.teaching.frames, checked against websockets' own frame parser and serializer."""

from __future__ import annotations

import random

import pytest
import websockets.frames as ws
from hypothesis import given
from hypothesis import strategies as st
from websockets.exceptions import ProtocolError
from websockets.streams import StreamReader
from websockets.utils import apply_mask as ws_apply_mask

from wslib.core.codes import CLOSE_REPLACED, CLOSE_TAKEN_OVER
from wslib.core.display import printable
from wslib.exceptions import WslibError
from wslib.teaching.frames import (
    CLOSE_CODES,
    PREVIEW_LIMIT,
    Frame,
    FrameError,
    IncompleteFrame,
    Opcode,
    apply_mask,
    close_payload,
    decode_frame,
    describe,
    encode_frame,
    parse_close,
)

KEY = bytes.fromhex("37fa213d")  # the masking key of the RFC 6455 §5.7 examples


@st.composite
def payloads(draw: st.DrawFn) -> bytes:
    """Draw a payload in one of the three length forms: 7-bit, 16-bit (126), 64-bit (127)."""
    low, high = draw(st.sampled_from([(0, 125), (126, 0xFFFF), (0x10000, 70_000)]))
    if high == 125:
        return draw(st.binary(max_size=high))
    # Hypothesis caps how much one example may draw, so large payloads it makes itself get
    # discarded; a generator seeded from a drawn integer still replays and shrinks.
    seed, size = draw(st.integers(0, 2**32)), draw(st.integers(low, high))
    return random.Random(seed).randbytes(size)


masks = st.none() | st.binary(min_size=4, max_size=4)


@st.composite
def frames(draw: st.DrawFn) -> Frame:
    """Draw a frame that RFC 6455 allows without extensions (control frames: FIN, <=125)."""
    opcode = draw(st.sampled_from(Opcode))
    if opcode.is_control:
        return Frame(opcode, draw(st.binary(max_size=125)))
    return Frame(opcode, draw(payloads()), fin=draw(st.booleans()))


def ws_parse(data: bytes, *, mask: bool) -> tuple[ws.Frame, bytes]:
    """Parse one frame with websockets' parser; return it and the bytes it left unread."""
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    parser = ws.Frame.parse(reader.read_exact, mask=mask, extensions=[])
    try:
        next(parser)
    except StopIteration as done:
        frame: ws.Frame = done.value
        return frame, bytes(reader.buffer)
    raise AssertionError("websockets wanted more bytes")


RFC_EXAMPLES = [
    (Frame(Opcode.TEXT, b"Hello"), None, "810548656c6c6f"),
    (Frame(Opcode.TEXT, b"Hello"), KEY, "818537fa213d7f9f4d5158"),
    (Frame(Opcode.TEXT, b"Hel", fin=False), None, "010348656c"),
    (Frame(Opcode.CONT, b"lo"), None, "80026c6f"),
    (Frame(Opcode.PING, b"Hello"), None, "890548656c6c6f"),
    (Frame(Opcode.PONG, b"Hello"), KEY, "8a8537fa213d7f9f4d5158"),
]


@pytest.mark.parametrize(("frame", "mask", "wire"), RFC_EXAMPLES)
def test_rfc_examples_encode(frame: Frame, mask: bytes | None, wire: str) -> None:
    """encode_frame writes the exact bytes of the RFC 6455 §5.7 examples."""
    assert encode_frame(frame, mask).hex() == wire


@pytest.mark.parametrize(("frame", "mask", "wire"), RFC_EXAMPLES)
def test_rfc_examples_decode(frame: Frame, mask: bytes | None, wire: str) -> None:
    """decode_frame reads the RFC 6455 §5.7 examples back, mask key included."""
    decoded, used = decode_frame(bytes.fromhex(wire))
    assert used == len(wire) // 2
    assert decoded == Frame(frame.opcode, frame.payload, frame.fin, mask_key=mask)


@pytest.mark.parametrize(
    ("size", "header"),
    [
        (125, "827d"),
        (126, "827e007e"),
        (256, "827e0100"),  # RFC 6455 §5.7
        (65535, "827effff"),
        (65536, "827f0000000000010000"),  # RFC 6455 §5.7
    ],
)
def test_length_forms_at_their_limits(size: int, header: str) -> None:
    """Each length form starts where RFC 6455 §5.2 says, as in the §5.7 long examples."""
    wire = encode_frame(Frame(Opcode.BINARY, bytes(size)), None)
    assert wire.hex().startswith(header)
    assert len(wire) == len(header) // 2 + size


@given(frames(), masks)
def test_websockets_parses_our_frames(frame: Frame, mask: bytes | None) -> None:
    """websockets' parser reads our encoding as the same frame, using every byte."""
    parsed, rest = ws_parse(encode_frame(frame, mask), mask=mask is not None)
    assert (int(parsed.opcode), bytes(parsed.data), parsed.fin) == (
        frame.opcode,
        frame.payload,
        frame.fin,
    )
    assert rest == b""


@given(frames(), st.booleans())
def test_we_decode_websockets_frames_byte_for_byte(frame: Frame, masked: bool) -> None:
    """We decode websockets' serialization and, with its mask key, re-encode the same bytes."""
    theirs = ws.Frame(ws.Opcode(frame.opcode), frame.payload, frame.fin)
    wire = theirs.serialize(mask=masked, extensions=[])
    decoded, used = decode_frame(wire)
    assert used == len(wire)
    assert (decoded.opcode, decoded.payload, decoded.fin) == (
        frame.opcode,
        frame.payload,
        frame.fin,
    )
    assert decoded.masked == masked
    assert encode_frame(decoded, decoded.mask_key) == wire


@given(frames(), masks, st.binary(max_size=20))
def test_round_trip_leaves_following_bytes(frame: Frame, mask: bytes | None, rest: bytes) -> None:
    """decode_frame undoes encode_frame and reports only the frame's own bytes as used."""
    wire = encode_frame(frame, mask)
    decoded, used = decode_frame(wire + rest)
    assert decoded == Frame(frame.opcode, frame.payload, frame.fin, mask_key=mask)
    assert used == len(wire)


@given(frames().filter(lambda f: len(f.payload) < 300), masks, st.data())
def test_every_prefix_is_incomplete(frame: Frame, mask: bytes | None, data: st.DataObject) -> None:
    """Any strict prefix of a frame raises IncompleteFrame naming a length beyond the prefix."""
    wire = encode_frame(frame, mask)
    cut = data.draw(st.integers(0, len(wire) - 1))
    with pytest.raises(IncompleteFrame) as caught:
        decode_frame(wire[:cut])
    assert cut < caught.value.needed <= len(wire)


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        ("8300", "reserved opcode 0x3"),
        ("8f00", "reserved opcode 0xf"),
        ("0900", "must not be fragmented"),
        ("897e007e" + "00" * 126, "control frames allow 125"),
        ("827f8000000000000000", "top bit clear"),
    ],
)
def test_invalid_frames_raise(wire: str, message: str) -> None:
    """Reserved opcodes, fragmented or long control frames and huge lengths raise FrameError."""
    with pytest.raises(FrameError, match=message):
        decode_frame(bytes.fromhex(wire))


def test_incomplete_is_a_frame_error() -> None:
    """IncompleteFrame is a FrameError and FrameError a WslibError, so one clause catches all."""
    assert issubclass(FrameError, WslibError)
    assert issubclass(IncompleteFrame, FrameError)


def test_reserved_bits_are_reported() -> None:
    """decode_frame reports RSV bits instead of refusing them, and encode_frame writes them."""
    frame = Frame(Opcode.TEXT, b"x", rsv1=True, rsv3=True)
    wire = encode_frame(frame, None)
    assert wire[0] == 0b1101_0001
    assert decode_frame(wire) == (frame, 3)


def test_encode_refuses_invalid_control_frames_and_masks() -> None:
    """encode_frame refuses a 126-byte PING and a masking key that is not 4 bytes."""
    with pytest.raises(FrameError, match="125"):
        encode_frame(Frame(Opcode.PING, bytes(126)), None)
    with pytest.raises(ValueError, match="4 bytes"):
        encode_frame(Frame(Opcode.TEXT, b"hi"), b"\x00")


@given(st.binary(max_size=1000), st.binary(min_size=4, max_size=4))
def test_apply_mask_matches_websockets_and_undoes_itself(payload: bytes, key: bytes) -> None:
    """apply_mask equals websockets' masking, and masking twice gives the payload back."""
    assert apply_mask(payload, key) == ws_apply_mask(payload, key)
    assert apply_mask(apply_mask(payload, key), key) == payload


@given(st.integers(0, 0xFFFF), st.text(max_size=40))
def test_close_payload_matches_websockets(code: int, reason: str) -> None:
    """close_payload writes what websockets writes and refuses the codes websockets refuses."""
    try:
        expected = ws.Close(code, reason).serialize()
    except ProtocolError:
        with pytest.raises(ValueError, match="may not be sent"):
            close_payload(code, reason)
    else:
        assert close_payload(code, reason) == expected
        assert parse_close(expected) == (code, reason)


@given(st.binary(max_size=30))
def test_parse_close_agrees_with_websockets(payload: bytes) -> None:
    """parse_close accepts exactly the payloads websockets accepts, with the same result."""
    try:
        theirs = ws.Close.parse(payload)
    except (ProtocolError, UnicodeDecodeError):
        with pytest.raises(FrameError):
            parse_close(payload)
    else:
        assert parse_close(payload) == (theirs.code, theirs.reason)


def test_close_edge_cases() -> None:
    """An empty close payload means 1005; a long reason and a 1-byte payload are refused."""
    assert parse_close(b"") == (1005, "")
    with pytest.raises(FrameError, match="1 byte"):
        parse_close(b"\x03")
    assert len(close_payload(1000, "é" * 61 + "a")) == 125
    with pytest.raises(ValueError, match="123"):
        close_payload(1000, "é" * 62)


def test_close_codes_cover_rfc_and_kit() -> None:
    """CLOSE_CODES explains every RFC 6455 §7.4.1 code and the kit's 4000 and 4001."""
    rfc = {1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1015}
    assert set(CLOSE_CODES) == rfc | {CLOSE_REPLACED, CLOSE_TAKEN_OVER}
    assert all(meaning for meaning in CLOSE_CODES.values())


@pytest.mark.parametrize(
    ("frame", "summary"),
    [
        (Frame(Opcode.TEXT, b"Hello", mask_key=KEY), "TEXT fin=1 masked len=5: Hello"),
        (
            Frame(Opcode.BINARY, b"\x00a\n\xff\\", fin=False),
            "BINARY fin=0 unmasked len=5: \\x00a\\x0a\\xff\\",
        ),
        (Frame(Opcode.PING, b""), "PING fin=1 unmasked len=0"),
        (
            Frame(Opcode.CLOSE, close_payload(4001, "bob")),
            "CLOSE fin=1 unmasked len=5: 4001 (name taken over) bob",
        ),
        (
            Frame(Opcode.CLOSE, close_payload(3000)),
            "CLOSE fin=1 unmasked len=2: 3000 (application code)",
        ),
        (Frame(Opcode.CLOSE, b"\x03"), r"CLOSE fin=1 unmasked len=1: \x03"),
        (
            Frame(Opcode.TEXT, "ä".encode() * 50, rsv1=True),
            "TEXT fin=1 unmasked rsv1 len=100: " + "ä" * 39 + "…",
        ),
    ],
)
def test_describe_examples(frame: Frame, summary: str) -> None:
    """describe names opcode, FIN, masking and length, and previews the payload safely."""
    assert describe(frame) == summary


@given(frames(), st.booleans())
def test_describe_is_one_short_line(frame: Frame, masked: bool) -> None:
    """For any frame the summary is one line whose preview has at most PREVIEW_LIMIT chars."""
    summary = describe(
        Frame(frame.opcode, frame.payload, frame.fin, mask_key=KEY if masked else None)
    )
    assert printable(summary) == summary  # nothing left to escape: one line, no controls
    _, _, preview = summary.partition(": ")
    assert len(preview) <= PREVIEW_LIMIT


@pytest.mark.parametrize(
    ("text", "preview"),
    [
        ("😀" * 40, "😀" * 40),
        ("😀" * 40 + "a", "😀" * 39 + "…"),
        ("a" * 41, "a" * 39 + "…"),
        ("\n" * 25, "\\x0a" * 9 + "…"),
    ],
)
def test_describe_truncates_at_the_limit(text: str, preview: str) -> None:
    """A preview shows the whole payload when it fits, else whole escapes and an ellipsis."""
    assert describe(Frame(Opcode.TEXT, text.encode())).partition(": ")[2] == preview
