"""Tests for pollserver: the HTTP/1.1 short- and long-polling server and its client."""

from __future__ import annotations

import asyncio

from support import TIMEOUT, run_async

from wslib.teaching.pollserver import Feed, Poller, PollServer


def test_short_poll_answers_at_once_with_the_messages_after_n() -> None:
    """``/poll?after=N`` answers at once: nothing yet, then only the messages after the first N."""

    async def body() -> None:
        feed = Feed()
        server = PollServer(feed)
        poller = Poller(await server.start(), headers={})
        assert await asyncio.wait_for(poller.get("/poll", 0), TIMEOUT) == []
        feed.publish(["a", "b", "c"])
        assert await asyncio.wait_for(poller.get("/poll", 1), TIMEOUT) == ["b", "c"]
        await poller.close()
        await server.stop()
        assert server.requests == 2

    run_async(body())


def test_long_poll_is_parked_until_a_message_is_published() -> None:
    """``/wait`` holds the request, counted as parked, until a message arrives for it."""

    async def body() -> None:
        feed = Feed()
        server = PollServer(feed)
        poller = Poller(await server.start(), headers={})
        waiting = asyncio.create_task(poller.get("/wait", 0))
        await asyncio.wait_for(server.changed.until(lambda: server.parked == 1), TIMEOUT)
        assert not waiting.done()
        feed.publish(["hello"])
        assert await asyncio.wait_for(waiting, TIMEOUT) == ["hello"]
        assert server.parked == 0
        await poller.close()
        await server.stop()

    run_async(body())


def test_stop_ends_a_parked_long_poll() -> None:
    """Stopping the server closes a connection whose long poll still waits, so stop returns."""

    async def body() -> None:
        server = PollServer(Feed())
        poller = Poller(await server.start(), headers={})
        waiting = asyncio.create_task(poller.get("/wait", 0))
        await asyncio.wait_for(server.changed.until(lambda: server.parked == 1), TIMEOUT)
        await asyncio.wait_for(server.stop(), TIMEOUT)
        assert server.parked == 0
        (ended,) = await asyncio.gather(waiting, return_exceptions=True)
        assert isinstance(ended, asyncio.IncompleteReadError | ConnectionError)
        await poller.close()

    run_async(body())


def test_answers_have_a_date_and_the_same_length_on_every_run() -> None:
    """Every answer carries a Date header of fixed width, so byte counts do not vary."""

    async def body() -> list[bytes]:
        feed = Feed()
        feed.publish(["x"])
        server = PollServer(feed)
        reader, writer = await asyncio.open_connection("127.0.0.1", await server.start())
        answers: list[bytes] = []
        for _ in range(2):
            writer.write(b"GET /poll?after=0 HTTP/1.1\r\nHost: x\r\n\r\n")
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
            answers.append(head + await reader.readexactly(len(b'["x"]')))
        writer.close()
        await server.stop()
        return answers

    first, second = run_async(body())
    assert first.startswith(b"HTTP/1.1 200 OK\r\nDate: ")
    assert b"\r\nContent-Length: 5\r\n" in first
    assert first.endswith(b'\r\n\r\n["x"]')
    assert len(first) == len(second)


def test_poller_sends_its_extra_headers_with_every_request() -> None:
    """A Poller adds its headers to each request line it writes on its one connection."""

    async def body() -> bytes:
        seen = bytearray()

        async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            for _ in range(2):
                seen.extend(await reader.readuntil(b"\r\n\r\n"))
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]")
                await writer.drain()
            writer.close()

        server = await asyncio.start_server(record, "127.0.0.1", 0)
        poller = Poller(server.sockets[0].getsockname()[1], {"X-Test": "yes"})
        for after in (0, 1):
            assert await asyncio.wait_for(poller.get("/poll", after), TIMEOUT) == []
        await poller.close()
        server.close()
        await server.wait_closed()
        return bytes(seen)

    seen = run_async(body())
    assert seen.count(b"X-Test: yes\r\n") == 2
    assert b"GET /poll?after=1 HTTP/1.1\r\nHost: 127.0.0.1:" in seen
