"""Link one or several servers so that they share the relay and the chat.

A server hands every relayed message and every chat frame to its *backplane*, and the
backplane hands back, to each linked server, what that server must write to its own
connections. Two backplanes implement the same ``Backplane`` protocol, and both run the chat
through the same ``ChatLink`` (``wslib.server.chat``), only over different stores:

- ``LocalBackplane`` (the default) links servers in this process over a ``LocalStore``
  (memory or SQLite). Each ``Server`` gets a private one, so a single server stands alone;
  several servers given the same instance share the first one's store, and so one chat.
- ``RedisBackplane`` (in ``wslib.server.redis_backplane``) links servers in any number of
  processes through a Redis server.

A server uses its backplane in these steps:

1. ``room = await backplane.attach(server, store, replay)`` once it listens;
2. ``await backplane.relay(server, payload)`` after fanning out a relayed message locally;
3. ``await backplane.receive(server, conn, data)`` for each chat frame, and
   ``await backplane.disconnect(server, conn)`` once when a chat connection ends;
4. ``await backplane.detach(server)`` after its connections are closed.

The backplane calls back ``server.deliver(actions)`` with chat actions (each server writes
only to the connections it holds), ``server.relay_in(payload)`` with a message relayed by
another server, and ``server.close_chat(code, reason)`` when chat must stop for a while.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from typing import Protocol

from ..core.gate import BackplaneStatus
from ..core.room import ConnId, Room
from ..exceptions import StoreError
from ..storage.local import LocalFeed, LocalStore
from .chat import ChatLink, Node

__all__ = ["Backplane", "LocalBackplane", "Node"]

logger = logging.getLogger("wslib.server")

_local_ids = itertools.count(1)  # server ids in local logs: unique in the process
_QUIET = 30.0  # seconds between two warnings about the same storage failure


class Backplane(Protocol):
    """Carry relay messages and chat events between the servers it links."""

    @property
    def status(self) -> BackplaneStatus:
        """Return ``"ok"``, or ``"degraded"`` while chat cannot be served."""
        ...

    async def attach(self, node: Node, store: LocalStore, replay: int) -> Room:
        """Link ``node``, whose own store is ``store``; return the room that speaks for it."""
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
    """Link servers in this process through one ``LocalStore``.

    Usage::

        hub = LocalBackplane()
        a = wslib.start(port=0, name="a", backplane=hub)
        b = wslib.start(port=0, name="b", backplane=hub)   # one chat on two ports

    The store is the first attached server's; it is dropped when the last server detaches,
    so a server restarted alone starts with its own store, as it always did.

    A storage failure (a locked or read-only database) refuses that one event with the
    ``unavailable`` error; everyone else chats on, and the next event tries again.

    The linked servers run on one event loop (``wslib.start`` puts every server on the kit's
    one loop): the backplane calls each of them directly. Servers on different loops, in
    other threads or processes, link through ``RedisBackplane``; attaching one here raises.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._store: LocalStore | None = None
        self._links: dict[Node, tuple[ChatLink, LocalFeed, asyncio.Task[None]]] = {}
        self._warned = 0.0

    @property
    def status(self) -> BackplaneStatus:
        """Return ``"ok"``: an in-process backplane cannot go away."""
        return "ok"

    async def attach(self, node: Node, store: LocalStore, replay: int) -> Room:
        """Link ``node``; return its room, on the shared store (``store``, if it is the first).

        Raises:
            RuntimeError: ``node`` runs on another event loop than the servers linked already.
        """
        loop = asyncio.get_running_loop()
        if not self._links:
            self._loop = loop
        elif loop is not self._loop:
            raise RuntimeError(
                "a LocalBackplane links servers on one event loop; this server runs on another"
                " (another thread): link servers across threads or processes with"
                " RedisBackplane (--redis)"
            )
        if self._store is None:
            self._store = store
        shared = self._store
        link = ChatLink(
            node,
            Room(f"local{next(_local_ids)}"),
            shared,
            replay=replay,
            typing=self._typing,
            failures=(StoreError,),
            failed=self._failed,
        )
        link.epoch = await shared.open()
        feed = shared.feed()
        task = asyncio.get_running_loop().create_task(self._pump(link, feed), name="wslib chat")
        self._links[node] = (link, feed, task)
        return link.room

    async def detach(self, node: Node) -> None:
        """Unlink ``node``; forget the store once no server is left."""
        held = self._links.pop(node, None)
        if held is not None:
            link, feed, task = held
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            link.release()
            if self._store is not None:
                self._store.unfeed(feed)
        if not self._links:
            self._store = None

    async def relay(self, node: Node, payload: str | bytes) -> None:
        """Hand ``payload`` to every other linked server's relay clients."""
        for other in self._links:
            if other is not node:
                other.relay_in(payload)

    async def receive(self, node: Node, conn: ConnId, data: str | bytes) -> None:
        """Run the frame through ``node``'s room and the shared store."""
        await self._link(node).receive(conn, data)

    async def disconnect(self, node: Node, conn: ConnId) -> str | None:
        """Free the name ``conn`` held; return it if it left."""
        return await self._link(node).disconnect(conn)

    def _link(self, node: Node) -> ChatLink:
        held = self._links.get(node)
        if held is None:
            raise RuntimeError("this server is not attached to the backplane")
        return held[0]

    async def _typing(self, name: str) -> None:
        for link, _, _ in self._links.values():
            link.typing_in(name)

    def _failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._warned >= _QUIET:  # one line per outage, not one per event
            self._warned = now
            logger.warning("chat storage failed (events get 'unavailable'): %s", exc)

    async def _pump(self, link: ChatLink, feed: LocalFeed) -> None:
        never = asyncio.Event()  # the task is cancelled instead: no blocking reads here
        while True:
            try:
                await link.pump(feed, never, 3600.0)
            except Exception:  # a bug: keep the chat going with the next entry, loudly
                logger.exception("chat: applying a log entry failed")
