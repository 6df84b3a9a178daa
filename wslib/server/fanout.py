"""Send messages to many connections: frame each once, skip the slow, one write per turn.

This is the only module that reaches below websockets' public API. websockets'
``broadcast()`` builds the same frame again for every recipient, queues it whatever the
recipient's backlog, and writes it at once: one ``send()`` system call per recipient per
message, which is where a busy relay spends most of its time. A ``Fanout``, which one
server owns and uses on its own event loop, instead:

1. serializes each frame once: server frames are never masked, so without extensions (the
   kit turns compression off) every recipient gets the very same bytes;
2. holds the frames until the end of the current turn of the event loop, then gives each
   recipient one ``transport.write()``: when a burst of messages arrives in one read,
   each recipient gets the burst in one system call;
3. leaves out any connection whose bytes waiting to be sent already exceed ``limit``, and
   reports it to ``on_slow`` so the server can drop it (a client that stopped reading
   would otherwise grow the server's memory without bound); frames held for a connection
   that started closing meanwhile are dropped (no data may follow a close frame).

Two ways in. ``publish()`` is the relay's: a message to every member of a group but its
sender. A turn's messages to one group are kept as one list of frames, joined once at the
end of the turn; each member gets the joined bytes, or, if it sent some of them, the
joined bytes without its own: the work per turn grows with messages + recipients, not
their product. The chat publishes its events for everyone the same way (the room hands
out one tuple of recipients until its members change). ``send()`` is for short recipient
lists (an ack, an error, a private message): it holds frames per connection, each with
its place among the group's frames, and at the end of the turn a member gets the group's
bytes with its own frames spliced in, still in one write. Either way a turn holds at most
``FLUSH_AT`` bytes for one group or connection before writing them, so a huge burst
cannot hold back the first write.

What it relies on, checked by tests/test_fanout.py against websockets' own
``broadcast()``: ``connection.protocol.state`` (read as ``_state``, what the property
returns, since the loop over recipients reads it for each), ``connection.send_in_progress``,
``connection.protocol.extensions`` and ``connection.transport``; and, to skip asking a
transport for its backlog, that ``connection.paused`` is true whenever more than
``connection.write_limit_high`` bytes wait (websockets sets the transport's high-water mark
to it, and the transport pauses the protocol above it). The supported websockets
versions are pinned in pyproject.toml to those it was tested with.

More shortcuts live here because they, too, lean on how websockets (and, for the last
two, asyncio's selector transport) work inside:

- ``DirectConnection`` hands a message that arrives whole straight to a callback, without
  websockets' queue and a wake-up of the handler's task; ``handle_directly`` serves it
  with one future instead of a coroutine that waits in ``recv()`` (it relies on
  ``connection.process_event``, ``connection.recv_messages.frames.queue`` and
  ``connection.connection_lost_waiter``);
- ``shed_handshake`` lets an open relay connection forget its opening handshake's
  response, which websockets would otherwise keep, headers and all, for the connection's
  whole life;
- ``shed_queues`` gives an open connection lists for the two queues it almost always has
  empty, and its asyncio transport a stand-in for its empty write buffer (on CPython 3.12
  and newer, whose transports keep that buffer in a ``deque``);
- ``DirectConnection`` also reads its socket ``READ_SIZE`` bytes at a time (asyncio's
  ``max_size``), not 256 KiB.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import traceback
import weakref
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from websockets.asyncio.server import ServerConnection, broadcast
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import CLOSED, OPEN, Event
from websockets.protocol import Protocol as SansIOProtocol
from websockets.server import ServerProtocol
from websockets.streams import StreamReader

__all__ = [
    "FLUSH_AT",
    "READ_SIZE",
    "DirectConnection",
    "DirectHandler",
    "Fanout",
    "Group",
    "OnMessage",
    "direct_receiver",
    "frame_bytes",
    "handle_directly",
    "receive_directly",
    "shed_handshake",
    "shed_queues",
    "taken",
]

logger = logging.getLogger("wslib.fanout")

# Frames held for one group or connection are written as soon as they reach this many
# bytes: the kernel's send buffer takes them at once, and a burst never waits in Python.
FLUSH_AT = 64 * 1024

#: How many bytes a ``DirectConnection``'s transport asks the socket for in one read.
#: asyncio's selector transport asks for 256 KiB (its ``max_size``), and CPython makes a
#: ``bytes`` of that size before each ``recv()``: past glibc's 128 KiB ``mmap`` threshold,
#: so on Linux each read of a small message became ``mmap``, ``recvfrom``, ``mremap``,
#: ``munmap`` and a page fault (https://github.com/python/cpython/issues/85451); 64 KiB,
#: what Node.js reads at a time, comes from the heap.
READ_SIZE = 64 * 1024


class Group(Protocol):
    """Who ``publish()`` sends to: the relay's members, and a count of their changes."""

    @property
    def version(self) -> int:
        """A number that changes whenever a member joins or leaves."""

    @property
    def members(self) -> Sequence[ServerConnection]:
        """The members now, in a stable order."""


