"""Encode and decode WebSocket frames by hand (RFC 6455 §5).

After the handshake every message travels in frames. A frame starts with two bytes::

    byte 0: FIN | RSV1 | RSV2 | RSV3 | opcode (4 bits)
    byte 1: MASK | payload length (7 bits: 0-125, or 126 / 127 for a longer length)

then 2 or 8 more length bytes when needed, the 4-byte masking key when MASK is set, and the
payload. Clients mask every frame they send; servers never mask (RFC 6455 §5.3). Nothing here
touches a socket::

    wire = encode_frame(Frame(Opcode.TEXT, b"Hello"), mask=bytes.fromhex("37fa213d"))
    frame, used = decode_frame(wire)
    describe(frame)  # "TEXT fin=1 masked len=5: Hello"
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from itertools import cycle

from ..core.codes import CLOSE_REPLACED, CLOSE_TAKEN_OVER
from ..core.display import printable
from ..exceptions import WslibError

__all__ = [
    "CLOSE_CODES",
    "PREVIEW_LIMIT",
    "Frame",
    "FrameError",
    "IncompleteFrame",
    "Opcode",
    "apply_mask",
    "close_payload",
    "decode_frame",
    "describe",
    "encode_frame",
    "parse_close",
]

PREVIEW_LIMIT = 40
"""Most characters of payload that :func:`describe` shows."""

CLOSE_CODES: dict[int, str] = {
    1000: "normal closure",
    1001: "going away",
    1002: "protocol error",
    1003: "data type not accepted",
    1005: "no code given (never sent)",
    1006: "connection dropped without a close frame (never sent)",
    1007: "payload does not match its type",
    1008: "policy violation",
    1009: "message too big",
    1010: "client needs an extension the server lacks",
    1011: "server hit an unexpected error",
    1015: "TLS handshake failed (never sent)",
    CLOSE_REPLACED: "server replaced",
    CLOSE_TAKEN_OVER: "name taken over",
}
"""A short meaning for each close code of RFC 6455 §7.4.1, plus the kit's own."""


class FrameError(WslibError):
    """The bytes are not a valid WebSocket frame."""


class IncompleteFrame(FrameError):
    """More bytes are needed before the frame can be decoded; catch it before FrameError.

    Args:
        needed: Smallest total length known to be required so far.
        have: Bytes available.
    """

    def __init__(self, needed: int, have: int) -> None:
        super().__init__(f"incomplete frame: need at least {needed} bytes, have {have}")
        self.needed = needed


class Opcode(IntEnum):
    """What a frame carries (RFC 6455 §5.2); 3-7 and 0xB-0xF are reserved."""

    CONT = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA

    @property
    def is_control(self) -> bool:
        """Tell whether this is a control opcode (CLOSE, PING, PONG; RFC 6455 §5.5)."""
        return self >= 0x8


@dataclass(frozen=True)
class Frame:
    """One WebSocket frame, with its payload already unmasked.

    Attributes:
        opcode: What the frame carries.
        payload: Application data, unmasked.
        fin: Whether this is the last frame of its message.
        rsv1: Reserved bit 1; extensions such as permessage-deflate set it.
        rsv2: Reserved bit 2.
        rsv3: Reserved bit 3.
        mask_key: The 4-byte masking key the frame carried on the wire, or ``None``.
    """

    opcode: Opcode
    payload: bytes
    fin: bool = True
    rsv1: bool = False
    rsv2: bool = False
    rsv3: bool = False
    mask_key: bytes | None = None

    @property
    def masked(self) -> bool:
        """Tell whether the frame was masked on the wire."""
        return self.mask_key is not None


def _check_control(opcode: Opcode, fin: bool, length: int) -> None:
    """Raise FrameError if a control frame is fragmented or too long (RFC 6455 §5.5)."""
    if opcode.is_control and not fin:
        raise FrameError(f"{opcode.name} frame must not be fragmented (FIN must be 1)")
    if opcode.is_control and length > 125:
        raise FrameError(f"{opcode.name} payload is {length} bytes; control frames allow 125")


