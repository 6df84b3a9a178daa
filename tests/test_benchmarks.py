"""Tests for benchmarks/: the quick run works end to end, and the server options it measures.

The quick run starts every server variant and the Node.js load generator, and checks
each delivery; this test only checks that it ran and reported. It never asserts a
speed: machines differ, and a shared one is noisy. The benchmarks also measure the two
``wslib serve`` options that exist for speed and scale, ``--uvloop`` and the raised
open-file limit, so those are tested here too.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support import (
    REQUIRE_ALL,
    ROOT,
    TIMEOUT,
    child_env,
    recv,
    require,
    require_module,
    run_async,
    spawn,
)
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve

from wslib import cli
from wslib.core.protocol import Message, ack_event, encode, message_event, welcome_event

BENCHMARKS = ROOT / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
import open_cost  # noqa: E402 - benchmarks/ is no package
import run  # noqa: E402
import servers  # noqa: E402
from servers import (  # noqa: E402
    VARIANTS,
    Server,
    process_cpu_seconds,
    python_variant,
    tree_variant,
)


def require_variant(name: str) -> None:
    """Skip unless the server variant ``name`` can run here; fail under WSLIB_REQUIRE_ALL."""
    require("node", "the benchmarks' baselines and load generator run on Node.js")
    reason = VARIANTS[name].missing()
    if reason is not None:
        if REQUIRE_ALL:
            pytest.fail(f"{name}: {reason}")
        pytest.skip(f"{name}: {reason}")


@pytest.mark.node
@pytest.mark.slow
def test_quick_run_verifies_every_delivery_and_prints_one_summary_line() -> None:
    """`run.py --quick` exits 0 and prints one line naming each variant, with its ratios."""
    require("node", "the benchmarks' baselines and load generator run on Node.js")
    if not (BENCHMARKS / "node_modules" / "ws").is_dir():
        message = "benchmarks/node_modules is missing: run `npm ci --prefix benchmarks`"
        if REQUIRE_ALL:
            pytest.fail(message)
        pytest.skip(message)
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "run.py"), "--quick", "--runs", "1"],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=24 * TIMEOUT,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout
    skipped = set(re.findall(r"^skipping (\S+):", done.stderr, re.MULTILINE))
    ran = [name for name in VARIANTS if name not in skipped]
    assert {"wslib", "node-quiet", "websockets-broadcast"} <= set(ran), done.stderr
    if REQUIRE_ALL:  # npm ci installs ws and bun, so every baseline must run
        assert {"node-corked", "bun", "node-article"} <= set(ran), done.stderr
    assert lines[0].startswith("fan-out N=100 deliveries/s, median: ")
    for name in ran:
        ratio = r"\d+\.\d\dx [\w-]+"
        entry = rf"(: |; ){re.escape(name)} [\d,.]+ \({ratio}(, {ratio})*\)(;|$)"
        assert re.search(entry, lines[0]), f"{name} missing from: {lines[0]}"


# Small versions of every scenario, against each relay server: each one verifies every
# delivery (and order per sender) and reports the figures the tables show.
SCENARIOS = {
    "fan-out": (run.fanout(10, 2000, 8, 30), ["deliveries_per_s", "per_cpu_s", "loadgen_cpu"]),
    "senders": (run.senders(8, 20, 0.5), ["deliveries_per_s", "per_cpu_s", "p50_ms", "p99_ms"]),
    "latency": (run.latency(20, 200, 0.5), ["p99_ms", "first_p50_ms", "first_p99_ms"]),
    "connections": (
        run.connections(60, sources=3),
        ["kb_per_conn", "open_s", "open_cpu_us", "broadcast_s"],
    ),
}


@pytest.mark.node
@pytest.mark.slow
@pytest.mark.parametrize("scenario", list(SCENARIOS))
@pytest.mark.parametrize("name", ["wslib", "node-corked", "bun"])
def test_each_scenario_verifies_and_reports_on_each_server(name: str, scenario: str) -> None:
    """Every scenario runs against wslib, corked Node and Bun, and reports its figures."""
    require_variant(name)
    measure, keys = SCENARIOS[scenario]
    run.raise_nofile()
    with Server(VARIANTS[name]) as server:
        server.start()
        result = measure(server)
    for key in keys:  # the server's CPU clock counts nanoseconds: no figure may be 0
        assert result[key] > 0, (key, result)


def test_connections_past_the_open_file_limit_are_refused_before_any_connects() -> None:
    """A scale case that needs more open files than the hard limit is skipped, saying why."""
    measure = run.connections(run.nofile_limit() + 1)
    with Server(VARIANTS["wslib"]) as server, pytest.raises(run.Unsupported, match="hard limit"):
        measure(server)  # never started: it is refused first


def test_setting_picks_cases_by_label_and_refuses_one_that_matches_none(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--setting` keeps only the cases with that label; a label that matches none exits 1."""
    ran: list[str] = []
    monkeypatch.setattr(run, "run_case", lambda case, *_: ran.append(case.label) or [])
    monkeypatch.setattr(run, "table", lambda cases: "")
    assert run.main(["--only", "fan-out", "--setting", "N=10", "--variants", "wslib"]) == 0
    assert ran == ["N=10"]
    assert run.main(["--setting", "N=7", "--variants", "wslib"]) == 1
    assert "no case" in capsys.readouterr().err


