"""Check a learner's browser script: does it reconnect after a restart and resend what waited?

The exercise in notebook 08 asks for a page that survives a server restart: reconnect with
a delay that grows, and send the lines typed while the connection was down once it is back.
The check has two halves, kept apart as in the rest of the kit:

1. ``ReconnectTrial`` is the *runner*. It serves the page's WebSocket on a port of its own
   and records what arrives; the playground frame runs the learner's script there with
   ``driver()`` appended, which "types" numbered lines by calling the script's
   ``type(text)``. After the first lines arrive, the trial stops its server (close code
   1001), keeps it down for a while, starts it again on the same port, and waits for the
   rest. It judges nothing.
2. ``reconnect_verdicts`` is the *rule* half: it reads the ``ReconnectRecord`` and returns
   one ``Verdict`` per rule (``wslib.teaching.exercises``, as for every exercise): ``✓``
   what holds, or ``✗`` what went wrong and what to change. It does no I/O, so every kind
   of wrong answer is tested without a browser.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from websockets.asyncio.server import ServerConnection

from ..core.codes import CLOSE_GOING_AWAY, CLOSE_NORMAL
from ..core.settings import Limits
from ..server.ports import restartable_port
from ..server.server import Server
from ..sync import runtime
from .exercises import Report, Verdict

__all__ = [
    "ReconnectRecord",
    "ReconnectTiming",
    "ReconnectTrial",
    "driver",
    "reconnect_verdicts",
]

_SERVER_TIMEOUT = 10.0


@dataclass(frozen=True)
class ReconnectTiming:
    """How the trial runs; the defaults suit a learner's machine and a loaded test machine.

    Attributes:
        lines: How many lines the page types.
        every: Seconds between two typed lines.
        restart_after: How many lines must arrive before the server restarts.
        down: Seconds the server stays down.
        wait_page: Seconds to wait for the page to connect at all.
        wait_lines: Seconds to wait, once connected, for the first lines.
        settle: Seconds to wait, once restarted, for every line.
    """

    lines: int = 12
    every: float = 0.25
    restart_after: int = 3
    down: float = 1.5
    wait_page: float = 120.0
    wait_lines: float = 10.0
    settle: float = 10.0


def driver(timing: ReconnectTiming) -> str:
    """Return the JavaScript appended to the learner's script: a user typing numbered lines."""
    every = round(timing.every * 1000)
    return (
        "\n// Added by the check: a user types one line every "
        f"{every} ms, with type(text) from the script above.\n"
        "{\n"
        "  let typed = 0;\n"
        "  const typist = setInterval(() => {\n"
        "    typed += 1;\n"
        '    type("line " + typed);\n'
        f"    if (typed === {timing.lines}) {{ clearInterval(typist); "
        f'log("the check typed {timing.lines} lines"); }}\n'
        f"  }}, {every});\n"
        "}\n"
    )


@dataclass
class ReconnectRecord:
    """What the trial saw.

    Attributes:
        typed: How many lines the page was to type (``line 1`` ... ``line N``).
        restart_after: How many had to arrive before the restart.
        connections: For each connection, in order: 0 if it opened before the restart, 1 after.
        arrived: Each message that arrived, with the same 0 or 1.
        restarted: Whether the server was restarted.
        error: Why the trial could not go on, if it could not.
    """

    typed: int
    restart_after: int
    connections: list[int] = field(default_factory=list)
    arrived: list[tuple[int, str]] = field(default_factory=list)
    restarted: bool = False
    error: str | None = None