def apply_mask(payload: bytes, key: bytes) -> bytes:
    """XOR each payload byte with the key byte at the same position modulo 4 (RFC 6455 §5.3).

    Masking and unmasking are the same operation.

    Args:
        payload: Bytes to mask or unmask.
        key: The 4-byte masking key.

    Returns:
        The transformed bytes.

    Raises:
        ValueError: If ``key`` is not 4 bytes long.
    """
    if len(key) != 4:
        raise ValueError(f"masking key must be 4 bytes, got {len(key)}")
    return bytes(byte ^ k for byte, k in zip(payload, cycle(key)))


def encode_frame(frame: Frame, mask: bytes | None) -> bytes:
    """Write a frame as bytes for the wire (RFC 6455 §5.2).

    Args:
        frame: The frame; its ``mask_key`` is ignored, pass ``mask`` instead
            (``encode_frame(f, f.mask_key)`` reproduces a decoded frame exactly).
        mask: A 4-byte masking key (a client must mask), or ``None`` (a server must not).

    Returns:
        Header, masking key if any, then the (masked) payload.

    Raises:
        FrameError: If a control frame is fragmented or longer than 125 bytes.
        ValueError: If ``mask`` is not 4 bytes long.
    """
    _check_control(frame.opcode, frame.fin, len(frame.payload))
    bits = (frame.fin << 7) | (frame.rsv1 << 6) | (frame.rsv2 << 5) | (frame.rsv3 << 4)
    mask_bit = 0x80 if mask is not None else 0
    length = len(frame.payload)
    # Use the shortest length form: 7 bits, then 16 bits after 126, then 64 after 127.
    if length <= 125:
        header = struct.pack("!BB", bits | frame.opcode, mask_bit | length)
    elif length <= 0xFFFF:
        header = struct.pack("!BBH", bits | frame.opcode, mask_bit | 126, length)
    else:
        header = struct.pack("!BBQ", bits | frame.opcode, mask_bit | 127, length)
    if mask is None:
        return header + frame.payload
    return header + mask + apply_mask(frame.payload, mask)


def decode_frame(data: bytes | bytearray) -> tuple[Frame, int]:
    """Read one frame from the start of ``data`` (RFC 6455 §5.2).

    Reserved bits are reported, not refused: only a negotiated extension knows their
    meaning. Bytes after the frame are left for the next call.

    Args:
        data: Bytes received so far.

    Returns:
        The frame (payload unmasked) and how many bytes of ``data`` it used.

    Raises:
        IncompleteFrame: If ``data`` ends before the frame does; read more and retry.
        FrameError: If the opcode is reserved, the 64-bit length has its top bit set,
            or a control frame is fragmented or longer than 125 bytes.
    """
    if len(data) < 2:
        raise IncompleteFrame(2, len(data))
    first, second = data[0], data[1]
    try:
        opcode = Opcode(first & 0x0F)
    except ValueError:
        raise FrameError(f"reserved opcode {first & 0x0F:#x}") from None
    fin, masked, length = bool(first & 0x80), bool(second & 0x80), second & 0x7F
    offset = 2
    if length >= 126:
        size = 2 if length == 126 else 8
        if len(data) < offset + size:
            raise IncompleteFrame(offset + size, len(data))
        (length,) = struct.unpack("!H" if size == 2 else "!Q", data[offset : offset + size])
        offset += size
        if length >= 1 << 63:
            raise FrameError("64-bit payload length must have its top bit clear")
    _check_control(opcode, fin, length)
    mask_key = None
    if masked:
        if len(data) < offset + 4:
            raise IncompleteFrame(offset + 4, len(data))
        mask_key = bytes(data[offset : offset + 4])
        offset += 4
    end = offset + length
    if len(data) < end:
        raise IncompleteFrame(end, len(data))
    payload = bytes(data[offset:end])
    if mask_key is not None:
        payload = apply_mask(payload, mask_key)
    rsv = (bool(first & 0x40), bool(first & 0x20), bool(first & 0x10))
    return Frame(opcode, payload, fin, *rsv, mask_key=mask_key), end