# Opcodes read once: on CPython 3.11 looking a member up on its Enum class (``Opcode.TEXT``)
# is a Python-level call, and these are compared for every message.
_TEXT, _BINARY, _CONT = Opcode.TEXT, Opcode.BINARY, Opcode.CONT

# The header websockets writes before a short payload, by opcode and length: a server's
# frame header depends on nothing else, so each is serialized once (see frame_bytes). One
# table per opcode, keyed by length: an Enum in the key would cost a Python-level hash.
_SHORT = 126  # payloads shorter than this have a 2-byte header (RFC 6455 §5.2)
_text_headers: dict[int, bytes] = {}
_binary_headers: dict[int, bytes] = {}


def frame_bytes(message: str | bytes) -> bytes:
    """Return the unmasked, unfragmented frame a server sends for ``message``."""
    if isinstance(message, str):
        opcode, payload, headers = _TEXT, message.encode(), _text_headers
    else:
        opcode, payload, headers = _BINARY, message, _binary_headers
    size = len(payload)
    header = headers.get(size)  # only short payloads' headers are kept
    if header is not None:
        return header + payload
    data = Frame(opcode, payload).serialize(mask=False, extensions=[])
    if size < _SHORT:
        headers[size] = data[: len(data) - size]
    return data


class _Held:
    """The frames held for one connection (``send()``) until the end of this loop turn."""

    __slots__ = ("at", "backlog", "chunks", "size")

    def __init__(self, data: bytes, backlog: int, at: int) -> None:
        self.chunks = [data]
        self.at = [at]  # for each chunk, how many of the batch's frames come before it
        self.size = len(data)
        self.backlog = backlog  # the transport's, when the first frame was held


class _Batch:
    """A turn's messages to one group: its members then, and each frame with its sender."""

    __slots__ = (
        "frames",
        "group",
        "members",
        "messages",
        "mixed",
        "senders",
        "size",
        "sole",
        "version",
    )

    def __init__(self, group: Group) -> None:
        self.group = group
        self.version = group.version
        self.members = group.members
        self.frames: list[bytes] = []
        self.messages: list[str | bytes] = []  # for a connection with an extension
        self.senders: list[ServerConnection | None] = []
        self.size = 0
        # Whether the frames have more than one sender; if not, ``sole`` sent them all (or
        # it is None): then no frame-by-frame account of who sent what is needed.
        self.sole: ServerConnection | None = None
        self.mixed = False


