"""What one chat pane shows, with no widgets: a name, a status line and a bounded log.

A pane's view (``wslib.panes``) draws a ``Transcript``; tests and notebook cells read it
directly, so a pane's state is plain Python whether or not a browser is looking.

``record`` turns whatever a client reports into lines of four kinds:

=======  ====  ==============================================================
kind     mark  what it is
=======  ====  ==============================================================
local    →     what this pane sent itself (the relay never sends it back)
peer     ←     what arrived from the server: a relayed message, a chat message
system   ·     connection changes, joins and leaves
error    !     errors the server reported, sends that could not go out
=======  ====  ==============================================================

Every text is passed through ``display.printable`` on the way in, so no line holds a
terminal escape or a bidi override; views that render HTML still escape it themselves.

Threads: the client's loop writes, a notebook cell reads or waits. Every method is safe
from any thread; listeners run on the thread that made the change, after it is made.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from ..core.codes import FINAL
from ..core.display import describe_binary, printable
from .chatclient import Event, names
from .client import Message, Status

__all__ = ["MARKS", "Kind", "Line", "Report", "Transcript"]

#: What a client reports to its listeners: a relay message, a chat event or a new status.
Report = Message | Event | Status

Kind = Literal["local", "peer", "system", "error"]

#: The mark that starts each kind of line in the text form.
MARKS: Mapping[Kind, str] = {"local": "→", "peer": "←", "system": "·", "error": "!"}

Listener = Callable[[], None]


@dataclass(frozen=True, slots=True)
class Line:
    """One line of a pane's log: its kind and its (already printable) text."""

    kind: Kind
    text: str

    def __str__(self) -> str:
        return f"{MARKS[self.kind]} {self.text}"


