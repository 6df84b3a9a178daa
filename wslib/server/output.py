"""Write a server's output lines without ever making its event loop wait for a reader.

A script that starts ``wslib serve`` often reads only the first line (the URL) and then
leaves the pipe alone. Once the pipe's buffer is full (64 kB on Linux), a plain ``write``
blocks, and on the event loop that would stop the whole server. So output goes through a
``LineWriter``: the loop only appends to a bounded buffer, and a thread of its own does the
blocking writes. When the buffer is full, new lines are dropped and counted; the next time
the output flows, one line says how many were lost. A dropped log line costs the reader
some history; it never costs the server.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections import deque
from typing import TextIO

__all__ = ["DEFAULT_BACKLOG", "LineHandler", "LineWriter"]

#: How many bytes of output may wait for a slow or absent reader before lines are dropped.
DEFAULT_BACKLOG = 1 << 20


class LineWriter:
    """Copy text to ``stream`` from a background thread, dropping it when nobody reads.

    Usage::

        out = LineWriter(sys.stdout)
        out.write("serving\\n")       # never blocks
        ...
        out.close(timeout=1.0)      # give what is queued a moment to go out

    Args:
        stream: Where the text goes. With a real file descriptor (``fileno()``), the thread
            writes to it directly, so no Python-level lock is held while it waits.
        backlog: How many bytes may be queued before new text is dropped.
    """

    def __init__(self, stream: TextIO, backlog: int = DEFAULT_BACKLOG) -> None:
        self._stream = stream
        self._fd = _fileno(stream)
        self._backlog = backlog
        self._queue: deque[str] = deque()
        self._queued = 0
        self._dropped = 0  # lines dropped since the last notice
        self.dropped = 0  # lines dropped in all
        self._ready = threading.Condition()
        self._wake_pending = False  # a wake-up of the thread is scheduled on the loop
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="wslib output", daemon=True)
        self._thread.start()

    def write(self, text: str) -> None:
        """Queue ``text`` (whole lines, with their newlines); drop it if the backlog is full."""
        with self._ready:
            if self._closing:
                return
            if self._queued + len(text) > self._backlog:
                lines = max(1, text.count("\n"))
                self._dropped += lines
                self.dropped += lines
                return
            self._queue.append(text)
            self._queued += len(text)
            if self._wake_pending:
                return
            self._wake_pending = True
        # Wake the thread once per turn of the event loop, not once per line: a burst of
        # log lines then costs one hand-over and one write, and the thread does not compete
        # with the loop for every line. Outside a loop, wake it at once.
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._wake()
        else:
            loop.call_soon(self._wake)

    def _wake(self) -> None:
        with self._ready:
            self._wake_pending = False
            self._ready.notify()

    def flush(self) -> None:
        """Do nothing: the thread writes as soon as the reader takes what came before."""

    @property
    def backlog(self) -> int:
        """Return how many characters wait to be written."""
        return self._queued

    def close(self, timeout: float = 1.0) -> None:
        """Stop taking text; wait up to ``timeout`` seconds for the queued text to go out."""
        with self._ready:
            self._closing = True
            self._ready.notify()
        self._thread.join(timeout)  # a reader that never reads: the daemon thread is left

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._queue and not self._closing:
                    self._ready.wait()
                if not self._queue:
                    return
                chunks = list(self._queue)
                self._queue.clear()
                self._queued = 0
                dropped, self._dropped = self._dropped, 0
            if dropped:  # the last write went through, so the output flows again: say so
                chunks.insert(0, f"wslib: {dropped} output line(s) dropped: nobody read them\n")
            try:
                self._emit("".join(chunks))
            except (OSError, ValueError):  # the reader went away, or the stream closed
                with self._ready:
                    self._closing = True
                    self._queue.clear()
                return

    def _emit(self, text: str) -> None:
        if self._fd is None:
            self._stream.write(text)
            self._stream.flush()
            return
        data = text.encode("utf-8", "backslashreplace")
        while data:
            written = os.write(self._fd, data)
            data = data[written:]


class LineHandler(logging.Handler):
    """A logging handler that writes formatted records through a ``LineWriter``.

    Args:
        writer: Where the records go (e.g. a ``LineWriter`` on ``sys.stderr``).
    """

    def __init__(self, writer: LineWriter) -> None:
        super().__init__()
        self.writer = writer

    def emit(self, record: logging.LogRecord) -> None:
        """Queue one formatted record; never block."""
        try:
            self.writer.write(self.format(record) + "\n")
        except Exception:  # logging's own rule: a handler never raises
            self.handleError(record)


def _fileno(stream: TextIO) -> int | None:
    try:
        stream.flush()  # whatever was printed before goes first
        return stream.fileno()
    except (AttributeError, OSError, ValueError):  # io.StringIO, a closed stream
        return None
