"""Who gets a connection: count every socket from accept on, and keep descriptors free.

A connection costs a file descriptor from the moment it is accepted, long before its
handshake is done, so the connection cap counts handshakes in progress too. Past the cap:

1. a handshake that has been in progress longer than ``HANDSHAKE_GRACE`` (a real client
   sends its request within milliseconds) is closed to make room: a crowd of connections
   that never finish their request (slowloris) cannot keep newcomers out for longer than
   that;
2. otherwise the newcomer is kept while ``SPARE`` descriptors remain, so that it can be
   told 503 by the gate; past those it is closed at once.

``connection_cap`` leaves room below the open-file limit for the spare descriptors and the
server's own, to refuse and log with. ``accept`` can still fail: asyncio accepts all that
waits in the listen queue (up to the server's backlog, 4,096) in one turn, before any of it
can be refused, and a cap set above the limit or another part of the process may hold
descriptors too. asyncio then stops accepting for a second and reports each failure with
a traceback; ``AcceptErrors`` turns that into one warning line per ``every`` seconds with
a count.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from websockets.asyncio.server import ServerConnection

__all__ = ["ACCEPT_RETRY_GRACE", "HANDSHAKE_GRACE", "SPARE", "AcceptErrors", "Admission"]

#: Seconds a handshake may stay unfinished before a newcomer may take its place at the cap.
HANDSHAKE_GRACE = 1.0

#: How long a stopped server keeps its accept-error handler: asyncio retries accepting one
#: second after an accept error (``asyncio.constants.ACCEPT_RETRY_DELAY``), and a retry on a
#: closed server must still be dropped quietly.
ACCEPT_RETRY_GRACE = 2.0

#: Connections past the cap that are kept long enough to be answered 503.
SPARE = 64

logger = logging.getLogger("wslib.server")


class Admission:
    """Count a server's connections from accept on and decide who may stay.

    Args:
        cap: How many connections (open, or still in their handshake) may be held.
        clock: Where time comes from (``time.monotonic``).
    """

    def __init__(self, cap: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.cap = cap
        self._clock = clock
        self._pending: dict[ServerConnection, float] = {}  # in their handshake, oldest first
        self._within: set[ServerConnection] = set()  # holding one of the cap's places
        self.count = 0
        self.evicted = 0
        self.refused = 0

    def connection_class(
        self, base: type[ServerConnection] = ServerConnection
    ) -> type[ServerConnection]:
        """Return a subclass of ``base`` that reports to this admission.

        Give it to websockets' ``serve(create_connection=...)``.
        """
        admission = self

        class AdmittedConnection(base):  # type: ignore[valid-type,misc]
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                super().connection_made(transport)
                admission._arrived(self)

            def connection_lost(self, exc: Exception | None) -> None:
                admission._left(self)
                super().connection_lost(exc)

        return AdmittedConnection

    def requested(self, connection: ServerConnection) -> None:
        """Note that ``connection``'s request has arrived: its handshake is being answered."""
        self._pending.pop(connection, None)

    def ahead(self, connection: ServerConnection) -> int:
        """Return how many connections hold a place ahead of ``connection``.

        A connection within the cap gets fewer than ``cap``; one kept in the spare room
        gets ``cap`` (so the gate answers 503), unless a place has come free meanwhile,
        which it then takes.
        """
        if connection not in self._within and len(self._within) < self.cap:
            self._within.add(connection)
        if connection in self._within:
            return len(self._within) - 1
        return len(self._within)

    def _arrived(self, connection: ServerConnection) -> None:
        self.count += 1
        now = self._clock()
        room = self.cap + SPARE
        if len(self._within) >= self.cap and self._pending:
            oldest, since = next(iter(self._pending.items()))
            if now - since > HANDSHAKE_GRACE:
                del self._pending[oldest]
                self._within.discard(oldest)
                self.evicted += 1
                oldest.transport.abort()  # its connection_lost, and count -= 1, come later
                room += 1
        if len(self._within) < self.cap:
            self._within.add(connection)
        elif self.count > room:
            self.refused += 1
            connection.transport.abort()
            return
        self._pending[connection] = now

    def _left(self, connection: ServerConnection) -> None:
        self._pending.pop(connection, None)
        self._within.discard(connection)
        self.count -= 1


class AcceptErrors:
    """A loop exception handler that logs failed ``accept`` calls once per ``every`` seconds.

    Other reports go to the handler that was there before (or asyncio's default).

    Args:
        loop: The loop to watch.
        every: Seconds between two warning lines about accept errors.
        clock: Where time comes from (``time.monotonic``).
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        every: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._loop = loop
        self._every = every
        self._clock = clock
        self._previous = loop.get_exception_handler()
        self._last: float | None = None
        self.count = 0
        self._unsaid = 0

    def install(self) -> None:
        """Become the loop's exception handler."""
        self._loop.set_exception_handler(self)

    def remove(self, *, after: float = 0.0) -> None:
        """Give the loop back its previous handler, if this one is still in place.

        Args:
            after: Seconds to wait first. After an accept error asyncio retries accepting
                one second later; a server closed meanwhile makes that retry fail on its
                closed socket, and this handler should still be there to drop the report.
        """
        if after > 0:
            self._loop.call_later(after, self.remove)
        elif self._loop.get_exception_handler() is self:
            self._loop.set_exception_handler(self._previous)

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """Handle one report from the loop."""
        message = str(context.get("message", ""))
        if "._start_serving(" in message and isinstance(context.get("exception"), ValueError):
            # asyncio's retry after an accept error, for a server closed since: nothing is
            # lost, so no traceback (the retry is asyncio's, in selector_events._accept_connection).
            logger.debug("dropped a retry to accept on a closed server: %s", message)
            return
        if not message.startswith("socket.accept() out of system"):
            if self._previous is not None:
                self._previous(loop, context)
            else:
                loop.default_exception_handler(context)
            return
        self.count += 1
        self._unsaid += 1
        now = self._clock()
        if self._last is None or now - self._last >= self._every:
            error = context.get("exception")
            logger.warning(
                "cannot accept connections: %s (%d time(s); open-file limit reached?)",
                error.strerror if isinstance(error, OSError) else error,
                self._unsaid,
            )
            self._last, self._unsaid = now, 0
