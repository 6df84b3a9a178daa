"""Start, watch and stop the relay servers that the benchmarks compare.

Each server prints its URL as the first stdout line. A reader thread keeps
draining the rest of stdout, so a logging server pays for its logging but never
blocks on a full pipe.
"""

from __future__ import annotations

import io
import os
import queue
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

__all__ = [
    "BUN",
    "VARIANTS",
    "Server",
    "Variant",
    "cpu_split",
    "nofile_limit",
    "pin",
    "process_cpu_seconds",
    "python_variant",
    "raise_nofile",
    "tree_variant",
]

HERE = Path(__file__).resolve().parent
NODE = shutil.which("node")
BUN = HERE / "node_modules" / ".bin" / "bun"  # the binary that the `bun` npm package ships
TASKSET = shutil.which("taskset")


@dataclass(frozen=True)
class Variant:
    """A server under test: how to start it, and why it cannot run (if so)."""

    name: str
    command: tuple[str, ...]
    needs: str  # "node", "bun", "wslib", "wslib+uvloop", "python" or "python+uvloop"
    cwd: Path = HERE.parent  # where it runs: `python -m wslib` imports wslib from here

    def missing(self) -> str | None:
        """Return why this variant cannot run here, or None if it can."""
        if self.needs == "node":
            if NODE is None:
                return "node is not on PATH"
            if not (HERE / "node_modules" / "ws").is_dir():
                return "ws is not installed: run `npm ci --prefix benchmarks`"
        if self.needs == "bun":
            if not BUN.exists():
                return "bun is not installed: run `npm ci --prefix benchmarks`"
            try:
                subprocess.run([str(BUN), "--version"], capture_output=True, timeout=30, check=True)
            except (OSError, subprocess.SubprocessError) as exc:
                return f"{BUN} does not run here: {exc}"
        if self.needs.startswith("wslib"):
            # Ask the interpreter that will serve (the command's first word), from the
            # directory it will serve in. wslib must come from that directory, not from
            # wherever it is installed.
            python = self.command[0]
            modules = self.needs.replace("+", ".cli, ") if "+" in self.needs else "wslib.cli"
            check = [python, "-c", f"import {modules}; print(wslib.__file__)"]
            try:
                done = subprocess.run(
                    check, cwd=self.cwd, capture_output=True, text=True, timeout=30
                )
            except OSError as exc:  # no such interpreter
                return f"cannot run {python}: {exc}"
            if done.returncode != 0:
                return f"cannot import {modules} in {self.cwd}"
            if not Path(done.stdout.strip()).resolve().is_relative_to(self.cwd.resolve()):
                return f"wslib in {self.cwd} is not the one imported: {done.stdout.strip()}"
        if self.needs == "python+uvloop":
            check = [self.command[0], "-c", "import uvloop"]
            if subprocess.run(check, capture_output=True, timeout=30).returncode != 0:
                return "uvloop is not installed: pip install 'wslib[fast]'"
        return None


PY = sys.executable
LOCAL = ("--host", "127.0.0.1", "--port", "0")
NODE_SERVER = (NODE or "node", str(HERE / "node" / "server.js"))
VARIANTS = {
    v.name: v
    for v in (
        Variant("wslib", (PY, "-m", "wslib", "serve", *LOCAL), "wslib"),
        Variant("wslib-uvloop", (PY, "-m", "wslib", "serve", "--uvloop", *LOCAL), "wslib+uvloop"),
        Variant("node-article", (*NODE_SERVER, *LOCAL), "node"),
        Variant("node-quiet", (*NODE_SERVER, "--quiet", *LOCAL), "node"),
        Variant("node-corked", (*NODE_SERVER, "--quiet", "--cork", *LOCAL), "node"),
        Variant("bun", (str(BUN), str(HERE / "bun" / "server.js"), "--quiet", *LOCAL), "bun"),
        Variant(
            "websockets-broadcast", (PY, str(HERE / "baseline_websockets.py"), *LOCAL), "python"
        ),
    )
}


def named(spec: str, value: str) -> tuple[str, str]:
    """Split ``NAME=VALUE`` into its two parts; raise ValueError unless both are there."""
    name, sep, rest = spec.partition("=")
    if not sep or not name or not rest:
        raise ValueError(f"expected NAME={value}, got {spec!r}")
    return name, rest


def tree_variant(spec: str) -> Variant:
    """Return a variant serving ``python -m wslib serve`` from another checkout.

    Args:
        spec: ``NAME=PATH``, e.g. ``before=/tmp/before`` for a ``git worktree`` of the
            commit before a change, to measure the change side by side with it.
    """
    name, path = named(spec, "PATH")
    return Variant(name, (PY, "-m", "wslib", "serve", *LOCAL), "wslib", Path(path).resolve())