class Fanout:
    """One server's outgoing frames, held until the end of each turn of its event loop.

    The state is this object's: a server owns one and calls it only from the loop that
    serves its connections, so two servers on two loops in two threads share nothing.

    Usage::

        fanout = Fanout(on_slow=drop)
        fanout.publish(relay, "Received message from peer: hi", sender=alice, limit=2**20)
        fanout.send([bob, carol], '{"type": "message"}', limit=2**20)
        # both are written when this turn of the loop ends, or at once with fanout.flush()

    Args:
        on_slow: Called with each connection left out because its backlog passed the
            limit: ``send()`` returns those too, ``publish()`` reports them only here.
    """

    def __init__(self, on_slow: Callable[[ServerConnection], object] | None = None) -> None:
        self._on_slow = on_slow
        self._held: dict[ServerConnection, _Held] = {}
        self._batch: _Batch | None = None
        self._limit: int | None = None  # the batch's
        self._pending: asyncio.AbstractEventLoop | None = None  # where the flush is queued

    def _hold(self) -> None:
        """Make sure a flush runs at the end of this turn of the running loop."""
        loop = asyncio.get_running_loop()
        if self._pending is not loop:
            # None, or a loop that stopped before the flush it had queued could run: what
            # was held for that loop's connections can never be sent, so let it go.
            self._held.clear()
            self._batch = None
            self._pending = loop
            loop.call_soon(self.flush)

    def publish(
        self,
        group: Group,
        message: str | bytes,
        *,
        sender: ServerConnection | None,
        limit: int | None,
    ) -> None:
        """Send ``message`` to every open member of ``group`` except ``sender``.

        The frames reach the transports at the end of this turn of the event loop (or
        sooner, past ``FLUSH_AT`` bytes, or when the group's members change), each sender's
        in the order it sent them. A member whose backlog is over ``limit`` bytes gets only
        the frames that started within the limit, and is reported to ``on_slow``.

        Args:
            group: The recipients, e.g. the relay's members.
            message: A text or binary message.
            sender: The member that sent it, which does not get it back; ``None`` for none.
            limit: The most bytes a connection may have waiting to be sent before it is
                left out; ``None`` for no limit.
        """
        if self._pending is not asyncio.get_running_loop():
            self._hold()  # the first frame of this turn (the call costs every message)
        batch = self._batch
        if batch is not None and (
            batch.group is not group or batch.version != group.version or limit != self._limit
        ):
            self._write_batch()  # everything before a join or leave goes to the old members
            batch = None
        if batch is None:
            batch = self._batch = _Batch(group)
            self._limit = limit
        if sender is not batch.sole:
            if batch.frames:
                batch.mixed = True
            else:
                batch.sole = sender
        data = frame_bytes(message)
        batch.frames.append(data)
        batch.messages.append(message)
        batch.senders.append(sender)
        batch.size += len(data)
        if batch.size >= FLUSH_AT:
            self._write_batch()

    def send(
        self, connections: Iterable[ServerConnection], message: str | bytes, limit: int | None
    ) -> list[ServerConnection]:
        """Send ``message`` to every open connection whose backlog is within ``limit`` bytes.

        The frames reach the transports at the end of this turn of the event loop (or at
        once, past ``FLUSH_AT`` bytes), so it must run on the loop that serves the
        connections. Call ``flush()`` to write them sooner.

        Args:
            connections: The recipients.
            message: A text or binary message.
            limit: The most bytes a connection may have waiting to be sent, in its transport
                and held here, before it is skipped; ``None`` for no limit.

        Returns:
            The connections that were skipped because their backlog exceeded ``limit``.
        """
        self._hold()
        batch = self._batch
        at = 0 if batch is None else len(batch.frames)  # where it goes among publish()'s
        held = self._held
        data = frame_bytes(message)
        slow: list[ServerConnection] = []
        # This loop runs once per recipient per message: keep it short.
        for connection in connections:
            protocol = connection.protocol
            if protocol._state is not OPEN or connection.send_in_progress is not None:
                continue  # closing, or in the middle of a fragmented message: as broadcast()
            mine = held.get(connection)
            if mine is not None:  # more in this turn: the transport's backlog is already known
                if limit is not None and mine.backlog + mine.size > limit:
                    slow.append(connection)
                    continue
                mine.chunks.append(data)
                mine.at.append(at)
                mine.size += len(data)
                if mine.size >= FLUSH_AT:
                    at = self._write_early(connection)
                continue
            backlog = connection.transport.get_write_buffer_size()
            if limit is not None and backlog > limit:
                slow.append(connection)
            elif len(data) < FLUSH_AT and not protocol.extensions:
                held[connection] = _Held(data, backlog, at)
            elif protocol.extensions:  # a negotiated extension changes the bytes; never held
                at = self._write_early(None)
                broadcast([connection], message)
            else:
                at = self._write_early(None)
                self._write(connection, data)
        if self._on_slow is not None:
            for connection in slow:
                self._on_slow(connection)
        return slow

    def _write_early(self, connection: ServerConnection | None) -> int:
        """Write the batch, then what is held for ``connection``; return 0, the new ``at``.

        The batch goes first: its frames may come before the held ones in this turn.
        """
        if self._batch is not None:
            self._write_batch()  # which also writes what is held for its members
        mine = None if connection is None else self._held.pop(connection, None)
        if mine is not None and connection is not None:
            self._write(connection, b"".join(mine.chunks))
        return 0

    def flush(self) -> None:
        """Write every frame held now, in order."""
        self._pending = None
        if self._batch is not None:
            self._write_batch()
        held, self._held = self._held, {}
        last: list[bytes] = []
        joined = b""
        for connection, mine in held.items():
            if connection.protocol.state is not OPEN:
                continue  # it sent or received a close frame: no data may follow
            if mine.chunks != last:  # usually all recipients got the same burst: join it once
                last = mine.chunks
                joined = last[0] if len(last) == 1 else b"".join(last)
            self._write(connection, joined)

    def _write_batch(self) -> None:
        batch, self._batch = self._batch, None
        assert batch is not None
        limit = self._limit
        held = self._held  # send()'s frames, each with its place among the batch's
        frames, senders = batch.frames, batch.senders
        joined = frames[0] if len(frames) == 1 else b"".join(frames)
        # Where each sender's own frames sit in the joined bytes: it gets the rest. With one
        # sender (a burst from one client) that is all of them, and it gets none.
        count = len(frames)
        own: Mapping[ServerConnection, Sequence[int]] = {}
        if batch.mixed:
            indexes: dict[ServerConnection, list[int]] = {}
            for index, sender in enumerate(senders):
                if sender is not None:
                    indexes.setdefault(sender, []).append(index)
            own = indexes
        elif batch.sole is not None:
            own = {batch.sole: range(count)}
        view = memoryview(joined)
        starts = [0] * (count + 1)
        if batch.mixed or held:  # only then does a member get part of the joined bytes
            offset = 0
            for index, data in enumerate(frames):
                starts[index] = offset
                offset += len(data)
            starts[-1] = offset
        slow: list[ServerConnection] = []
        size = len(joined)
        # This loop runs once per recipient per turn, and with one message a turn it is
        # what a delivery costs besides its system call: keep it short.
        for connection in batch.members:
            protocol = connection.protocol
            if protocol._state is not OPEN or connection.send_in_progress is not None:
                continue  # closing, or in the middle of a fragmented message: as broadcast()
            extra = held.pop(connection, None) if held else None
            sent = own.get(connection)
            if sent is None and extra is None:
                data = joined
            elif sent is not None and extra is None and len(sent) == count:
                continue  # it sent every frame: nothing for it
            else:
                data = _compose(view, starts, frames, sent or (), extra)
                if not data:
                    continue
            if protocol.extensions:  # a negotiated extension changes the bytes
                self._broadcast(connection, batch, limit, slow)
                continue
            if limit is not None:
                length = size if data is joined else len(data)
                # A connection its transport has not paused has at most write_limit_high
                # bytes waiting: only near the limit is the backlog worth asking for.
                if connection.paused or length + connection.write_limit_high > limit:
                    backlog = connection.transport.get_write_buffer_size()
                    if backlog + length > limit:
                        # The rare path: it may be falling behind.
                        fits = _within(_frames_for(batch, connection, extra), limit - backlog)
                        if len(fits) < len(data):
                            slow.append(connection)
                            data = fits
                            if not data:
                                continue
            self._write(connection, data)  # every write goes through it (tests count them)
        for mine in held.values():  # not members: they go before the next batch's frames
            mine.at = [0] * len(mine.at)
        if self._on_slow is not None:
            for connection in slow:
                self._on_slow(connection)

    def _broadcast(
        self,
        connection: ServerConnection,
        batch: _Batch,
        limit: int | None,
        slow: list[ServerConnection],
    ) -> None:
        if limit is not None and connection.transport.get_write_buffer_size() > limit:
            slow.append(connection)
            return
        for message, sender in zip(batch.messages, batch.senders, strict=True):
            if sender is not connection:
                broadcast([connection], message)

    def _write(self, connection: ServerConnection, data: bytes) -> None:
        try:
            connection.transport.write(data)
        except Exception:  # e.g. a transport already shut: the others must still get theirs
            logger.exception("could not write %d bytes to a connection", len(data))


