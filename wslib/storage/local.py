"""Keep a chat's log in this process, over a ``History`` in memory or in SQLite.

``LocalStore`` is the store of a server alone (or of servers in one process sharing a
``LocalBackplane``). It decides joins and sends as the Redis store's scripts do, appends
the same entries, and hands them to every server's ``LocalFeed`` in order. Who is online
and the joins and leaves live in memory; messages, dedupe pairs and tokens in the history.

A blocking history (SQLite) runs on one worker thread of its own, so a slow or locked disk
never stalls the event loop; its failures reach the caller as ``StoreError``, and the next
call tries again, so the chat comes back when the storage does.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import sqlite3
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from ..core.protocol import Message, name_key
from ..core.room import ConnId, JoinRequest, LeaveRequest, Outcome, PostRequest
from ..exceptions import StoreError
from .history import History
from .store import Entry

__all__ = ["LocalFeed", "LocalStore"]

T = TypeVar("T")


class LocalFeed:
    """Hand one server the entries of a ``LocalStore``, in the order they were appended."""

    def __init__(self) -> None:
        self._entries: deque[Entry] = deque()
        self._ready = asyncio.Event()

    def push(self, entry: Entry) -> None:
        """Queue one entry for the reader."""
        self._entries.append(entry)
        self._ready.set()

    async def read(self, block: float) -> list[Entry]:
        """Return the entries not read yet, in order, waiting up to ``block`` seconds."""
        await self.wait(block)
        return self.take()

    async def wait(self, block: float) -> None:
        """Return once an entry is waiting, or after ``block`` seconds."""
        if not self._entries:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(block):  # unlike wait_for, makes no extra task
                    await self._ready.wait()

    def take(self) -> list[Entry]:
        """Return the entries not read yet, in order, at once."""
        self._ready.clear()
        entries = list(self._entries)
        self._entries.clear()
        return entries


class LocalStore:
    """Keep the chat's log in this process.

    Usage::

        store = LocalStore(MemoryHistory())
        store = LocalStore(SqliteHistory("chat.sqlite3"), blocking=True)

    Args:
        history: Where messages, dedupe pairs and tokens are kept.
        blocking: Run the history's calls on a worker thread (for SQLite).
        clock: Returns the server time in seconds for each message's ``ts``.
    """

    def __init__(
        self,
        history: History,
        *,
        blocking: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._history = history
        self._clock = clock
        self._worker = (
            ThreadPoolExecutor(1, thread_name_prefix="wslib-history") if blocking else None
        )
        self._online: dict[str, tuple[str, str, ConnId]] = {}  # key -> name, server, conn
        self._feeds: list[LocalFeed] = []
        self._lock = asyncio.Lock()  # each request is atomic, as a Redis script is
        self._newest = ""  # the newest message id, so other entries sort among messages
        self._count = 0

    def feed(self) -> LocalFeed:
        """Return a new reader of every entry appended from now on."""
        feed = LocalFeed()
        self._feeds.append(feed)
        return feed

    def unfeed(self, feed: LocalFeed) -> None:
        """Stop handing entries to ``feed``."""
        if feed in self._feeds:
            self._feeds.remove(feed)

    async def open(self) -> str:
        """Read where the history's ids stand; return its epoch."""
        self._newest = await self._call(self._history.newest)
        return self._history.epoch

    async def join(self, request: JoinRequest, server: str) -> Outcome:
        """Claim the name; return ``"ok"``, ``"again"`` (already done) or ``"taken"``."""
        async with self._lock:
            holder = self._online.get(request.key)
            if holder is not None and holder[1:] == (server, request.conn):
                return "again"

            def claim() -> tuple[Outcome, bool]:  # one trip to the worker thread
                saved = self._history.token(request.key)
                resumed = (
                    request.token is not None
                    and saved is not None
                    and hmac.compare_digest(request.token.encode(), saved.encode())
                )
                if holder is not None and (not resumed or holder[0] != request.name):
                    return "taken", False
                token = saved if resumed and saved is not None else request.fresh_token
                self._history.set_token(request.key, token)  # a resume is a use, too
                return "ok", resumed

            outcome, resumed = await self._call(claim)
            if outcome != "ok":
                return outcome
            ghost = ("", "") if holder is None else (holder[1], str(holder[2]))
            self._online[request.key] = (request.name, server, request.conn)
            online = json.dumps([name for name, _, _ in self._online.values()])
            self._push(
                self._between(),
                {
                    "k": "j",
                    "name": request.name,
                    "srv": server,
                    "conn": str(request.conn),
                    "resumed": "1" if resumed else "0",
                    "ghost_srv": ghost[0],
                    "ghost_conn": ghost[1],
                    "online": online,
                },
            )
            return "ok"

    async def post(self, request: PostRequest, server: str) -> tuple[Outcome, str]:
        """Append a message; return ``("ok", id)``, ``("dup", id)`` or ``("nouser", "")``."""
        async with self._lock:
            holder = None if request.to is None else self._online.get(name_key(request.to))
            to = None if holder is None else holder[0]

            def post() -> tuple[Outcome, str | Message]:  # one trip to the worker thread
                earlier = self._history.find(request.identity, request.cid)
                if earlier is not None:
                    return "dup", earlier
                if request.to is not None and to is None:
                    return "nouser", ""
                return "ok", self._history.append(
                    request.name,
                    request.text,
                    self._clock(),
                    identity=request.identity,
                    cid=request.cid,
                    to=to,
                )

            outcome, result = await self._call(post)
            if not isinstance(result, Message):
                return outcome, result
            message = result
            self._newest = message.id
            fields = {
                "k": "m",
                "name": message.name,
                "text": message.text,
                "ts": repr(message.ts),
                "cid": request.cid,
                "srv": server,
                "conn": str(request.conn),
            }
            if to is not None:
                fields["to"] = to
            self._push(message.id, fields)
            return "ok", message.id

    async def leave(self, request: LeaveRequest, server: str) -> str:
        """Free the name if ``request.conn`` on ``server`` still holds it; log the leave.

        Returns:
            The ``left`` entry's id, or ``""`` if ``request.conn`` did not hold the name.
        """
        async with self._lock:
            key = name_key(request.name)
            holder = self._online.get(key)
            if holder is None or holder[1:] != (server, request.conn):
                return ""
            del self._online[key]
            entry_id = self._between()
            self._push(entry_id, {"k": "l", "name": holder[0]})
            return entry_id

    async def history(
        self, last_id: str | None, upto: str, count: int
    ) -> tuple[list[Message], bool]:
        """Return the public messages a joiner gets up to entry ``upto``, and ``reset``."""
        top = upto.partition(".")[0]  # a join's entry id is the newest message id + ".N"

        def read() -> tuple[list[Message], bool]:
            if last_id is not None:
                missed = self._history.since(last_id, top)
                if missed is not None:
                    return missed, False
            return self._history.recent(count, top), last_id is not None

        return await self._call(read)

    async def close(self, *, history: bool) -> None:
        """Let queued calls finish; close the history too if ``history`` (SQLite)."""
        close = getattr(self._history, "close", None)
        if history and callable(close):
            with contextlib.suppress(StoreError):
                await self._call(close)
        if self._worker is not None:
            self._worker.shutdown(wait=False)

    async def _call(self, function: Callable[..., T], *args: object) -> T:
        try:
            if self._worker is None:
                return function(*args)
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._worker, function, *args)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"the chat's history cannot be used: {exc}") from exc

    def _between(self) -> str:
        self._count += 1
        return f"{self._newest}.{self._count}"

    def _push(self, entry_id: str, fields: dict[str, str]) -> None:
        for feed in self._feeds:
            feed.push((entry_id, fields))  # never changed after: no copy per server
