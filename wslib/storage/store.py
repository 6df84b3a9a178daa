"""Say what every chat store does, so that one engine runs over memory, SQLite or Redis.

A store keeps the chat's shared, ordered log and decides what only it can decide: is a name
free, was a ``cid`` seen from this identity, is a recipient online. Each answer is appended
to the log as an entry (see ``wslib.core.room``); every server reads the log through its own
``Feed``, in order. ``wslib.storage.local`` keeps the log in this process (over memory or
SQLite), ``wslib.storage.redis_store`` in a Redis Stream.
"""

from __future__ import annotations

from typing import Protocol

from ..core.protocol import Message
from ..core.room import JoinRequest, LeaveRequest, Outcome, PostRequest

__all__ = ["Entry", "Feed", "Store"]

#: One log entry: its id (a message's id) and its fields.
Entry = tuple[str, dict[str, str]]


class Feed(Protocol):
    """Read one server's way through the log."""

    async def read(self, block: float) -> list[Entry]:
        """Return the entries not read yet, in order, waiting up to ``block`` seconds."""
        ...


class Store(Protocol):
    """Keep the log; each method is atomic and may raise the store's failure exceptions."""

    async def open(self) -> str:
        """Make the store ready (once or again); return its epoch."""
        ...

    async def join(self, request: JoinRequest, server: str) -> Outcome:
        """Claim the name; return ``"ok"``, ``"again"`` (already done) or ``"taken"``."""
        ...

    async def post(self, request: PostRequest, server: str) -> tuple[Outcome, str]:
        """Append a message; return ``("ok", id)``, ``("dup", id)`` or ``("nouser", "")``."""
        ...

    async def leave(self, request: LeaveRequest, server: str) -> str:
        """Free the name if ``request.conn`` on ``server`` still holds it; log the leave.

        Returns:
            The ``left`` entry's id, or ``""`` if ``request.conn`` did not hold the name.
        """
        ...

    async def history(
        self, last_id: str | None, upto: str, count: int
    ) -> tuple[list[Message], bool]:
        """Return the public messages a joiner gets up to entry ``upto``, and ``reset``.

        With ``last_id``: every public message after it, if none of them was dropped.
        Otherwise (or with no ``last_id``) the newest ``count``; ``reset`` is true if a
        ``last_id`` was given.
        """
        ...
