"""Fold asyncio's per-write warning about closed sockets into one line per burst.

When a thousand clients vanish at once (a laptop lid closes, a process is killed), asyncio
learns of each lost socket one at a time. Until it has told the connection, writes to it
still happen (a ``left`` event for each of the others, say), and from the fifth such write
on, asyncio's selector transport logs ``socket.send() raised exception.`` for every one
(``asyncio.constants.LOG_THRESHOLD_FOR_CONNLOST_WRITES``): thousands of identical lines.
The writes themselves are harmless, since the data had nowhere to go. ``ClosedSendWarnings``
holds those lines back and, once a burst has been quiet for ``quiet`` seconds, logs one
warning with the count.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

__all__ = ["ClosedSendWarnings"]

logger = logging.getLogger("wslib.server")

_ASYNCIO_MESSAGE = "socket.send() raised exception."


class ClosedSendWarnings(logging.Filter):
    """A filter on the ``asyncio`` logger that counts closed-socket writes and sums them up.

    Usage::

        quiet = ClosedSendWarnings()
        quiet.install()        # the server does this in start()
        ...
        quiet.remove()         # and this in stop()

    Args:
        quiet: Seconds without a new such warning that end a burst.
        clock: Where time comes from (``time.monotonic``).
    """

    def __init__(self, quiet: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.quiet = quiet
        self._clock = clock
        self.count = 0
        self._burst = 0
        self._last = 0.0
        self._timer: asyncio.TimerHandle | None = None

    def install(self) -> None:
        """Start filtering asyncio's log records."""
        logging.getLogger("asyncio").addFilter(self)

    def remove(self) -> None:
        """Stop filtering, and say at once what the current burst held, if anything."""
        logging.getLogger("asyncio").removeFilter(self)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._say()

    def filter(self, record: logging.LogRecord) -> bool:
        """Return ``False`` (drop it) for a closed-socket write warning; count it."""
        if record.getMessage() != _ASYNCIO_MESSAGE:
            return True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not from a loop: nothing to schedule the summary on
            return True
        self.count += 1
        self._burst += 1
        self._last = self._clock()
        if self._timer is None:
            self._timer = loop.call_later(self.quiet, self._check, loop)
        return False

    def _check(self, loop: asyncio.AbstractEventLoop) -> None:
        idle = self._clock() - self._last
        if idle < self.quiet:  # still going: look again once it could have gone quiet
            self._timer = loop.call_later(self.quiet - idle, self._check, loop)
            return
        self._timer = None
        self._say()

    def _say(self) -> None:
        if self._burst:
            logger.warning(
                "%d writes went to connections that had already closed and were dropped "
                "(asyncio: %r)",
                self._burst,
                _ASYNCIO_MESSAGE,
            )
            self._burst = 0
