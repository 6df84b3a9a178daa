"""Run the rules of one chat room as plain method calls that return what to send to whom.

``Room`` never touches a socket. A server adapter numbers its connections and, for each one:

1. calls ``room.receive(conn, data)`` with every frame it reads (``str`` for text, ``bytes``
   for binary) and carries out the returned actions in order;
2. calls ``room.disconnect(conn)`` once when the connection ends, for any reason, and
   carries out those actions too.

Carrying out ``Send(to, event)`` means encoding ``event`` once with ``protocol.encode`` and
writing it to each connection in ``to``; ``Close(conn, code, reason)`` means closing that
connection with that code. The room keeps no per-connection state beyond a name, so an
error for one client never changes anything for another.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..exceptions import ChatError, StateError
from ..storage.history import History, MemoryHistory
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

__all__ = ["Action", "Close", "ConnId", "Room", "Send"]

ConnId = int


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


class Room:
    """Keep who is online, stamp and fan out messages, and replay history on join.

    Usage::

        room = Room()
        room.receive(1, '{"type": "join", "name": "alice"}')  # [Send((1,), welcome)]
        room.receive(1, '{"type": "send", "cid": "c1", "text": "hi"}')  # ack, message

    Args:
        history: Where messages, ids, dedupe and tokens are kept; a new ``MemoryHistory``
            by default. The room does not close it.
        replay: How many recent messages a newcomer is sent after its welcome.
        clock: Returns the server time in seconds for each message's ``ts``.
        new_token: Returns a fresh, unguessable resume token.

    Raises:
        ValueError: If ``replay`` is negative.
    """

    def __init__(
        self,
        history: History | None = None,
        *,
        replay: int = 100,
        clock: Callable[[], float] = time.time,
        new_token: Callable[[], str] = new_token,
    ) -> None:
        if replay < 0:
            raise ValueError("replay must not be negative")
        self._history: History = MemoryHistory() if history is None else history
        self._replay = replay
        self._clock = clock
        self._new_token = new_token
        self._names: dict[ConnId, str] = {}  # joined connection -> name as shown
        self._conns: dict[str, ConnId] = {}  # name_key(name) -> joined connection
        self._ghosts: set[ConnId] = set()  # taken over, waiting for the adapter to close

    @property
    def replay(self) -> int:
        """Return how many recent messages a newcomer is sent."""
        return self._replay

    @property
    def online(self) -> list[str]:
        """Return the names of everyone online, sorted."""
        return sorted(self._names.values())

    def name(self, conn: ConnId) -> str | None:
        """Return the name ``conn`` joined as, or ``None`` if it has not joined.

        Args:
            conn: A connection id.

        Returns:
            The name, or ``None``.
        """
        return self._names.get(conn)

    def receive(self, conn: ConnId, data: str | bytes) -> list[Action]:
        """Handle one frame from ``conn`` and return what to send to whom.

        Args:
            conn: The connection the frame came from.
            data: The frame's payload: ``str`` for a text frame, ``bytes`` for binary.

        Returns:
            The actions to carry out, in order. A refused frame yields one ``error`` event
            for ``conn`` alone. Frames from a connection that was taken over yield nothing.
        """
        if conn in self._ghosts:
            return []
        obj: Mapping[str, object] = {}
        try:
            obj = decode(data)
            event = parse(obj)
            if isinstance(event, Join):
                return self._join(conn, event)
            if conn not in self._names:
                raise StateError("not_joined", "Join the chat before sending anything else.")
            if isinstance(event, Post):
                return self._post(conn, event)
            return self._to_others(conn, typing_event(self._names[conn]))
        except ChatError as error:
            return [Send((conn,), error_event(error, cid=refused_cid(obj)))]

    def disconnect(self, conn: ConnId) -> list[Action]:
        """Forget ``conn`` and return the ``left`` event for the others, if it had joined.

        Args:
            conn: The connection that ended.

        Returns:
            The actions to carry out; none if ``conn`` never joined or was taken over.
        """
        if conn in self._ghosts:
            self._ghosts.discard(conn)
            return []
        name = self._names.pop(conn, None)
        if name is None:
            return []
        del self._conns[name_key(name)]
        return self._to_others(conn, left_event(name, self.online))

    def _join(self, conn: ConnId, join: Join) -> list[Action]:
        if conn in self._names:
            raise StateError("already_joined", f"You have already joined as {self._names[conn]!r}.")
        key = name_key(join.name)
        token = self._history.token(key)
        resumed = (
            join.token is not None
            and token is not None
            and hmac.compare_digest(join.token.encode(), token.encode())
        )
        actions: list[Action] = []
        ghost = self._conns.get(key)
        if ghost is not None:
            if not resumed or self._names[ghost] != join.name:
                raise StateError("name_taken", f"The name {join.name!r} is already in use.")
            # Resume takes the name over at once: the old connection is usually a ghost
            # whose network died before the server noticed.
            del self._names[ghost]
            self._ghosts.add(ghost)
            actions.append(Close(ghost, CLOSE_TAKEN_OVER, CLOSE_REASONS[CLOSE_TAKEN_OVER]))
        if not resumed or token is None:
            token = self._new_token()
            self._history.set_token(key, token)
        self._names[conn] = join.name
        self._conns[key] = conn
        messages, reset = self._missed(join.last_id)
        welcome = welcome_event(
            join.name,
            token,
            self._history.epoch,
            self.online,
            replay=len(messages),
            reset=reset,
        )
        actions.append(Send((conn,), welcome))
        actions.extend(Send((conn,), message_event(message)) for message in messages)
        if ghost is None:
            actions.extend(self._to_others(conn, joined_event(join.name, self.online)))
        return actions

    def _missed(self, last_id: str | None) -> tuple[list[Message], bool]:
        if last_id is not None:
            missed = self._history.since(last_id)
            if missed is not None:
                return missed, False
        return self._history.recent(self._replay), last_id is not None

    def _post(self, conn: ConnId, post: Post) -> list[Action]:
        name = self._names[conn]
        earlier = self._history.find(name, post.cid)
        if earlier is not None:  # a retry, perhaps after a reconnect: acknowledge, don't show
            return [Send((conn,), ack_event(post.cid, earlier, duplicate=True))]
        if post.to is None:
            to = tuple(sorted(self._names))
            message = self._history.append(name, post.text, self._clock(), cid=post.cid)
        else:
            target = self._conns.get(name_key(post.to))
            if target is None:
                raise StateError("no_such_user", f"No one named {post.to!r} is online.")
            to = tuple(sorted({conn, target}))
            message = self._history.append(
                name, post.text, self._clock(), cid=post.cid, to=self._names[target]
            )
        ack = ack_event(post.cid, message.id, duplicate=False)
        return [Send((conn,), ack), Send(to, message_event(message))]

    def _to_others(self, conn: ConnId, event: Mapping[str, object]) -> list[Action]:
        others = tuple(sorted(other for other in self._names if other != conn))
        return [Send(others, event)] if others else []
