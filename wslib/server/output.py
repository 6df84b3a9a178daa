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

#: How long the thread lets new lines gather after a write before it writes again (s).
LINGER = 0.02


class LineWriter:
    """Copy text to ``stream`` from a background thread, dropping it when nobody reads.

    Usage::

        out = LineWriter(sys.stdout)
        out.write("serving\\n")       # never blocks
        ...
        out.close(timeout=1.0)      # give what is queued a moment to go out

    While lines keep coming, the thread writes what gathered at most once per ``linger``
    seconds and is not woken for them: a busy server pays no thread switch per loop turn
    (which cost a relay at 10 receivers a third of its time). A line after a quiet spell
    wakes the thread at the end of the loop's turn. ``write`` takes no lock (each counter
    has one writer, and a ``deque`` appends atomically), so call it from one thread at a
    time: the event loop's, or a ``logging`` handler's, which holds the handler's lock.

    Args:
        stream: Where the text goes. With a real file descriptor (``fileno()``), the thread
            writes to it directly, so no Python-level lock is held while it waits.
        backlog: How many bytes may be queued before new text is dropped.
        linger: How long, after a write, the thread lets new lines gather.
    """

    def __init__(
        self, stream: TextIO, backlog: int = DEFAULT_BACKLOG, linger: float = LINGER
    ) -> None:
        self._stream = stream
        self._fd = _fileno(stream)
        self._backlog = backlog
        self._linger = linger
        self._queue: deque[str] = deque()
        self._queued_in = 0  # characters queued in all (by the writing thread)
        self._queued_out = 0  # characters taken in all (by the output thread)
        self.dropped = 0  # lines dropped in all (by the writing thread)
        self._reported = 0  # of those, how many a notice has counted (by the output thread)
        self._ready = threading.Condition(threading.Lock())
        self._wake_pending = False  # a wake-up of the thread is scheduled on the loop
        self._idle = False  # the thread waits for a wake-up (not writing, not lingering)
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="wslib output", daemon=True)
        self._thread.start()

    def write(self, text: str) -> None:
        """Queue ``text`` (whole lines, with their newlines); drop it if the backlog is full."""
        if self._closing:
            return
        if self._queued_in - self._queued_out + len(text) > self._backlog:
            self.dropped += max(1, text.count("\n"))
            return
        self._queue.append(text)
        self._queued_in += len(text)
        # The thread sets _idle before it looks at the queue, and this reads _idle after
        # appending: either the thread sees the text, or this sees it idle and wakes it.
        if self._wake_pending or not self._idle:
            return  # a wake-up is on its way, or the thread will look again by itself
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
        self._wake_pending = False
        with self._ready:
            self._ready.notify()

    def flush(self) -> None:
        """Do nothing: the thread writes as soon as the reader takes what came before."""

    @property
    def backlog(self) -> int:
        """Return how many characters wait to be written."""
        return self._queued_in - self._queued_out

    def close(self, timeout: float = 1.0) -> None:
        """Stop taking text; wait up to ``timeout`` seconds for the queued text to go out."""
        with self._ready:
            self._closing = True
            self._ready.notify()
        self._thread.join(timeout)  # a reader that never reads: the daemon thread is left

    def _run(self) -> None:
        queue = self._queue
        while True:
            with self._ready:
                self._idle = True
                while not queue and not self._closing:
                    self._ready.wait()
                self._idle = False
            if not queue:
                return  # closing, and all written
            chunks = [queue.popleft() for _ in range(len(queue))]
            self._queued_out += sum(map(len, chunks))
            dropped = self.dropped - self._reported
            self._reported += dropped
            if dropped:  # the last write went through, so the output flows again: say so
                chunks.insert(0, f"wslib: {dropped} output line(s) dropped: nobody read them\n")
            try:
                self._emit("".join(chunks))
            except (OSError, ValueError):  # the reader went away, or the stream closed
                self._closing = True
                queue.clear()
                return
            with self._ready:  # let more lines gather, unless closing: one write for them all
                if not self._closing:
                    self._ready.wait(self._linger)

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
