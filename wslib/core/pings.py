"""When a server-wide keepalive pings, and whom it gives up on: no clock, no sockets.

websockets pings each connection from a task of its own (``ping_interval``,
``ping_timeout``): a server holding thousands of idle connections then holds thousands of
sleeping tasks. ``PingRounds`` lets one task keep them all alive instead:

1. every ``interval`` seconds a round begins, and each peer that is not still waiting for
   the pong of an earlier ping is pinged (``pinged``);
2. a pong, or the connection's end, settles the ping (``answered``);
3. a peer whose ping is still unsettled ``timeout`` seconds after it was sent is
   ``overdue``: the server closes it with 1011, as websockets does;
4. in between, the task sleeps until ``wake_at()``.

With ``timeout=None`` peers are pinged every round but never given up on (websockets does
the same with ``ping_timeout=None``).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

__all__ = ["PingRounds"]

P = TypeVar("P", bound=Hashable)


class PingRounds(Generic[P]):
    """Decide when to ping every peer, and which peers did not answer in time.

    Usage::

        rounds = PingRounds(interval=20.0, timeout=20.0, now=clock())
        # sleep until rounds.wake_at(), then:
        for peer in rounds.overdue(clock()):
            ...  # close it: 1011
        if rounds.due(clock()):
            rounds.begin(clock())
            for peer in open_peers:
                if not rounds.waiting(peer):
                    ...  # send a ping; when its pong comes: rounds.answered(peer)
                    rounds.pinged(peer, clock())

    Args:
        interval: Seconds between two rounds; positive.
        timeout: Seconds a ping may go unanswered; ``None`` for no limit.
        now: The time now, on the clock that every later call uses.

    Raises:
        ValueError: If ``interval`` is not positive or ``timeout`` is negative.
    """

    def __init__(self, interval: float, timeout: float | None, now: float) -> None:
        if not interval > 0:
            raise ValueError("interval must be positive")
        if timeout is not None and timeout < 0:
            raise ValueError("timeout must not be negative")
        self.interval = interval
        self.timeout = timeout
        self.next_round = now + interval
        # Each unsettled ping's deadline, oldest first: every ping gets the same timeout.
        self._deadlines: dict[P, float] = {}

    def due(self, now: float) -> bool:
        """Return whether a round should begin at ``now``."""
        return now >= self.next_round

    def begin(self, now: float) -> None:
        """Begin a round at ``now``: the next one is due ``interval`` later."""
        self.next_round = now + self.interval

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

    def wake_at(self) -> float:
        """Return when something is next due: a round, or the oldest ping's deadline."""
        for deadline in self._deadlines.values():
            return min(deadline, self.next_round)
        return self.next_round
