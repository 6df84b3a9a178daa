"""Measure how long the keepalive's ping rounds hold up a server's event loop.

A server holds ``--connections`` idle relay connections (the Node load generator's
``connections`` mode, which answers every ping) with ``Limits(ping_interval=--interval)``,
in a child process pinned to core 0 whose event loop is probed: the length of every loop
turn, from the moment ``select()`` returns to the next call of it, in wall-clock and in the
loop thread's CPU time. After one interval to settle, ``--rounds`` intervals are measured:
the longest turns, how many turns took more than 2 and 5 ms, and the process's CPU time
per round. Give it several checkouts to compare them in one run, alternating; ``off``
measures the first checkout with the keepalive turned off (the noise floor).

Usage (the open-file limit must allow the connections)::

    ulimit -n 20000
    flock /tmp/bench.lock python benchmarks/keepalive_stall.py . /tmp/before --runs 2
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
LOADGEN = HERE / "node" / "loadgen.js"
TASKSET = shutil.which("taskset")


def pinned(command: list[str], core: int) -> list[str]:
    """Prefix ``command`` with taskset to run it on one core, where that is possible."""
    if TASKSET is None or (os.cpu_count() or 1) < 2:
        return command
    return [TASKSET, "-c", str(core), *command]


class TurnProbe:
    """Record the wall-clock and CPU length of every turn of a selector event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.walls: list[float] = []
        self.cpus: list[float] = []
        self.recording = False
        selector = loop._selector  # type: ignore[attr-defined]  # asyncio's own, a probe only
        select = selector.select
        began = [time.perf_counter(), time.thread_time()]

        def timed_select(timeout: float | None = None) -> Any:
            if self.recording:
                self.walls.append(time.perf_counter() - began[0])
                self.cpus.append(time.thread_time() - began[1])
            ready = select(timeout)
            began[0], began[1] = time.perf_counter(), time.thread_time()
            return ready

        selector.select = timed_select


class GcProbe:
    """Count the collections, by generation, and the longest one, while ``turns`` records."""

    def __init__(self, turns: TurnProbe) -> None:
        self.counts = [0, 0, 0]
        self.longest = 0.0
        self._began = 0.0

        def callback(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                self._began = time.perf_counter()
            elif turns.recording:
                self.counts[info["generation"]] += 1
                self.longest = max(self.longest, time.perf_counter() - self._began)

        gc.callbacks.append(callback)


async def child(args: argparse.Namespace) -> dict[str, Any]:
    """Serve the connections under the probe and return what it measured."""
    from wslib import Server
    from wslib.core.settings import Limits

    interval = args.interval if args.keepalive else None
    limits = Limits(ping_interval=interval, ping_timeout=args.interval)
    probe = TurnProbe(asyncio.get_running_loop())
    gc_probe = GcProbe(probe)
    async with Server(port=0, limits=limits) as server:
        command = [
            "node", str(LOADGEN), "--url", server.url, "--mode", "connections",
            "--receivers", str(args.connections), "--sources", str(args.sources),
            "--concurrency", "64", "--timeout", "300",
        ]  # fmt: skip
        loadgen = await asyncio.create_subprocess_exec(
            *pinned(command, 1), stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert loadgen.stdout is not None
        opened = await loadgen.stdout.readline()
        if not opened.startswith(b'{"event":"open"'):
            raise RuntimeError(f"load generator: {opened!r}")
        await asyncio.sleep(args.interval)  # the first round, begun while they opened
        cpu = time.process_time()
        probe.recording = True
        await asyncio.sleep(args.rounds * args.interval)
        probe.recording = False
        cpu = time.process_time() - cpu
        connections = server._server.connections if server._server else set()
        answered = sum(1 for connection in connections if connection.latency > 0)
        loadgen.kill()
        await loadgen.wait()
    walls = sorted(probe.walls)
    return {
        "connections": len(connections),
        "answered": answered,
        "turns": len(walls),
        "max_ms": walls[-1] * 1e3,
        "p999_ms": walls[int(0.999 * (len(walls) - 1))] * 1e3,
        "max_cpu_ms": max(probe.cpus) * 1e3,
        "over_2ms": sum(1 for wall in walls if wall > 0.002),
        "over_5ms": sum(1 for wall in walls if wall > 0.005),
        "cpu_per_round_ms": cpu / args.rounds * 1e3,
        "longest_ms": [round(wall * 1e3, 1) for wall in walls[-5:]],
        "gc_collections": gc_probe.counts,
        "gc_longest_ms": gc_probe.longest * 1e3,
    }


def main() -> int:
    """Run each checkout's child in turn and print one line per run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trees", nargs="*", default=["."], help="checkouts; 'off' for none")
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--sources", type=int, default=4)
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tree", default=".", help=argparse.SUPPRESS)
    parser.add_argument("--keepalive", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, str(Path(args.tree).resolve()))
        import wslib

        assert Path(wslib.__file__).resolve().is_relative_to(Path(args.tree).resolve())
        print(json.dumps(asyncio.run(child(args))))
        return 0
    first = args.trees[0] if args.trees[0] != "off" else "."
    failed = False
    for run in range(1, args.runs + 1):
        for tree in args.trees:
            keepalive = tree != "off"
            path = tree if keepalive else first
            command = [
                sys.executable, __file__, "--child", "--tree", path,
                "--keepalive", str(int(keepalive)),
                "--connections", str(args.connections), "--sources", str(args.sources),
                "--interval", str(args.interval), "--rounds", str(args.rounds),
            ]  # fmt: skip
            out = subprocess.run(
                pinned(command, 0), capture_output=True, text=True, check=False, cwd=path
            )
            lines = out.stdout.strip().splitlines()
            if out.returncode or not lines:
                print(f"{tree} run {run}: failed: {out.stderr.strip()[-500:]}")
                failed = True
                continue
            load = os.getloadavg()[0]
            print(f"{tree} run {run} (load {load:.1f}): {lines[-1]}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