def _compose(
    view: memoryview,
    starts: list[int],
    frames: list[bytes],
    mine: Sequence[int],
    extra: _Held | None,
) -> bytes:
    """Return the joined frames without those at the indexes ``mine``, with ``extra``'s in.

    ``starts[i]`` is where frame ``i`` starts in ``view`` (``starts[-1]`` its end); each of
    ``extra``'s chunks goes just before the frame its ``at`` names.
    """
    pieces: list[bytes | memoryview] = []
    position = 0
    inserts = [] if extra is None else list(zip(extra.at, extra.chunks, strict=True))
    cuts = iter(mine)
    cut = next(cuts, None)
    k = 0
    while k < len(inserts) or cut is not None:
        if cut is None or (k < len(inserts) and inserts[k][0] <= cut):
            index, chunk = inserts[k]
            k += 1
            at = starts[min(index, len(frames))]
            if at > position:
                pieces.append(view[position:at])
                position = at
            pieces.append(chunk)
        else:
            if starts[cut] > position:
                pieces.append(view[position : starts[cut]])
            position = starts[cut] + len(frames[cut])
            cut = next(cuts, None)
    if position < len(view):
        pieces.append(view[position:])
    return b"".join(pieces)


def _frames_for(batch: _Batch, connection: ServerConnection, extra: _Held | None) -> list[bytes]:
    """Return the frames that ``connection`` gets from ``batch`` and ``extra``, in order."""
    inserts = [] if extra is None else list(zip(extra.at, extra.chunks, strict=True))
    out: list[bytes] = []
    k = 0
    for index, (data, sender) in enumerate(zip(batch.frames, batch.senders, strict=True)):
        while k < len(inserts) and inserts[k][0] <= index:
            out.append(inserts[k][1])
            k += 1
        if sender is not connection:
            out.append(data)
    out.extend(chunk for _, chunk in inserts[k:])
    return out