def python_variant(spec: str) -> Variant:
    """Return a variant serving ``python -m wslib serve`` from this checkout on another
    interpreter, to compare Python versions side by side in one run.

    Args:
        spec: ``NAME=INTERPRETER``, e.g. ``py3.13=.venv-3.13/bin/python`` (a venv with
            the kit's dependencies; wslib itself comes from this checkout).
    """
    name, python = named(spec, "INTERPRETER")
    if os.sep in python:  # a path: from here, not from where the server runs
        python = str(Path(python).absolute())  # not resolve(): a venv's python is a link
    return Variant(name, (python, "-m", "wslib", "serve", *LOCAL), "wslib")


def pin(command: list[str], core: int) -> list[str]:
    """Prefix ``command`` with taskset to run it on one core, where that is possible."""
    if TASKSET is None or (os.cpu_count() or 1) < 2:
        return command
    return [TASKSET, "-c", str(core), *command]


def process_cpu_seconds(pid: int) -> float:
    """Return the CPU seconds that process ``pid`` has used so far, all its threads together.

    Linux keeps a process's CPU time in nanoseconds (the scheduler's runtime of all its
    threads, those that ended included) and lets any process read it as a POSIX clock
    whose id encodes the pid (``MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)`` in the
    kernel; see clock_getcpuclockid(3)). ``/proc/PID/stat`` gives the same time with user
    and system each cut to the kernel's 10 ms tick: too coarse for a run that uses 0.15 s.
    Where the clock cannot be read (not Linux, or a kernel that refuses), this falls back
    to ``/proc/PID/stat``.

    Raises:
        OSError: if there is no process ``pid`` (from the fallback).
    """
    try:
        return time.clock_gettime_ns((~pid << 3) | 2) / 1e9
    except OSError:
        return sum(cpu_split(pid))


def cpu_split(pid: int) -> tuple[float, float]:
    """Return the user and system CPU seconds of process ``pid``, from ``/proc/PID/stat``.

    Each is counted in the kernel's ticks (10 ms).
    """
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / ticks, int(fields[12]) / ticks


def nofile_limit() -> int:
    """Return the most files a process here may open (the hard RLIMIT_NOFILE)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return 1 << 20 if hard == resource.RLIM_INFINITY else hard


def raise_nofile() -> int:
    """Raise this process's open-file limit to its hard limit (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = 1 << 20 if hard == resource.RLIM_INFINITY else hard
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


class Server:
    """One running server process, pinned to core 0.

    Steps: ``start()`` returns once the URL line arrived (or raises); read
    ``rss_kb()`` and ``cpu_seconds()`` while it runs; ``stop()`` always.
    """

    def __init__(self, variant: Variant, cwd: Path | None = None) -> None:
        self.variant = variant
        self.cwd = cwd or variant.cwd
        self.url = ""
        self.log_lines = 0
        # Open for the server's whole life; stop() closes it.
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        self._proc: subprocess.Popen[bytes] | None = None
        self._first: queue.Queue[str] = queue.Queue()
        self._drainer: threading.Thread | None = None

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def start(self, timeout: float = 15.0) -> str:
        """Start the server and return its URL.

        Raises:
            RuntimeError: if it exits or prints no URL within ``timeout`` seconds.
        """
        self._proc = subprocess.Popen(
            pin(list(self.variant.command), 0),
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            start_new_session=True,  # its own process group, stopped as one
        )
        self._drainer = threading.Thread(target=self._drain, daemon=True)
        self._drainer.start()
        try:
            first = self._first.get(timeout=timeout)
        except queue.Empty:
            first = ""
        if not first.startswith("ws://"):
            tail = self.stderr_tail()
            self.stop()
            raise RuntimeError(f"{self.variant.name} printed no URL: {tail}")
        self.url = first
        return first

    def _drain(self) -> None:
        assert self._proc is not None
        assert self._proc.stdout is not None
        stdout = cast(io.BufferedReader, self._proc.stdout)
        self._first.put(stdout.readline().decode(errors="replace").strip())
        while chunk := stdout.read1(1 << 16):
            self.log_lines += chunk.count(b"\n")

    def rss_kb(self) -> int:
        """Return the server's resident memory (VmRSS) in KiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS line")

    def cpu_seconds(self) -> float:
        """Return the CPU time the server has used so far (see ``process_cpu_seconds``)."""
        return process_cpu_seconds(self.pid)

    def stderr_tail(self, limit: int = 300) -> str:
        """Return the end of what the server wrote to stderr, on one line."""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-limit:].replace("\n", " | ")

    def stop(self, grace: float = 5.0) -> None:
        """Stop the server: SIGTERM, then SIGKILL after ``grace`` seconds."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            for signum, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
                try:
                    os.killpg(proc.pid, signum)
                    proc.wait(timeout=wait)
                    break
                except ProcessLookupError:
                    break
                except subprocess.TimeoutExpired:
                    continue
        if self._drainer is not None:
            self._drainer.join(5.0)  # it ends at the end of the server's stdout
        if proc is not None and proc.stdout is not None and not self._drainer_alive():
            proc.stdout.close()
        self._stderr.close()

    def _drainer_alive(self) -> bool:
        return self._drainer is not None and self._drainer.is_alive()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
