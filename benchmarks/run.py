"""Run the relay benchmarks: fan-out, many senders, latency and idle connections; and the chat.

Every server variant runs in turn, alternating run by run, on core 0; the Node
load generator runs on core 1. Each figure is the median of several runs.

Usage::

    python benchmarks/run.py --quick          # one summary line, under a minute
    python benchmarks/run.py                  # every scenario, a markdown table
    python benchmarks/run.py --only fan-out --runs 5 --variants node-quiet,wslib
    python benchmarks/run.py --only fan-out --variants wslib --tree before=/tmp/before
    python benchmarks/run.py --variants wslib,bun --python py3.13=.venv-3.13/bin/python
    python benchmarks/run.py --only chat --variants wslib   # with the relay's senders rows
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from report import BOUND, LOADGEN_BOUND, Case, against_relay, summary, table
from servers import (
    BUN,
    NODE,
    VARIANTS,
    Server,
    Variant,
    nofile_limit,
    pin,
    python_variant,
    raise_nofile,
    tree_variant,
)

LOADGEN = Path(__file__).resolve().parent / "node" / "loadgen.js"
LOADGENS: list[subprocess.Popen[str]] = []  # every one started, to stop on the way out
RUNTIMES = {"node": "Node.js", "bun": "Bun"}  # what can run loadgen.js (--loadgen-on)
RUNTIME = ["node"]  # the one this run uses


def loadgen(url: str, timeout: float, **options: float | str) -> subprocess.Popen[str]:
    """Start the load generator on core 1 against ``url``."""
    runtime = str(BUN) if RUNTIME[0] == "bun" else NODE or "node"
    command = [runtime, str(LOADGEN), "--url", url, "--timeout", str(timeout)]
    for name, value in options.items():
        command += [f"--{name}", str(value)]
    proc = subprocess.Popen(
        pin(command, 1),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    LOADGENS.append(proc)
    return proc


def finish(proc: subprocess.Popen[str], timeout: float) -> dict[str, float]:
    """Wait for the load generator's result line; raise unless it verified everything."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise RuntimeError("load generator overran its time limit") from None
    lines = out.strip().splitlines()
    result = json.loads(lines[-1]) if lines else {"ok": False, "error": err.strip()}
    if not result.get("ok"):
        raise RuntimeError(f"load generator: {result.get('error') or result}")
    return {k: float(v) for k, v in result.items() if isinstance(v, int | float)}


def measured(server: Server, proc: subprocess.Popen[str], timeout: float) -> dict[str, float]:
    """Finish a run, adding the server's CPU time over the span the load generator measured.

    The load generator prints ``{"event":"start"}`` and ``{"event":"end"}`` around what it
    measures; the server's CPU time is read at each (to the nanosecond where the kernel
    allows: ``process_cpu_seconds``). Adds
    ``server_cpu`` (CPU seconds per wall second: 1 is one core busy), ``server_cpu_s`` and,
    for deliveries, ``per_cpu_s``: deliveries per server CPU-second.
    """
    assert proc.stdout is not None
    marks: dict[str, float] = {}
    for _ in range(2):  # bounded by the load generator's own timeout
        line = proc.stdout.readline()
        if line.startswith('{"event":'):
            marks[json.loads(line)["event"]] = server.cpu_seconds()
        else:
            break  # it failed before measuring: finish() reports why
    result = finish(proc, timeout)
    if "start" in marks and "end" in marks:
        # Never zero: /proc/PID/stat, the fallback, may not move over a short span.
        cpu = max(marks["end"] - marks["start"], 1e-9)
        result["server_cpu_s"] = cpu
        result["server_cpu"] = cpu / result["elapsed_s"]
        if "deliveries" in result:
            result["per_cpu_s"] = result["deliveries"] / cpu
    return result


