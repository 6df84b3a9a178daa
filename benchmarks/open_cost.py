"""Split a server's CPU per connection opened into user and system time, count its system
calls, and time the garbage collector while the connections open.

Each run starts one server (pinned to core 0), has ``loadgen.js --mode connections`` (on
core 1) open ``--count`` idle connections from fresh loopback addresses, and reads the
server's user and system CPU time (``/proc/PID/stat``) before the load generator starts
and once every connection is open. With ``--strace``, ``strace -c -f -p PID`` watches that
span (it slows the server down: its CPU figures are then not comparable) and its table is
printed as calls per connection. With ``--gc``, a ``wslib`` server runs under a wrapper
that times every collection (``gc.callbacks``) and reports those of the open phase.
Once they are open, one message must reach them all, as in ``run.py`` (a run fails
otherwise). Variants alternate run by run, as in ``run.py``::

    ulimit -n 20000
    .venv/bin/python benchmarks/open_cost.py --variants wslib,node-corked --tree before=/tmp/b
    .venv/bin/python benchmarks/open_cost.py --variants wslib --count 3000 --strace --runs 1
    .venv/bin/python benchmarks/open_cost.py --variants wslib --gc --runs 2

Besides ``run.py``'s servers, ``--variants`` takes the floors of ``open_floor.py``, which
only open connections (the load generator is stopped once they are open):
``floor-key`` (asyncio, and a handshake that finds the key and answers it),
``floor-websockets`` (asyncio, and websockets' sans-I/O handshake), ``floor-serve``
(``websockets.asyncio``'s server as ``wslib serve`` sets it, without the kit) and the same
three on uvloop, ``floor-key-uvloop``, ``floor-websockets-uvloop`` and
``floor-serve-uvloop``::

    .venv/bin/python benchmarks/open_cost.py --variants wslib,node-corked,floor-key,floor-websockets
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from run import finish, loadgen, source_net
from servers import PY, VARIANTS, Server, Variant, cpu_split, raise_nofile, tree_variant

HERE = Path(__file__).resolve().parent
FLOOR = (PY, str(HERE / "open_floor.py"), "--host", "127.0.0.1", "--port", "0")
FLOORS = {
    f"floor-{handshake}{suffix}": Variant(
        f"floor-{handshake}{suffix}", (*FLOOR, "--handshake", handshake, *loop), needs
    )
    for handshake in ("key", "websockets", "serve")
    for suffix, loop, needs in (("", (), "python"), ("-uvloop", ("--uvloop",), "python+uvloop"))
}


def with_gc_probe(variant: Variant, report: Path) -> Variant:
    """Return ``variant`` (a ``wslib serve``) run under this file's collector probe."""
    command = list(variant.command)
    if command[1:3] != ["-m", "wslib"]:
        raise SystemExit(f"--gc needs a wslib variant, not {variant.name}")
    probe = [command[0], str(Path(__file__).resolve()), "--probe-gc", str(report)]
    return Variant(variant.name, (*probe, *command[3:]), variant.needs, variant.cwd)


