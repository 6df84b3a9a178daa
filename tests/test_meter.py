"""Tests for wslib.teaching.meter: a relaying proxy that counts the bytes both ways."""

from __future__ import annotations

import asyncio

from support import TIMEOUT, run_async

from wslib.teaching.meter import ByteMeter


def test_meter_counts_every_byte_both_ways() -> None:
    """Bytes relayed through a ByteMeter are counted exactly, once each way."""

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.read(100) * 2)
        await writer.drain()
        writer.close()

    async def body() -> None:
        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        meter = ByteMeter(server.sockets[0].getsockname()[1])
        await meter.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", meter.port)
        writer.write(b"hello")
        assert await asyncio.wait_for(reader.read(), TIMEOUT) == b"hellohello"
        writer.close()
        await asyncio.wait_for(meter.idle(), TIMEOUT)
        assert (meter.up, meter.down, meter.connections) == (5, 10, 1)
        await meter.stop()
        server.close()
        await server.wait_closed()

    run_async(body())
