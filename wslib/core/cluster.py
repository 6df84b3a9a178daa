"""Run one server's share of a chat that several servers hold together, with no I/O.

In cluster mode no server owns the chat: a shared, ordered *log* does (a Redis Stream). A
``ClusterRoom`` checks what its own clients send and turns each good event into a
*request* for the log's store; the store decides what only it can decide (is the name
free? was this ``cid`` seen?) and appends an *entry*. Every server then reads every entry,
in log order, and the room says what to write to its own clients. So all servers show the
same events in the same order, each once, and each entry's log id is the message id.

The adapter (``wslib.redis_backplane``) drives it in these steps:

1. ``receive(conn, data)`` for each frame: carry out the returned ``Send``/``Close``
   actions and perform the returned requests (``JoinRequest``, ``PostRequest``,
   ``TypingRequest``) in order; for a refused request call ``refused`` (or, for a send
   already stored, ``duplicate``) and carry out what it returns;
2. ``disconnect(conn)`` when a connection ends, and perform the ``LeaveRequest`` if any;
3. ``apply(entry_id, fields)`` for every log entry in order; a returned ``Welcome``
   means: fetch the history it describes, then carry out ``welcome(...)``'s actions
   before applying the next entry;
4. ``typing(name)`` for each typing notice (these skip the log: they are not kept).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ..exceptions import ChatError, StateError
from .codes import CLOSE_REASONS, CLOSE_TAKEN_OVER
from .protocol import (
    Join,
    Message,
    Post,
    ack_event,
    decode,
    error_event,
    joined_event,
    left_event,
    message_event,
    name_key,
    new_token,
    parse,
    refused_cid,
    typing_event,
    welcome_event,
)
from .room import Action, Close, ConnId, Send

__all__ = [
    "UNAVAILABLE",
    "ClusterRoom",
    "JoinRequest",
    "LeaveRequest",
    "PostRequest",
    "Request",
    "TypingRequest",
    "Welcome",
]

#: The error a client gets for an event the server cannot store right now.
UNAVAILABLE = StateError("unavailable", "The chat is unavailable for now; try again later.")


@dataclass(frozen=True, slots=True)
class JoinRequest:
    """Claim ``name`` for ``conn``: resume it with ``token``, or give it ``fresh_token``."""

    conn: ConnId
    name: str
    key: str
    token: str | None
    fresh_token: str
    last_id: str | None


@dataclass(frozen=True, slots=True)
class PostRequest:
    """Store a message from ``conn`` unless ``(name, cid)`` was stored before."""

    conn: ConnId
    name: str
    cid: str
    text: str
    to: str | None  # the recipient of a private message, as the sender wrote it


@dataclass(frozen=True, slots=True)
class TypingRequest:
    """Tell every server that ``name`` is typing."""

    name: str


@dataclass(frozen=True, slots=True)
class LeaveRequest:
    """Free the name held by ``conn``, if it still holds it, and log a ``left`` entry."""

    conn: ConnId
    name: str


Request = JoinRequest | PostRequest | TypingRequest | LeaveRequest


@dataclass(frozen=True, slots=True)
class Welcome:
    """Fetch the history for a joiner up to entry ``upto``, then call ``welcome``."""

    conn: ConnId
    last_id: str | None
    upto: str
    online: tuple[str, ...]
    resumed: bool


class ClusterRoom:
    """Check this server's clients' events and deliver log entries to them.

    Usage::

        room = ClusterRoom("a")
        room.receive(1, '{"type": "join", "name": "alice"}')   # [JoinRequest(...)]
        room.apply("5-0", {"k": "j", "name": "alice", "srv": "a", "conn": "1", ...})

    Args:
        server: This server's id in the log's entries; unique among live servers.
        new_token: Returns a fresh, unguessable resume token.
    """

    def __init__(self, server: str, *, new_token: Callable[[], str] = new_token) -> None:
        self.server = server
        self._new_token = new_token
        self._live: dict[ConnId, str] = {}  # welcomed connection -> name as shown
        self._joining: dict[ConnId, JoinRequest] = {}
        self._ghosts: set[ConnId] = set()  # taken over, waiting for the adapter to close

    @property
    def conns(self) -> list[ConnId]:
        """Return the connections that have joined (and hold a name), in id order."""
        return sorted(self._live)

    def receive(self, conn: ConnId, data: str | bytes) -> list[Action | Request]:
        """Check one frame from ``conn``; return an error, or the request it makes."""
        if conn in self._ghosts:
            return []
        obj: Mapping[str, object] = {}
        try:
            obj = decode(data)
            event = parse(obj)
            if isinstance(event, Join):
                return [self._join(conn, event)]
            name = self._live.get(conn)
            if name is None:
                raise StateError("not_joined", "Join the chat before sending anything else.")
            if isinstance(event, Post):
                return [self._post(conn, name, event)]
            return [TypingRequest(name)]
        except ChatError as error:
            return [Send((conn,), error_event(error, cid=refused_cid(obj)))]

    def refused(self, request: Request, error: ChatError) -> list[Action]:
        """Return the error for a request the store refused (or could not perform)."""
        if isinstance(request, JoinRequest):
            self._joining.pop(request.conn, None)
            return [Send((request.conn,), error_event(error))]
        if isinstance(request, PostRequest):
            return [Send((request.conn,), error_event(error, cid=request.cid))]
        return []

    def duplicate(self, request: PostRequest, message_id: str) -> list[Action]:
        """Acknowledge a send the store already had, without showing it again."""
        return [Send((request.conn,), ack_event(request.cid, message_id, duplicate=True))]

    def disconnect(self, conn: ConnId) -> list[Request]:
        """Forget ``conn``; return the request that frees its name, if it claimed one."""
        if conn in self._ghosts:
            self._ghosts.discard(conn)
            return []
        joining = self._joining.pop(conn, None)
        name = self._live.pop(conn, None) or (joining.name if joining else None)
        return [] if name is None else [LeaveRequest(conn, name)]

    def apply(self, entry_id: str, fields: Mapping[str, str]) -> list[Action | Welcome]:
        """Return what this server's clients get for one log entry.

        Args:
            entry_id: The entry's id in the log; a message's id.
            fields: The entry, as the store wrote it (see ``wslib.redis_store``).

        Returns:
            Actions for local connections, and a ``Welcome`` when the entry is the join
            of a local connection.
        """
        kind = fields.get("k")
        if kind == "m":
            return self._message(entry_id, fields)
        online = _online(fields.get("online", "[]"))
        if kind == "l":
            return self._to_live(left_event(fields["name"], online))
        if kind != "j":
            return []
        here = fields.get("srv") == self.server
        out: list[Action | Welcome] = []
        if fields.get("ghost_srv") == self.server:
            ghost = int(fields["ghost_conn"])
            if ghost in self._live:  # resumed elsewhere: close the old connection, no "left"
                del self._live[ghost]
                self._ghosts.add(ghost)
                out.append(Close(ghost, CLOSE_TAKEN_OVER, CLOSE_REASONS[CLOSE_TAKEN_OVER]))
        resumed = fields.get("resumed") == "1"
        if not fields.get("ghost_srv"):  # a takeover shows no "joined", as in ``Room``
            out.extend(self._to_live(joined_event(fields["name"], online)))
        conn = int(fields["conn"]) if here else None
        if conn is not None and conn in self._joining:
            join = self._joining[conn]
            out.append(Welcome(conn, join.last_id, entry_id, tuple(online), resumed))
        return out

    def welcome(
        self, welcome: Welcome, messages: Sequence[Message], *, reset: bool, epoch: str
    ) -> list[Action]:
        """Welcome a joiner with the history fetched for it; it is live from now on."""
        join = self._joining.pop(welcome.conn, None)
        if join is None:  # it went away while its history was fetched
            return []
        self._live[welcome.conn] = join.name
        token = join.token if welcome.resumed and join.token else join.fresh_token
        event = welcome_event(
            join.name, token, epoch, welcome.online, replay=len(messages), reset=reset
        )
        return [
            Send((welcome.conn,), event),
            *(Send((welcome.conn,), message_event(message)) for message in messages),
        ]

    def typing(self, name: str) -> list[Action]:
        """Return the typing notice for every local client but the one typing."""
        key = name_key(name)
        others = tuple(c for c, n in sorted(self._live.items()) if name_key(n) != key)
        return [Send(others, typing_event(name))] if others else []

    def _join(self, conn: ConnId, join: Join) -> JoinRequest:
        if conn in self._live or conn in self._joining:
            raise StateError("already_joined", "You have already joined on this connection.")
        request = JoinRequest(
            conn, join.name, name_key(join.name), join.token, self._new_token(), join.last_id
        )
        self._joining[conn] = request
        return request

    def _post(self, conn: ConnId, name: str, post: Post) -> PostRequest:
        return PostRequest(conn, name, post.cid, post.text, post.to)

    def _message(self, entry_id: str, fields: Mapping[str, str]) -> list[Action | Welcome]:
        message = message_from(entry_id, fields)
        out: list[Action | Welcome] = []
        origin = int(fields["conn"]) if fields.get("srv") == self.server else None
        if origin is not None and origin in self._live:  # the ack just before the message
            out.append(Send((origin,), ack_event(fields["cid"], entry_id, duplicate=False)))
        if message.to is None:
            out.extend(self._to_live(message_event(message)))
        else:
            keys = {name_key(message.name), name_key(message.to)}
            to = tuple(c for c, n in sorted(self._live.items()) if name_key(n) in keys)
            if to:
                out.append(Send(to, message_event(message)))
        return out

    def _to_live(self, event: Mapping[str, object]) -> list[Action | Welcome]:
        return [Send(tuple(sorted(self._live)), event)] if self._live else []


def message_from(entry_id: str, fields: Mapping[str, str]) -> Message:
    """Return the chat message held by a log entry of kind ``m``."""
    return Message(entry_id, fields["name"], fields["text"], float(fields["ts"]), fields.get("to"))


def _online(text: str) -> list[str]:
    names = json.loads(text)
    return sorted(names) if isinstance(names, list) else []  # Lua encodes {} for empty