def test_tree_variant_serves_wslib_from_another_checkout(tmp_path: Path) -> None:
    """`--tree NAME=PATH` runs `python -m wslib serve` with PATH as its directory."""
    variant = tree_variant(f"before={tmp_path}")
    assert variant.name == "before"
    assert variant.command[1:4] == ("-m", "wslib", "serve")
    assert variant.cwd == tmp_path.resolve()
    assert variant.missing() is not None  # no wslib in an empty directory
    with pytest.raises(ValueError, match="NAME=PATH"):
        tree_variant("no-path")


def test_python_variant_serves_this_checkout_on_another_interpreter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--python NAME=INTERPRETER` runs `INTERPRETER -m wslib serve` from this checkout,
    and says why it cannot where the interpreter is missing or cannot import the kit."""
    variant = python_variant(f"same={sys.executable}")
    assert variant.command[:4] == (sys.executable, "-m", "wslib", "serve")
    assert variant.cwd == VARIANTS["wslib"].cwd
    assert variant.missing() is None
    isolated = tmp_path / "isolated"  # -I: neither this checkout nor the venv's packages
    isolated.write_text(f'#!/bin/sh\nexec {sys.executable} -I -S "$@"\n')
    isolated.chmod(0o755)
    assert (
        python_variant(f"bare={isolated}").missing() == f"cannot import wslib.cli in {variant.cwd}"
    )
    missing = python_variant(f"gone={tmp_path / 'python9'}").missing()
    assert missing is not None
    assert missing.startswith(f"cannot run {tmp_path / 'python9'}")
    monkeypatch.chdir(tmp_path)  # a relative path is taken from where run.py was started
    assert python_variant("rel=venv/bin/python").command[0] == str(tmp_path / "venv/bin/python")
    with pytest.raises(ValueError, match="NAME=INTERPRETER"):
        python_variant("no-interpreter")


@pytest.mark.node
def test_keepalive_stall_times_the_turns_of_a_server_whose_clients_answer_its_pings() -> None:
    """`keepalive_stall.py` reports each checkout's loop turns; with keepalive off, no pongs."""
    require("node", "the load generator runs on Node.js")
    command = [sys.executable, str(BENCHMARKS / "keepalive_stall.py"), str(ROOT), "off"]
    options = ["--connections", "20", "--sources", "1", "--interval", "0.2", "--rounds", "2"]
    out = subprocess.run(
        command + options, capture_output=True, text=True, timeout=8 * TIMEOUT, check=False
    )
    assert out.returncode == 0, out.stdout + out.stderr
    on, off = (json.loads(line.split(": ", 1)[1]) for line in out.stdout.splitlines())
    assert on["connections"] == off["connections"] == 20
    assert on["answered"] == 20  # each was pinged, and its pong timed
    assert off["answered"] == 0
    assert on["turns"] > 0
    assert on["max_ms"] >= on["p999_ms"] > 0


@pytest.mark.node
def test_loop_stall_times_the_turns_of_wslib_serve_under_the_latency_load() -> None:
    """`loop_stall.py` reports the latency run, the loop's turns and each message's two parts."""
    require("node", "the load generator runs on Node.js")
    command = [sys.executable, str(BENCHMARKS / "loop_stall.py"), str(ROOT)]
    options = ["--receivers", "5", "--rate", "50", "--duration", "1"]
    out = subprocess.run(
        command + options, capture_output=True, text=True, timeout=8 * TIMEOUT, check=False
    )
    assert out.returncode == 0, out.stdout + out.stderr
    (line,) = out.stdout.splitlines()
    report = json.loads(line.split(": ", 1)[1])
    assert report["messages"] == 50  # each one seen by the probe, taken and written
    assert report["turns"] >= report["messages"] / 2  # one message a turn or two at most
    assert report["turn_max_ms"] >= report["turn_p999_ms"] >= report["turn_p50_ms"] > 0
    assert report["held_max_ms"] >= report["held_p50_ms"] > 0
    assert report["last_p99_ms"] >= report["last_p50_ms"] > 0  # the load generator's trace
    assert report["server_part_p50_ms"] > 0


@pytest.mark.node
@pytest.mark.slow
def test_open_cost_splits_the_cpu_of_opening_and_times_the_collector_in_that_span() -> None:
    """`open_cost.py --gc` reports user and system time per connection opened and the
    collections the server made while they opened."""
    require_variant("wslib")
    command = [sys.executable, str(BENCHMARKS / "open_cost.py"), "--variants", "wslib"]
    options = ["--count", "200", "--runs", "1", "--gc"]
    out = subprocess.run(
        command + options, capture_output=True, text=True, timeout=8 * TIMEOUT, check=False
    )
    assert out.returncode == 0, out.stdout + out.stderr
    result = json.loads(out.stdout.splitlines()[0])
    assert result["variant"] == "wslib"
    assert result["open_s"] > 0
    assert result["user_us"] + result["sys_us"] > 0
    assert set(result["gc"]) == {"0", "1", "2"}
    assert result["gc"]["0"][0] >= 1  # 200 connections' objects pass 700 young ones


@pytest.mark.parametrize("handshake", ["key", "websockets", "serve"])
def test_the_open_floor_answers_a_real_clients_handshake(handshake: str) -> None:
    """Each floor of open_floor.py opens a connection that websockets' client accepts (it
    checks the 101 and the accept key); the floor then ignores what the client sends."""
    floor = str(BENCHMARKS / "open_floor.py")
    with spawn(floor, "--handshake", handshake, "--port", "0") as child:
        url = child.line()

        async def body() -> None:
            async with connect(url, open_timeout=TIMEOUT, close_timeout=0.1) as client:
                assert client.response is not None
                assert client.response.status_code == 101
                await client.send("ignored")
                with pytest.raises(TimeoutError):  # nothing comes back: it only opens
                    await recv(client, timeout=0.2)

        run_async(body())


@pytest.mark.node
@pytest.mark.slow
def test_open_cost_measures_the_floors_and_stops_the_load_generator_itself() -> None:
    """The floors relay nothing: open_cost.py reports their open phase, then ends the load
    generator instead of waiting for a message that cannot come."""
    require("node", "the load generator runs on Node.js")
    command = [sys.executable, str(BENCHMARKS / "open_cost.py")]
    floors = ["floor-key", "floor-websockets", "floor-serve"]
    options = ["--variants", ",".join(floors), "--count", "200", "--runs", "1"]
    out = subprocess.run(
        command + options, capture_output=True, text=True, timeout=8 * TIMEOUT, check=False
    )
    assert out.returncode == 0, out.stdout + out.stderr
    results = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert [r["variant"] for r in results] == floors
    for result in results:
        assert result["open_s"] > 0
        assert result["user_us"] + result["sys_us"] > 0


def test_open_cost_names_the_variants_it_knows_when_given_another() -> None:
    """An unknown variant stops open_cost.py before any server starts, listing the known."""
    command = [sys.executable, str(BENCHMARKS / "open_cost.py"), "--variants", "wslib,nope"]
    out = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert out.returncode == 1
    assert "unknown variants: nope; known: wslib" in out.stderr
    assert "floor-websockets" in out.stderr
    assert out.stdout == ""


def test_open_cost_says_why_a_variant_cannot_run_before_any_server_starts(
    tmp_path: Path,
) -> None:
    """open_cost.py asks each variant why it cannot run, as run.py does: a checkout with no
    wslib of its own stops the run with that reason."""
    command = [sys.executable, str(BENCHMARKS / "open_cost.py"), "--variants", "floor-key"]
    out = subprocess.run(
        [*command, "--tree", f"empty={tmp_path}"],
        capture_output=True,
        text=True,
        timeout=2 * TIMEOUT,
        check=False,
    )
    assert out.returncode == 1
    reason = tree_variant(f"empty={tmp_path}").missing()
    assert reason is not None
    assert str(tmp_path) in reason
    assert out.stderr == f"empty: {reason}\n"
    assert out.stdout == ""


def test_a_uvloop_floor_without_uvloop_says_how_to_get_it(tmp_path: Path) -> None:
    """A floor on uvloop, served by an interpreter that cannot import uvloop, is missing it."""
    isolated = tmp_path / "isolated"  # -I -S: no site-packages, so no uvloop
    isolated.write_text(f'#!/bin/sh\nexec {sys.executable} -I -S "$@"\n')
    isolated.chmod(0o755)
    floor = open_cost.FLOORS["floor-key-uvloop"]
    assert floor.missing() in (None, "uvloop is not installed: pip install 'wslib[fast]'")
    bare = servers.Variant(floor.name, (str(isolated), *floor.command[1:]), floor.needs)
    assert bare.missing() == "uvloop is not installed: pip install 'wslib[fast]'"


def test_open_cost_reads_strace_tables_as_calls_per_connection() -> None:
    """Each row of `strace -c` becomes its calls divided by the connections, most first."""
    table = """% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 19.86    0.011239           3      3000           sendto
 18.70    0.010581           0     18000           getpid
  9.73    0.005506           1      3206       206 accept4
------ ----------- ----------- --------- --------- ----------------
100.00    0.056592           1     24206       206 total
"""
    calls = open_cost.per_connection(table, 3000)
    assert calls == {"total": 8.07, "getpid": 6.0, "accept4": 1.07, "sendto": 1.0}
    assert list(calls)[1] == "getpid"


def test_relay_cost_relays_each_burst_through_a_server_to_every_receiver() -> None:
    """`relay_cost.py` runs a Server's relay path from parser to writes and reports per message."""
    command = [sys.executable, str(BENCHMARKS / "relay_cost.py"), str(ROOT)]
    options = ["--receivers", "3", "--burst", "2", "--turns", "20", "--rounds", "1", "--runs", "1"]
    out = subprocess.run(
        command + options, capture_output=True, text=True, timeout=4 * TIMEOUT, check=False
    )
    assert out.returncode == 0, out.stdout + out.stderr  # a child counts every receiver's write
    (line,) = out.stdout.splitlines()
    assert re.fullmatch(rf"{re.escape(str(ROOT))}: \d+ ns per message .*, 1\.00x .*", line)


def test_handshake_cost_times_each_step_of_an_accepted_handshake() -> None:
    """`handshake_cost.py` runs websockets' handshake to a 101 and prints every step's median."""
    command = [sys.executable, str(BENCHMARKS / "handshake_cost.py"), "--count", "50"]
    out = subprocess.run(
        [*command, "--warmup", "5"], capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    assert out.returncode == 0, out.stdout + out.stderr  # a refused handshake raises
    header, *rows = out.stdout.splitlines()
    assert header == "websockets' opening handshake, median of 50 (µs):"
    assert [row.split()[0] for row in rows] == ["protocol", "parse", "accept", "respond", "whole"]
    assert all(float(row.split()[1]) > 0 for row in rows)


def test_bench_redis_relays_every_message_in_each_set_up() -> None:
    """`bench_redis.py` runs its three set-ups, each receiver checking every message in order."""
    require("redis-server", "bench_redis.py links two servers through Redis")
    command = [sys.executable, str(BENCHMARKS / "bench_redis.py")]
    options = ["--receivers", "3", "--messages", "150", "--runs", "1"]
    out = subprocess.run(
        command + options, capture_output=True, text=True, timeout=12 * TIMEOUT, check=False
    )
    assert out.returncode == 0, out.stdout + out.stderr  # a lost or late message raises
    rows = [line for line in out.stdout.splitlines() if re.match(r"\| (one|two)", line)]
    assert [row.split(" | ")[0] for row in rows] == ["| one", "| one+redis", "| two"]


# -- the server's CPU time ------------------------------------------------------------------

# For each line it reads, spins for that many CPU seconds in a thread of its own that then
# ends, and prints the CPU time it spent meanwhile by its own clock.
SPINNER = """
import sys, threading, time

def spin(seconds):
    start = time.process_time()
    while time.process_time() - start < seconds:
        pass

for line in sys.stdin:
    start = time.process_time()
    worker = threading.Thread(target=spin, args=(float(line),))
    worker.start()
    worker.join()
    print(time.process_time() - start, flush=True)
"""
TICK = 1 / os.sysconf("SC_CLK_TCK")  # what /proc/PID/stat counts in


def spun(child: Any, seconds: float) -> float:
    """Have the spinner spin for ``seconds`` of CPU; return what it counted once it is done."""
    child.proc.stdin.write(f"{seconds}\n")
    child.proc.stdin.flush()
    return float(child.line(10 * TIMEOUT))


def proc_stat_seconds(pid: int, monkeypatch: pytest.MonkeyPatch) -> float:
    """Return ``process_cpu_seconds(pid)`` as it reads with the CPU clock refused."""

    def refuse(clock: int) -> int:
        raise OSError(22, "Invalid argument")

    with monkeypatch.context() as patch:
        patch.setattr(servers.time, "clock_gettime_ns", refuse)
        return process_cpu_seconds(pid)


def test_a_processs_cpu_clock_agrees_with_proc_stat_and_counts_threads_that_ended(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The CPU clock reads what /proc/PID/stat does, to its ticks, including ended threads."""
    with spawn("-c", SPINNER) as child:
        done = spun(child, 0.2)
        ticked = proc_stat_seconds(child.proc.pid, monkeypatch)  # first: the clock only grows
        clock = process_cpu_seconds(child.proc.pid)
        # /proc cuts user and system time to a tick each: behind by up to two ticks.
        assert 0 <= clock - ticked < 2 * TICK, (clock, ticked)
        assert clock >= done >= 0.2  # the spinning thread had ended, and still counts


def test_a_processs_cpu_clock_resolves_far_below_a_tick() -> None:
    """Two reads around 2 ms of a process's work differ by about 2 ms, not 0 or a tick."""
    with spawn("-c", SPINNER) as child:
        spun(child, 0.001)  # started: its imports are behind it
        before = process_cpu_seconds(child.proc.pid)
        done = spun(child, 0.002)
        used = process_cpu_seconds(child.proc.pid) - before
        assert done <= used < TICK, (done, used)


def test_without_the_cpu_clock_the_time_comes_from_proc_stat(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Where the CPU clock cannot be read, the CPU time is /proc/PID/stat's, in whole ticks."""
    with spawn("-c", SPINNER) as child:
        done = spun(child, 0.2)
        ticked = proc_stat_seconds(child.proc.pid, monkeypatch)
        clock = process_cpu_seconds(child.proc.pid)
    assert ticked / TICK == pytest.approx(round(ticked / TICK), abs=1e-6)  # whole ticks
    assert done - 2 * TICK < ticked <= clock < ticked + 2 * TICK


# -- the options `wslib serve` has for speed and scale -------------------------------------


def test_uvloop_flag_without_uvloop_fails_kindly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without uvloop installed, `serve --uvloop` says how to get it and exits 1."""
    monkeypatch.setitem(sys.modules, "uvloop", None)  # makes `import uvloop` fail
    assert cli.main(["serve", "--uvloop", "--port", "0"]) == 1
    assert capsys.readouterr().err == "wslib: --uvloop needs uvloop: pip install 'wslib[fast]'\n"


def test_serve_on_uvloop_keeps_the_articles_contract() -> None:
    """On uvloop, the server relays a burst to every other client in order, and logs it."""
    require_module("uvloop", "it is optional: pip install 'wslib[fast]'")
    with spawn("-m", "wslib", "serve", "--uvloop", "--port", "0") as child:
        url = child.line()

        async def body() -> None:
            async with connect(url) as alice, connect(url) as bob, connect(url) as carol:
                for i in range(20):
                    await alice.send(f"m{i}")
                for peer in (bob, carol):
                    for i in range(20):
                        assert await recv(peer) == f"Received message from peer: m{i}"
                assert child.line() == "Received message: m0"

        run_async(body())


def test_serve_raises_its_open_file_limit_where_allowed() -> None:
    """Started with a soft limit of 1024 open files, `serve` raises it towards the hard one."""
    resource = pytest.importorskip("resource")
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard <= 1024:
        pytest.skip(f"the hard limit ({hard}) leaves nothing to raise")
    wanted = 1 << 16 if hard == resource.RLIM_INFINITY else min(1 << 16, hard)
    start = (
        "import resource, sys; from wslib.cli import main; "
        "hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]; "
        "resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard)); "
        "sys.exit(main(['serve', '--port', '0']))"
    )
    with spawn("-c", start, env=child_env()) as child:
        child.line()  # the URL: the server is up
        limits = Path(f"/proc/{child.proc.pid}/limits")
        if not limits.exists():
            pytest.skip("no /proc here to read the limit back")
        row = next(r for r in limits.read_text().splitlines() if r.startswith("Max open files"))
        assert int(row.split()[3]) == wanted


@pytest.mark.parametrize(
    ("limit", "counts"),
    [
        (1 << 20, [1000, 10_000, 50_000]),
        (20_000, [1000, 10_000, 19_000, 50_000]),
        (10_500, [1000, 10_000, 50_000]),
    ],
)
def test_the_largest_count_that_fits_under_the_open_file_limit_is_measured_too(
    limit: int, counts: list[int]
) -> None:
    """Where 50,000 connections cannot run, the most whole thousands that fit are added."""
    assert [count for count, _ in run.connection_counts(limit)] == counts


def test_each_connections_run_takes_fresh_loopback_addresses() -> None:
    """Two connections runs never share source addresses, nor use 127.0.0.x."""
    if not sys.platform.startswith("linux"):
        assert run.source_net() is None  # only 127.0.0.1 is there to bind: the old way
        return
    first, second = run.source_net(), run.source_net()
    assert first is not None
    assert second is not None
    assert first != second
    assert all(net.startswith("127.0.") and net != "127.0.0" for net in (first, second))


def net_number(net: str | None) -> int:
    """Return N of a ``127.0.N`` network."""
    assert net is not None
    prefix, _, n = net.rpartition(".")
    assert prefix == "127.0"
    return int(n)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="source nets are Linux only")
def test_a_new_process_takes_the_network_after_the_last_one_any_process_took(
    tmp_path: Path,
) -> None:
    """A second run.py process does not start at the same 127.0.N as the first did."""
    state = tmp_path / "nets"
    take = f"import sys; sys.path.insert(0, {str(BENCHMARKS)!r}); import run, pathlib; "
    take += f"print(run.source_net(pathlib.Path({str(state)!r})))"
    nets = [subprocess.run([sys.executable, "-c", take], capture_output=True, text=True,
                           timeout=4 * TIMEOUT, check=True).stdout.strip()
            for _ in range(2)]  # fmt: skip
    nets.append(run.source_net(state) or "")
    assert [net_number(net) for net in nets] == [1, 2, 3]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="source nets are Linux only")
@pytest.mark.parametrize(("last", "n"), [("254\n", 1), ("253", 254), ("junk", 1), ("", 1)])
def test_source_nets_wrap_within_127_0_1_to_127_0_254(tmp_path: Path, last: str, n: int) -> None:
    """After 127.0.254 (or from an unreadable state) the next network is 127.0.1, never .0."""
    state = tmp_path / "nets"
    state.write_text(last)
    assert net_number(run.source_net(state)) == n
    assert state.read_text() == f"{n}\n"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="source nets are Linux only")
def test_a_state_that_cannot_be_written_falls_back_to_the_minute(tmp_path: Path) -> None:
    """Where the shared state cannot be opened, N comes from the clock's minute, in range."""
    for minute, n in ((0, 1), (253, 254), (254, 1), (1000, 1000 % 254 + 1)):
        clock = lambda minute=minute: minute * 60.0 + 59  # noqa: E731 - one line's clock
        assert net_number(run.source_net(tmp_path, clock)) == n  # a directory: open() fails


@pytest.mark.node
def test_the_load_generator_connects_from_the_source_net_it_is_given() -> None:
    """`loadgen.js --source-net NET --sources 2` opens every connection from NET.1 or NET.2."""
    require("node", "the load generator runs on Node.js")
    seen: list[str] = []

    async def body() -> None:
        async def handler(connection: Any) -> None:
            seen.append(connection.remote_address[0])
            await connection.wait_closed()

        async with serve(handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            proc = await asyncio.create_subprocess_exec(
                "node", str(run.LOADGEN), "--url", f"ws://127.0.0.1:{port}/",
                "--mode", "connections", "--receivers", "4", "--sources", "2",
                "--source-net", "127.0.77", "--timeout", str(4 * TIMEOUT),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            try:
                assert proc.stdout is not None
                opened = await asyncio.wait_for(proc.stdout.readline(), 4 * TIMEOUT)
                assert opened.startswith(b'{"event":"open"'), opened
            finally:
                proc.kill()
                await proc.wait()

    run_async(body())
    assert len(seen) == 4
    assert set(seen) == {"127.0.77.1", "127.0.77.2"}


@pytest.mark.node
@pytest.mark.slow
def test_the_load_generator_runs_on_bun_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """With `--loadgen-on bun`, loadgen.js runs on Bun and still verifies every delivery."""
    require_variant("bun")
    monkeypatch.setattr(run, "RUNTIME", ["bun"])
    with Server(VARIANTS["wslib"]) as server:
        server.start()
        result = run.latency(20, 200, 0.5)(server)
    assert result["p99_ms"] > 0
    assert str(run.BUN) in run.LOADGENS[-1].args


def test_the_note_under_the_table_names_the_load_generators_runtime(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The note under the table says whether the load generator ran on Node.js or Bun."""
    monkeypatch.setattr(run, "run_case", lambda *_: [])
    monkeypatch.setattr(run, "table", lambda cases: "")
    monkeypatch.setattr(run, "RUNTIME", ["node"])
    assert run.main(["--only", "latency", "--variants", "wslib"]) == 0
    assert "one Node.js process pinned" in capsys.readouterr().out
    if run.BUN.exists():
        assert run.main(["--loadgen-on", "bun", "--only", "latency", "--variants", "wslib"]) == 0
        assert "one Bun process pinned" in capsys.readouterr().out


def test_loadgen_on_bun_without_bun_fails_kindly(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--loadgen-on bun` without Bun installed says how to get it and exits 1."""
    monkeypatch.setattr(run, "BUN", tmp_path / "no-bun")
    assert run.main(["--loadgen-on", "bun", "--quick"]) == 1
    assert "npm ci --prefix benchmarks" in capsys.readouterr().err


# -- the chat scenario -------------------------------------------------------------------


def fake_chat_handler(fault: str) -> Any:
    """Return a handler that speaks the chat's protocol with one fault at message 5.

    It acks each send and sends the message to every joined client, the sender too, with
    the kit's own encoders. ``fault`` changes what one receiver (the first joined that
    did not send message 5) gets: ``drop`` it, ``reorder`` it after the same sender's
    next one, send it twice (``duplicate``); or ``no-ack`` leaves message 5 unacked.
    """
    joined: dict[Any, str] = {}
    held: list[tuple[Any, str]] = []
    count = itertools.count()

    async def handler(connection: Any) -> None:
        async for data in connection:
            event = json.loads(data)
            if event["type"] == "join":
                joined[connection] = event["name"]
                welcome = welcome_event(event["name"], "t", "e", [], replay=0, reset=False)
                await connection.send(encode(welcome))
                continue
            n = next(count)
            mid = f"e-{n:09d}"
            if not (fault == "no-ack" and n == 5):
                await connection.send(encode(ack_event(event["cid"], mid, duplicate=False)))
            frame = encode(message_event(Message(mid, joined[connection], event["text"], 1.0)))
            victim = next(peer for peer in joined if peer is not connection)
            for peer in list(joined):
                if n == 5 and peer is victim and fault in ("drop", "reorder"):
                    if fault == "reorder":
                        held.append((peer, frame))
                    continue
                await peer.send(frame)
                if n == 5 and peer is victim and fault == "duplicate":
                    await peer.send(frame)
            if n == 8:  # the same sender's next message (3 clients): the held one follows
                for peer, late in held:
                    await peer.send(late)

    return handler


def chat_loadgen(fault: str) -> dict[str, Any]:
    """Run `loadgen.js --mode chat` (3 clients, 5 messages each) against the fake chat."""

    async def body() -> dict[str, Any]:
        async with serve(fake_chat_handler(fault), "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            proc = await asyncio.create_subprocess_exec(
                "node", str(run.LOADGEN), "--url", f"ws://127.0.0.1:{port}/",
                "--mode", "chat", "--clients", "3", "--rate", "10", "--duration", "0.5",
                "--quiet", "0.5", "--timeout", str(4 * TIMEOUT),
                stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, _ = await asyncio.wait_for(proc.communicate(), 5 * TIMEOUT)
        result: dict[str, Any] = json.loads(out.decode().splitlines()[-1])
        assert (proc.returncode == 0) == result["ok"], result
        return result

    return run_async(body())


@pytest.mark.node
def test_the_chat_mode_passes_a_chat_that_delivers_everything() -> None:
    """Against a chat that acks and delivers every message, the chat mode reports no error."""
    require("node", "the load generator runs on Node.js")
    result = chat_loadgen("none")
    assert result["ok"], result
    assert result["messages"] == 15
    assert result["deliveries"] == 45  # each of 3 clients gets all 15, its own included
    assert result["p99_ms"] > 0


@pytest.mark.node
@pytest.mark.parametrize(
    ("fault", "counts"),
    [
        ("drop", {"lost": 1, "duplicates": 0, "unacked": 0}),
        ("reorder", {"lost": 0, "duplicates": 0, "unacked": 0}),
        ("duplicate", {"lost": 0, "duplicates": 1, "unacked": 0}),
        ("no-ack", {"lost": 0, "duplicates": 0, "unacked": 1}),
    ],
)
def test_the_chat_mode_reports_a_lost_reordered_duplicated_or_unacked_message(
    fault: str, counts: dict[str, int]
) -> None:
    """A chat that drops, reorders or repeats one delivery, or skips one ack, fails the run,
    and the result says which."""
    require("node", "the load generator runs on Node.js")
    result = chat_loadgen(fault)
    assert not result["ok"], result
    assert {key: result[key] for key in counts} == counts, result
    if fault in ("drop", "reorder"):  # the same sender's next message came too early
        assert result["order_errors"] >= 1, result
    if fault == "no-ack":  # its own message came with no ack just before it
        assert result["ack_errors"] >= 1, result
    assert result["error"], result


@pytest.mark.node
@pytest.mark.slow
def test_the_chat_scenario_verifies_and_reports_on_wslib() -> None:
    """The chat scenario runs against `wslib serve` and reports the figures its row shows."""
    require_variant("wslib")
    with Server(VARIANTS["wslib"]) as server:
        server.start()
        result = run.chat(8, 20, 0.5)(server)
    assert result["deliveries"] == 8 * 8 * 10
    for key in ("deliveries_per_s", "per_cpu_s", "p50_ms", "p99_ms", "loadgen_cpu"):
        assert result[key] > 0, (key, result)


def test_only_chat_brings_the_relays_senders_and_runs_the_chat_on_wslib_alone(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--only chat` also runs the relay's senders at the same settings, skips the chat on
    servers that have none, and compares the two under the table."""
    ran: list[tuple[str, str, str]] = []

    def fake_run(case: run.Case, variants: list[Any], *_: object) -> list[str]:
        for variant in variants:
            if run.serves(case, variant):
                ran.append((case.scenario, case.label, variant.name))
                figures = {"deliveries_per_s": 100.0, "per_cpu_s": 200.0, "p99_ms": 3.0}
                if case.scenario == "chat":
                    figures = {"deliveries_per_s": 50.0, "per_cpu_s": 150.0, "p99_ms": 9.0}
                case.results.setdefault(variant.name, []).append(figures)
        return []

    monkeypatch.setattr(run, "run_case", fake_run)
    setting = ["--setting", "100 x 20 msg/s"]
    assert run.main(["--only", "chat", *setting, "--variants", "wslib,websockets-broadcast"]) == 0
    assert ran == [
        ("senders", "100 x 20 msg/s", "wslib"),
        ("senders", "100 x 20 msg/s", "websockets-broadcast"),
        ("chat", "100 x 20 msg/s", "wslib"),
    ]
    out = capsys.readouterr().out
    assert "- chat 100 x 20 msg/s, wslib: 50 deliveries/s, p99 9 ms" in out
    assert "the chat did 0.50x its deliveries/s, 0.75x its per CPU-s." in out