class Transcript:
    """Keep a pane's name, status and last lines; tell listeners; let other threads wait.

    Usage::

        transcript = Transcript("Alice")
        transcript.record(Status("open"))
        transcript.record("Received message from peer: hi")
        print(transcript)
        # Alice: open
        # · open
        # ← Received message from peer: hi

    Args:
        name: Whose pane this is; in chat mode, messages from this name are ``local``.
        keep: How many lines to keep; older ones are dropped first.
    """

    def __init__(self, name: str, *, keep: int = 500) -> None:
        if keep < 1:
            raise ValueError("keep must be at least 1")
        self.name = name
        self._status = "connecting"
        self._lines: deque[Line] = deque(maxlen=keep)
        self._version = 0
        self._added = 0
        self._listeners: list[Listener] = []
        self._changed = threading.Condition(threading.Lock())

    # -- reading -------------------------------------------------------------------

    @property
    def status(self) -> str:
        """Return the status line, e.g. ``open`` or ``closed (1000)``."""
        with self._changed:
            return self._status

    @property
    def lines(self) -> list[Line]:
        """Return the kept lines, oldest first."""
        with self._changed:
            return list(self._lines)

    @property
    def version(self) -> int:
        """Return a number that grows by one with every change."""
        with self._changed:
            return self._version

    @property
    def added(self) -> int:
        """Return how many lines were ever added; the kept lines are the last of them."""
        with self._changed:
            return self._added

    def snapshot(self) -> tuple[str, list[Line], int, int]:
        """Return the status, the lines, the version and ``added``, all read at one moment.

        A view that appends rather than redraws numbers line ``i`` of the kept lines
        ``added - len(lines) + i``: the same line keeps its number from one snapshot to the
        next, whatever was dropped at the front in between.
        """
        with self._changed:
            return self._status, list(self._lines), self._version, self._added

    def texts(self, kind: Kind | None = None) -> list[str]:
        """Return the text of each kept line, or of the lines of one ``kind``."""
        return [line.text for line in self.lines if kind is None or line.kind == kind]

    def find(self, text: str, kind: Kind | None = None) -> Line | None:
        """Return the first kept line that contains ``text`` (and is of ``kind``), if any."""
        for line in self.lines:
            if text in line.text and (kind is None or line.kind == kind):
                return line
        return None

    def __str__(self) -> str:
        status, lines, _, _ = self.snapshot()
        return "\n".join([f"{printable(self.name)}: {status}", *map(str, lines)])

    def __repr__(self) -> str:
        status, lines, _, _ = self.snapshot()
        return f"<Transcript {self.name!r} {status}, {len(lines)} lines>"

    # -- waiting -------------------------------------------------------------------

    def wait_for(self, predicate: Callable[[], bool], timeout: float | None = 10.0) -> None:
        """Block until ``predicate()`` is true; it is checked again after every change.

        Do not call it on the thread that feeds the transcript (the client's loop): the
        change it waits for could never happen.

        Raises:
            TimeoutError: It was still false after ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            seen = self.version
            if predicate():  # read without the lock held: it may read the transcript
                return
            with self._changed:
                while self._version == seen:  # a change since `seen` means: check again
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        tail = "; ".join(map(str, list(self._lines)[-5:])) or "no lines"
                        raise TimeoutError(
                            f"{self.name}: still waiting after {timeout} s "
                            f"(status {self._status}; last lines: {tail})"
                        )
                    self._changed.wait(left)

    def wait_for_line(
        self, text: str, kind: Kind | None = None, timeout: float | None = 10.0
    ) -> Line:
        """Block until a kept line contains ``text`` (and is of ``kind``); return it.

        Raises:
            TimeoutError: No such line arrived within ``timeout`` seconds.
        """
        self.wait_for(lambda: self.find(text, kind) is not None, timeout)
        line = self.find(text, kind)
        assert line is not None  # kept lines only leave when many newer ones arrive
        return line

    # -- writing -------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener()`` after every change; return a function that unsubscribes."""
        with self._changed:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._changed:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def add(self, kind: Kind, text: str) -> Line:
        """Append a line of ``kind``; return it (with its text made printable)."""
        line = Line(kind, printable(text))
        self._change(lines=[line])
        return line

    def local(self, text: str) -> Line:
        """Append what this pane sent."""
        return self.add("local", text)

    def peer(self, text: str) -> Line:
        """Append what arrived from the server."""
        return self.add("peer", text)

    def system(self, text: str) -> Line:
        """Append a note about the connection or the room."""
        return self.add("system", text)

    def error(self, text: str) -> Line:
        """Append an error."""
        return self.add("error", text)

    def set_status(self, status: str, *notes: str) -> None:
        """Replace the status line and append ``notes`` as system lines, in one change.

        One change means that a thread waiting for the new status also sees the notes.
        """
        self._change(printable(status), [Line("system", printable(note)) for note in notes])

    def record(self, event: Report) -> None:
        """Apply one thing a client reported: a ``Status``, a relay message or a chat event.

        Args:
            event: A ``Status`` (a status line, plus a system line unless it is still
                connecting, and a second one when a final close code means the client
                will not reconnect), a ``str`` or ``bytes`` from the relay (a peer line), or a chat
                event ``dict`` as ``wslib.chatclient.ChatClient`` passes them on.
        """
        if isinstance(event, Status):
            notes = [] if event.state == "connecting" else [str(event)]
            if event.state == "closed" and event.code in FINAL:
                notes.append("closed for good: this pane will not reconnect")
            self.set_status(str(event), *notes)
        elif isinstance(event, str):
            self.peer(event)
        elif isinstance(event, bytes | bytearray):
            self.peer(describe_binary(bytes(event)))
        elif isinstance(event, dict):
            self._record_chat(event)
        else:  # a listener may be handed anything: say so rather than drop it
            self.error(f"unexpected event {type(event).__name__}")

    def _record_chat(self, event: Event) -> None:
        kind = event.get("type")
        name = str(event.get("name", "?"))
        if kind == "message":
            text, to = str(event.get("text", "")), event.get("to")
            if name == self.name:
                self.local(text if to is None else f"(to {to}) {text}")
            else:
                self.peer(f"{name}: {text}" if to is None else f"{name} (to you): {text}")
        elif kind == "welcome":
            self.name = name  # the server's spelling of our name
            online = ", ".join(names(event, "online"))
            self.system(f"joined as {name}; online: {online}")
            if event.get("reset"):
                self.system("history reset: messages from before may be missing")
        elif kind in ("joined", "left"):
            self.system(f"{name} {kind}")
        elif kind == "error":
            self.error(f"{event.get('code', 'error')}: {event.get('detail', '')}")
        elif kind not in ("ack", "typing"):  # acks and typing notes change nothing shown
            self.system(f"(unknown event {kind!r})")

    def _change(self, status: str | None = None, lines: list[Line] | None = None) -> None:
        with self._changed:
            if status is not None:
                self._status = status
            self._lines.extend(lines or ())
            self._added += len(lines or ())
            self._version += 1
            self._changed.notify_all()  # wake every thread in wait_for
            listeners = list(self._listeners)
        for listener in listeners:  # after the change, with no lock held
            listener()