def _span(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{names[0]} to {names[-1]}"


def reconnect_verdicts(record: ReconnectRecord) -> list[Verdict]:
    """Judge a reconnecting page by what reached the server before and after a restart."""
    if record.error is not None:
        return [Verdict(False, record.error)]
    if not record.connections:
        return [
            Verdict(
                False,
                "no page connected: the check runs your script in the frame above, so the"
                " notebook must be open in a browser (JupyterLab or Notebook 7)",
            )
        ]
    verdicts = [Verdict(True, "the page connected")]
    expected = [f"line {number}" for number in range(1, record.typed + 1)]
    texts = [text for _, text in record.arrived]
    first = expected[: record.restart_after]
    if [text for phase, text in record.arrived if phase == 0][: len(first)] != first:
        verdicts.append(
            Verdict(
                False,
                f"{_span(first)} never arrived while the connection was open: in"
                " type(text), send the line when the socket is open",
            )
        )
        return verdicts
    verdicts.append(Verdict(True, f"{_span(first)}, typed while connected, went straight out"))
    if 1 not in record.connections:
        verdicts.append(
            Verdict(
                False,
                f"after the restart (close code {CLOSE_GOING_AWAY}) the page never connected"
                " again: in onclose, call connect() again after a delay that doubles each try",
            )
        )
    else:
        verdicts.append(
            Verdict(True, f"after the restart (close code {CLOSE_GOING_AWAY}) it connected again")
        )
    missing = [line for line in expected if line not in texts]
    if missing:
        verdicts.append(
            Verdict(
                False,
                f"{len(missing)} of the {record.typed} lines never arrived ({_span(missing)}):"
                " keep each line typed while the socket is not open, and send them in onopen",
            )
        )
    else:
        verdicts.append(
            Verdict(True, f"all {record.typed} lines arrived, those typed while it was down too")
        )
    twice = sorted({text for text in texts if texts.count(text) > 1}, key=expected.index)
    seen = [text for text in dict.fromkeys(texts) if text in expected]
    if twice:
        verdicts.append(
            Verdict(
                False,
                f"{_span(twice)} arrived more than once: send each waiting line once,"
                " then empty the list",
            )
        )
    elif seen != sorted(seen, key=expected.index):
        verdicts.append(
            Verdict(False, "lines arrived out of order: send the waiting lines oldest first")
        )
    elif not missing:
        verdicts.append(Verdict(True, "each line arrived once, in the order typed"))
    return verdicts


class ReconnectTrial:
    """Serve one page's WebSocket, restart the server once, and record what arrives.

    Contract:

    1. Create it: its server listens on ``port`` at once (any page origin may connect).
    2. ``start(on_report)``: a thread waits for the page, restarts the server after
       ``restart_after`` lines, waits for the rest, then stops the server (close code
       1000) and calls ``on_report`` with the ``Report``, from that thread.
    3. ``stop()`` ends it early, with no report; calling it twice does nothing more.

    Args:
        timing: How long each phase may take, and what the page types.
    """

    def __init__(self, timing: ReconnectTiming | None = None) -> None:
        self.timing = timing or ReconnectTiming()
        self.record = ReconnectRecord(self.timing.lines, self.timing.restart_after)
        self.report: Report | None = None
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._phase = 0
        # A port the kernel never lends out: no other socket takes it while the server is down.
        self._server = self._new_server(restartable_port() or 0)
        runtime.run(self._server.start(), _SERVER_TIMEOUT)
        self.port = self._server.port
        self._thread: threading.Thread | None = None

    def _new_server(self, port: int) -> Server:
        # The playground page is served from the kit's main server, so its origin differs.
        return Server(port=port, handler=self._handle, limits=Limits(origins=("*",)))

    async def _handle(self, connection: ServerConnection) -> None:
        with self._changed:
            phase = self._phase
            self.record.connections.append(phase)
            self._changed.notify_all()
        async for message in connection:
            text = message if isinstance(message, str) else f"<{len(message)} bytes>"
            with self._changed:
                self.record.arrived.append((phase, text))
                self._changed.notify_all()

    def start(self, on_report: Callable[[Report], None]) -> None:
        """Run the trial on a thread of its own; ``on_report`` gets the report at the end."""
        self._thread = threading.Thread(
            target=self._main, args=(on_report,), name="wslib-reconnect-check", daemon=True
        )
        self._thread.start()

    def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Block until ``predicate()`` holds, checked as the record changes; return it.

        Returns ``False`` at once once the trial is stopping.
        """
        with self._changed:
            self._changed.wait_for(lambda: self._stopping.is_set() or predicate(), timeout)
            return predicate() and not self._stopping.is_set()

    def _main(self, on_report: Callable[[Report], None]) -> None:
        timing, record = self.timing, self.record

        def before() -> int:
            return sum(phase == 0 for phase, _ in record.arrived)

        def every_line() -> bool:
            texts = {text for _, text in record.arrived}
            return all(f"line {n}" in texts for n in range(1, timing.lines + 1))

        try:
            if self.wait_until(
                lambda: bool(record.connections), timing.wait_page
            ) and self.wait_until(lambda: before() >= timing.restart_after, timing.wait_lines):
                runtime.run(self._server.stop(), _SERVER_TIMEOUT)  # the page sees 1001
                with self._changed:
                    self._phase, record.restarted = 1, True
                if self._stopping.wait(timing.down):
                    return
                self._server = self._new_server(self.port)
                runtime.run(self._server.start(), _SERVER_TIMEOUT)
                self.wait_until(every_line, timing.settle)
        except OSError as exc:  # another program took the port while the server was down
            record.error = f"the check could not restart its server ({exc}); run it again"
        finally:  # 1000: a page that reconnects stops trying
            if self._server.running:
                runtime.run(self._server.stop(CLOSE_NORMAL, "the check is done"), _SERVER_TIMEOUT)
        if self._stopping.is_set():
            return
        with self._changed:
            self.report = Report("reconnect and resend", tuple(reconnect_verdicts(record)))
            self._changed.notify_all()
        on_report(self.report)

    def stop(self) -> None:
        """End the trial early (no report) and free its port."""
        self._stopping.set()
        with self._changed:
            self._changed.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(2 * _SERVER_TIMEOUT)
        elif self._server.running:
            runtime.run(self._server.stop(), _SERVER_TIMEOUT)
