"""Link one or several servers so that they share the relay and the chat.

A server hands every relayed message and every chat frame to its *backplane*, and the
backplane hands back, to each linked server, what that server must write to its own
connections. Two backplanes implement the same ``Backplane`` protocol:

- ``LocalBackplane`` (the default) links servers in this process. Each ``Server`` gets a
  private one, so a single server behaves exactly as it always did; several servers that
  are given the same instance share one ``Room``, and so one chat.
- ``RedisBackplane`` (in ``wslib.redis_backplane``) links servers in any number of
  processes through a Redis server.

A server uses its backplane in these steps:

1. ``room = await backplane.attach(server, Room(...))`` once it listens; use that room;
2. ``await backplane.relay(server, payload)`` after fanning out a relayed message locally;
3. ``await backplane.receive(server, conn, data)`` for each chat frame, and
   ``await backplane.disconnect(server, conn)`` once when a chat connection ends;
4. ``await backplane.detach(server)`` after its connections are closed.

The backplane calls back ``server.deliver(actions)`` with chat actions (each server writes
only to the connections it holds), ``server.relay_in(payload)`` with a message relayed by
another server, and ``server.close_chat(code, reason)`` when chat must stop for a while.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ..core.gate import BackplaneStatus
from ..core.room import Action, ConnId, Room

__all__ = ["Backplane", "BackplaneStatus", "LocalBackplane", "Node", "open_backplane"]


class Node(Protocol):
    """What a backplane needs from a server it links (``wslib.Server`` has all of it)."""

    def deliver(self, actions: Sequence[Action], *, log: bool = True) -> None:
        """Carry out the chat actions that concern this server's own connections."""
        ...

    def relay_in(self, payload: str | bytes) -> None:
        """Send a message relayed by another server to every local relay client."""
        ...

    def close_chat(self, code: int, reason: str) -> None:
        """Close every chat connection of this server with ``code``."""
        ...


class Backplane(Protocol):
    """Carry relay messages and chat events between the servers it links."""

    @property
    def status(self) -> BackplaneStatus:
        """Return ``"ok"``, or ``"degraded"`` while chat cannot be served."""
        ...

    async def attach(self, node: Node, room: Room) -> Room:
        """Link ``node``; return the room it should report (``room`` unless shared)."""
        ...

    async def detach(self, node: Node) -> None:
        """Unlink ``node``; it receives nothing more."""
        ...

    async def relay(self, node: Node, payload: str | bytes) -> None:
        """Pass a message relayed by ``node`` on to the relay clients of the other servers."""
        ...

    async def receive(self, node: Node, conn: ConnId, data: str | bytes) -> None:
        """Handle one chat frame that ``node`` read from its connection ``conn``."""
        ...

    async def disconnect(self, node: Node, conn: ConnId) -> str | None:
        """Handle the end of chat connection ``conn``; return the name that left, if any."""
        ...


class LocalBackplane:
    """Link servers in this process through one shared ``Room``.

    Usage::

        hub = LocalBackplane()
        a = wslib.start(port=0, name="a", backplane=hub)
        b = wslib.start(port=0, name="b", backplane=hub)   # one chat on two ports

    The room is the first attached server's; it is dropped when the last server detaches,
    so a server restarted alone starts with a fresh room, as it always did. Connection ids
    must be unique across the linked servers (``Server`` numbers them process-wide).
    """

    def __init__(self) -> None:
        self._nodes: list[Node] = []
        self._room: Room | None = None

    @property
    def status(self) -> BackplaneStatus:
        """Return ``"ok"``: an in-process backplane cannot go away."""
        return "ok"

    async def attach(self, node: Node, room: Room) -> Room:
        """Link ``node``; return the shared room (``room``, if it is the first)."""
        if self._room is None:
            self._room = room
        self._nodes.append(node)
        return self._room

    async def detach(self, node: Node) -> None:
        """Unlink ``node``; forget the room once no server is left."""
        if node in self._nodes:
            self._nodes.remove(node)
        if not self._nodes:
            self._room = None

    async def relay(self, node: Node, payload: str | bytes) -> None:
        """Hand ``payload`` to every other linked server's relay clients."""
        for other in self._nodes:
            if other is not node:
                other.relay_in(payload)

    async def receive(self, node: Node, conn: ConnId, data: str | bytes) -> None:
        """Run the frame through the shared room and deliver what it returns."""
        self._deliver(node, self._shared.receive(conn, data))

    async def disconnect(self, node: Node, conn: ConnId) -> str | None:
        """Tell the shared room, deliver the ``left`` event; return the name if it left."""
        room = self._shared
        name = room.name(conn)
        self._deliver(node, room.disconnect(conn))
        return name if name is not None and name not in room.online else None

    @property
    def _shared(self) -> Room:
        if self._room is None:
            raise RuntimeError("no server is attached to this backplane")
        return self._room

    def _deliver(self, origin: Node, actions: list[Action]) -> None:
        # Every server sees every action and keeps those for its own connections; only
        # the server that read the frame writes the log lines, so each is written once.
        origin.deliver(actions)
        for other in self._nodes:
            if other is not origin:
                other.deliver(actions, log=False)


def open_backplane(backplane: Backplane | None, redis: str | None) -> Backplane:
    """Return ``backplane``, else a ``RedisBackplane`` for the URL ``redis``, else a local one.

    Raises:
        ValueError: If both are given.
        ImportError: If ``redis`` is given but redis-py is not installed.
    """
    if backplane is not None and redis is not None:
        raise ValueError("give either a backplane or a redis URL, not both")
    if backplane is not None:
        return backplane
    if redis is None:
        return LocalBackplane()
    from .redis_backplane import RedisBackplane  # redis-py is optional: import it only now

    return RedisBackplane(redis)
