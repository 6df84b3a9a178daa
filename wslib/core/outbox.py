"""Which of a chat client's sends goes out next: in order, one at a time, paced.

A chat client keeps each message it sends until the server answers it (docs/chat-protocol.md).
The server stores a connection's sends in the order they arrive, and a send it refuses for
now (``unavailable``: a locked or full database) must be sent again before anything newer,
or the two would be stored the other way round. So:

1. Sends go out one at a time: the next once the one before it is answered (``ack`` or
   ``error``). The one in flight is ``inflight``.
2. A send refused for now goes first again, after a delay from ``delays`` that grows with
   each refusal in a row; an ``ack`` starts the delays over. A send refused for good (too
   long, no such user) is dropped: sent again, it would be refused again.
3. Sends take a token from ``limiter``, so a backlog goes out at its pace, not in a burst
   that the server would close with 1008.
4. On a new connection (``restart``) everything not yet acknowledged goes out again, in the
   order it was first sent; the server drops what it already stored.

Nothing here touches a socket or a clock: the caller passes the time and does the sending.

Usage::

    outbox = Outbox(RateLimiter(15, 30), Backoff().delays)
    outbox.add("c1", {"type": "send", "cid": "c1", "text": "hi"})
    outbox.next(now)                              # ("c1", 0.0): send it now
    outbox.answered("c1", now, stored=True)       # acknowledged: the next may go
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from .limits import RateLimiter

__all__ = ["Outbox"]

#: What a send is to the caller, e.g. the ``send`` event it will write.
T = TypeVar("T")


class Outbox(Generic[T]):
    """Hold a chat client's unanswered sends and say which goes out next, and when.

    Args:
        limiter: The pace of sends (shared with anything else the client paces).
        delays: Makes the delays (seconds) between tries of a send refused for now, e.g.
            ``Backoff().delays``; called at the first refusal in a row.

    Attributes:
        limiter: As given; may be replaced (a slower pace after a 1008).
        pending: Every send not yet acknowledged nor refused for good, by cid, in the order
            they were added.
        inflight: The cid of the send that awaits its answer, if any.
    """

    def __init__(self, limiter: RateLimiter, delays: Callable[[], Iterator[float]]) -> None:
        self.limiter = limiter
        self.pending: dict[str, T] = {}
        self.inflight: str | None = None
        self._delays = delays
        self._unsent: deque[str] = deque()  # cids still to send on this connection, in order
        self._retries: Iterator[float] | None = None  # while sends are refused for now
        self._resume_at = 0.0  # nothing goes out before this time

    @property
    def waiting(self) -> bool:
        """Return whether sends wait for their turn on this connection."""
        return any(cid in self.pending for cid in self._unsent)

    def add(self, cid: str, event: T) -> None:
        """Keep a new send until it is answered; it goes out after every send before it."""
        self.pending[cid] = event
        self._unsent.append(cid)

    def restart(self) -> None:
        """Start a new connection: every pending send goes out again, in order, paced."""
        self.inflight, self._retries, self._resume_at = None, None, 0.0
        self._unsent = deque(self.pending)

    def next(self, now: float) -> tuple[str | None, float]:
        """Return the send to make at ``now`` (it is then in flight), or how long to wait.

        Returns:
            ``(cid, 0.0)``: send ``pending[cid]`` now. ``(None, seconds)``: the next send may
            go in that many seconds. ``(None, 0.0)``: nothing to send until a send is added
            or the one in flight is answered.
        """
        if self.inflight is not None:
            return None, 0.0
        while self._unsent and self._unsent[0] not in self.pending:
            self._unsent.popleft()  # answered meanwhile (an ack from before a reconnect)
        if not self._unsent:
            return None, 0.0
        wait = max(self._resume_at - now, self.limiter.wait(now))
        if wait > 0:
            return None, wait
        self.limiter.allow(now)
        self.inflight = self._unsent.popleft()
        return self.inflight, 0.0

    def answered(self, cid: str, now: float, *, stored: bool, retry: bool = False) -> None:
        """Settle a send the server answered, so the next one may go.

        Args:
            cid: The send's client message id.
            now: The time of the answer, in the clock ``next`` is given.
            stored: The server acknowledged it.
            retry: The server refused it for now: it goes first again, after a delay.
        """
        if not retry:
            self.pending.pop(cid, None)  # stored, or refused for good
        if cid != self.inflight:
            return  # an answer to a send of an earlier connection
        self.inflight = None
        if stored:
            self._retries, self._resume_at = None, 0.0  # the server stores again
        elif retry and cid in self.pending:
            self._unsent.appendleft(cid)  # everything in ``_unsent`` was sent after it
            if self._retries is None:
                self._retries = self._delays()
            self._resume_at = now + next(self._retries)
