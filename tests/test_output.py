"""Tests for wslib.server.output: output that nobody reads costs lines, never the server."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from rawclient import http_exchange, status_of
from support import ROOT, TIMEOUT, child_env, run_async
from websockets.asyncio.client import connect

from wslib.server.output import LineHandler, LineWriter

LINE = "x" * 999 + "\n"


@pytest.fixture
def pipe() -> Iterator[tuple[int, io.TextIOWrapper]]:
    """An OS pipe: its read end as a descriptor, its write end as a text stream."""
    read_end, write_end = os.pipe()
    stream = open(write_end, "w", encoding="utf-8")  # noqa: SIM115 - closed below
    try:
        yield read_end, stream
    finally:
        stream.close()
        os.close(read_end)


def _read_until(fd: int, marker: bytes) -> bytes:
    """Read ``fd`` until ``marker`` has come (or the writer closed it)."""
    data = b""
    while marker not in data:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        data += chunk
    return data


def test_writes_never_block_and_lines_past_the_backlog_are_counted(
    pipe: tuple[int, io.TextIOWrapper],
) -> None:
    """With nobody reading, 5,000 kB of writes return at once; lines past 64 kB are dropped."""
    read_end, stream = pipe
    writer = LineWriter(stream, backlog=64 * 1024)
    for _ in range(5000):  # about 5 MB: far past the pipe's 64 kB and the backlog
        writer.write(LINE)
    assert writer.dropped > 4000
    assert writer.backlog <= 64 * 1024
    writer.write("last\n")  # may be dropped too: the backlog is still full
    got = _read_until(read_end, b"dropped")  # reading lets the thread go on
    writer.write("after\n")
    got += _read_until(read_end, b"after\n")
    writer.close(TIMEOUT)
    # Each notice counts the lines dropped since the one before: together, every one.
    notices = [line for line in got.decode().splitlines() if "dropped" in line]
    assert notices
    assert all(line.startswith("wslib: ") for line in notices)
    assert sum(int(line.split()[1]) for line in notices) == writer.dropped


def test_text_is_written_in_order_and_close_waits_for_it() -> None:
    """Lines go out in order, and ``close`` waits until the queued ones are written."""
    stream = io.StringIO()  # no descriptor: the thread writes through the stream
    writer = LineWriter(stream)
    for n in range(100):
        writer.write(f"{n}\n")
    writer.close(TIMEOUT)
    assert stream.getvalue().split() == [str(n) for n in range(100)]
    writer.write("after close\n")
    assert "after close" not in stream.getvalue()


class CountingStream(io.StringIO):
    """A stream that counts the writes made to it."""

    writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def test_a_burst_of_lines_in_one_loop_turn_wakes_the_writer_once() -> None:
    """Lines written in one turn of an event loop go out together, in one write."""
    stream = CountingStream()
    writer = LineWriter(stream)

    async def burst() -> None:
        for n in range(1000):  # one turn: the loop never gets to run in between
            writer.write(f"{n}\n")
        await asyncio.sleep(0)  # the turn ends: the thread is woken, once

    run_async(burst())
    writer.close(TIMEOUT)
    assert stream.getvalue().split() == [str(n) for n in range(1000)]
    assert stream.writes == 1


class SignallingStream(CountingStream):
    """A counting stream that sets ``written`` on every write."""

    def __init__(self) -> None:
        super().__init__()
        self.written = threading.Event()

    def write(self, text: str) -> int:
        count = super().write(text)
        self.written.set()
        return count


def test_lines_that_come_while_the_writer_lingers_wait_for_one_write() -> None:
    """After a write, lines from later loop turns gather without waking the thread."""
    stream = SignallingStream()
    writer = LineWriter(stream, linger=100 * TIMEOUT)  # lingers until closed

    async def turns() -> None:
        writer.write("first\n")
        await asyncio.sleep(0)  # the turn ends: the idle thread is woken and writes
        assert await asyncio.to_thread(stream.written.wait, TIMEOUT)
        for n in range(3):  # three more turns: the thread lingers, nobody wakes it
            writer.write(f"{n}\n")
            await asyncio.sleep(0)

    run_async(turns())
    assert stream.writes == 1
    writer.close(TIMEOUT)  # ends the linger: what gathered goes out in one write
    assert stream.getvalue().split() == ["first", "0", "1", "2"]
    assert stream.writes == 2


def test_the_handler_writes_formatted_records_through_the_writer() -> None:
    """``LineHandler`` formats a record and queues it as one line."""
    stream = io.StringIO()
    handler = LineHandler(LineWriter(stream))
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    log = logging.getLogger("wslib.test_output")
    log.addHandler(handler)
    try:
        log.warning("one %s", "line")
    finally:
        log.removeHandler(handler)
        handler.writer.close(TIMEOUT)
    assert stream.getvalue() == "wslib.test_output: one line\n"


def test_a_server_whose_output_nobody_reads_keeps_serving_and_says_what_it_dropped() -> None:
    """``wslib serve`` read for its URL only relays 3,000 1 kB messages, refuses 1,000 foreign
    hosts, answers /healthz, and later says how many lines it dropped."""
    process = subprocess.Popen(
        [sys.executable, "-m", "wslib", "serve", "--port", "0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env(),
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().decode().strip()  # and then nobody reads
        port = int(url.rsplit(":", 1)[1].strip("/"))

        async def drive() -> None:
            async with connect(url) as sender, connect(url, max_queue=None) as receiver:
                for n in range(3000):
                    await sender.send(f"{n:04d}" + "m" * 1000)
                for n in range(3000):
                    async with asyncio.timeout(TIMEOUT):
                        got = await receiver.recv()
                    assert str(got).startswith(f"Received message from peer: {n:04d}")
                refused = f"GET / HTTP/1.1\r\nHost: evil.example:{port}\r\n\r\n".encode()
                for _ in range(1000):  # each one a warning line on stderr, which nobody reads
                    assert status_of(await http_exchange(port, refused)) == 403
                health = f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
                assert status_of(await http_exchange(port, health)) == 200

        run_async(drive())
        # Now read: the thread's stuck write completes, and the backlog follows.
        seen: list[bytes] = []
        reader = threading.Thread(target=lambda: seen.extend(process.stdout or []), daemon=True)
        reader.start()

        async def one_more() -> None:
            async with connect(url) as client:
                await client.send("after the drought")

        def wait_for_output(text: bytes) -> None:
            deadline = time.monotonic() + 4 * TIMEOUT
            while not any(text in line for line in seen):
                assert time.monotonic() < deadline, f"{text!r} never came out"
                reader.join(0.05)

        # The backlog goes out first, with the notice of what was dropped; a line written
        # after that is not dropped, and comes out too.
        wait_for_output(b"output line(s) dropped")
        run_async(one_more())
        wait_for_output(b"after the drought")
        process.terminate()
        assert process.wait(2 * TIMEOUT) == 0
        reader.join(TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(TIMEOUT)
        stderr = process.stderr.read() if process.stderr else b""
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
    lines = [line.decode() for line in seen]
    notices = [line for line in lines if "output line(s) dropped" in line]
    assert notices
    # Every line is either written or counted: 3,001 messages and 3 disconnects.
    assert sum(int(line.split()[1]) for line in notices) + len(lines) - len(notices) == 3004
    assert "Received message: after the drought\n" in lines
    assert b"Traceback" not in stderr