def one_run(variant: Variant, count: int, strace: bool, gc: bool) -> dict[str, object]:
    """Open ``count`` connections to a fresh server; return what the span cost it."""
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "gc.jsonl"
        server = Server(with_gc_probe(variant, report) if gc else variant)
        server.start()
        tracer = None
        try:
            if strace:
                out = Path(scratch) / "strace.txt"
                command = ["strace", "-c", "-f", "-o", str(out), "-p", str(server.pid)]
                tracer = subprocess.Popen(command, stderr=subprocess.DEVNULL)
                time.sleep(1.0)  # attached
            if gc:
                os.kill(server.pid, signal.SIGUSR1)
            user, system = cpu_split(server.pid)
            options: dict[str, float | str] = {"receivers": count, "sources": 4}
            net = source_net()  # fresh, as run.py's: no TIME_WAIT left by an earlier run
            if net is not None:
                options["source-net"] = net
            proc = loadgen(server.url, 150, mode="connections", **options)
            assert proc.stdout is not None
            assert proc.stdin is not None
            opened = proc.stdout.readline()
            user2, system2 = cpu_split(server.pid)
            if gc:
                os.kill(server.pid, signal.SIGUSR1)
            if tracer is not None:
                tracer.send_signal(signal.SIGINT)
                tracer.wait(30)
            if not opened.startswith('{"event":"open"'):
                proc.kill()
                proc.communicate()
                raise RuntimeError(f"{variant.name}: the load generator failed")
            if variant.name in FLOORS:  # it relays nothing: no message can reach them
                proc.kill()
                proc.communicate()
            else:  # one message to all of them, checked, and they close
                proc.stdin.write("go\n")
                proc.stdin.flush()
                finish(proc, 100)
            result: dict[str, object] = {
                "variant": variant.name,
                "open_s": json.loads(opened)["open_s"],
                "user_us": round((user2 - user) / count * 1e6, 1),
                "sys_us": round((system2 - system) / count * 1e6, 1),
            }
            if tracer is not None:
                result["syscalls"] = per_connection(out.read_text(), count)
            if gc:
                time.sleep(0.3)  # the probe writes its report from the loop's thread
                lines = report.read_text().splitlines()
                first, second = (json.loads(line) for line in lines[:2])
                result["gc"] = {
                    gen: [second[gen][0] - first[gen][0], round(second[gen][1] - first[gen][1], 1)]
                    for gen in first
                }
            return result
        finally:
            if tracer is not None and tracer.poll() is None:
                tracer.kill()
            server.stop()


def per_connection(table: str, count: int) -> dict[str, float]:
    """Return ``strace -c``'s call counts per connection, most first."""
    calls: dict[str, float] = {}
    for line in table.splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] != "total":
            calls[parts[-1]] = round(int(parts[3]) / count, 2)
    calls["total"] = round(sum(calls.values()), 2)
    return dict(sorted(calls.items(), key=lambda kv: -kv[1]))


def probe_gc(report: str, argv: list[str]) -> int:
    """Run ``wslib`` with ``argv``, timing every collection; on SIGUSR1 append the totals
    (per generation: collections, milliseconds) to ``report`` as one JSON line."""
    import gc

    totals = {str(g): [0, 0.0] for g in range(3)}
    started = [0.0]

    def timed(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            return
        entry = totals[str(info["generation"])]
        entry[0] += 1
        entry[1] += (time.perf_counter() - started[0]) * 1e3

    def write(*_: object) -> None:
        with open(report, "a") as out:
            out.write(json.dumps(totals) + "\n")

    gc.callbacks.append(timed)
    signal.signal(signal.SIGUSR1, write)
    sys.path.insert(0, os.getcwd())  # the checkout's wslib, as `python -m wslib` would
    from wslib.cli import main

    return main(argv)


def main() -> int:
    if sys.argv[1:2] == ["--probe-gc"]:
        return probe_gc(sys.argv[2], sys.argv[3:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", default="wslib,node-corked")
    parser.add_argument("--tree", action="append", default=[], metavar="NAME=PATH")
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--strace", action="store_true", help="count system calls")
    parser.add_argument("--gc", action="store_true", help="time the collector (wslib only)")
    args = parser.parse_args()
    raise_nofile()
    known = {**VARIANTS, **FLOORS}
    names = [name for name in args.variants.split(",") if name]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise SystemExit(f"unknown variants: {', '.join(unknown)}; known: {', '.join(known)}")
    variants = [known[name] for name in names]
    variants += [tree_variant(spec) for spec in args.tree]
    for variant in variants:
        reason = variant.missing()
        if reason is not None:
            raise SystemExit(f"{variant.name}: {reason}")
    results: dict[str, list[dict[str, object]]] = {v.name: [] for v in variants}
    for _ in range(args.runs):
        for variant in variants:
            result = one_run(variant, args.count, args.strace, args.gc)
            results[variant.name].append(result)
            print(json.dumps(result), flush=True)
    for name, runs in results.items():
        user = statistics.median(float(str(r["user_us"])) for r in runs)
        system = statistics.median(float(str(r["sys_us"])) for r in runs)
        print(f"{name}: median user {user:.0f} us + system {system:.0f} us per connection")
    return 0


if __name__ == "__main__":
    sys.exit(main())
