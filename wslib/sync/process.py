"""Run a ``wslib`` command (``serve``, ``echo``, ``chat``) as a child process of this one.

Usage in a notebook (re-running the cell replaces the process)::

    server = wslib.spawn("serve", "--port", "0")
    server.url                           # 'ws://127.0.0.1:54321/', its first line
    bob = wslib.spawn("chat", server.url + "chat", "--name", "Bob")
    bob.read_until("joined as Bob")      # what Bob's terminal printed so far
    bob.type("hello")                    # a line typed at Bob's keyboard
    server.send_signal(signal.SIGTERM)   # clients get 1001; server.wait() is then 0

Contract:

1. The child's stdin is a pipe from this process; its stdout and stderr are read by two
   threads of this process as soon as lines come, and kept (the newest ``keep`` of each).
   So the child never waits for a reader, however long it runs.
2. The stdin pipe is its lifeline. ``serve`` and ``echo`` run with ``--until-stdin-closes``,
   and ``chat`` ends at the end of its input anyway. When this process ends, in any way (a
   kernel killed with SIGKILL included), the system closes the pipe and the child stops:
   a server closes its clients with 1001 and exits. (Linux's ``PR_SET_PDEATHSIG`` would
   need ``preexec_fn``, which is unsafe in a process with threads, and it fires when the
   *thread* that started the child ends, not the process.)
3. ``spawn`` registers the process with the kit's runtime, so ``wslib.stop_all()``, the
   notebooks' *Stop everything* button and Python's exit stop it; a process that ends by
   itself leaves the register.
4. Spawning under the same name (by default, the same arguments) stops the earlier process
   first: a re-run cell replaces, never duplicates. A server being replaced closes its
   clients with 4000 (replaced by a new server), as ``wslib.start`` does, so panes of the
   earlier run close for good instead of reconnecting to a port nobody serves.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Mapping
from typing import IO, Self

from ..core.lifetime import StopOnExit
from ..exceptions import ServerError
from . import runtime

__all__ = ["WslibProcess", "spawn"]

_SERVERS = ("serve", "echo")  # the commands whose first line is a URL


class WslibProcess(StopOnExit):
    """One ``python -m wslib ARGS`` child process, its output kept and its input a pipe.

    Args:
        args: The command line after ``python -m wslib``, e.g. ``("serve", "--port", "0")``.
        env: Environment variables for the child, on top of this process's own.
        name: Starting replaces a running ``WslibProcess`` of the same name; by default the
            arguments joined by spaces.
        timeout: How long ``start``, ``read_until`` and ``stop`` wait by default, in seconds.
        keep: How many of the newest lines of stdout (and of stderr) to keep.
    """

    def __init__(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        name: str | None = None,
        timeout: float = 10.0,
        keep: int = 1000,
    ) -> None:
        if not args:
            raise ValueError("give the wslib command to run, e.g. 'serve'")
        self.args = args
        self.env = dict(env or {})
        self.name = name if name is not None else " ".join(args)
        self.timeout = timeout
        self.url: str | None = None  # for serve and echo: the first line
        self._out: deque[str] = deque(maxlen=keep)
        self._err: deque[str] = deque(maxlen=keep)
        self._read = 0  # stdout lines handed out by read_until so far
        self._printed = 0  # stdout lines printed so far, kept or not
        self._changed = threading.Condition()
        self._open_streams = 0
        self._done = False  # both streams ended, the child reaped and forgotten
        self._proc: subprocess.Popen[bytes] | None = None
        self._input_lock = threading.Lock()

    @property
    def command(self) -> str:
        """Return the subcommand: ``serve``, ``echo``, ``chat``, ..."""
        return self.args[0]

    @property
    def pid(self) -> int | None:
        """Return the child's process id, or ``None`` before ``start``."""
        return None if self._proc is None else self._proc.pid

    @property
    def running(self) -> bool:
        """Return whether the child is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        """Return the exit code, or ``None`` while the child runs (or before ``start``)."""
        return None if self._proc is None else self._proc.poll()

    @property
    def lines(self) -> list[str]:
        """Return the stdout lines kept so far, without their newlines."""
        with self._changed:
            return list(self._out)

    @property
    def errors(self) -> list[str]:
        """Return the stderr lines kept so far, without their newlines."""
        with self._changed:
            return list(self._err)

    def start(self) -> Self:
        """Start the child, replacing an earlier one of the same name; register it.

        For ``serve`` and ``echo``, return once the first line (the URL) is in ``url``.

        Raises:
            ServerError: A server exited, or printed nothing, before its URL (its stderr
                lines say why: a port in use, a bad option).
            RuntimeError: It was started already.
        """
        if self._proc is not None:
            raise RuntimeError(f"{self!r} was started already; spawn a new one")
        for earlier in runtime.running():
            if isinstance(earlier, WslibProcess) and earlier.name == self.name:
                earlier._replace()
        args = list(self.args)
        if self.command in _SERVERS:
            args.append("--until-stdin-closes")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "wslib", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, **self.env},
        )
        runtime.remember(self)
        self._open_streams = 2
        for stream, lines in ((self._proc.stdout, self._out), (self._proc.stderr, self._err)):
            assert stream is not None
            reader = threading.Thread(
                target=self._pump, args=(stream, lines), name="wslib process output", daemon=True
            )
            reader.start()
        if self.command in _SERVERS:
            try:
                self.url = self.read_until("")[0]  # the first line, whatever it holds
            except (EOFError, TimeoutError) as exc:
                self.stop()
                why = "; ".join(self.errors) or str(exc)
                raise ServerError(f"wslib {self.command} did not start: {why}") from None
        return self

    def read_until(self, text: str, timeout: float | None = None) -> list[str]:
        """Return the stdout lines not read yet, up to the first one that contains ``text``.

        Raises:
            EOFError: The child ended without printing such a line.
            TimeoutError: No such line came within ``timeout`` seconds (``self.timeout``).
        """
        limit = self.timeout if timeout is None else timeout
        with self._changed:
            found = self._changed.wait_for(
                lambda: self._find(text) is not None or self._ended(), limit
            )
            at = self._find(text)
            if at is None:
                if found:
                    raise EOFError(f"the process ended before printing {text!r}")
                raise TimeoutError(f"no line with {text!r} within {limit} s")
            first = len(self._out) - (self._printed - self._read)
            lines = list(self._out)[max(first, 0) : at + 1]
            self._read = self._printed - (len(self._out) - at - 1)
            return lines

    def type(self, line: str) -> None:
        """Write ``line`` and a newline to the child's stdin, as typed at its keyboard.

        Raises:
            BrokenPipeError: The child has ended, or its input was closed.
        """
        with self._input_lock:
            stdin = self._stdin()
            if stdin is None or stdin.closed:
                raise BrokenPipeError("the process's input is closed")
            stdin.write(line.encode() + b"\n")
            stdin.flush()

    def close_input(self) -> None:
        """Close the child's stdin, as Ctrl-D does: ``chat`` leaves, ``serve`` stops."""
        with self._input_lock:
            stdin = self._stdin()
            if stdin is not None and not stdin.closed:
                # The child may have gone: what was still buffered is lost with it.
                with contextlib.suppress(BrokenPipeError):
                    stdin.close()

    def send_signal(self, signum: int) -> None:
        """Send the child ``signum`` (``signal.SIGTERM`` asks a server to stop cleanly)."""
        if self._proc is not None:
            self._proc.send_signal(signum)

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the child to end and its output to be read; return its exit code.

        Raises:
            subprocess.TimeoutExpired: It still runs after ``timeout`` seconds.
        """
        if self._proc is None:
            raise RuntimeError("the process was never started")
        limit = self.timeout if timeout is None else timeout
        code = self._proc.wait(limit)
        with self._changed:
            self._changed.wait_for(self._ended, limit)
        return code

    def stop(self) -> None:
        """Stop the child and forget it; calling this twice does nothing the second time.

        Closing its stdin comes first (a server closes its clients with 1001); SIGTERM after
        ``timeout`` seconds, SIGKILL after as many again.
        """
        runtime.forget(self)
        proc = self._proc
        if proc is None:
            return
        self.close_input()
        for escalate in (proc.terminate, proc.kill, None):
            try:
                proc.wait(self.timeout)
                break
            except subprocess.TimeoutExpired:
                if escalate is None:
                    raise
                escalate()
        with self._changed:
            self._changed.wait_for(self._ended, self.timeout)

    def _replace(self) -> None:
        """Stop, as ``stop`` does; a server closes its clients with 4000 (replaced)."""
        if self.command in _SERVERS:
            with contextlib.suppress(OSError):  # it had ended, or its input was closed
                self.type("replaced")
        self.stop()
        if self.url is not None:
            runtime.stop_clients_of(self.url)  # those that were reconnecting missed the 4000

    def __repr__(self) -> str:
        state = "running" if self.running else f"exited {self.returncode}"
        return f"<WslibProcess {self.name!r} {state}>"

    def _stdin(self) -> IO[bytes] | None:
        return None if self._proc is None else self._proc.stdin

    def _ended(self) -> bool:
        return self._done

    def _find(self, text: str) -> int | None:
        """Return the index in ``_out`` of the first unread line holding ``text``, or None."""
        first = max(len(self._out) - (self._printed - self._read), 0)
        for index in range(first, len(self._out)):
            if text in self._out[index]:
                return index
        return None

    def _pump(self, stream: IO[bytes], lines: deque[str]) -> None:
        with stream:
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                with self._changed:
                    lines.append(line)
                    if lines is self._out:
                        self._printed += 1
                    self._changed.notify_all()
        with self._changed:
            self._open_streams -= 1
            last = self._open_streams == 0
        if last:  # both streams ended: the child has ended, or is about to
            assert self._proc is not None
            self._proc.wait()
            self.close_input()
            runtime.forget(self)  # it ended by itself: nothing left for stop_all to stop
            with self._changed:
                self._done = True
                self._changed.notify_all()


def spawn(
    *args: str,
    env: Mapping[str, str] | None = None,
    name: str | None = None,
    timeout: float = 10.0,
) -> WslibProcess:
    """Start ``python -m wslib ARGS`` as a child process; return it once it runs.

    For ``serve`` and ``echo``, it returns once the server has printed its URL (``url``).
    The child stops with this process, with ``wslib.stop_all()`` and with ``stop()``.

    Args:
        args: The command line after ``python -m wslib``, e.g. ``("serve", "--port", "0")``.
        env: Environment variables for the child on top of this process's, e.g.
            ``{"PORT": "0"}``.
        name: Spawning again under this name replaces the earlier process; by default the
            arguments joined by spaces.
        timeout: How long to wait for the URL, and later for lines and for stopping.

    Raises:
        ServerError: A server did not start (its stderr says why).
    """
    return WslibProcess(*args, env=env, name=name, timeout=timeout).start()
