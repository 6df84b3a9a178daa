"""The ``wslib`` command: ``serve`` the article's relay, ``echo``, ``chat`` from a terminal,
or copy the ``tutorial`` notebooks and open them in JupyterLab.

Usage::

    $ python -m wslib serve                      # ws://127.0.0.1:8080/ (and /chat)
    $ python -m wslib serve --port 0             # any free port; the first line says which
    $ python -m wslib echo --max-size 16777216
    $ python -m wslib chat ws://127.0.0.1:8080/chat --name alice
    $ python -m wslib serve --uvloop             # on uvloop: pip install 'wslib[fast]'
    $ python -m wslib serve --until-stdin-closes # stops when its parent closes the pipe
    $ python -m wslib tutorial lessons           # the notebooks in ./lessons, in JupyterLab

``main`` owns the only event loop runner in the package: ``asyncio.Runner``, which is
``asyncio.run`` with a choice of loop (uvloop's with ``--uvloop``). It returns an exit code
instead of raising: 0 after Ctrl-C, Ctrl-D or SIGTERM, 1 when the port is taken, the
server cannot be reached or uvloop (or JupyterLab) is missing, 2 for a bad command line;
``tutorial`` returns JupyterLab's own exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from . import __version__
from .client.chatclient import ChatClient
from .client.client import Client
from .client.terminal import TerminalView
from .core.codes import CLOSE_GOING_AWAY, CLOSE_REPLACED
from .core.display import printable
from .core.settings import Limits
from .exceptions import PortInUseError, ServerError, StoreError
from .server.logbook import LogBook
from .server.output import LineHandler, LineWriter
from .server.server import DEFAULT_HOST, DEFAULT_PORT, Server

__all__ = ["build_parser", "main"]

logger = logging.getLogger("wslib")

#: How often ``serve`` looks whether connections are arriving in numbers (seconds).
RAMP_CHECK = 0.5
#: How many new connections between two looks make a ramp, in which full collections wait.
RAMP_STEP = 50
#: The first threshold in a ramp: new objects between two young collections (CPython's 700).
RAMP_YOUNG = 7000
# A third threshold that middle-generation collections never reach: no full pass.
_HELD = 1 << 30


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is between 0 and 65535, not {port}")
    return port


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser for ``wslib`` and its subcommands."""
    parser = argparse.ArgumentParser(prog="wslib", description="WebSockets in ten minutes.")
    parser.add_argument("--version", action="version", version=f"wslib {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log diagnostics to stderr")
    commands = parser.add_subparsers(dest="command", required=True)
    # A string default goes through ``type`` too, so a bad PORT is a usage error, not a crash.
    default_port = os.environ.get("PORT", str(DEFAULT_PORT))
    for name, summary in (
        ("serve", "relay each message to every other client, as the article's server does"),
        ("echo", "send each message back to its sender"),
    ):
        sub = commands.add_parser(name, help=summary, description=summary)
        sub.add_argument("--host", default=DEFAULT_HOST, help="address to bind (%(default)s)")
        sub.add_argument(
            "--port",
            type=_port,
            default=default_port,
            help="port, 0 for any (env PORT; %(default)s)",
        )
        sub.add_argument(
            "--max-size",
            type=int,
            default=Limits().max_size,
            help="bytes per message (%(default)s)",
        )
        sub.add_argument(
            "--history-db", metavar="PATH", help="keep chat history in this SQLite file"
        )
        sub.add_argument(
            "--token",
            default="auto",
            help="access token clients must present; 'none' for none "
            "(default: a random one when --host is not loopback)",
        )
        sub.add_argument(
            "--allow-host",
            action="append",
            default=[],
            metavar="NAME",
            help="also answer requests sent to this name (besides localhost and loopback "
            "addresses); repeatable",
        )
        sub.add_argument("--certfile", help="PEM certificate: serve wss:// (TLS)")
        sub.add_argument("--keyfile", help="the certificate's private key, if separate")
        sub.add_argument(
            "--uvloop",
            action="store_true",
            help="run on uvloop, a faster event loop (needs wslib[fast])",
        )
        sub.add_argument(
            "--redis",
            metavar="URL",
            help="share the relay and the chat with other servers through this Redis, "
            "e.g. redis://127.0.0.1:6379/0 (needs wslib[redis])",
        )
        sub.add_argument(
            "--until-stdin-closes",
            action="store_true",
            help="stop (as on SIGTERM) when stdin reaches its end: a parent process that "
            "pipes stdin takes the server with it when it ends, even when killed; a line "
            "'replaced' first makes the close code 4000 (replaced by a new server)",
        )
    chat = commands.add_parser(
        "chat",
        help="chat from this terminal",
        description="Send stdin lines, print what arrives; Ctrl-D or Ctrl-C quits.",
    )
    chat.add_argument("url", help="ws://HOST:PORT/chat for the chat, ws://HOST:PORT/ for the relay")
    chat.add_argument("--name", help="your name (needed for /chat)")
    tutorial = commands.add_parser(
        "tutorial",
        help="copy the notebooks into a folder and open JupyterLab on the first",
        description="Copy the notebooks and their solutions into FOLDER, keeping any file "
        "there that differs (your edits) unless --force, then open JupyterLab on notebook "
        "01. Options for `jupyter lab` go after --, e.g. wslib tutorial lessons -- --port 9999.",
    )
    tutorial.add_argument(
        "folder", nargs="?", default="wslib-tutorial", help="where to copy them (%(default)s)"
    )
    tutorial.add_argument(
        "--force", action="store_true", help="replace files there that differ from the kit's"
    )
    tutorial.add_argument(
        "--no-browser", action="store_true", help="print JupyterLab's URL instead of opening it"
    )
    tutorial.add_argument(
        "--no-lab", action="store_true", help="copy only; do not start JupyterLab"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``wslib`` command line; return the exit code.

    Args:
        argv: The arguments, without the program name; default ``sys.argv[1:]``.
    """
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    # What follows "--" is for `jupyter lab` (wslib tutorial DIR -- --port 9999). argparse
    # cannot take it once an option sits between the folder and "--", so cut it off here.
    lab_args: list[str] = []
    if "--" in argv and "tutorial" in argv[: argv.index("--")]:
        cut = argv.index("--")
        argv, lab_args = argv[:cut], argv[cut + 1 :]
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help, --version and errors
        return int(exc.code or 0)
    args.lab_args = lab_args
    if args.command == "tutorial":
        return _tutorial(args)
    if args.command == "chat" and _is_chat(args.url) and not args.name:
        print("wslib chat: --name is needed to join a chat", file=sys.stderr)
        return 2
    loop_factory = None
    if getattr(args, "uvloop", False):
        try:
            loop_factory = importlib.import_module("uvloop").new_event_loop
        except ImportError:
            print("wslib: --uvloop needs uvloop: pip install 'wslib[fast]'", file=sys.stderr)
            return 1
    # The server's lines go out through writer threads: a reader that stops reading
    # (a script that took only the URL) must cost log lines, never the event loop.
    stdout = LineWriter(sys.stdout)
    handler = _log_to_stderr(logging.INFO if args.verbose else logging.WARNING)
    try:
        # asyncio.run(), with a choice of event loop.
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            if args.command == "chat":
                return runner.run(_chat(args.url, args.name))
            return runner.run(_serve(args, stdout))
    except KeyboardInterrupt:
        return 0
    finally:
        logging.getLogger().removeHandler(handler)
        stdout.close()
        handler.writer.close()


def _tutorial(args: argparse.Namespace) -> int:
    # Imported here: ``wslib serve`` and ``wslib chat`` need none of it.
    from .notebook import tutorial

    folder = Path(args.folder)
    try:
        steps = tutorial.copy_lessons(folder, force=args.force)
    except OSError as exc:  # no lessons in this installation, or the folder is not writable
        print(f"wslib tutorial: {exc}", file=sys.stderr)
        return 1
    for step in steps:
        if step.action != "same":
            print(step.describe())
    print(f"The notebooks are in {folder.resolve()}", flush=True)
    if args.no_lab:
        return 0
    lab_args = [*(["--no-browser"] if args.no_browser else []), *args.lab_args]
    try:
        return tutorial.open_lab(folder, lab_args)
    except ModuleNotFoundError as exc:
        print(f"wslib tutorial: {exc}", file=sys.stderr)
        return 1


def _log_to_stderr(level: int) -> LineHandler:
    handler = LineHandler(LineWriter(sys.stderr))
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    handler.setLevel(level)
    # On the root logger, so that asyncio's own warnings go through the writer thread too,
    # instead of logging's last-resort handler, which writes to stderr on the event loop.
    logging.getLogger().addHandler(handler)
    logger.setLevel(min(level, logger.getEffectiveLevel()) if logger.level else level)
    return handler


def _is_chat(url: str) -> bool:
    return urlsplit(url).path.rstrip("/").endswith("/chat")


def _raise_open_file_limit(wanted: int = 1 << 16) -> None:
    """Raise the soft limit on open files towards ``wanted``, as far as the hard limit allows.

    Each connection holds a descriptor, and many systems start programs with a soft limit
    of 1024; the server's default connection cap stays below the soft limit.
    """
    try:
        import resource
    except ImportError:  # Windows has no such limit
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


async def _serve(args: argparse.Namespace, stdout: LineWriter) -> int:
    _raise_open_file_limit()  # before Server() sets its connection cap from it
    try:
        server = Server(
            args.host,
            args.port,
            mode="echo" if args.command == "echo" else "relay",
            history_db=args.history_db,
            log=LogBook(stdout),
            limits=Limits(max_size=args.max_size, max_fragment=args.max_size),
            token=None if args.token == "none" else args.token,
            certfile=args.certfile,
            keyfile=args.keyfile,
            redis=args.redis,
            allowed_hosts=args.allow_host,
        )
    except (ImportError, ValueError) as exc:  # no redis-py; --redis with --history-db
        print(f"wslib: {exc}", file=sys.stderr)
        return 1
    try:
        await server.start()
    except PortInUseError:
        print(
            f"wslib: port {args.port} on {args.host} is already in use; "
            "stop the other server or pick another port with --port",
            file=sys.stderr,
        )
        return 1
    except (ServerError, StoreError) as exc:  # Redis cannot be reached; a bad --history-db
        print(f"wslib: {exc}", file=sys.stderr)
        return 1
    # Handle SIGTERM before the URL line says "ready": a script may signal at once.
    stop = asyncio.Event()
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # Windows, threads
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    replaced = threading.Event()
    if args.until_stdin_closes:
        _stop_at_end_of_stdin(stop, replaced)
    with _collector_for_serving():
        ramps = _Ramps(gc.get_threshold())
        watcher = asyncio.create_task(_hold_full_collections_in_ramps(server, ramps))
        stdout.write(server.url + "\n")  # the first line, through the same writer as the log
        try:
            await stop.wait()
        finally:  # also on Ctrl-C, which cancels this task: clients still get 1001
            watcher.cancel()
            if replaced.is_set():
                await server.stop(CLOSE_REPLACED, "replaced by a new server")
            else:
                await server.stop(CLOSE_GOING_AWAY, "server shutting down")
            server.log.flush()
    return 0


@contextlib.contextmanager
def _collector_for_serving() -> Iterator[None]:
    """Keep start-up's objects out of the garbage collector's full passes while serving.

    A full collection walks every object the collector tracks while the event loop waits,
    and CPython makes one each time the long-lived objects have grown by a quarter (7 times
    while 10,000 connections open; at 10,000 one took 260 ms). About 25,000 of those
    objects come from start-up (modules, the server) and live as long as the process:
    collect once, then ``gc.freeze()`` them, and no later pass walks them again (at 1,000
    idle relay connections that is 25,000 of 42,000 tracked objects).

    Outside a ramp of new connections (see ``_Ramps``) the thresholds stay CPython's, and
    they are CPython's again when the server stops.

    Only the command line does this: the collector is the whole process's, and a ``Server``
    in a notebook shares its process with the kernel and the learner's code. Objects that
    another caller froze before stay frozen.
    """
    thresholds = gc.get_threshold()
    frozen_before = gc.get_freeze_count()
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)  # a ramp may have held full passes back
        if not frozen_before:
            gc.unfreeze()


class _Ramps:
    """Choose the collector's thresholds from the connection count: no full pass in a ramp.

    While connections keep arriving, CPython makes a full collection each time the
    long-lived objects have grown by a quarter: 7 while 10,000 connections open, each
    walking all of them while the loop waits (0.85 s of CPU in all). A ramp's new objects
    are live connections, so those passes find little garbage. So while the count grows
    by ``step`` or more between two looks, the third threshold is set out of reach; once
    it does not, CPython's thresholds come back, and the full pass that follows frees what
    closed connections left in cycles (raising the thresholds for good doubled the memory
    of a server whose connections kept opening and closing).

    In a ramp the first threshold is also raised, to ``young``: at CPython's 700 a young
    collection comes every dozen connections and walks the objects of the 64 handshakes
    in flight, which a few turns later their reference counts free anyway, and each
    survivor is walked again by the middle generation. While 10,000 connections opened,
    young and middle collections took 14-18% of the server's CPU at 700; set for a whole
    run, 7,000 cut their time to a quarter (benchmarks/README.md, "Opening connections").

    Args:
        normal: The thresholds outside a ramp (``gc.get_threshold()`` at start-up).
        step: How many new connections between two looks make a ramp.
        young: The first threshold in a ramp (never below ``normal``'s).
    """

    def __init__(
        self, normal: tuple[int, int, int], step: int = RAMP_STEP, young: int = RAMP_YOUNG
    ) -> None:
        self.normal = normal
        self.step = step
        self.young = young
        self._last = 0

    def thresholds(self, clients: int) -> tuple[int, int, int]:
        """Return the thresholds to use now that ``clients`` connections are open."""
        ramping = clients - self._last >= self.step
        self._last = clients
        young, middle, _ = self.normal
        return (max(young, self.young), middle, _HELD) if ramping else self.normal


async def _hold_full_collections_in_ramps(server: Server, ramps: _Ramps) -> None:
    """Every ``RAMP_CHECK`` seconds, set the collector's thresholds as ``ramps`` says."""
    while True:
        await asyncio.sleep(RAMP_CHECK)
        gc.set_threshold(*ramps.thresholds(server.clients))


def _stop_at_end_of_stdin(stop: asyncio.Event, replaced: threading.Event) -> None:
    """Set ``stop`` once stdin ends: the parent closed the pipe, or ended in any way.

    A line ``replaced`` before the end sets ``replaced``: the clients then get 4000,
    "replaced by a new server", which the kit's clients take as final, so a parent that
    starts a new server in this one's place (a re-run notebook cell) leaves no client
    reconnecting to it. Other lines are thrown away. A daemon thread waits in ``os.read``
    on descriptor 0 (no Python-level lock held, so it cannot hold up the interpreter's exit).
    """
    loop = asyncio.get_running_loop()

    def wait_for_end() -> None:
        pending = b""
        with contextlib.suppress(OSError):  # no stdin at all counts as its end
            while chunk := os.read(0, 65536):
                *lines, pending = (pending + chunk).split(b"\n")
                pending = pending[-64:]  # enough to recognise a line that is still coming
                if b"replaced" in (line.strip() for line in lines):
                    replaced.set()
        with contextlib.suppress(RuntimeError):  # the loop closed already: stopped anyway
            loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=wait_for_end, name="wslib stdin", daemon=True).start()


async def _chat(url: str, name: str | None) -> int:
    view = TerminalView(sys.stdout)
    # A terminal user wants "cannot connect" at once, not retries; once connected, the
    # client reconnects by itself after a server restart like any other.
    client: Client | ChatClient = (
        ChatClient(url, name or "", wait_for_server=False)
        if _is_chat(url)
        else Client(url, wait_for_server=False)
    )
    client.listen(view.show)
    try:
        await client.start()
        if isinstance(client, ChatClient):
            # A line sent before the welcome only waits in ``pending``, and piped input can
            # end (and the client exit) before the welcome comes: so wait for it first.
            chat = client
            await chat.wait_for(lambda: chat.joined or bool(chat.errors), 10.0)
    except (ConnectionError, TimeoutError, OSError) as exc:
        why = client.status.reason or str(exc) or "no answer"
        print(f"wslib chat: cannot connect to {url}: {printable(why)}", file=sys.stderr)
        await client.stop()
        return 1
    try:
        await _pump_stdin(client, view)
        await _deliver_pending(client, view)
    finally:
        await client.stop()
    return 0


async def _deliver_pending(
    client: Client | ChatClient, view: TerminalView, timeout: float = 10.0
) -> None:
    """At the end of input, give chat sends that are not yet acknowledged time to land.

    Any still pending when the client stops are listed by the client itself, in a
    ``not_delivered`` error event that ``view`` shows.
    """
    if not isinstance(client, ChatClient):
        return
    chat = client
    with contextlib.suppress(TimeoutError):
        await chat.wait_for(lambda: not chat.pending or chat.status.state == "closed", timeout)


async def _stdin_reader() -> Callable[[], Awaitable[bytes]]:
    """Return a function that reads one line of stdin without blocking the loop."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    try:
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    except (ValueError, NotImplementedError, OSError):  # a regular file, or Windows
        return lambda: loop.run_in_executor(None, sys.stdin.buffer.readline)
    return reader.readline


async def _pump_stdin(client: Client | ChatClient, view: TerminalView) -> None:
    readline = await _stdin_reader()
    closed = asyncio.ensure_future(client.wait_for(lambda: client.status.state == "closed"))
    try:
        while True:
            line = asyncio.ensure_future(readline())
            await asyncio.wait({line, closed}, return_when=asyncio.FIRST_COMPLETED)
            if not line.done():
                line.cancel()
                return  # the connection closed for good
            text = line.result().decode("utf-8", "replace").rstrip("\r\n")
            if not line.result():
                return  # Ctrl-D
            if text:
                try:
                    await client.send(text)
                    if not isinstance(client, ChatClient):
                        view.sent(text)
                except Exception as exc:  # not connected right now: say so, keep going
                    view.problem(str(exc))
    finally:
        closed.cancel()