def _within(frames: list[bytes], room: int) -> bytes:
    """Return the frames that start within ``room`` more bytes.

    A connection over its limit is dropped; until then it gets each frame that starts
    while its backlog is within the limit, as ``send()`` does (the rare path: no hurry).
    """
    kept = []
    size = 0
    for data in frames:
        if size > room:
            break
        kept.append(data)
        size += len(data)
    return b"".join(kept)


def shed_handshake(
    connection: ServerConnection,
    shared: MutableMapping[tuple[str, str, str], Request] | None = None,
) -> None:
    """Let an open connection forget its opening handshake, all but the request's path.

    websockets keeps ``connection.request`` and ``connection.response`` after the
    handshake, headers and all, though it never reads them again: about 3.4 kB of an
    idle connection's 15 kB. The server routes by the request's path, so that stays.
    The request's headers are emptied in place, not replaced: the generator that parsed
    them (``ServerProtocol.parse``) keeps the request in a local variable, so a new
    ``Request`` could leave the old one's 1.8 kB alive. That generator, too, is let go
    when the frame parser it runs can be restarted (see ``_shed_request_parser``).

    Args:
        connection: An open connection whose handler has started.
        shared: Headerless requests by path, method and protocol, for connections to
            share (0.39 kB each): the connection's ``request`` becomes the one there for
            its path, or is put there. Give each server its own
            ``weakref.WeakValueDictionary``, so that a path no open connection asked
            for is forgotten; no one may change a request in it.
    """
    connection.response = None
    request = connection.request
    if request is not None and request.headers:
        request.headers.clear()
    if request is not None and shared is not None:
        key = (request.path, request.method, request.protocol)
        common = shared.get(key)
        if common is None:
            shared[key] = request
        else:
            connection.request = common
    _shed_request_parser(connection.protocol)


def _shed_request_parser(protocol: SansIOProtocol) -> None:
    """Let ``protocol`` drop the generator that parsed its opening request, if it can.

    ``ServerProtocol.parse`` reads the request, then hands the rest of the connection's
    life to ``Protocol.parse`` with ``yield from``, so the outer generator (0.28 kB)
    stays suspended in front of the frame parser for as long as the connection is open.
    When the frame parser waits at the top of its loop for bytes that have not come
    (nothing buffered, no end of stream), it holds no state a fresh one would not have:
    a new ``Protocol.parse`` then takes over. Otherwise (a frame half read) nothing changes.
    """
    outer = protocol.parser
    inner = getattr(outer, "gi_yieldfrom", None)
    waiting = getattr(inner, "gi_yieldfrom", None)
    reader = protocol.reader
    if (
        getattr(outer, "gi_code", None) is not ServerProtocol.parse.__code__
        or getattr(inner, "gi_code", None) is not SansIOProtocol.parse.__code__
        or getattr(waiting, "gi_code", None) is not StreamReader.at_eof.__code__
        or reader.buffer
        or reader.eof
    ):
        return
    fresh = SansIOProtocol.parse(protocol)
    next(fresh)  # to the same place: waiting in at_eof() for bytes
    protocol.parser = fresh
    outer.close()  # GeneratorExit passes by parse()'s handlers, which catch Exception only


OnMessage = Callable[[ServerConnection, str | bytes], bool]
"""Given a connection and a message that arrived whole on it: handle the message and return
True, or return False to leave it to ``recv()``."""


if TYPE_CHECKING:
    _Adapter = logging.LoggerAdapter[Any]
else:
    _Adapter = logging.LoggerAdapter


