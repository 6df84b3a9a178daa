"""Where a server's output lines go: a bounded memory, listeners, and optionally a stream.

From the command line the lines go to stdout, as the article's server prints them, through
a ``wslib.server.output.LineWriter``, so that a reader who stops reading costs log lines,
never the server. In a notebook they must not land in whichever cell happens to be
running, so they are kept here, where a cell can read ``lines`` and a widget can subscribe
to new ones.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Protocol

from .output import LineWriter

__all__ = ["LogBook"]

Listener = Callable[[str], None]


class Stream(Protocol):
    """Where a ``LogBook`` copies its lines: a text file, or a ``LineWriter``."""

    def write(self, text: str, /) -> object:
        """Write ``text``."""
        ...

    def flush(self) -> None:
        """Push what was written towards its reader."""
        ...


class LogBook:
    """Keep the last lines a server wrote, tell listeners, and copy them to a stream.

    Writing to a stream is cheap on the hot path: each line is written at once, and the
    stream is flushed once per turn of the event loop rather than once per line, so a
    burst of messages costs one flush (a ``LineWriter`` needs none: its thread writes).

    Args:
        stream: Where to copy each line, or ``None``. A plain file such as ``sys.stdout``
            blocks the caller when its reader does not read: on an event loop, give a
            ``LineWriter`` instead (the CLI does).
        keep: How many recent lines to keep in memory.
    """

    def __init__(self, stream: Stream | None = None, keep: int = 1000) -> None:
        self._stream = stream
        self._lines: deque[str] = deque(maxlen=keep)
        self._listeners: list[Listener] = []
        self._flush_pending = False
        # A LineWriter's flush does nothing (its thread writes): no flush to queue per turn.
        self._flushes = stream is not None and not isinstance(stream, LineWriter)

    @property
    def lines(self) -> list[str]:
        """Return the kept lines, oldest first."""
        return list(self._lines)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(line)`` for every new line; return a function that unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def write(self, line: str) -> None:
        """Record one line (without its newline)."""
        self._lines.append(line)
        for listener in self._listeners:
            listener(line)
        if self._stream is not None:
            self._stream.write(line + "\n")
            if self._flushes and not self._flush_pending:  # here: a call per line costs
                self._schedule_flush()

    def flush(self) -> None:
        """Flush the stream now."""
        self._flush_pending = False
        if self._stream is not None:
            self._stream.flush()

    def _schedule_flush(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # written outside an event loop: flush at once
            self.flush()
            return
        self._flush_pending = True
        loop.call_soon(self.flush)
