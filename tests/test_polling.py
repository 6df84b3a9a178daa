"""Tests for wslib.teaching.polling: the bytes and latencies of three ways to push."""

from __future__ import annotations

import pytest
from support import TIMEOUT, run_async

from wslib.teaching.polling import BROWSER_HEADERS, METHODS, Measurement, measure, schedule, table

STREAM = schedule(count=6, every=3)  # messages at ticks 0, 3, ..., 15; the run lasts 18 ticks


@pytest.mark.parametrize("method", METHODS)
def test_every_method_delivers_the_whole_stream_over_one_connection(method: str) -> None:
    """Each method gets every message of the stream to the client, on one TCP connection."""
    result = run_async(measure(method, STREAM))  # type: ignore[arg-type]
    assert result.messages == len(STREAM)
    assert result.connections == 1
    assert result.payload == sum(len(text.encode()) for _, text in STREAM)


def test_step_mode_byte_counts_are_the_same_on_every_run() -> None:
    """Without a clock, two runs of each method put exactly the same bytes on the wire."""

    def counts(m: Measurement) -> tuple[int, ...]:
        return (m.messages, m.requests, m.up, m.down, m.handshake)

    for method in METHODS:
        first = run_async(measure(method, STREAM))
        second = run_async(measure(method, STREAM))
        assert counts(first) == counts(second), method


def test_short_polling_asks_once_per_tick_and_long_polling_once_per_message() -> None:
    """Short polling makes one request per tick; long polling one per delivery, plus one left
    waiting; the WebSocket makes only its opening handshake."""
    short, long, ws = (run_async(measure(m, STREAM)) for m in METHODS)
    assert short.requests == 18
    assert long.requests == len(STREAM) + 1
    assert ws.requests == 1
    assert short.total > long.total > ws.total


def test_websocket_costs_two_bytes_a_frame_down_after_the_handshake() -> None:
    """After the handshake, a short server frame costs 2 bytes on top of its text; the only
    client frame is the close (6 bytes of header and mask plus a 2-byte code)."""
    ws = run_async(measure("websocket", STREAM))
    frames_down = sum(2 + len(text.encode()) for _, text in STREAM)
    server_close, client_close = 2 + 2, 6 + 2
    assert ws.total - ws.handshake == frames_down + server_close + client_close


def test_browser_headers_add_their_size_to_every_request() -> None:
    """Extra request headers cost their bytes once per request, and nothing downstream."""
    plain = run_async(measure("short polling", STREAM))
    dressed = run_async(measure("short polling", STREAM, headers=BROWSER_HEADERS))
    per_request = sum(len(f"{k}: {v}\r\n") for k, v in BROWSER_HEADERS.items())
    assert dressed.up - plain.up == per_request * plain.requests
    assert dressed.down == plain.down


@pytest.mark.parametrize("method", METHODS)
def test_timed_runs_measure_one_latency_per_message(method: str) -> None:
    """With real ticks, each message gets one latency, never negative."""
    tick = 0.01
    result = run_async(measure(method, STREAM, tick=tick))  # type: ignore[arg-type]
    assert len(result.latencies) == len(STREAM)
    assert all(0 <= latency < tick + TIMEOUT for latency in result.latencies)


def test_table_lists_each_measurement_with_aligned_columns() -> None:
    """The table has a header line and one line per measurement, all the same width."""
    lines = table([run_async(measure(m, STREAM)) for m in METHODS]).splitlines()
    assert lines[0].split()[:2] == ["method", "messages"]
    assert [line.split("  ")[0].strip() for line in lines[1:]] == list(METHODS)
    assert len({len(line) for line in lines}) == 1