class _ConnectionLogger(_Adapter):
    """websockets' logger for one connection, with the same ``websocket`` field on every
    record, made for each record instead of kept in a dict for the connection's whole
    life (0.17 kB of every idle connection)."""

    def __init__(self, logger: Any, websocket: object) -> None:
        super().__init__(logger)
        self._websocket = websocket

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        kwargs["extra"] = {"websocket": self._websocket}
        return msg, kwargs


class DirectConnection(ServerConnection):
    """A ``ServerConnection`` that can hand whole messages straight to a callback.

    websockets gives every message to the handler through a queue (its ``Assembler``) and
    a wake-up of the handler's task: per message a future, a task step, and flow control
    that pauses and resumes reading. For a relay, which only passes messages on, that is a
    large part of what a small message costs. After ``receive_directly(connection, on)``, a
    message that arrives in one frame (the usual case) goes from websockets' parser to
    ``on`` within the call that read it from the socket.

    Everything else takes websockets' own path, so ``recv()`` returns it: a fragmented
    message, text that is not valid UTF-8 (``recv()`` then fails the connection with 1007,
    as always), a message ``on`` declines, and any message that arrives while one of those
    is still waiting for ``recv()``, so that a direct message never overtakes a queued one.
    A handler of its own must call ``taken(connection)`` for each message ``recv()`` gives
    it; or ``handle_directly`` serves the connection with no coroutine at all: an idle
    connection then holds one future instead of a handler's and ``recv()``'s coroutines.
    """

    # Slots, set in __init__: attributes added to a websockets object's __dict__ later, or
    # in different orders, can cost each connection a dict of its own (kB, not bytes).
    __slots__ = ("_done", "_draining", "_handler", "_on_message", "_queued")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        adapter = self.logger  # websockets' own, as its __init__ made it: swap it
        extra = getattr(adapter, "extra", None)
        if (
            type(adapter) is logging.LoggerAdapter
            and extra is not None
            and set(extra) == {"websocket"}
        ):
            lean = _ConnectionLogger(adapter.logger, extra["websocket"])
            self.protocol.logger = self.logger = lean
        self._on_message: OnMessage | None = None
        self._queued = 0  # messages put in websockets' queue and not yet taken from recv()
        self._handler: DirectHandler | None = None  # see handle_directly()
        self._done: asyncio.Future[None] | None = None  # what websockets awaits as the handler
        self._draining: asyncio.Task[None] | None = None  # taking what recv() has, if it runs

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        # asyncio's selector transport reads max_size bytes at a time, a class attribute
        # (undocumented, https://github.com/python/asyncio/issues/90); other transports
        # (uvloop's, TLS) have none and are left alone. Set before the first read.
        if getattr(type(transport), "max_size", 0) > READ_SIZE:
            transport.max_size = READ_SIZE  # type: ignore[attr-defined]

    def process_event(self, event: Event) -> None:
        on_message = self._on_message
        if on_message is None or not isinstance(event, Frame):
            super().process_event(event)
            return
        opcode = event.opcode
        if self._queued == 0 and event.fin and (opcode is _TEXT or opcode is _BINARY):
            data = event.data
            message: str | bytes | None
            if opcode is _BINARY:
                message = data if type(data) is bytes else bytes(data)
            else:
                try:
                    message = str(data, "utf-8")
                except UnicodeDecodeError:
                    message = None  # recv() will meet it and fail the connection with 1007
            if message is not None:
                # If on_message raises, the message is left to recv(), so that the handler
                # meets the failure and websockets closes the connection with 1011 as for
                # any failing handler (here, inside the call that read the socket, asyncio
                # would abort the connection instead).
                try:
                    if on_message(self, message):
                        return
                except Exception:
                    pass
        super().process_event(event)
        if opcode is _TEXT or opcode is _BINARY or opcode is _CONT:
            if event.fin:
                self._queued += 1
            self._wake()  # any frame, so that recv() takes fragments before reading pauses

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._wake()  # recv() now gives what is queued, then raises ConnectionClosed
        _break_cycles(self)

    def _wake(self) -> None:
        """Start taking what ``recv()`` has, unless that runs already or no one serves it."""
        if self._done is not None and self._draining is None:
            self._draining = self.loop.create_task(self._drain())

    async def _drain(self) -> None:
        """Take from ``recv()`` until it has nothing more: hand each message to the handler;
        once the connection is closed (or the handler fails), finish it."""
        handler = self._handler
        assert handler is not None
        failure: Exception | None = None
        try:
            while self._has_more():
                try:
                    message = await self.recv()
                except ConnectionClosed:
                    break
                taken(self)
                await handler.take(self, message)
        except Exception as exc:  # the handler failed: websockets closes with 1011
            failure = exc
        finally:
            self._draining = None
        if failure is not None or self._lost():
            self._finish(failure)

    def _has_more(self) -> bool:
        """Return whether ``recv()`` has something to give: a message, a fragment, or the
        news that the connection is closed."""
        return bool(self._queued or self.recv_messages.frames.queue or self._lost())

    def _lost(self) -> bool:
        return self.connection_lost_waiter.done()

    def _finish(self, failure: Exception | None) -> None:
        """Let the handler finish the connection, then end what websockets awaits."""
        done, handler = self._done, self._handler
        if done is None or handler is None:
            return  # finished already
        self._done = None
        handler.finish(self)
        if done.done():
            return  # cancelled with the task that awaited it
        if failure is None:
            done.set_result(None)
        else:
            done.set_exception(failure)


