"""Keep chat history, message ids, send dedupe and resume tokens in memory or in SQLite.

A ``Room`` talks to its store only through the ``History`` protocol, and treats every id as
an opaque string that only the store may compare. Both stores here write ids as
``f"{epoch}-{seq:012d}"``, where the epoch is a random string made when the store is created
(``SqliteHistory`` keeps it in the file, so ids stay valid across a restart). A store built
on Redis Streams could use stream ids instead without changing ``Room``.

Private messages take an id from the same sequence, so ids stay ordered, but they are not
kept for replay.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
from collections import OrderedDict, deque
from types import TracebackType
from typing import Protocol, Self

from ..core.protocol import Message
from ..exceptions import StoreError

__all__ = ["History", "MemoryHistory", "SqliteHistory"]

_SCHEMA = 1


class History(Protocol):
    """Store what a chat room must remember; every method is synchronous and does no network.

    ``since`` is the contract that makes resume exact: it returns every public message newer
    than ``last_id``, or ``None`` when it cannot (the id is from another epoch, unknown, or
    some message after it was already dropped), so the room can say "history reset".
    """

    @property
    def epoch(self) -> str:
        """Return the string that changes whenever the id sequence starts over."""
        ...

    def append(
        self, name: str, text: str, ts: float, *, cid: str, to: str | None = None
    ) -> Message:
        """Assign the next id, remember ``(name, cid)`` for dedupe, keep the message if public."""
        ...

    def find(self, name: str, cid: str) -> str | None:
        """Return the id already given to ``(name, cid)``, or ``None``."""
        ...

    def recent(self, count: int) -> list[Message]:
        """Return up to ``count`` newest public messages, oldest first."""
        ...

    def since(self, last_id: str) -> list[Message] | None:
        """Return the public messages after ``last_id``, or ``None`` if that cannot be exact."""
        ...

    def token(self, key: str) -> str | None:
        """Return the current resume token for the name key ``key``, or ``None``."""
        ...

    def set_token(self, key: str, token: str) -> None:
        """Make ``token`` the only valid resume token for the name key ``key``."""
        ...


def _new_epoch() -> str:
    return secrets.token_hex(4)


def _format_id(epoch: str, seq: int) -> str:
    return f"{epoch}-{seq:012d}"


def _parse_id(epoch: str, message_id: str) -> int | None:
    """Return the sequence number in ``message_id`` if it is one of this epoch's ids."""
    head, _, digits = message_id.rpartition("-")
    if head != epoch or not (digits.isascii() and digits.isdigit()):
        return None
    seq = int(digits)
    return seq if _format_id(epoch, seq) == message_id else None


def _check_sizes(limit: int, dedupe: int) -> None:
    if limit < 0 or dedupe < 0:
        raise ValueError("limit and dedupe must not be negative")


class MemoryHistory:
    """Keep history in this process only; everything is lost when it ends.

    Args:
        limit: How many public messages to keep for replay and resume.
        dedupe: How many recent ``(name, cid)`` pairs to remember.
        epoch: A fixed epoch, for tests; a random one by default.

    Raises:
        ValueError: If ``limit`` or ``dedupe`` is negative.
    """

    def __init__(
        self, limit: int = 1000, *, dedupe: int = 10_000, epoch: str | None = None
    ) -> None:
        _check_sizes(limit, dedupe)
        self._epoch = epoch or _new_epoch()
        self._limit = limit
        self._dedupe_limit = dedupe
        self._messages: deque[tuple[int, Message]] = deque()
        self._seen: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._tokens: dict[str, str] = {}
        self._last_seq = 0
        self._evicted = 0  # highest seq of a public message dropped to respect ``limit``

    @property
    def epoch(self) -> str:
        """Return this store's epoch."""
        return self._epoch

    def append(
        self, name: str, text: str, ts: float, *, cid: str, to: str | None = None
    ) -> Message:
        """Assign the next id, remember ``(name, cid)`` for dedupe, keep the message if public."""
        self._last_seq += 1
        message = Message(_format_id(self._epoch, self._last_seq), name, text, ts, to)
        self._seen[name, cid] = message.id
        while len(self._seen) > self._dedupe_limit:
            self._seen.popitem(last=False)
        if to is None:
            self._messages.append((self._last_seq, message))
            while len(self._messages) > self._limit:
                self._evicted = self._messages.popleft()[0]
        return message

    def find(self, name: str, cid: str) -> str | None:
        """Return the id already given to ``(name, cid)``, or ``None``."""
        return self._seen.get((name, cid))

    def recent(self, count: int) -> list[Message]:
        """Return up to ``count`` newest public messages, oldest first."""
        if count <= 0:
            return []
        return [message for _, message in list(self._messages)[-count:]]

    def since(self, last_id: str) -> list[Message] | None:
        """Return the public messages after ``last_id``, or ``None`` if that cannot be exact."""
        seq = _parse_id(self._epoch, last_id)
        if seq is None or seq > self._last_seq or seq < self._evicted:
            return None
        return [message for number, message in self._messages if number > seq]

    def token(self, key: str) -> str | None:
        """Return the current resume token for the name key ``key``, or ``None``."""
        return self._tokens.get(key)

    def set_token(self, key: str, token: str) -> None:
        """Make ``token`` the only valid resume token for the name key ``key``."""
        self._tokens[key] = token


