"""Tests for the throw-away redis-server: registered, replaced by name, gone with its parent."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import TIMEOUT, require, require_module, restart_port

import wslib
from wslib.sync import runtime
from wslib.teaching import redis_server
from wslib.teaching.redis_server import RedisServer, why_no_redis


@pytest.fixture(autouse=True)
def needs_redis_server() -> Iterator[None]:
    """Skip (fail under WSLIB_REQUIRE_ALL) without redis-server; stop whatever a test left."""
    require("redis-server", "these tests start one")
    try:
        yield
    finally:
        wslib.stop_all()


def test_stop_all_stops_a_started_redis_server() -> None:
    """A started RedisServer is registered with the kit, so stop_all() stops it."""
    redis = RedisServer().start()
    assert redis in runtime.running()
    assert redis_server._answers(redis.port)
    assert wslib.stop_all() == 1
    assert not redis.running
    assert not redis_server._answers(redis.port)
    assert redis not in runtime.running()


def test_starting_again_under_the_same_name_replaces_the_earlier_one() -> None:
    """A re-run cell's RedisServer(name=...) stops the earlier one instead of adding one."""
    first = RedisServer(name="notebook").start()
    other = RedisServer(name="other").start()
    second = RedisServer(name="notebook").start()
    assert not first.running
    assert other.running
    assert second.running
    assert [item for item in runtime.running() if isinstance(item, RedisServer)] == [other, second]


def test_restart_keeps_one_registration() -> None:
    """kill() then restart() leaves the server registered once, on the same port."""
    redis = RedisServer(restart_port(), name="restart").start()
    port = redis.port
    redis.kill()
    redis.restart()
    assert redis.port == port
    assert redis_server._answers(port)
    assert runtime.running().count(redis) == 1


def test_redis_server_ends_when_the_process_that_started_it_is_killed(tmp_path: Path) -> None:
    """A kernel killed with SIGKILL takes its redis-server with it, through the watchdog."""
    require_module("psutil", "to wait for a process that is not this one's child")
    import psutil

    script = (
        "from wslib.teaching.redis_server import RedisServer\n"
        "redis = RedisServer().start()\n"
        "print(redis._proc.pid, flush=True)\n"
        "input()\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as kernel:
        try:
            assert kernel.stdout is not None
            redis = psutil.Process(int(kernel.stdout.readline()))
            assert redis.is_running()
        finally:
            kernel.kill()
    redis.wait(timeout=4 * TIMEOUT)  # raises psutil.TimeoutExpired if it outlives the kernel


def test_why_no_redis_names_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without redis-server, or without redis-py, the reason says which and how to get it."""
    assert why_no_redis() is None or "redis-py" in str(why_no_redis())
    monkeypatch.setattr(redis_server.importlib.util, "find_spec", lambda name: None)
    assert why_no_redis() == "redis-py is not installed (pip install 'wslib[redis]')"
    monkeypatch.setenv("PATH", str(tmp_path))
    assert why_no_redis() == "redis-server is not installed (on Debian: apt install redis-server)"