def _nothing() -> None:
    """What a closed transport calls if it is ever asked to read again: nothing."""


def _break_cycles(connection: ServerConnection) -> None:
    """Break the reference cycles a lost connection would leave for a full collection.

    A connection that lived long sits in the collector's oldest generation, so what it
    leaves in cycles waits for a full collection, which a server opening connections
    defers. Three are left on CPython 3.11:

    - asyncio's socket transport keeps a bound method of itself (``_read_ready_cb``);
      CPython 3.12 drops it on close (gh-100348), and so does this, with a function
      that holds nothing in its place;
    - an abnormal closure leaves the parser's exception on the protocol
      (``parser_exc``, the cause of the handler's ``ConnectionClosedError``), whose
      traceback keeps the finished parser's frame, whose ``self`` is the protocol:
      the frame's local variables are cleared, the traceback's lines stay;
    - the protocol's last parser (``discard()``) waits at its final ``yield`` with the
      protocol in its frame; websockets never steps it once the reader is at its end,
      so it is closed.
    """
    transport = connection.transport
    callback = getattr(transport, "_read_ready_cb", None)
    if getattr(callback, "__self__", None) is transport:
        transport._read_ready_cb = _nothing
    protocol = connection.protocol
    failure = protocol.parser_exc
    if failure is not None:
        traceback.clear_frames(failure.__traceback__)
    if protocol.state is CLOSED and protocol.reader.eof:
        protocol.parser.close()  # never stepped again once the reader is at its end


def receive_directly(connection: ServerConnection, on_message: OnMessage) -> bool:
    """Hand ``connection``'s whole messages to ``on_message`` from now on, if it can.

    Returns:
        Whether it will: only a ``DirectConnection`` can (give ``serve()`` that class).
    """
    if not isinstance(connection, DirectConnection):
        return False
    connection._on_message = on_message
    return True


class DirectHandler(Protocol):
    """What serves a connection whose whole messages go to a callback, without a coroutine
    of its own (see ``handle_directly``)."""

    async def take(self, connection: ServerConnection, message: str | bytes) -> None:
        """Handle a message that ``recv()`` gave, in order with the direct ones."""

    def finish(self, connection: ServerConnection) -> None:
        """Clean up once the connection is closed or ``take`` raised; called once."""


def handle_directly(
    connection: ServerConnection, handler: DirectHandler
) -> asyncio.Future[None] | None:
    """Return what websockets may await as ``connection``'s handler, or ``None`` if it cannot.

    For a connection that hands its whole messages to a callback (``receive_directly``),
    ``recv()`` only ever gets what the callback could not take, so an idle one needs no
    coroutine waiting on it. It gets a future instead, done when the connection is closed
    (or failed, when ``handler.take`` raised: websockets then closes it with 1011). Steps:

    1. whatever ``recv()`` can give (a declined or fragmented message) goes, in order, to
       ``handler.take``, in a task that runs only while there is something to take;
    2. once the connection is closed and ``recv()`` has given everything, or
       ``handler.take`` raised, ``handler.finish`` runs, then the future ends;
    3. if the task awaiting the future is cancelled, the future alone is cancelled (never
       one of websockets'), and ``handler.finish`` runs when the connection is lost.
    """
    if not isinstance(connection, DirectConnection) or connection._on_message is None:
        return None
    if connection._done is not None:
        raise RuntimeError("the connection is already handled")
    connection._handler = handler
    done = connection._done = connection.loop.create_future()
    if connection._has_more():
        connection._wake()  # it came before the handler did
    return done