_TABLES = """
CREATE TABLE IF NOT EXISTS state (
    id INTEGER PRIMARY KEY CHECK (id = 0), schema INTEGER NOT NULL, epoch TEXT NOT NULL,
    last_seq INTEGER NOT NULL, evicted INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY, name TEXT NOT NULL, text TEXT NOT NULL, ts REAL NOT NULL);
CREATE TABLE IF NOT EXISTS dedupe (
    name TEXT NOT NULL, cid TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (name, cid));
CREATE INDEX IF NOT EXISTS dedupe_seq ON dedupe (seq);
CREATE TABLE IF NOT EXISTS tokens (key TEXT PRIMARY KEY, token TEXT NOT NULL);
"""


class SqliteHistory:
    """Keep history in an SQLite file, so ids, messages, dedupe and tokens survive a restart.

    Use one instance from one thread at a time (the server's event loop). Each ``append`` is
    one transaction, so a crash never keeps a message without its dedupe entry.

    Usage::

        with SqliteHistory("chat.sqlite3") as history:
            room = Room(history)

    Args:
        path: The database file; it is created if missing. ``":memory:"`` also works.
        limit: How many public messages to keep for replay and resume.
        dedupe: How many recent ``(name, cid)`` pairs to remember.

    Raises:
        StoreError: If the file is not a database this version can use.
        ValueError: If ``limit`` or ``dedupe`` is negative.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, limit: int = 1000, dedupe: int = 10_000
    ) -> None:
        _check_sizes(limit, dedupe)
        self._limit = limit
        self._dedupe_limit = dedupe
        # The server may create the store on one thread and serve on another (a notebook
        # kernel); calls are still serialised by the caller, as the docstring asks.
        self._db = sqlite3.connect(path, check_same_thread=False)
        try:
            with self._db:
                self._db.executescript(_TABLES)
                self._db.execute(
                    "INSERT OR IGNORE INTO state VALUES (0, ?, ?, 0, 0)", (_SCHEMA, _new_epoch())
                )
                schema, epoch = self._db.execute("SELECT schema, epoch FROM state").fetchone()
                self._epoch = str(epoch)
                if schema != _SCHEMA:
                    raise StoreError(f"{path}: history schema {schema} is not {_SCHEMA}")
                self._trim()  # the limit may be smaller than when the file was written
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise StoreError(f"{path}: cannot use as a history store: {exc}") from exc
        except StoreError:
            self._db.close()
            raise

    @property
    def epoch(self) -> str:
        """Return this store's epoch, the same after every restart."""
        return self._epoch

    def append(
        self, name: str, text: str, ts: float, *, cid: str, to: str | None = None
    ) -> Message:
        """Assign the next id, remember ``(name, cid)`` for dedupe, keep the message if public."""
        with self._db:
            self._db.execute("UPDATE state SET last_seq = last_seq + 1")
            (seq,) = self._db.execute("SELECT last_seq FROM state").fetchone()
            self._db.execute("INSERT OR REPLACE INTO dedupe VALUES (?, ?, ?)", (name, cid, seq))
            self._db.execute("DELETE FROM dedupe WHERE seq <= ?", (seq - self._dedupe_limit,))
            if to is None:
                self._db.execute("INSERT INTO messages VALUES (?, ?, ?, ?)", (seq, name, text, ts))
                self._trim()
        return Message(_format_id(self._epoch, seq), name, text, ts, to)

    def find(self, name: str, cid: str) -> str | None:
        """Return the id already given to ``(name, cid)``, or ``None``."""
        row = self._db.execute(
            "SELECT seq FROM dedupe WHERE name = ? AND cid = ?", (name, cid)
        ).fetchone()
        return None if row is None else _format_id(self._epoch, row[0])

    def recent(self, count: int) -> list[Message]:
        """Return up to ``count`` newest public messages, oldest first."""
        rows = self._db.execute(
            "SELECT * FROM messages ORDER BY seq DESC LIMIT ?", (max(count, 0),)
        ).fetchall()
        return [self._message(*row) for row in reversed(rows)]

    def since(self, last_id: str) -> list[Message] | None:
        """Return the public messages after ``last_id``, or ``None`` if that cannot be exact."""
        seq = _parse_id(self._epoch, last_id)
        last_seq, evicted = self._db.execute("SELECT last_seq, evicted FROM state").fetchone()
        if seq is None or seq > last_seq or seq < evicted:
            return None
        rows = self._db.execute("SELECT * FROM messages WHERE seq > ? ORDER BY seq", (seq,))
        return [self._message(*row) for row in rows]

    def token(self, key: str) -> str | None:
        """Return the current resume token for the name key ``key``, or ``None``."""
        row = self._db.execute("SELECT token FROM tokens WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_token(self, key: str, token: str) -> None:
        """Make ``token`` the only valid resume token for the name key ``key``."""
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO tokens VALUES (?, ?)", (key, token))

    def close(self) -> None:
        """Close the database file; the store cannot be used afterwards."""
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _message(self, seq: int, name: str, text: str, ts: float) -> Message:
        return Message(_format_id(self._epoch, seq), name, text, ts)

    def _trim(self) -> None:
        row = self._db.execute(
            "SELECT seq FROM messages ORDER BY seq DESC LIMIT 1 OFFSET ?", (self._limit,)
        ).fetchone()
        if row is not None:
            self._db.execute("DELETE FROM messages WHERE seq <= ?", row)
            self._db.execute("UPDATE state SET evicted = max(evicted, ?)", row)
