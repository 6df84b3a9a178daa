"""When a server-wide keepalive pings, and whom it gives up on: no clock, no sockets.

websockets pings each connection from a task of its own (``ping_interval``,
``ping_timeout``): a server holding thousands of idle connections then holds thousands of
sleeping tasks. ``PingRounds`` lets one task keep them all alive instead:

1. every ``interval`` seconds a round begins (``begin``) with the peers open then (a round
   that fell behind finishes first);
2. the round's pings are spread evenly over the interval, the ``i``-th peer due
   ``i * interval / peers`` after the round began, so that neither the pings nor their
   pongs arrive in one burst; ``take`` says which of the round's peers are due now, at
   most ``batch`` at a time, and each one that is not still waiting for the pong of an
   earlier ping is pinged (``pinged``);
3. a pong, or the connection's end, settles the ping (``answered``);
4. a peer whose ping is still unsettled ``timeout`` seconds after it was sent is
   ``overdue``: the server closes it with 1011, as websockets does;
5. in between, the task sleeps until ``wake_at()``: until a whole batch is due, or
   ``tick`` has passed, whichever comes first (each wake-up costs the loop a turn or more,
   each batch one turn's work).

With ``timeout=None`` peers are pinged every round but never given up on (websockets does
the same with ``ping_timeout=None``).
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Generic, TypeVar

__all__ = ["BATCH", "TICK", "PingRounds"]

P = TypeVar("P", bound=Hashable)

#: The most pings in one batch: one turn of the event loop's work.
BATCH = 32

#: The longest a due ping waits for its batch to fill, in seconds: pings gather into
#: batches since each wake-up costs the loop (at 10,000 peers every 20 s, waking every
#: 0.02 s doubled the CPU time of a round).
TICK = 0.1


class PingRounds(Generic[P]):
    """Decide when to ping every peer, and which peers did not answer in time.

    Usage::

        rounds = PingRounds(interval=20.0, timeout=20.0, now=clock())
        # sleep until rounds.wake_at(), then:
        for peer in rounds.overdue(clock()):
            ...  # close it: 1011
        if rounds.due(clock()):
            peers = list(open_peers)
            rounds.begin(clock(), len(peers))
        for index in rounds.take(clock()):
            peer = peers[index]
            if not rounds.waiting(peer):
                ...  # send a ping; when its pong comes: rounds.answered(peer)
                rounds.pinged(peer, clock())

    Args:
        interval: Seconds between two rounds; positive.
        timeout: Seconds a ping may go unanswered; ``None`` for no limit.
        now: The time now, on the clock that every later call uses.
        batch: The most peers ``take`` returns at once; positive.
        tick: The longest a due peer waits for its batch to fill; positive.

    Raises:
        ValueError: If ``interval``, ``batch`` or ``tick`` is not positive or ``timeout``
            is negative.
    """

    def __init__(
        self,
        interval: float,
        timeout: float | None,
        now: float,
        batch: int = BATCH,
        tick: float = TICK,
    ) -> None:
        if not interval > 0:
            raise ValueError("interval must be positive")
        if timeout is not None and timeout < 0:
            raise ValueError("timeout must not be negative")
        if not batch > 0:
            raise ValueError("batch must be positive")
        if not tick > 0:
            raise ValueError("tick must be positive")
        self.interval = interval
        self.timeout = timeout
        self.batch = batch
        self.tick = tick
        self.next_round = now + interval
        # The round under way: when it began, how many peers it has, how many were taken,
        # and when ``take`` was last called.
        self._began = now
        self._peers = 0
        self._taken = 0
        self._last = now
        # Each unsettled ping's deadline, oldest first: every ping gets the same timeout.
        self._deadlines: dict[P, float] = {}

    def due(self, now: float) -> bool:
        """Return whether a round should begin at ``now``.

        Not before every peer of the round under way was taken: a round that fell behind
        finishes first, so that each of its peers is pinged once.
        """
        return now >= self.next_round and self._taken >= self._peers

    def begin(self, now: float, peers: int = 0) -> None:
        """Begin a round of ``peers`` pings at ``now``: the next one is due ``interval`` later.

        The round's pings are spread over the interval: the ``i``-th (from 0) is due at
        ``now + i * interval / peers``, the last one before the next round.
        """
        self.next_round = now + self.interval
        self._began = self._last = now
        self._peers = peers
        self._taken = 0

    def take(self, now: float) -> range:
        """Return the indexes of the round's peers due by ``now``, at most ``batch`` of them.

        Each index is returned once per round, in order; the caller pings those peers.
        """
        self._last = now
        due = min(self._peers, math.floor((now - self._began) * self._peers / self.interval) + 1)
        # Past rounding: a peer is due exactly when the time ``wake_at`` gives for it came.
        if due < self._peers and self._time_of(due) <= now:
            due += 1
        elif due > 0 and self._time_of(due - 1) > now:
            due -= 1
        first = self._taken
        self._taken = max(first, min(due, first + self.batch))
        return range(first, self._taken)

    def waiting(self, peer: P) -> bool:
        """Return whether ``peer`` still owes the pong of a ping (so needs no new one)."""
        return peer in self._deadlines

    def pinged(self, peer: P, now: float) -> None:
        """Note that ``peer`` was pinged at ``now``."""
        if self.timeout is not None:
            self._deadlines.pop(peer, None)  # to the end: the newest deadline
            self._deadlines[peer] = now + self.timeout

    def answered(self, peer: P) -> None:
        """Note that ``peer``'s ping is settled: its pong came, or its connection ended."""
        self._deadlines.pop(peer, None)

    def overdue(self, now: float) -> list[P]:
        """Return, and forget, the peers whose ping went unanswered until ``now``."""
        late: list[P] = []
        for peer, deadline in self._deadlines.items():
            if deadline > now:
                break
            late.append(peer)
        for peer in late:
            del self._deadlines[peer]
        return late

    def _time_of(self, index: int) -> float:
        """Return when the round's peer ``index`` is due."""
        return self._began + index * self.interval / self._peers

    def wake_at(self) -> float:
        """Return when something is next due: a round, a batch of pings or the oldest deadline.

        A batch is due when ``batch`` more peers are (or the round's last one is), or
        ``tick`` after the last ``take`` if one is by then; right away if the last batch
        left some that were due.
        """
        wake = self.next_round
        if self._taken < self._peers:
            first = self._time_of(self._taken)
            if first > self._last:
                full = self._time_of(min(self._taken + self.batch, self._peers) - 1)
                first = max(first, min(full, self._last + self.tick))
            wake = min(wake, first)
        for deadline in self._deadlines.values():
            return min(deadline, wake)
        return wake