def _sendable(code: int) -> bool:
    """Tell whether a close code may appear in a close frame (RFC 6455 §7.4)."""
    # 1004 is reserved; 1005, 1006 and 1015 only report what happened and are never sent.
    # 1012-1014 were registered with IANA after the RFC; 3000-4999 are for libraries and apps.
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def close_payload(code: int, reason: str = "") -> bytes:
    """Build a close frame payload: 2-byte code, then the reason in UTF-8 (RFC 6455 §5.5.1).

    Args:
        code: Close code, e.g. ``1000``.
        reason: A short sentence for people.

    Returns:
        The payload, at most 125 bytes.

    Raises:
        ValueError: If the code may not be sent or the reason exceeds 123 UTF-8 bytes.
    """
    if not _sendable(code):
        raise ValueError(f"close code {code} may not be sent in a close frame")
    encoded = reason.encode()
    if len(encoded) > 123:
        raise ValueError(f"close reason is {len(encoded)} bytes in UTF-8; at most 123 fit")
    return struct.pack("!H", code) + encoded


def parse_close(payload: bytes) -> tuple[int, str]:
    """Read the code and reason of a close frame payload (RFC 6455 §5.5.1, §7.1.5).

    Args:
        payload: The unmasked payload of a CLOSE frame.

    Returns:
        ``(code, reason)``; an empty payload means ``(1005, "")``, "no code given".

    Raises:
        FrameError: If the payload is 1 byte, the code may not be sent, or the reason
            is not valid UTF-8.
    """
    if not payload:
        return 1005, ""
    if len(payload) == 1:
        raise FrameError("close payload of 1 byte: a code needs 2")
    (code,) = struct.unpack("!H", payload[:2])
    if not _sendable(code):
        raise FrameError(f"close code {code} may not appear in a close frame")
    try:
        return code, payload[2:].decode()
    except UnicodeDecodeError:
        raise FrameError("close reason is not valid UTF-8") from None


def _shown(char: str) -> str:
    """Show one character of a preview: a byte that was not UTF-8 as ``\\xNN``, else as
    ``printable`` shows it (the kit's one escaper)."""
    if 0xDC80 <= ord(char) <= 0xDCFF:  # a byte that was not UTF-8, see _preview
        return f"\\x{ord(char) - 0xDC00:02x}"
    return printable(char)


def _preview(payload: bytes, limit: int = PREVIEW_LIMIT) -> str:
    """Show the start of a payload as text, at most ``limit`` characters long."""
    # A character takes at most 4 bytes, so limit * 4 + 1 bytes always give more than
    # `limit` characters when there is more to show. surrogateescape keeps bytes that are
    # not UTF-8 as markers that _shown writes as \xNN.
    head = payload[: limit * 4 + 1].decode("utf-8", "surrogateescape")
    pieces = [_shown(char) for char in head]
    text = "".join(pieces)
    if len(text) <= limit:
        return text
    shown = ""
    for piece in pieces:
        if len(shown) + len(piece) > limit - 1:
            break
        shown += piece
    return shown + "…"


def describe(frame: Frame) -> str:
    """Summarise a frame on one line, for a wire inspector.

    Args:
        frame: Any frame, sent or received.

    Returns:
        E.g. ``"TEXT fin=1 masked len=5: Hello"``; a close frame shows its code's meaning.
    """
    flags = [name for name in ("rsv1", "rsv2", "rsv3") if getattr(frame, name)]
    parts = [frame.opcode.name, f"fin={int(frame.fin)}", "masked" if frame.masked else "unmasked"]
    summary = " ".join([*parts, *flags, f"len={len(frame.payload)}"])
    if not frame.payload:
        return summary
    preview = _preview(frame.payload)
    if frame.opcode is Opcode.CLOSE:
        try:
            code, reason = parse_close(frame.payload)
        except FrameError:
            pass
        else:
            meaning = CLOSE_CODES.get(
                code, "application code" if code >= 3000 else "not in RFC 6455"
            )
            preview = _preview(f"{code} ({meaning}) {reason}".rstrip().encode())
    return f"{summary}: {preview}"
