"""Tests for wslib.server.logbook: where a server's output lines go."""

from __future__ import annotations

import asyncio
import io

import pytest

from wslib import LogBook


class CountingStream(io.StringIO):
    """A text stream that counts how often it is flushed."""

    flushes = 0

    def flush(self) -> None:
        """Count the flush."""
        self.flushes += 1
        super().flush()


def test_lines_are_kept_oldest_first_up_to_keep() -> None:
    """A LogBook keeps the newest ``keep`` lines, oldest first."""
    log = LogBook(keep=3)
    for number in range(5):
        log.write(f"line {number}")
    assert log.lines == ["line 2", "line 3", "line 4"]


def test_listeners_get_each_new_line_until_they_unsubscribe() -> None:
    """A subscriber is called with every later line until it unsubscribes."""
    log = LogBook()
    log.write("before")
    heard: list[str] = []
    unsubscribe = log.subscribe(heard.append)
    log.write("one")
    log.write("two")
    unsubscribe()
    unsubscribe()  # a second call does nothing
    log.write("after")
    assert heard == ["one", "two"]


def test_without_a_stream_nothing_is_written_anywhere(capfd: pytest.CaptureFixture[str]) -> None:
    """A LogBook without a stream only keeps its lines."""
    log = LogBook()
    log.write("private")
    assert log.lines == ["private"]
    assert capfd.readouterr() == ("", "")


def test_outside_a_loop_each_line_is_written_and_flushed_at_once() -> None:
    """Written outside an event loop, each line reaches the stream flushed at once."""
    stream = CountingStream()
    log = LogBook(stream)
    log.write("a")
    assert stream.getvalue() == "a\n"
    assert stream.flushes == 1
    log.write("b")
    assert stream.flushes == 2


def test_a_burst_in_one_loop_turn_is_flushed_once() -> None:
    """Many lines written in one turn of the event loop cost a single flush."""
    stream = CountingStream()
    log = LogBook(stream)

    async def burst() -> tuple[int, int]:
        for number in range(100):
            log.write(f"message {number}")
        before = stream.flushes
        await asyncio.sleep(0)  # let the loop run the scheduled flush
        await asyncio.sleep(0)
        return before, stream.flushes

    assert asyncio.run(burst()) == (0, 1)
    assert stream.getvalue().count("\n") == 100


def test_flush_flushes_the_stream_now() -> None:
    """flush() flushes the stream at once, and is harmless without one."""
    stream = CountingStream()
    LogBook(stream).flush()
    assert stream.flushes == 1
    LogBook().flush()