def direct_receiver(connection: ServerConnection) -> OnMessage | None:
    """Return what ``receive_directly`` gave ``connection``, or ``None``."""
    return connection._on_message if isinstance(connection, DirectConnection) else None


def taken(connection: ServerConnection) -> None:
    """Note that the handler took one message from ``connection.recv()``."""
    if isinstance(connection, DirectConnection) and connection._queued:
        connection._queued -= 1


# -- an idle connection's spare queues ---------------------------------------------------


class _Frames(list):  # type: ignore[type-arg]
    """A frame queue with the few ``deque`` methods websockets' ``SimpleQueue`` calls.

    An empty ``deque`` already holds a 64-slot block (0.7 kB with its header); an empty
    list holds nothing but itself. The queue is short (websockets pauses reading past
    ``max_queue`` frames), so taking from its front costs little.
    """

    __slots__ = ()

    def popleft(self) -> object:
        """Remove and return the first frame."""
        return self.pop(0)

    def extendleft(self, frames: Iterable[object]) -> None:
        """Put ``frames`` at the front, each before the one put before it (as ``deque``)."""
        self[:0] = list(frames)[::-1]


def shed_queues(connection: ServerConnection) -> None:
    """Give an open connection lists for the two queues it almost always has empty.

    websockets makes a ``collections.deque`` for the frames received and not yet read
    (``recv_messages.frames.queue``) and for the tasks waiting to write
    (``drain_waiters``), and keeps ``request_rcvd``, a future only the opening handshake
    awaits: together 1.6 kB of an idle connection. Lists do the same work there
    (``append``, ``remove``, iteration; ``popleft`` and ``extendleft`` above). On CPython
    3.12 and newer, asyncio's socket transport also keeps an empty ``deque`` for the bytes
    its socket has not taken (another 0.76 kB): a ``_SpareBuffer`` stands in for it until
    bytes must wait. Call it once the handshake is done, before the connection is read or
    written.
    """
    frames = connection.recv_messages.frames
    frames.queue = _Frames(frames.queue)  # type: ignore[assignment]
    connection.drain_waiters = list(connection.drain_waiters)  # type: ignore[assignment]
    if connection.request_rcvd.done():
        connection.request_rcvd = None  # type: ignore[assignment]
    _shed_write_buffer(connection.transport)


def _shed_write_buffer(transport: asyncio.BaseTransport) -> None:
    """Give asyncio's socket transport a ``_SpareBuffer`` for its empty write buffer.

    Only asyncio's own socket transport on CPython 3.12 and newer keeps a ``deque`` there;
    on 3.11 it is a ``bytearray`` (56 bytes), and uvloop's and TLS transports have none.
    """
    buffer = getattr(transport, "_buffer", None)
    if (
        type(buffer) is collections.deque
        and not buffer
        and type(transport).__module__ == "asyncio.selector_events"
    ):
        transport._buffer = _SpareBuffer(transport)  # type: ignore[attr-defined]


class _SpareBuffer(list):  # type: ignore[type-arg]
    """Stands in for an asyncio socket transport's write buffer while it is empty.

    On CPython 3.12 and newer the transport keeps the bytes its socket did not take in a
    ``collections.deque``, made with the transport: 0.76 kB with its first block. An idle
    connection's socket takes every write whole, so that deque stays empty all its life.
    This is an empty list, so what the transport asks of it before every write (its
    length, its truth, iteration, ``clear()``) costs what it costs a deque, in C; the
    first bytes that must wait (``append``, ``appendleft``, ``extend``) get the transport
    a real deque, which keeps them from then on. It holds the transport weakly: no cycle
    for the collector to find when the connection ends.
    """

    __slots__ = ("_transport",)

    def __init__(self, transport: asyncio.BaseTransport) -> None:
        super().__init__()
        self._transport = weakref.ref(transport)

    def popleft(self) -> Any:
        """Raise as an empty deque does."""
        raise IndexError("pop from an empty deque")

    def append(self, item: Any) -> None:
        """Give the transport a deque holding ``item``."""
        self._deque().append(item)

    def appendleft(self, item: Any) -> None:
        """Give the transport a deque holding ``item``."""
        self._deque().appendleft(item)

    def extend(self, items: Iterable[Any]) -> None:
        """Give the transport a deque holding ``items``."""
        self._deque().extend(items)

    def _deque(self) -> collections.deque[Any]:
        buffer: collections.deque[Any] = collections.deque()
        transport = self._transport()
        if transport is not None:  # it is: only the transport's own methods call these
            transport._buffer = buffer  # type: ignore[attr-defined]
        return buffer
