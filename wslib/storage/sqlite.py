"""Keep chat history in an SQLite file, so ids, messages, dedupe and tokens survive a restart.

``SqliteHistory`` is a ``History`` (see ``wslib.storage.history``). Its calls block on the
disk, so a ``LocalStore`` runs them on one worker thread, never on the event loop.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from ..core.lifetime import StopOnExit
from ..core.protocol import Message
from ..exceptions import StoreError
from .history import MAX_TOKENS, TOKEN_TTL, check_sizes, format_id, new_epoch, parse_id

__all__ = ["SqliteHistory"]

_SCHEMA = 2  # 2: dedupe by identity (the resume token), tokens carry their last use

_TABLES = """
CREATE TABLE IF NOT EXISTS state (
    id INTEGER PRIMARY KEY CHECK (id = 0), schema INTEGER NOT NULL, epoch TEXT NOT NULL,
    last_seq INTEGER NOT NULL, evicted INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY, name TEXT NOT NULL, text TEXT NOT NULL, ts REAL NOT NULL);
CREATE TABLE IF NOT EXISTS dedupe (
    identity TEXT NOT NULL, cid TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (identity, cid));
CREATE INDEX IF NOT EXISTS dedupe_seq ON dedupe (seq);
CREATE TABLE IF NOT EXISTS tokens (key TEXT PRIMARY KEY, token TEXT NOT NULL, used REAL NOT NULL);
CREATE INDEX IF NOT EXISTS tokens_used ON tokens (used);
"""

# Schema 1 keyed dedupe by name and kept no token use times: drop the old pairs (a retry
# across the upgrade is shown again at worst) and count every token as used now.
_FROM_1 = (
    "DROP TABLE dedupe",
    "ALTER TABLE tokens ADD COLUMN used REAL NOT NULL DEFAULT 0",
)


class SqliteHistory(StopOnExit):
    """Keep history in an SQLite file; each ``append`` is one transaction.

    Use one instance from one thread at a time (a ``LocalStore`` gives it its own worker
    thread). A crash never keeps a message without its dedupe entry.

    Usage::

        with SqliteHistory("chat.sqlite3") as history:
            store = LocalStore(history, blocking=True)

    Args:
        path: The database file; it is created if missing. ``":memory:"`` also works.
        limit: How many public messages to keep for replay and resume.
        dedupe: How many recent ``(identity, cid)`` pairs to remember.
        tokens: How many resume tokens to keep at most.
        token_ttl: Seconds after which an unused token expires.
        busy: Seconds to wait for a lock held by another process before failing.
        clock: Returns the time in seconds, for token expiry.

    Raises:
        StoreError: If the file cannot be opened, written, or is not a database this
            version can use; the message is one line that names the file.
        ValueError: If a size is negative.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        limit: int = 1000,
        dedupe: int = 10_000,
        tokens: int = MAX_TOKENS,
        token_ttl: float = TOKEN_TTL,
        busy: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        check_sizes(limit, dedupe, tokens, token_ttl, busy)
        self._limit = limit
        self._dedupe_limit = dedupe
        self._token_limit = tokens
        self._token_ttl = token_ttl
        self._clock = clock
        _check_path(path)
        try:
            # Created on one thread, used on the store's worker thread: calls are still
            # serialised, as the docstring asks.
            self._db = sqlite3.connect(path, timeout=busy, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(f"{os.fspath(path)}: cannot open as a history store: {exc}") from None
        try:
            with self._db:
                self._epoch = self._open()
        except sqlite3.Error as exc:
            self._db.close()
            raise StoreError(f"{os.fspath(path)}: cannot use as a history store: {exc}") from None
        except StoreError:
            self._db.close()
            raise

    @property
    def epoch(self) -> str:
        """Return this store's epoch, the same after every restart."""
        return self._epoch

    def newest(self) -> str:
        """Return the id given last (``EPOCH-000000000000`` before the first)."""
        (seq,) = self._db.execute("SELECT last_seq FROM state").fetchone()
        return format_id(self._epoch, seq)

    def append(
        self, name: str, text: str, ts: float, *, identity: str, cid: str, to: str | None = None
    ) -> Message:
        """Assign the next id, remember ``(identity, cid)``, keep the message if public."""
        with self._db:
            self._db.execute("UPDATE state SET last_seq = last_seq + 1")
            (seq,) = self._db.execute("SELECT last_seq FROM state").fetchone()
            self._db.execute("INSERT OR REPLACE INTO dedupe VALUES (?, ?, ?)", (identity, cid, seq))
            self._db.execute("DELETE FROM dedupe WHERE seq <= ?", (seq - self._dedupe_limit,))
            if to is None:
                self._db.execute("INSERT INTO messages VALUES (?, ?, ?, ?)", (seq, name, text, ts))
                self._trim()
        return Message(format_id(self._epoch, seq), name, text, ts, to)

    def find(self, identity: str, cid: str) -> str | None:
        """Return the id already given to ``(identity, cid)``, or ``None``."""
        row = self._db.execute(
            "SELECT seq FROM dedupe WHERE identity = ? AND cid = ?", (identity, cid)
        ).fetchone()
        return None if row is None else format_id(self._epoch, row[0])

    def recent(self, count: int, upto: str | None = None) -> list[Message]:
        """Return up to ``count`` newest public messages, oldest first."""
        rows = self._db.execute(
            "SELECT * FROM messages WHERE seq <= ? ORDER BY seq DESC LIMIT ?",
            (self._upto(upto), max(count, 0)),
        ).fetchall()
        return [self._message(*row) for row in reversed(rows)]

    def since(self, last_id: str, upto: str | None = None) -> list[Message] | None:
        """Return the public messages after ``last_id``, or ``None`` if that cannot be exact."""
        seq = parse_id(self._epoch, last_id)
        top = self._upto(upto)
        (evicted,) = self._db.execute("SELECT evicted FROM state").fetchone()
        if seq is None or seq > top or seq < evicted:
            return None
        rows = self._db.execute(
            "SELECT * FROM messages WHERE seq > ? AND seq <= ? ORDER BY seq", (seq, top)
        )
        return [self._message(*row) for row in rows]

    def token(self, key: str) -> str | None:
        """Return the live resume token for the name key ``key``, or ``None``."""
        row = self._db.execute(
            "SELECT token FROM tokens WHERE key = ? AND used >= ?",
            (key, self._clock() - self._token_ttl),
        ).fetchone()
        return None if row is None else str(row[0])

    def set_token(self, key: str, token: str) -> None:
        """Make ``token`` the only valid token for ``key``, used now (a resume refreshes it)."""
        now = self._clock()
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO tokens VALUES (?, ?, ?)", (key, token, now))
            self._db.execute("DELETE FROM tokens WHERE used < ?", (now - self._token_ttl,))
            self._db.execute(
                "DELETE FROM tokens WHERE key IN "
                "(SELECT key FROM tokens ORDER BY used DESC LIMIT -1 OFFSET ?)",
                (self._token_limit,),
            )

    def close(self) -> None:
        """Close the database file; the store cannot be used afterwards."""
        self._db.close()

    stop = close  # leaving a with-block (StopOnExit) closes the file

    def _open(self) -> str:
        """Create or upgrade the tables; return the epoch. Runs inside a transaction."""
        tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master")}
        if "state" in tables:
            (schema,) = self._db.execute("SELECT schema FROM state").fetchone()
            if schema == 1:
                for statement in _FROM_1:
                    self._db.execute(statement)
                self._db.execute("UPDATE tokens SET used = ?", (self._clock(),))
                self._db.execute("UPDATE state SET schema = ?", (_SCHEMA,))
            elif schema != _SCHEMA:
                raise StoreError(f"history schema {schema} is not {_SCHEMA}")
        self._db.executescript(_TABLES)
        self._db.execute(
            "INSERT OR IGNORE INTO state VALUES (0, ?, ?, 0, 0)", (_SCHEMA, new_epoch())
        )
        (epoch,) = self._db.execute("SELECT epoch FROM state").fetchone()
        # A real write now, so a read-only file or folder fails at start, not at first use.
        self._db.execute("UPDATE state SET schema = schema")
        self._trim()  # the limit may be smaller than when the file was written
        return str(epoch)

    def _message(self, seq: int, name: str, text: str, ts: float) -> Message:
        return Message(format_id(self._epoch, seq), name, text, ts)

    def _upto(self, upto: str | None) -> int:
        seq = None if upto is None else parse_id(self._epoch, upto)
        if seq is not None:
            return seq
        (last_seq,) = self._db.execute("SELECT last_seq FROM state").fetchone()
        return int(last_seq)

    def _trim(self) -> None:
        row = self._db.execute(
            "SELECT seq FROM messages ORDER BY seq DESC LIMIT 1 OFFSET ?", (self._limit,)
        ).fetchone()
        if row is not None:
            self._db.execute("DELETE FROM messages WHERE seq <= ?", row)
            self._db.execute("UPDATE state SET evicted = max(evicted, ?)", row)


def _check_path(path: str | os.PathLike[str]) -> None:
    """Raise a one-line ``StoreError`` for a path that cannot be a database file."""
    text = os.fspath(path)
    if text == ":memory:" or text.startswith("file:"):
        return
    where = Path(text)
    if where.is_dir():
        raise StoreError(f"{text}: is a folder; give a file path for the history database")
    if not where.parent.is_dir():
        raise StoreError(f"{text}: the folder {str(where.parent)!r} does not exist")
