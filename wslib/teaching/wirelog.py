"""Record what crosses a WebSocket connection: the HTTP handshake, then every frame.

This is the logic of the wire inspector, free of I/O. Whoever holds the bytes (the proxy
in ``wslib.inspector``, or a test) feeds each chunk with the direction it travelled; the
log cuts the stream into the HTTP head and then frames, waiting for more bytes whenever a
frame is split across chunks, and returns a ``WireEvent`` for each piece it completed::

    log = WireLog()
    wire = log.connection()
    wire.feed(Direction.TO_SERVER, request_bytes)   # [WireEvent(... kind='HTTP' ...)]
    wire.feed(Direction.TO_CLIENT, response_bytes)  # the 101, and any frames after it
    print(log.table())

Contract, per direction: the first bytes are an HTTP head; after a ``101`` answer both
directions carry frames (RFC 6455 §5); after any other answer the rest is shown as plain
data. A frame that breaks the rules ends frame parsing for that direction with an
``ERROR`` event.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from ..core.display import printable
from .frames import Frame, FrameError, IncompleteFrame, decode_frame, describe

__all__ = [
    "MAX_HEAD",
    "ConnectionLog",
    "Direction",
    "HttpHead",
    "WireEvent",
    "WireLog",
    "format_event",
]

MAX_HEAD = 64 * 1024
"""Most bytes an HTTP head may take before the log gives up on finding its end."""

_HEAD_END = b"\r\n\r\n"


class Direction(StrEnum):
    """Which way bytes travelled."""

    TO_SERVER = "client → server"
    TO_CLIENT = "server → client"


@dataclass(frozen=True)
class HttpHead:
    """The start line and headers of an HTTP request or response.

    Attributes:
        start_line: ``GET / HTTP/1.1`` or ``HTTP/1.1 101 Switching Protocols``.
        headers: ``(name, value)`` pairs in the order they arrived.
        size: Bytes on the wire, blank line included.
    """

    start_line: str
    headers: tuple[tuple[str, str], ...]
    size: int

    @classmethod
    def parse(cls, head: bytes) -> HttpHead:
        """Read a head that ends with its blank line; lines without a colon are kept as-is."""
        # ISO-8859-1 decodes any byte, so a strange head is shown rather than refused.
        first, *lines = head[: -len(_HEAD_END)].decode("iso-8859-1").split("\r\n")
        headers = tuple(
            (name, value.strip()) for name, _, value in (x.partition(":") for x in lines)
        )
        return cls(first, headers, len(head))

    @property
    def status(self) -> int | None:
        """Return the status code of a response, or ``None`` for a request."""
        version, _, rest = self.start_line.partition(" ")
        code = rest[:3]
        return int(code) if version.startswith("HTTP/") and code.isdigit() else None

    def header(self, name: str) -> str | None:
        """Return the value of header ``name`` (any case), or ``None`` if it is absent."""
        values = [value for key, value in self.headers if key.lower() == name.lower()]
        return ", ".join(values) if values else None

    def __str__(self) -> str:
        lines = [self.start_line, *(f"{name}: {value}" for name, value in self.headers)]
        return "\n".join(printable(line) for line in lines)


@dataclass(frozen=True)
class WireEvent:
    """One thing seen on the wire: an HTTP head, a frame, plain data, the end, or an error.

    Attributes:
        time: Seconds since the log's first event.
        conn: Number of the connection, from 1.
        direction: Which way it travelled.
        kind: ``HTTP``, an opcode name (``TEXT``, ``PING``, ...), ``DATA``, ``EOF`` or ``ERROR``.
        length: Bytes of payload for a frame; bytes on the wire otherwise.
        preview: A short, printable summary of the content.
        fin: The frame's FIN bit, or ``None`` when this is not a frame.
        masked: Whether the frame was masked, or ``None`` when this is not a frame.
        frame: The decoded frame, if this is one.
        head: The HTTP head, if this is one.
    """

    time: float
    conn: int
    direction: Direction
    kind: str
    length: int
    preview: str = ""
    fin: bool | None = None
    masked: bool | None = None
    frame: Frame | None = None
    head: HttpHead | None = None


class _Stream:
    """One direction of one connection: bytes not yet cut into a head or a frame."""

    def __init__(self) -> None:
        self.mode = "head"  # then "frames", or "data" once frames are over
        self.buffer = bytearray()
        self.needed = 0  # decode_frame needs at least this many bytes; skip it until then

    def take_head(self) -> bytes | None:
        end = self.buffer.find(_HEAD_END)
        if end < 0:
            return None
        head = bytes(self.buffer[: end + len(_HEAD_END)])
        del self.buffer[: len(head)]
        return head

    def take_frame(self) -> tuple[Frame, int] | None:
        if len(self.buffer) < self.needed:
            return None
        try:
            frame, used = decode_frame(self.buffer)
        except IncompleteFrame as exc:
            self.needed = exc.needed
            return None
        del self.buffer[:used]
        self.needed = 0
        return frame, used


class ConnectionLog:
    """Cut one connection's two byte streams into events; made by ``WireLog.connection``.

    Attributes:
        conn: This connection's number.
        request: The client's HTTP head, once complete.
        response: The server's HTTP head, once complete.
    """

    def __init__(self, log: WireLog, conn: int) -> None:
        self.conn = conn
        self.request: HttpHead | None = None
        self.response: HttpHead | None = None
        self._log = log
        self._streams = {direction: _Stream() for direction in Direction}

    def feed(self, direction: Direction, data: bytes) -> list[WireEvent]:
        """Take the next chunk that travelled in ``direction``; return the events it completed."""
        stream = self._streams[direction]
        stream.buffer += data
        events: list[WireEvent] = []
        while stream.buffer:
            if stream.mode == "head":
                head = stream.take_head()
                if head is None:
                    if len(stream.buffer) <= MAX_HEAD:
                        break
                    events += self.fail(direction, f"no end of HTTP head in {MAX_HEAD} bytes")
                    continue
                events.append(self._head(direction, HttpHead.parse(head)))
            elif stream.mode == "frames":
                try:
                    taken = stream.take_frame()
                except FrameError as exc:
                    events += self.fail(direction, str(exc))
                    continue
                if taken is None:
                    break
                events.append(self._frame(direction, *taken))
            else:
                events.append(
                    self._event(direction, "DATA", len(stream.buffer), _bytes(stream.buffer))
                )
                stream.buffer.clear()
        return events

    def feed_eof(self, direction: Direction) -> list[WireEvent]:
        """Note that no more bytes will come in ``direction``; return the ``EOF`` event."""
        left = len(self._streams[direction].buffer)
        note = f"TCP FIN, {left} bytes left unparsed" if left else "TCP FIN: nothing more this way"
        return [self._event(direction, "EOF", 0, note)]

    def fail(self, direction: Direction, message: str) -> list[WireEvent]:
        """Record that ``direction`` broke off or broke the rules; return the ``ERROR`` event.

        Whatever comes that way afterwards is shown as plain data.
        """
        self._streams[direction].mode = "data"
        return [self._event(direction, "ERROR", 0, printable(message))]

    # -- building events ---------------------------------------------------------------

    def _head(self, direction: Direction, head: HttpHead) -> WireEvent:
        if direction is Direction.TO_SERVER:
            self.request = head
            upgrade = (head.header("Upgrade") or "").lower() == "websocket"
            self._streams[direction].mode = "frames" if upgrade else "data"
        else:
            self.response = head
            if head.status != 101:  # no switch of protocols: what follows is not frames
                for stream in self._streams.values():
                    stream.mode = "data"
            else:
                self._streams[direction].mode = "frames"
        return self._event(direction, "HTTP", head.size, printable(head.start_line), head=head)

    def _frame(self, direction: Direction, frame: Frame, used: int) -> WireEvent:
        _, _, preview = describe(frame).partition(": ")  # describe writes "summary: preview"
        return self._event(
            direction,
            frame.opcode.name,
            len(frame.payload),
            preview,
            fin=frame.fin,
            masked=frame.masked,
            frame=frame,
        )

    def _event(
        self,
        direction: Direction,
        kind: str,
        length: int,
        preview: str,
        *,
        fin: bool | None = None,
        masked: bool | None = None,
        frame: Frame | None = None,
        head: HttpHead | None = None,
    ) -> WireEvent:
        event = WireEvent(
            self._log.now(), self.conn, direction, kind, length, preview, fin, masked, frame, head
        )
        self._log.events.append(event)
        return event


def _bytes(data: bytes | bytearray) -> str:
    """Show the start of plain data as printable text."""
    text = printable(bytes(data[:60]).decode("utf-8", "backslashreplace"))
    return text if len(data) <= 60 else text + "…"


class WireLog:
    """Every event seen on every connection of one inspector, in the order seen.

    Args:
        clock: Returns the current time in seconds; ``time.monotonic`` unless testing.

    Attributes:
        events: All events so far, oldest first.
        connections: One ``ConnectionLog`` per connection, in the order they opened.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.events: list[WireEvent] = []
        self.connections: list[ConnectionLog] = []
        self._clock = clock
        self._start: float | None = None

    def connection(self) -> ConnectionLog:
        """Start recording a new connection and return its log."""
        wire = ConnectionLog(self, len(self.connections) + 1)
        self.connections.append(wire)
        return wire

    def now(self) -> float:
        """Return the seconds since the first event (0.0 for the first one)."""
        if self._start is None:
            self._start = self._clock()
        return self._clock() - self._start

    @property
    def frames(self) -> list[WireEvent]:
        """Return only the events that are frames."""
        return [event for event in self.events if event.frame is not None]

    def handshake(self, conn: int = 1) -> str:
        """Show the request and response heads of connection ``conn``, as far as they came.

        Raises:
            IndexError: There is no connection with that number yet.
        """
        if not 1 <= conn <= len(self.connections):
            raise IndexError(f"no connection {conn}; {len(self.connections)} so far")
        wire = self.connections[conn - 1]
        parts = [str(head) for head in (wire.request, wire.response) if head is not None]
        return "\n\n".join(parts)

    def table(self, last: int | None = None) -> str:
        """Lay out the events as a plain-text table, one line each.

        Args:
            last: Show only this many of the latest events.
        """
        events = list(self.events)  # a snapshot: the proxy may append meanwhile
        if last is not None:
            events = events[-last:] if last > 0 else []
        return "\n".join([_HEADER, *(format_event(event) for event in events)])


_ROW = "{:>8}  {:>2}  {:<15}  {:<6}  {:>3}  {:<6}  {:>6}  {}"
_HEADER = _ROW.format("seconds", "#", "direction", "type", "fin", "masked", "length", "payload")


def format_event(event: WireEvent) -> str:
    """Lay out one event as a line of ``WireLog.table``."""
    fin = "" if event.fin is None else str(int(event.fin))
    masked = "" if event.masked is None else ("yes" if event.masked else "no")
    return _ROW.format(
        f"{event.time:.3f}",
        event.conn,
        event.direction,
        event.kind,
        fin,
        masked,
        event.length,
        event.preview,
    ).rstrip()
