"""Find what stalls `wslib serve`'s event loop while the latency scenario runs.

Each checkout's `wslib serve` runs in a child process pinned to core 0, started through
``wslib.cli.main`` exactly as the command line starts it (its log line per message goes
to stdout, which this script drains, as ``run.py`` does), with probes added:

- every turn of the event loop, from the moment ``select()`` returns to its next call: its
  wall-clock length, the loop thread's CPU time in it, how long the thread waited for a
  core while runnable (``/proc/.../schedstat``: another process had it), how much CPU the
  output thread (``LineWriter``) used meanwhile, and how many sockets were ready;
- every garbage collection, by generation, with its wall-clock length;
- every keepalive ping.

- every relayed message (the load generator's messages carry their send time): how long
  it took to reach the relay, beyond the quickest one's trip (the two clocks differ by a
  constant), and how long from there until it had been written to every recipient.

The Node load generator runs ``--mode latency`` on core 1 against it. Over the span the
load generator measures, the script prints the load generator's p50/p99 with the loop's
turns: their median, 99th and 99.9th percentile, the longest, how many took over 1, 2 and
5 ms, and what the long ones coincided with. A turn's time that is neither the loop
thread's CPU nor its wait for a core was spent off its core for another reason: waiting
for the GIL (the output thread held it) or in a blocking call. Around it, from ``/proc``:
how busy core 0 was and how much of that was the server, the server's threads' user and
system time, and which other processes used the CPU meanwhile.

Usage::

    flock /tmp/bench.lock python benchmarks/loop_stall.py . /tmp/before --runs 2
    flock /tmp/bench.lock python benchmarks/loop_stall.py . --receivers 1000 --duration 3
"""

from __future__ import annotations

import argparse
import array
import bisect
import contextlib
import gc
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
LOADGEN = HERE / "node" / "loadgen.js"
TASKSET = shutil.which("taskset")
TURN_FIELDS = ("start", "wall", "cpu", "queued", "output_cpu", "ready", "woken", "output_at")
LONG = 0.002  # a turn this long or longer is reported with what it coincided with (s)


def pinned(command: list[str], core: int) -> list[str]:
    """Prefix ``command`` with taskset to run it on one core, where that is possible."""
    if TASKSET is None or (os.cpu_count() or 1) < 2:
        return command
    return [TASKSET, "-c", str(core), *command]


def _schedstat(fd: int) -> tuple[int, int]:
    """Return a thread's CPU time and its time waiting for a core, in ns."""
    on_cpu, waiting, _ = os.pread(fd, 100, 0).split()
    return int(on_cpu), int(waiting)


