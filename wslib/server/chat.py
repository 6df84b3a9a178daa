"""Drive one server's ``Room`` over a store: the one code path for every kind of chat.

A ``ChatLink`` belongs to one server and one store (``wslib.storage``: memory, SQLite or
Redis). It feeds the room each frame, performs the room's requests on the store, applies the
log's entries in order and writes what the room returns through the server (a ``Node``).
Both backplanes use it: ``LocalBackplane`` for a server alone (or several in one process),
``RedisBackplane`` for servers linked through Redis.

Each connection's events take effect in the order it sent them: ``receive`` returns once the
store has answered and, for a join or a new message, once this server has applied its entry,
so a client's next frame never overtakes its welcome or its ack.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from ..core.protocol import Message
from ..core.room import (
    Action,
    ConnId,
    JoinRequest,
    LeaveRequest,
    PostRequest,
    Request,
    Room,
    TypingRequest,
    Welcome,
)
from ..storage.local import LocalFeed
from ..storage.store import Entry, Feed, Store

__all__ = ["ChatLink", "Node"]

_REMEMBERED = 4096  # entry ids applied recently: a send's entry may be applied before it returns


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


class ChatLink:
    """Run one server's share of the chat against a store.

    Args:
        node: The server whose connections the room speaks for.
        room: Its room.
        store: The store that keeps the log.
        replay: How many recent messages a newcomer is sent.
        typing: Tells every linked server that a name is typing.
        failures: The exceptions that mean "the store cannot be reached now".
        failed: Called with each such exception, after the sender got ``unavailable``.
    """

    def __init__(
        self,
        node: Node,
        room: Room,
        store: Store,
        *,
        replay: int,
        typing: Callable[[str], Awaitable[None]],
        failures: tuple[type[BaseException], ...],
        failed: Callable[[BaseException], None],
    ) -> None:
        self.node = node
        self.room = room
        self.store = store
        self.replay = replay
        self.epoch = ""
        self._typing = typing
        self._failures = failures
        self._failed = failed
        self._local: LocalFeed | None = None  # a feed in this process: applied at once
        self._applying = asyncio.Lock()  # one batch of entries at a time, in log order
        self._applied: OrderedDict[str | ConnId, None] = OrderedDict()  # recently settled
        self._waiting: dict[str | ConnId, asyncio.Future[None]] = {}

    async def receive(self, conn: ConnId, data: str | bytes) -> None:
        """Handle one frame from ``conn``; errors go back to ``conn`` only."""
        for item in self.room.receive(conn, data):
            if isinstance(item, JoinRequest | PostRequest | TypingRequest | LeaveRequest):
                await self.perform(item)
            else:
                self.node.deliver([item])

    async def disconnect(self, conn: ConnId) -> str | None:
        """Free the name ``conn`` held; return it if it left (it was not taken over)."""
        self._settle(conn)
        left = None
        for request in self.room.disconnect(conn):
            if await self.perform(request):
                left = request.name
        return left

    async def perform(self, request: Request) -> bool:
        """Perform one request on the store; return whether a leave freed the name."""
        try:
            if isinstance(request, JoinRequest):
                self._applied.pop(request.conn, None)  # its welcome is still to come
                outcome = await self.store.join(request, self.room.server)
                self._deliver(self.room.settle(request, outcome))
                if outcome in ("ok", "again"):
                    await self._drain()
                    await self._wait(request.conn)
            elif isinstance(request, PostRequest):
                outcome, message_id = await self.store.post(request, self.room.server)
                self._deliver(self.room.settle(request, outcome, message_id))
                if outcome == "ok":
                    await self._drain()
                    await self._wait(message_id)
            elif isinstance(request, TypingRequest):
                await self._typing(request.name)
            else:
                entry_id = await self.store.leave(request, self.room.server)
                if entry_id:
                    await self._drain()
                    await self._wait(entry_id)
                    return True
        except self._failures as exc:
            self._deliver(self.room.unavailable(request))
            self._failed(exc)
        return False

    async def apply(self, entries: Sequence[Entry]) -> None:
        """Apply log entries in order; fetch a joiner's history before the next entry."""
        for entry_id, fields in entries:
            batch: list[Action] = []  # one batch per entry: the server logs an acked message
            for item in self.room.apply(entry_id, fields):
                if isinstance(item, Welcome):
                    self._deliver(batch)
                    batch = []
                    messages, reset = await self._history(item)
                    self._deliver(self.room.welcome(item, messages, reset=reset, epoch=self.epoch))
                    self._settle(item.conn)
                else:
                    batch.append(item)
            self._deliver(batch)
            self._settle(entry_id)

    async def pump(self, feed: Feed, halt: asyncio.Event, poll: float) -> None:
        """Read and apply the log until ``halt`` is set, waking every ``poll`` seconds.

        A feed in this process (``LocalFeed``) is also drained right after each of this
        server's own requests, so its clients' answers need no extra turn of the loop.
        """
        if isinstance(feed, LocalFeed):
            self._local = feed
            while not halt.is_set():
                await feed.wait(poll)
                await self._drain()
        else:
            while not halt.is_set():
                entries = await feed.read(poll)
                async with self._applying:
                    await self.apply(entries)

    async def _drain(self) -> None:
        if self._local is not None:
            async with self._applying:  # taken under the lock: never applied out of order
                await self.apply(self._local.take())

    async def _history(self, welcome: Welcome) -> tuple[list[Message], bool]:
        try:
            return await self.store.history(welcome.last_id, welcome.upto, self.replay)
        except self._failures as exc:  # welcome anyway, and say that history is missing
            self._failed(exc)
            return [], True

    def typing_in(self, name: str) -> None:
        """Deliver a typing notice from any linked server to this server's clients."""
        actions = self.room.typing(name)
        if actions:
            self.node.deliver(actions)

    def _deliver(self, actions: list[Action]) -> None:
        if actions:
            self.node.deliver(actions)

    def release(self) -> None:
        """Let every waiting ``receive`` return: the log will not be read for a while."""
        for future in self._waiting.values():
            if not future.done():
                future.set_result(None)
        self._waiting.clear()

    async def _wait(self, key: str | ConnId) -> None:
        if key in self._applied:
            return
        future = self._waiting.get(key)
        if future is None:
            future = self._waiting[key] = asyncio.get_running_loop().create_future()
        await future

    def _settle(self, key: str | ConnId) -> None:
        self._applied[key] = None
        if len(self._applied) > _REMEMBERED:
            self._applied.popitem(last=False)
        future = self._waiting.pop(key, None)
        if future is not None and not future.done():
            future.set_result(None)
