"""Run the chat's rules as plain method calls that return what to send to whom.

One engine serves a server alone and servers linked through Redis. The chat belongs to a
shared, ordered *log* kept by a store (in memory, in SQLite, or a Redis Stream). A ``Room``
checks what its own clients send and turns each good event into a *request* for the store;
the store decides what only it can decide (is the name free? was this ``cid`` seen from this
identity? is the recipient online?) and appends an *entry*. Every server then applies every
entry in log order, and its room says what to write to its own clients. A server alone is
the case of one server on a log kept in this process.

The adapter (``wslib.server.chat``) drives a room in these steps:

1. ``receive(conn, data)`` for each frame: carry out the returned ``Send`` actions and
   perform the returned requests in order; tell the room how the store answered with
   ``settle(request, outcome, message_id)``, or ``unavailable(request)`` if the store
   could not be reached, and carry out what that returns;
2. ``disconnect(conn)`` when a connection ends, and perform the ``LeaveRequest`` if any;
3. ``apply(entry_id, fields)`` for every log entry in order; a returned ``Welcome``
   means: fetch the history it describes, then carry out ``welcome(...)``'s actions
   before applying the next entry;
4. ``typing(name)`` for each typing notice (these skip the log: they are not kept).

Carrying out ``Send(to, event)`` means encoding ``event`` once with ``protocol.encode`` and
writing it to each connection in ``to``; ``Close(conn, code, reason)`` means closing that
connection with that code. An error for one client never changes anything for another.

The entries a store writes, as ``str`` fields (``k`` says the kind):

- ``k=j`` a join: ``name``, ``srv`` and ``conn`` (who joined, where), ``resumed`` (``"1"``
  if the token matched), ``ghost_srv``/``ghost_conn`` (the connection it takes over, or
  empty), ``online`` (a JSON list of every name online after it);
- ``k=m`` a message: ``name``, ``text``, ``ts``, ``cid``, ``srv``, ``conn``, and ``to`` for a
  private one; the entry's id is the message id;
- ``k=l`` a leave: ``name``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from ..exceptions import ChatError, StateError
from .codes import CLOSE_REASONS, CLOSE_TAKEN_OVER, CLOSE_TRY_AGAIN_LATER
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

__all__ = [
    "UNAVAILABLE",
    "UNAVAILABLE_REASON",
    "Action",
    "Close",
    "ConnId",
    "JoinRequest",
    "LeaveRequest",
    "Outcome",
    "PostRequest",
    "Request",
    "Room",
    "Send",
    "TypingRequest",
    "Welcome",
    "message_from",
]

ConnId = int

#: The error a client gets for an event the server cannot store right now.
UNAVAILABLE = StateError("unavailable", "The chat is unavailable for now; try again later.")

#: The close reason that goes with 1013 when a join could not be stored.
UNAVAILABLE_REASON = "chat storage unavailable; try again"

#: How a store answered a request: done; done before (a repeated join); the name is held;
#: the ``cid`` was stored before for this identity; the recipient is not online.
Outcome = Literal["ok", "again", "taken", "dup", "nouser"]


@dataclass(frozen=True, slots=True)
class Send:
    """Send ``event`` to every connection in ``to``, in order."""

    to: tuple[ConnId, ...]
    event: Mapping[str, object]


@dataclass(frozen=True, slots=True)
class Close:
    """Close connection ``conn`` with a close ``code`` and ``reason``."""

    conn: ConnId
    code: int
    reason: str


Action = Send | Close


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
    """Store a message from ``conn`` unless ``(identity, cid)`` was stored before."""

    conn: ConnId
    name: str
    identity: str  # the sender's resume token: dedupe belongs to it, not to the name
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


class Room:
    """Check this server's clients' events and deliver log entries to them.

    Usage::

        room = Room("a")
        room.receive(1, '{"type": "join", "name": "alice"}')   # [JoinRequest(...)]
        room.apply("5-0", {"k": "j", "name": "alice", "srv": "a", "conn": "1", ...})

    Args:
        server: This server's id in the log's entries; unique among live servers.
        new_token: Returns a fresh, unguessable resume token.
    """

    def __init__(self, server: str = "local", *, new_token: Callable[[], str] = new_token) -> None:
        self.server = server
        self._new_token = new_token
        self._live: dict[ConnId, tuple[str, str]] = {}  # welcomed conn -> (name, token)
        # Who gets an event for everyone: one tuple until _live changes, so that a server
        # can tell by identity that a turn's events all go to the same connections.
        self._everyone: tuple[ConnId, ...] | None = None
        self._joining: dict[ConnId, JoinRequest] = {}
        self._ghosts: set[ConnId] = set()  # taken over, waiting for the adapter to close
        self._online: dict[str, str] = {}  # name key -> name, for the whole chat

    @property
    def conns(self) -> list[ConnId]:
        """Return this server's connections that have joined (and hold a name), in order."""
        return sorted(self._live)

    @property
    def online(self) -> list[str]:
        """Return every name online in the chat, on any server, as the log says; sorted."""
        return sorted(self._online.values())

    def name(self, conn: ConnId) -> str | None:
        """Return the name ``conn`` joined as, or ``None`` if it has not (yet) joined."""
        live = self._live.get(conn)
        return None if live is None else live[0]

    def receive(self, conn: ConnId, data: str | bytes) -> list[Action | Request]:
        """Check one frame from ``conn``; return an error, or the request it makes.

        Args:
            conn: The connection the frame came from.
            data: The frame's payload: ``str`` for a text frame, ``bytes`` for binary.

        Returns:
            One ``error`` event for ``conn`` alone, or one request; nothing for a
            connection that was taken over.
        """
        if conn in self._ghosts:
            return []
        obj: Mapping[str, object] = {}
        try:
            obj = decode(data)
            event = parse(obj)
            if isinstance(event, Join):
                return [self._join(conn, event)]
            live = self._live.get(conn)
            if live is None:
                raise StateError("not_joined", "Join the chat before sending anything else.")
            name, identity = live
            if isinstance(event, Post):
                return [PostRequest(conn, name, identity, event.cid, event.text, event.to)]
            return [TypingRequest(name)]
        except ChatError as error:
            return [Send((conn,), error_event(error, cid=refused_cid(obj or data)))]

    def settle(self, request: Request, outcome: Outcome, message_id: str = "") -> list[Action]:
        """Return what the sender gets for the store's answer to its request.

        ``"ok"`` and ``"again"`` return nothing here: the entry the store appended brings
        the welcome, the ack and the message when ``apply`` meets it.
        """
        if outcome == "taken" and isinstance(request, JoinRequest):
            error = StateError("name_taken", f"The name {request.name!r} is already in use.")
            return self._refused(request, error)
        if outcome == "nouser" and isinstance(request, PostRequest):
            error = StateError("no_such_user", f"No one named {request.to!r} is online.")
            return self._refused(request, error)
        if outcome == "dup" and isinstance(request, PostRequest):
            return [Send((request.conn,), ack_event(request.cid, message_id, duplicate=True))]
        return []

    def unavailable(self, request: Request) -> list[Action]:
        """Return the ``unavailable`` error for a request the store could not perform.

        A send stays pending in the client, which retries it. A join cannot wait that way:
        the client would sit unjoined. So a refused join also closes the connection with
        1013 (try again later), which the kit's clients and page answer by reconnecting
        with backoff and joining again.
        """
        actions = self._refused(request, UNAVAILABLE)
        if isinstance(request, JoinRequest):
            actions.append(Close(request.conn, CLOSE_TRY_AGAIN_LATER, UNAVAILABLE_REASON))
        return actions

    def disconnect(self, conn: ConnId) -> list[Request]:
        """Forget ``conn``; return the request that frees its name, if it claimed one."""
        if conn in self._ghosts:
            self._ghosts.discard(conn)
            return []
        joining = self._joining.pop(conn, None)
        live = self._live.pop(conn, None)
        self._everyone = None
        name = live[0] if live else (joining.name if joining else None)
        return [] if name is None else [LeaveRequest(conn, name)]

    def apply(self, entry_id: str, fields: Mapping[str, str]) -> list[Action | Welcome]:
        """Return what this server's clients get for one log entry.

        Args:
            entry_id: The entry's id in the log; a message's id.
            fields: The entry, as the store wrote it (see this module's docstring).

        Returns:
            Actions for local connections, and a ``Welcome`` when the entry is the join
            of a local connection.
        """
        kind = fields.get("k")
        if kind == "m":
            return self._message(entry_id, fields)
        if kind == "l":
            self._online.pop(name_key(fields["name"]), None)
            return self._to_live(left_event(fields["name"]))
        if kind != "j":
            return []
        online = _online(fields.get("online", "[]"))
        self._online = {name_key(name): name for name in online}
        out: list[Action | Welcome] = []
        if fields.get("ghost_srv") == self.server:
            ghost = int(fields["ghost_conn"])
            if ghost in self._live:  # resumed: close the old connection, show no "left"
                del self._live[ghost]
                self._everyone = None
                self._ghosts.add(ghost)
                out.append(Close(ghost, CLOSE_TAKEN_OVER, CLOSE_REASONS[CLOSE_TAKEN_OVER]))
        if not fields.get("ghost_srv"):  # a takeover shows no "joined" either
            out.extend(self._to_live(joined_event(fields["name"])))
        conn = int(fields["conn"]) if fields.get("srv") == self.server else None
        if conn is not None and conn in self._joining:
            join = self._joining[conn]
            resumed = fields.get("resumed") == "1"
            out.append(Welcome(conn, join.last_id, entry_id, tuple(online), resumed))
        return out

    def welcome(
        self, welcome: Welcome, messages: Sequence[Message], *, reset: bool, epoch: str
    ) -> list[Action]:
        """Welcome a joiner with the history fetched for it; it is live from now on."""
        join = self._joining.pop(welcome.conn, None)
        if join is None:  # it went away while its history was fetched
            return []
        token = join.token if welcome.resumed and join.token else join.fresh_token
        self._live[welcome.conn] = (join.name, token)
        self._everyone = None
        event = welcome_event(
            join.name, token, epoch, welcome.online, replay=len(messages), reset=reset
        )
        return [
            Send((welcome.conn,), event),
            *(Send((welcome.conn,), message_event(message)) for message in messages),
        ]

    def typing(self, name: str) -> list[Action]:
        """Return the typing notice for every local client not joined under ``name``."""
        key = name_key(name)
        others = tuple(c for c, (n, _) in sorted(self._live.items()) if name_key(n) != key)
        return [Send(others, typing_event(name))] if others else []

    def _join(self, conn: ConnId, join: Join) -> JoinRequest:
        claimed = self._live[conn][0] if conn in self._live else None
        if claimed is None and conn in self._joining:
            claimed = self._joining[conn].name
        if claimed is not None:
            raise StateError("already_joined", f"You have already joined as {claimed!r}.")
        request = JoinRequest(
            conn, join.name, name_key(join.name), join.token, self._new_token(), join.last_id
        )
        self._joining[conn] = request
        return request

    def _refused(self, request: Request, error: ChatError) -> list[Action]:
        if isinstance(request, JoinRequest):
            self._joining.pop(request.conn, None)
            return [Send((request.conn,), error_event(error))]
        if isinstance(request, PostRequest):
            return [Send((request.conn,), error_event(error, cid=request.cid))]
        return []

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
            to = tuple(c for c, (n, _) in sorted(self._live.items()) if name_key(n) in keys)
            if to:
                out.append(Send(to, message_event(message)))
        return out

    def _to_live(self, event: Mapping[str, object]) -> list[Action | Welcome]:
        if not self._live:
            return []
        if self._everyone is None:
            self._everyone = tuple(sorted(self._live))
        return [Send(self._everyone, event)]


def message_from(entry_id: str, fields: Mapping[str, str]) -> Message:
    """Return the chat message held by a log entry of kind ``m``."""
    return Message(entry_id, fields["name"], fields["text"], float(fields["ts"]), fields.get("to"))


def _online(text: str) -> list[str]:
    names = json.loads(text)
    return sorted(names) if isinstance(names, list) else []  # Lua encodes {} for empty