class Probe:
    """Record every loop turn, collection and keepalive ping of this process, in arrays.

    Arrays of floats hold no objects the collector tracks, so recording makes no garbage
    and causes no collection of its own.
    """

    def __init__(self) -> None:
        self.turns = {name: array.array("d") for name in TURN_FIELDS}
        self.collections = {name: array.array("d") for name in ("start", "wall", "generation")}
        self.pings = array.array("d")
        # Each relayed message: when the server took it, its send time (the load
        # generator's clock, in µs), and when its batch had been written to every recipient.
        self.messages = {name: array.array("d") for name in ("taken", "seq", "sent", "written")}
        self._own = os.open(f"/proc/self/task/{threading.get_native_id()}/schedstat", os.O_RDONLY)
        self._output: list[int] = []
        self._began = (0.0, 0.0, 0, 0)
        self._selecting = 0  # the loop thread's wait for a core when select() was called
        self._gc_began = 0.0

    def install(self) -> None:
        """Time the loop's selector, the collector and the keepalive's pings from now on."""
        probe = self

        class TimedSelector(selectors.DefaultSelector):
            def select(self, timeout: float | None = None) -> Any:
                probe.turn_ends()
                ready = super().select(timeout)
                probe.turn_begins(len(ready))
                return ready

        selectors.DefaultSelector = TimedSelector  # type: ignore[misc]  # before the loop exists
        gc.callbacks.append(self._collection)
        from wslib.server import keepalive

        ping_one = keepalive.Keepalive._ping_one

        async def timed_ping_one(self: Any, peer: Any, rounds: Any) -> None:
            probe.pings.append(time.perf_counter())
            await ping_one(self, peer, rounds)

        keepalive.Keepalive._ping_one = timed_ping_one  # type: ignore[method-assign]
        from wslib.server import fanout

        publish, write_batch = fanout.Fanout.publish, fanout.Fanout._write_batch
        messages = self.messages

        def timed_publish(self: Any, group: Any, message: Any, **kwargs: Any) -> None:
            # The load generator's "<seq> <sent µs>"; its probes ("probe <k>") are left out.
            tail = message.rsplit(" ", 2)[-2:] if isinstance(message, str) else ()
            if len(tail) == 2 and tail[0].isdigit() and tail[1].isdigit():
                messages["taken"].append(time.perf_counter())
                messages["seq"].append(int(tail[0]))
                messages["sent"].append(int(tail[1]))
            publish(self, group, message, **kwargs)

        def timed_write_batch(self: Any) -> None:
            write_batch(self)
            while len(messages["written"]) < len(messages["taken"]):
                messages["written"].append(time.perf_counter())

        fanout.Fanout.publish = timed_publish  # type: ignore[method-assign]
        fanout.Fanout._write_batch = timed_write_batch  # type: ignore[method-assign]

    def _output_cpu(self) -> int:
        """Return the CPU time of the output threads (stdout's and stderr's), in ns."""
        if not self._output:
            for thread in threading.enumerate():
                if thread.name == "wslib output" and thread.native_id is not None:
                    path = f"/proc/self/task/{thread.native_id}/schedstat"
                    self._output.append(os.open(path, os.O_RDONLY))
        return sum(_schedstat(fd)[0] for fd in self._output)

    def turn_begins(self, ready: int) -> None:
        """Note the start of a turn: ``select()`` returned ``ready`` events."""
        self.turns["ready"].append(ready)
        waiting = _schedstat(self._own)[1]
        # How long the thread, woken in select(), waited for a core before it could run.
        self.turns["woken"].append((waiting - self._selecting) / 1e9)
        output = self._output_cpu()
        self.turns["output_at"].append(output / 1e9)
        self._began = (time.perf_counter(), time.thread_time(), waiting, output)

    def turn_ends(self) -> None:
        """Note the end of the turn that began last (the loop calls ``select()`` again)."""
        start, cpu, waiting, output = self._began
        self._selecting = _schedstat(self._own)[1]
        if not start:
            return
        turns = self.turns
        turns["start"].append(start)
        turns["wall"].append(time.perf_counter() - start)
        turns["cpu"].append(time.thread_time() - cpu)
        turns["queued"].append((self._selecting - waiting) / 1e9)
        turns["output_cpu"].append((self._output_cpu() - output) / 1e9)

    def _collection(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_began = time.perf_counter()
            return
        self.collections["start"].append(self._gc_began)
        self.collections["wall"].append(time.perf_counter() - self._gc_began)
        self.collections["generation"].append(info["generation"])

    def dump(self, path: str) -> None:
        """Write everything recorded to ``path`` as JSON."""
        turns = self.turns
        size = len(turns["start"])
        data = {
            "turns": {name: list(values[:size]) for name, values in turns.items()},
            "collections": {name: list(values) for name, values in self.collections.items()},
            "pings": list(self.pings),
            "messages": {name: list(values) for name, values in self.messages.items()},
        }
        Path(path).write_text(json.dumps(data))


def child(args: argparse.Namespace) -> int:
    """Serve with the probes on; write what they recorded to ``args.out`` at the end."""
    sys.path.insert(0, str(Path(args.tree).resolve()))
    import wslib
    from wslib import cli

    assert Path(wslib.__file__).resolve().is_relative_to(Path(args.tree).resolve())
    probe = Probe()
    probe.install()
    code = cli.main(["serve", "--host", "127.0.0.1", "--port", "0"])
    probe.dump(args.out)
    return code


def _cpu_times() -> dict[int, tuple[str, float, int]]:
    """Return every process's name, CPU seconds so far and last core, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    times = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            text = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        times[int(entry.name)] = (name, (int(fields[11]) + int(fields[12])) / tick, int(fields[36]))
    return times


def _thread_times(pid: int) -> dict[str, list[float]]:
    """Return the loop thread's and the other threads' user and system CPU seconds so far."""
    tick = os.sysconf("SC_CLK_TCK")
    times: dict[str, list[float]] = {}
    for entry in os.scandir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):
            text = Path(entry.path, "stat").read_text()
            fields = text[text.rindex(")") + 2 :].split()
            mine = times.setdefault("loop" if entry.name == str(pid) else "others", [0.0, 0.0])
            mine[0] += int(fields[11]) / tick
            mine[1] += int(fields[12]) / tick
    return times


def _core_times(core: int) -> tuple[float, float]:
    """Return the seconds core ``core`` has been busy and has been stolen, so far.

    Stolen time is when the virtual machine's host ran something else on this virtual CPU:
    a thread of ours that was running then is counted as neither on its core nor waiting.
    """
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{core} "):
            values = [int(v) for v in line.split()[1:]]
            tick = os.sysconf("SC_CLK_TCK")
            return (sum(values[:8]) - values[3] - values[4]) / tick, values[7] / tick
    return 0.0, 0.0


def elsewhere(before: dict[int, tuple[str, float, int]], server: int, loadgen: int) -> list[str]:
    """Name the processes other than the two measured that used CPU since ``before``."""
    after = _cpu_times()
    used = []
    for pid, (name, cpu, core) in after.items():
        if pid in (server, loadgen):
            continue
        delta = cpu - before.get(pid, (name, 0.0, core))[1]  # all of it, if it is new
        if delta >= 0.05:
            used.append((delta, f"{name} {delta:.2f}s (core {core})"))
    return [text for _, text in sorted(used, reverse=True)[:4]]


def _percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else 0.0


def shares(data: dict[str, Any], trace: dict[str, list[float]]) -> dict[str, Any]:
    """Split each message's last delivery into the server's part and the load generator's.

    The server's part runs from the message's send to its last copy's write (less the
    quickest trip in, which stands for the clocks' offset); the rest, to the load
    generator's reading it, is the load generator's (and one loopback hop).
    """
    m = data["messages"]
    trips = list(zip(m["taken"], m["seq"], m["sent"], m["written"], strict=False))
    if not trips:
        return {}
    fastest = min(taken - sent / 1e6 for taken, _, sent, _ in trips)
    rows = []
    for _, seq, sent, written in trips:
        server = (written - sent / 1e6 - fastest) * 1e3
        last = trace["last_us"][int(seq)] / 1e3
        rows.append((last, server, last - server))
    rows.sort()
    tail = rows[int(0.99 * len(rows)) :]  # the messages whose last copy came latest
    ms = [sorted(column) for column in zip(*rows, strict=True)]
    return {
        "last_p50_ms": round(_percentile(ms[0], 0.5), 3),
        "last_p99_ms": round(_percentile(ms[0], 0.99), 3),
        "server_part_p50_ms": round(_percentile(ms[1], 0.5), 3),
        "server_part_p99_ms": round(_percentile(ms[1], 0.99), 3),
        "loadgen_part_p50_ms": round(_percentile(ms[2], 0.5), 3),
        "loadgen_part_p99_ms": round(_percentile(ms[2], 0.99), 3),
        "slowest_1pct": {
            "last_ms": round(sum(row[0] for row in tail) / len(tail), 3),
            "server_ms": round(sum(row[1] for row in tail) / len(tail), 3),
            "loadgen_ms": round(sum(row[2] for row in tail) / len(tail), 3),
        },
    }


def analyse(data: dict[str, Any], start: float, end: float) -> dict[str, Any]:
    """Summarise the turns, collections and pings between ``start`` and ``end``."""
    t = data["turns"]
    rows = [
        dict(zip(TURN_FIELDS, values, strict=True))
        for values in zip(*(t[name] for name in TURN_FIELDS), strict=True)
        if start <= values[0] <= end
    ]
    c = data["collections"]
    collections = [
        {"start": s, "wall": w, "generation": int(g)}
        for s, w, g in zip(c["start"], c["wall"], c["generation"], strict=True)
        if start <= s <= end
    ]
    pings = [p for p in data["pings"] if start <= p <= end]
    m = data["messages"]
    trips = [
        (taken - sent / 1e6, written - taken)
        for taken, sent, written in zip(m["taken"], m["sent"], m["written"], strict=False)
        if start <= taken <= end
    ]
    # The two clocks differ by a constant: the quickest trip in is taken as no delay.
    fastest = min((inbound for inbound, _ in trips), default=0.0)
    inbound = sorted(trip - fastest for trip, _ in trips)
    held = sorted(hold for _, hold in trips)
    woken = sorted(row["woken"] for row in rows)
    # From the start of the turn that read a message to the relay taking it: the read path.
    starts = [row["start"] for row in rows]
    reads = sorted(
        taken - starts[bisect.bisect_right(starts, taken) - 1]
        for taken in m["taken"]
        if starts and starts[0] <= taken <= end
    )
    walls = sorted(row["wall"] for row in rows)

    def during(row: dict[str, float]) -> dict[str, Any]:
        began, ended = row["start"], row["start"] + row["wall"]
        gcs = [x for x in collections if began <= x["start"] < ended]
        gil = row["wall"] - row["cpu"] - row["queued"]
        return {
            "ms": round(row["wall"] * 1e3, 2),
            "cpu": round(row["cpu"] * 1e3, 2),
            "queued": round(row["queued"] * 1e3, 2),  # runnable, waiting for the core
            "other": round(gil * 1e3, 2),  # off the core otherwise: the GIL, a blocking call
            "output_cpu": round(row["output_cpu"] * 1e3, 2),
            "ready": int(row["ready"]),
            "gc": [f"gen{x['generation']} {x['wall'] * 1e3:.2f}ms" for x in gcs],
            "pings": sum(1 for p in pings if began <= p < ended),
        }

    long = [row for row in rows if row["wall"] >= LONG]
    span = end - start
    ms = 1e3
    return {
        "turns": len(rows),
        "turn_p50_ms": round(_percentile(walls, 0.5) * ms, 3),
        "turn_p99_ms": round(_percentile(walls, 0.99) * ms, 3),
        "turn_p999_ms": round(_percentile(walls, 0.999) * ms, 3),
        "turn_max_ms": round(walls[-1] * ms, 3) if walls else 0.0,
        "over_1ms": sum(1 for w in walls if w >= 0.001),
        "over_2ms": len(long),
        "over_5ms": sum(1 for w in walls if w >= 0.005),
        # Turns that read something (the message, pongs) and turns that ran only callbacks
        # (the fan-out's flush at the end of the turn that read the message).
        "read_turn_cpu_p50_ms": round(
            _percentile(sorted(r["cpu"] for r in rows if r["ready"]), 0.5) * ms, 3
        ),
        "other_turn_cpu_p50_ms": round(
            _percentile(sorted(r["cpu"] for r in rows if not r["ready"]), 0.5) * ms, 3
        ),
        "loop_busy": round(sum(walls) / span, 3),
        "loop_cpu": round(sum(row["cpu"] for row in rows) / span, 3),
        "loop_queued_ms": round(sum(row["queued"] for row in rows) * ms, 1),
        "loop_other_ms": round(sum(r["wall"] - r["cpu"] - r["queued"] for r in rows) * ms, 1),
        "output_cpu_ms": round(sum(row["output_cpu"] for row in rows) * ms, 1),
        "output_cpu_all_ms": round((rows[-1]["output_at"] - rows[0]["output_at"]) * ms, 1)
        if rows
        else 0.0,
        "woken_queued_ms": round(sum(woken) * ms, 1),
        "woken_max_ms": round(woken[-1] * ms, 3) if woken else 0.0,
        "woken_over_1ms": sum(1 for w in woken if w >= 0.001),
        "messages": len(trips),
        "in_p50_ms": round(_percentile(inbound, 0.5) * ms, 3),
        "in_p99_ms": round(_percentile(inbound, 0.99) * ms, 3),
        "in_max_ms": round(inbound[-1] * ms, 3) if inbound else 0.0,
        "held_p50_ms": round(_percentile(held, 0.5) * ms, 3),
        "held_p99_ms": round(_percentile(held, 0.99) * ms, 3),
        "held_max_ms": round(held[-1] * ms, 3) if held else 0.0,
        "read_p50_ms": round(_percentile(reads, 0.5) * ms, 3),
        "read_p99_ms": round(_percentile(reads, 0.99) * ms, 3),
        "collections": [sum(1 for x in collections if x["generation"] == g) for g in range(3)],
        "gc_longest_ms": round(max((x["wall"] for x in collections), default=0.0) * ms, 2),
        "pings": len(pings),
        "long_turns": {
            "with_gc": sum(1 for row in long if during(row)["gc"]),
            "with_pings": sum(1 for row in long if during(row)["pings"]),
            "mostly_queued": sum(1 for row in long if row["queued"] > row["wall"] / 2),
            "mostly_other": sum(
                1 for row in long if row["wall"] - row["cpu"] - row["queued"] > row["wall"] / 2
            ),
            "mostly_cpu": sum(1 for row in long if row["cpu"] > row["wall"] / 2),
            "output_over_0.5ms": sum(1 for row in long if row["output_cpu"] > 0.0005),
        },
        "longest": [during(row) for row in sorted(rows, key=lambda r: r["wall"])[-5:]],
    }


def one_run(tree: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run one checkout's server under the probes against the latency load; summarise."""
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "probe.json")
        trace = Path(tmp) / "trace.json"
        command = [sys.executable, __file__, "--child", "--tree", tree, "--out", out]
        server = subprocess.Popen(
            pinned(command, 0), stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, cwd=tree
        )
        assert server.stdout is not None
        url = server.stdout.readline().decode().strip()
        drained = threading.Thread(target=lambda: [None for _ in server.stdout or ()])
        drained.start()  # the log lines are read, as run.py reads them
        try:
            loadgen = [
                "node", str(LOADGEN), "--url", url, "--mode", "latency",
                "--receivers", str(args.receivers), "--rate", str(args.rate),
                "--duration", str(args.duration), "--timeout", "120", "--trace", str(trace),
            ]  # fmt: skip
            proc = subprocess.Popen(pinned(loadgen, 1), stdout=subprocess.PIPE, text=True)
            assert proc.stdout is not None
            marks: dict[str, float] = {}
            result: dict[str, Any] = {}
            others: dict[int, tuple[str, float, int]] = {}
            core0 = core1 = (0.0, 0.0)
            for line in proc.stdout:
                message = json.loads(line)
                if "event" in message:
                    marks[message["event"]] = time.perf_counter()
                    if message["event"] == "start":
                        others, core0, core1 = _cpu_times(), _core_times(0), _core_times(1)
                        own = others.get(server.pid, ("", 0.0, 0))[1]
                        threads = _thread_times(server.pid)
                    else:
                        busy, stolen = (b - a for a, b in zip(core0, _core_times(0), strict=True))
                        stolen1 = _core_times(1)[1] - core1[1]
                        own = _cpu_times().get(server.pid, ("", 0.0, 0))[1] - own
                        crowd = elsewhere(others, server.pid, proc.pid)
                        threads = {
                            name: [round((b - a) / (marks["end"] - marks["start"]), 3)
                                   for a, b in zip(threads.get(name, [0.0, 0.0]), now, strict=True)]
                            for name, now in _thread_times(server.pid).items()
                        }  # fmt: skip
                else:
                    result = message
            proc.wait()
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
            drained.join(30)
        if not result.get("ok"):
            raise RuntimeError(f"load generator: {result}")
        data = json.loads(Path(out).read_text())
        split = shares(data, json.loads(trace.read_text()))
    summary = analyse(data, marks["start"], marks["end"])
    latency = {k: round(result[k], 3) for k in ("p50_ms", "p99_ms", "max_ms", "first_p99_ms")}
    span = marks["end"] - marks["start"]
    machine = {
        "core0_busy": round(busy / span, 3),
        "core0_server": round(own / span, 3),
        "stolen_ms": [round(stolen * 1e3), round(stolen1 * 1e3)],  # cores 0 and 1
        "elsewhere": crowd,
        "threads_user_system": threads,
    }
    return {**latency, **split, **machine, **summary}


def main() -> int:
    """Run each checkout in turn, run after run, and print one JSON line per run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trees", nargs="*", default=["."], help="checkouts to compare")
    parser.add_argument("--receivers", type=int, default=100)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tree", default=".", help=argparse.SUPPRESS)
    parser.add_argument("--out", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    failed = False
    for run in range(1, args.runs + 1):
        for tree in args.trees:
            try:
                summary = one_run(tree, args)
            except (RuntimeError, KeyError, OSError, ValueError) as exc:
                print(f"{tree} run {run}: failed: {exc}", flush=True)
                failed = True
                continue
            load = os.getloadavg()[0]
            print(f"{tree} run {run} (load {load:.1f}): {json.dumps(summary)}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
