"""Keep what a chat must remember in one process: messages, ids, send dedupe, resume tokens.

A ``LocalStore`` (``wslib.storage.local``) keeps the chat's log over a ``History``:
``MemoryHistory`` here, or ``SqliteHistory`` (``wslib.storage.sqlite``) for a file that
survives a restart. Both write ids as ``f"{epoch}-{seq:012d}"``, where the epoch is a random
string made when the store is created, and treat an id as an opaque string elsewhere.

Private messages take an id from the same sequence, so ids stay ordered, but they are not
kept for replay. Dedupe remembers ``(identity, cid)`` pairs, where the identity is the
sender's resume token: a name's squatter cannot make its owner's retry look like a repeat.

Tokens are bounded: at most ``tokens`` are kept (the least recently used goes first) and a
token unused for ``token_ttl`` seconds expires, so its name joins afresh.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Protocol

from ..core.protocol import Message

__all__ = [
    "MAX_TOKENS",
    "TOKEN_TTL",
    "History",
    "MemoryHistory",
    "format_id",
    "new_epoch",
    "parse_id",
]

#: How many resume tokens a store keeps by default; the least recently used goes first.
MAX_TOKENS = 10_000
#: How long (seconds) a resume token lives without being used: seven days by default.
TOKEN_TTL = 7 * 24 * 3600.0


class History(Protocol):
    """Store what a chat must remember; every method is synchronous and does no network.

    ``since`` is the contract that makes resume exact: it returns every public message newer
    than ``last_id``, or ``None`` when it cannot (the id is from another epoch, unknown, or
    some message after it was already dropped), so the room can say "history reset".
    ``upto``, where given, is an id of this store: nothing newer is returned.
    """

    @property
    def epoch(self) -> str:
        """Return the string that changes whenever the id sequence starts over."""
        ...

    def newest(self) -> str:
        """Return the id given last (``EPOCH-000000000000`` before the first)."""
        ...

    def append(
        self, name: str, text: str, ts: float, *, identity: str, cid: str, to: str | None = None
    ) -> Message:
        """Assign the next id, remember ``(identity, cid)``, keep the message if public."""
        ...

    def find(self, identity: str, cid: str) -> str | None:
        """Return the id already given to ``(identity, cid)``, or ``None``."""
        ...

    def recent(self, count: int, upto: str | None = None) -> list[Message]:
        """Return up to ``count`` newest public messages, oldest first."""
        ...

    def since(self, last_id: str, upto: str | None = None) -> list[Message] | None:
        """Return the public messages after ``last_id``, or ``None`` if that cannot be exact."""
        ...

    def token(self, key: str) -> str | None:
        """Return the live resume token for the name key ``key``, or ``None``."""
        ...

    def set_token(self, key: str, token: str) -> None:
        """Make ``token`` the only valid token for ``key``, used now (a resume refreshes it)."""
        ...


def new_epoch() -> str:
    """Return a fresh random epoch."""
    return secrets.token_hex(4)


def format_id(epoch: str, seq: int) -> str:
    """Return the id of message number ``seq`` of ``epoch``."""
    return f"{epoch}-{seq:012d}"


def parse_id(epoch: str, message_id: str) -> int | None:
    """Return the sequence number in ``message_id`` if it is one of this epoch's ids."""
    head, _, digits = message_id.rpartition("-")
    if head != epoch or not (digits.isascii() and digits.isdigit()):
        return None
    seq = int(digits)
    return seq if format_id(epoch, seq) == message_id else None


def check_sizes(*sizes: float) -> None:
    """Raise ``ValueError`` if any size is negative."""
    if any(size < 0 for size in sizes):
        raise ValueError("limit, dedupe, tokens and token_ttl must not be negative")


class MemoryHistory:
    """Keep history in this process only; everything is lost when it ends.

    Args:
        limit: How many public messages to keep for replay and resume.
        dedupe: How many recent ``(identity, cid)`` pairs to remember.
        epoch: A fixed epoch, for tests; a random one by default.
        tokens: How many resume tokens to keep at most.
        token_ttl: Seconds after which an unused token expires.
        clock: Returns the time in seconds, for token expiry.

    Raises:
        ValueError: If a size is negative.
    """

    def __init__(
        self,
        limit: int = 1000,
        *,
        dedupe: int = 10_000,
        epoch: str | None = None,
        tokens: int = MAX_TOKENS,
        token_ttl: float = TOKEN_TTL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        check_sizes(limit, dedupe, tokens, token_ttl)
        self._epoch = epoch or new_epoch()
        self._limit = limit
        self._dedupe_limit = dedupe
        self._token_limit = tokens
        self._token_ttl = token_ttl
        self._clock = clock
        self._messages: deque[tuple[int, Message]] = deque()
        self._seen: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._tokens: OrderedDict[str, tuple[str, float]] = OrderedDict()  # key -> token, used
        self._last_seq = 0
        self._evicted = 0  # highest seq of a public message dropped to respect ``limit``

    @property
    def epoch(self) -> str:
        """Return this store's epoch."""
        return self._epoch

    def newest(self) -> str:
        """Return the id given last (``EPOCH-000000000000`` before the first)."""
        return format_id(self._epoch, self._last_seq)

    def append(
        self, name: str, text: str, ts: float, *, identity: str, cid: str, to: str | None = None
    ) -> Message:
        """Assign the next id, remember ``(identity, cid)``, keep the message if public."""
        self._last_seq += 1
        message = Message(format_id(self._epoch, self._last_seq), name, text, ts, to)
        self._seen[identity, cid] = message.id
        while len(self._seen) > self._dedupe_limit:
            self._seen.popitem(last=False)
        if to is None:
            self._messages.append((self._last_seq, message))
            while len(self._messages) > self._limit:
                self._evicted = self._messages.popleft()[0]
        return message

    def find(self, identity: str, cid: str) -> str | None:
        """Return the id already given to ``(identity, cid)``, or ``None``."""
        return self._seen.get((identity, cid))

    def recent(self, count: int, upto: str | None = None) -> list[Message]:
        """Return up to ``count`` newest public messages, oldest first."""
        if count <= 0:
            return []
        top = self._upto(upto)
        return [message for seq, message in self._messages if seq <= top][-count:]

    def since(self, last_id: str, upto: str | None = None) -> list[Message] | None:
        """Return the public messages after ``last_id``, or ``None`` if that cannot be exact."""
        seq = parse_id(self._epoch, last_id)
        top = self._upto(upto)
        if seq is None or seq > top or seq < self._evicted:
            return None
        return [message for number, message in self._messages if seq < number <= top]

    def token(self, key: str) -> str | None:
        """Return the live resume token for the name key ``key``, or ``None``."""
        self._expire()
        held = self._tokens.get(key)
        return None if held is None else held[0]

    def set_token(self, key: str, token: str) -> None:
        """Make ``token`` the only valid token for ``key``, used now (a resume refreshes it)."""
        self._tokens.pop(key, None)
        self._tokens[key] = (token, self._clock())
        while len(self._tokens) > self._token_limit:
            self._tokens.popitem(last=False)

    def _expire(self) -> None:
        cutoff = self._clock() - self._token_ttl
        while self._tokens and next(iter(self._tokens.values()))[1] < cutoff:
            self._tokens.popitem(last=False)

    def _upto(self, upto: str | None) -> int:
        if upto is None:
            return self._last_seq
        seq = parse_id(self._epoch, upto)
        return self._last_seq if seq is None else min(seq, self._last_seq)