def fanout(
    receivers: int, deliveries: int, window: int, limit: float = 60
) -> Callable[[Server], dict[str, float]]:
    """Measure deliveries/s with ``receivers`` receivers and a bounded window.

    The load generator gives up after ``limit`` seconds.
    """
    messages = max(100, deliveries // receivers)

    def measure(server: Server) -> dict[str, float]:
        options = {"receivers": receivers, "messages": messages, "window": window}
        proc = loadgen(server.url, limit, mode="fanout", **options)
        return measured(server, proc, limit + 10)

    return measure


def latency(receivers: int, rate: int, seconds: float) -> Callable[[Server], dict[str, float]]:
    """Measure delivery latency to ``receivers`` receivers at a steady send rate.

    A server that cannot keep up queues: its last delivery comes after ``seconds``.
    """

    def measure(server: Server) -> dict[str, float]:
        options = {"receivers": receivers, "rate": rate, "duration": seconds}
        proc = loadgen(server.url, 90, mode="latency", **options)
        return measured(server, proc, 100)

    return measure


def senders(clients: int, rate: float, seconds: float) -> Callable[[Server], dict[str, float]]:
    """Measure many senders: ``clients`` clients each sending ``rate`` messages/s to all others."""

    def measure(server: Server) -> dict[str, float]:
        options = {"clients": clients, "rate": rate, "duration": seconds}
        proc = loadgen(server.url, 90, mode="senders", **options)
        return measured(server, proc, 100)

    return measure


def chat(clients: int, rate: float, seconds: float) -> Callable[[Server], dict[str, float]]:
    """Measure the JSON chat: ``clients`` clients in one room, each sending ``rate``
    messages/s; the server acks each send and sends it to all of them, its sender too."""

    def measure(server: Server) -> dict[str, float]:
        options = {"clients": clients, "rate": rate, "duration": seconds}
        proc = loadgen(server.url, 90, mode="chat", **options)
        return measured(server, proc, 100)

    return measure


def serves(case: Case, variant: Variant) -> bool:
    """Return whether ``variant`` can run ``case``: only ``wslib serve`` has the JSON chat."""
    return case.scenario != "chat" or variant.needs.startswith("wslib")


def connections(count: int, sources: int = 1) -> Callable[[Server], dict[str, float]]:
    """Measure server memory per idle connection, the time to open them, and one broadcast.

    ``sources`` loopback addresses share the connections, so that more of them fit than
    one address has ephemeral ports. Each run takes addresses no recent run used (see
    ``source_net``).
    """

    def measure(server: Server) -> dict[str, float]:
        need = count + 64  # the connections, and a margin for each process's own files
        if need > nofile_limit():
            raise Unsupported(
                f"{count} connections need {need} open files per process; "
                f"the hard limit here is {nofile_limit()}"
            )
        before = server.rss_kb()
        options: dict[str, float | str] = {
            "receivers": count,
            "concurrency": 64,
            "sources": sources,
        }
        net = source_net()
        if net is not None:
            options["source-net"] = net
        cpu = server.cpu_seconds()
        proc = loadgen(server.url, 150, mode="connections", **options)
        try:
            return idle(server, proc, before, count, cpu)
        finally:
            if proc.poll() is None:  # an error left it waiting: stop it
                proc.kill()
                proc.communicate()

    return measure


# Many senders, and the chat at the same settings: clients, messages/s each, seconds.
MANY = ((100, 20, 5), (1000, 0.5, 6))

NOTES = (
    "Load generator: one {runtime} process pinned to core 1 (the server has core 0). A row "
    f"marked {BOUND!r} had the load generator at {LOADGEN_BOUND:.0%} of its core or more: "
    "there its wall-clock figure measures the load generator, and the deliveries per server "
    "CPU-second are the fair comparison. Several load-generator processes would only share "
    "core 1 on this 2-core machine, so one is used."
)


class Unsupported(RuntimeError):
    """A case that this machine cannot run (e.g. past its open-file limit)."""


# Which 127.0.N network the last connections run took, shared by every run.py on this
# machine (see ``source_net``).
NET_STATE = Path(tempfile.gettempdir()) / "wslib-bench-source-net"
NETS = 254  # 127.0.1 to 127.0.254: never 127.0.0, nor the broadcast-looking 127.0.255


def source_net(state: Path = NET_STATE, clock: Callable[[], float] = time.time) -> str | None:
    """Return loopback addresses that no recent connections run on this machine used.

    A run's closed connections wait in TIME_WAIT for a minute. Opened again from the same
    addresses, 10,000 connections took 3.5-6.9 s to a server that, from fresh addresses,
    opened them in 2.4-3.0 s (four rounds each, alternating): the load generator's
    ports ran into the previous run's sockets. So each run gets its own ``127.0.N``
    network (``.1``, ``.2``, ... for its ``sources``), never 127.0.0.x, which the other
    scenarios use. N follows the last one any ``run.py`` took, kept in ``state`` under
    an exclusive lock, so two processes started a moment apart (two engineers, or a run
    right after another's) take different networks too; it wraps after 254, far more
    runs than fit in a minute. Where ``state`` cannot be written, N comes from ``clock``
    in minutes. ``None`` off Linux, where only 127.0.0.1 may be bound by default.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        with state.open("a+") as file:
            fcntl.flock(file, fcntl.LOCK_EX)  # released when the file closes
            file.seek(0)
            last = file.read().strip()
            n = int(last) % NETS + 1 if last.isdigit() else 1
            file.seek(0)
            file.truncate()
            file.write(f"{n}\n")
    except OSError:  # another user's file, say: fall back to the minute
        n = int(clock() // 60) % NETS + 1
    return f"127.0.{n}"


def idle(
    server: Server, proc: subprocess.Popen[str], before: int, count: int, cpu: float
) -> dict[str, float]:
    """Read the server's memory while the load generator holds its connections open.

    ``cpu`` is the server's CPU seconds before the load generator started: what it used
    from then until every connection was open is reported per connection (``open_cpu_us``).
    """
    assert proc.stdout is not None
    assert proc.stdin is not None
    opened = proc.stdout.readline()  # bounded by the load generator's own timeout
    open_cpu = server.cpu_seconds() - cpu
    if not opened.startswith('{"event":"open"'):
        return finish(proc, 10)  # raises with the load generator's error
    time.sleep(0.5)  # let the server finish its per-connection bookkeeping
    after = server.rss_kb()
    proc.stdin.write("go\n")
    proc.stdin.flush()
    result = finish(proc, 100)
    result["open_s"] = float(json.loads(opened)["open_s"])
    result["open_cpu_us"] = open_cpu / count * 1e6
    result["kb_per_conn"] = (after - before) * 1.024 / count  # KiB -> kB
    result["rss_mb"] = after * 1.024 / 1000
    return result


def cases(quick: bool) -> list[Case]:
    """Return the scenario settings for a quick or a full run."""
    if quick:
        return [
            Case(
                "fan-out", "N=100", "deliveries_per_s", "deliveries/s", fanout(100, 100_000, 64, 20)
            )
        ]
    return [
        *(
            Case("fan-out", f"N={n}", "deliveries_per_s", "deliveries/s", fanout(n, 1_000_000, 64))
            for n in (10, 100, 1000)
        ),
        *(
            Case(
                "senders", f"{c} x {r} msg/s", "deliveries_per_s", "deliveries/s", senders(c, r, s)
            )
            for c, r, s in MANY
        ),
        *(
            Case("chat", f"{c} x {r} msg/s", "deliveries_per_s", "deliveries/s", chat(c, r, s))
            for c, r, s in MANY
        ),
        *(
            Case("latency", f"{n} rcv, {r} msg/s", "p99_ms", "p99 ms", latency(n, r, s))
            for n, s in ((100, 5), (1000, 3))
            for r in (200, 1000)
        ),
        *(
            Case("connections", f"{c} idle", "kb_per_conn", "kB/conn", connections(c, s))
            for c, s in connection_counts(nofile_limit())
        ),
    ]


def connection_counts(limit: int) -> list[tuple[int, int]]:
    """Return the idle-connection counts to measure, each with its source addresses.

    1,000, 10,000 and 50,000; where 50,000 needs more open files than ``limit`` allows,
    also the most whole thousands that fit, so that the largest count this machine can
    hold is measured too (50,000 is still tried, and reported as skipped).
    """
    counts = [(1000, 1), (10_000, 4), (50_000, 8)]
    most = (limit - 64) // 1000 * 1000
    if 10_000 < most < 50_000:
        counts.insert(2, (most, 8))
    return counts


def run_case(case: Case, variants: list[Variant], runs: int, deadline: float) -> list[str]:
    """Run ``case`` ``runs`` times per variant, alternating; return the errors."""
    errors: list[str] = []
    for _ in range(runs):
        for variant in variants:
            if not serves(case, variant):
                continue
            if time.monotonic() > deadline:
                return [*errors, f"{case.scenario} {case.label}: time budget spent"]
            with Server(variant) as server:
                try:
                    server.start()
                    result = case.measure(server)
                except Unsupported as exc:  # the machine's limit, not the server's fault
                    print(f"skipping {case.scenario} {case.label}: {exc}", file=sys.stderr)
                    return errors
                except (RuntimeError, OSError, ValueError) as exc:
                    errors.append(f"{case.scenario} {case.label} {variant.name}: {exc}")
                    continue
            case.results.setdefault(variant.name, []).append(result)
    return errors


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks and print the results; return 0 if every run verified."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fan-out N=100 only, one line")
    parser.add_argument(
        "--runs", type=int, help="runs per variant (default 3; 1 with --quick, to stay under 1 min)"
    )
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated")
    parser.add_argument(
        "--only",
        choices=["fan-out", "senders", "chat", "latency", "connections"],
        help="one scenario; chat brings the relay's senders at the same settings, to compare",
    )
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        help="run only the cases with this setting, e.g. 'N=10' or '1000 rcv, 200 msg/s'",
    )
    parser.add_argument("--budget", type=float, help="seconds before no new run starts")
    parser.add_argument("--json", type=Path, help="also write every run's raw figures here")
    parser.add_argument(
        "--tree",
        action="append",
        default=[],
        type=tree_variant,
        metavar="NAME=PATH",
        help="also run `python -m wslib serve` from the checkout at PATH, as variant NAME",
    )
    parser.add_argument(
        "--python",
        action="append",
        default=[],
        type=python_variant,
        metavar="NAME=INTERPRETER",
        help="also run `python -m wslib serve` from this checkout on INTERPRETER (a venv's "
        "python with the kit's dependencies), as variant NAME",
    )
    parser.add_argument(
        "--loadgen-on",
        choices=list(RUNTIMES),
        default="node",
        help="run the load generator on Node.js (default) or on Bun (benchmarks/node_modules), "
        "to see how much of a figure is the load generator's",
    )
    args = parser.parse_args(argv)
    if args.loadgen_on == "bun" and not BUN.exists():
        print(f"--loadgen-on bun needs {BUN}: npm ci --prefix benchmarks", file=sys.stderr)
        return 1
    RUNTIME[0] = args.loadgen_on

    # SIGTERM (a test's timeout, say) unwinds like Ctrl-C, so every server is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        return benchmark(args)
    finally:
        for proc in LOADGENS:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def benchmark(args: argparse.Namespace) -> int:
    """Run the cases that ``args`` selects and print the results; return the exit code."""
    raise_nofile()
    variants: list[Variant] = []
    extra = [*args.tree, *args.python]
    known = VARIANTS | {v.name: v for v in extra}
    for name in [*args.variants.split(","), *(v.name for v in extra)]:
        variant = known.get(name)
        reason = "unknown variant" if variant is None else variant.missing()
        if variant is None or reason:
            print(f"skipping {name}: {reason}", file=sys.stderr)
        else:
            variants.append(variant)
    if not variants:
        print("no server variant can run", file=sys.stderr)
        return 1

    budget = args.budget or (45.0 if args.quick else 1800.0)
    deadline = time.monotonic() + budget
    todo = selected(cases(args.quick), args.only, args.setting)
    if not todo:
        print("no case has that scenario and setting", file=sys.stderr)
        return 1
    errors: list[str] = []
    load = os.getloadavg()
    runs = args.runs or (1 if args.quick else 3)
    for case in todo:
        errors += run_case(case, variants, runs, deadline)
    if args.json:
        raw = {f"{c.scenario} {c.label}": c.results for c in todo}
        args.json.write_text(json.dumps(raw, indent=1) + "\n")
    for error in dict.fromkeys(errors):  # a broken server repeats one error
        print(f"error: {error}", file=sys.stderr)
    if args.quick:
        print(summary(todo[0]))
    else:
        print(table(todo))
        print("\n" + NOTES.replace("{runtime}", RUNTIMES[RUNTIME[0]]))
        compared = against_relay(todo)
        if compared:
            print("\n" + compared)
        after = loads(os.getloadavg())
        print(f"\nLoad average (1, 5, 15 min) before: {loads(load)}; after: {after}.")
    return 1 if errors else 0


def selected(every: list[Case], only: str | None, settings: list[str]) -> list[Case]:
    """Return the cases of scenario ``only`` (all if None) with one of ``settings`` (all if
    empty); a chat case brings the relay's many-senders case at the same setting, which
    the notes compare it with."""
    picked = [
        c for c in every if only in (None, c.scenario) and (not settings or c.label in settings)
    ]
    chats = {c.label for c in picked if c.scenario == "chat"}
    return [c for c in every if c in picked or (c.scenario == "senders" and c.label in chats)]


def loads(load: tuple[float, float, float]) -> str:
    """Format the three load averages."""
    return ", ".join(f"{x:.2f}" for x in load)


if __name__ == "__main__":
    raise SystemExit(main())
