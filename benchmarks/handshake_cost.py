"""Time websockets' own opening handshake in one process, with no socket and no event loop.

``open_floor.py --handshake websockets`` measures a server that does nothing but this
handshake, under a real load of connections. This script takes the handshake itself apart:
websockets' sans-I/O ``ServerProtocol`` is handed the request ``loadgen.js`` sends, and
each step is timed with ``perf_counter_ns`` over many handshakes, after a warm-up:

- ``protocol``: making the ``ServerProtocol`` (its connection id, parser, buffers);
- ``parse``: ``receive_data`` and ``events_received``, the request parsed into a ``Request``;
- ``accept``: ``accept``, which checks the request's headers and builds the response (its
  ``Date`` header included);
- ``respond``: ``send_response`` and ``data_to_send``, the response serialised.

What it prints is the median of each step and of the whole, in µs per handshake: the part
of a connection's opening cost that websockets' handshake sets, before any event loop,
socket or kit code.

Usage::

    python benchmarks/handshake_cost.py                  # 20,000 handshakes
    taskset -c 1 python benchmarks/handshake_cost.py --count 50000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from websockets.http11 import Request
from websockets.server import ServerProtocol

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from wslib.teaching.handshake import upgrade_request  # noqa: E402

#: The opening request, with the headers ``node/wire.js`` sends for each connection.
REQUEST = upgrade_request("127.0.0.1:8080")

STEPS = ("protocol", "parse", "accept", "respond")


def one_handshake() -> tuple[tuple[int, ...], bytes]:
    """Run one handshake; return each step's nanoseconds and the response's bytes."""
    clock = time.perf_counter_ns
    start = clock()
    protocol = ServerProtocol()
    made = clock()
    protocol.receive_data(REQUEST)
    (request,) = protocol.events_received()
    parsed = clock()
    assert isinstance(request, Request)
    response = protocol.accept(request)
    accepted = clock()
    protocol.send_response(response)
    sent = b"".join(protocol.data_to_send())
    done = clock()
    return (made - start, parsed - made, accepted - parsed, done - accepted), sent


def measure(count: int, warmup: int) -> dict[str, float]:
    """Return the median µs of each step and of the whole, over ``count`` handshakes."""
    for _ in range(warmup):
        one_handshake()
    steps: list[tuple[int, ...]] = []
    for _ in range(count):
        times, sent = one_handshake()
        if not sent.startswith(b"HTTP/1.1 101 "):
            raise RuntimeError(f"the handshake was refused: {sent[:60]!r}")
        steps.append(times)
    columns = zip(STEPS, zip(*steps, strict=True), strict=True)
    medians = {name: statistics.median(column) / 1000 for name, column in columns}
    medians["whole"] = statistics.median(sum(times) for times in steps) / 1000
    return medians


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, measure, and print one line per step; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000, help="handshakes timed")
    parser.add_argument("--warmup", type=int, default=2_000, help="handshakes run first")
    args = parser.parse_args(argv)
    medians = measure(args.count, args.warmup)
    print(f"websockets' opening handshake, median of {args.count:,} (µs):")
    for name, value in medians.items():
        print(f"{name:>8} {value:7.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
