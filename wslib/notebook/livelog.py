"""A scrolling log widget whose live region persists, so screen readers hear each new line.

An ipywidgets ``HTML`` widget replaces its whole content on every change: a live region
(``role="log"``) drawn inside it is destroyed and made again with each new line, and
screen readers do not announce that reliably. ipywidgets cannot put attributes on the
widget's own, lasting element either. ``LiveLog`` is an anywidget
(https://anywidget.dev) whose front-end module (``static/livelog.js``) makes the region
once per view and then only appends lines to it and trims the oldest.

Usage::

    log = LiveLog("Alice's log", keep=500)
    log.show([("chat-line chat-peer", "← hi")], added=1)   # send what is new
    log                                                      # a view of it
    log.texts                                                # ['← hi']

How the lines reach the browser, small and complete:

1. The source (a ``Transcript``, a server's log) numbers its lines: ``show`` gets the kept
   lines and how many were ever added, so line ``i`` is number ``added - len(lines) + i``.
   Only numbers newer than the last one shown are new.
2. New lines go into the ``recent`` trait, which holds every line since the last full
   send; once it would pass ``ROLL`` lines, all kept lines go out at once in ``lines``
   and ``recent`` empties. A change thus sends at most ``ROLL`` lines, plus a full send
   every ``ROLL`` lines.
3. ``lines`` then ``recent`` is always the whole log: a view made later (a scroll, a second
   view, a reload, a notebook's saved widget state) starts from it, and each view appends
   the numbers it has not shown.
4. Texts pass through ``printable`` here, and the browser sets them as text, never HTML.

Every method is safe from any thread (the kit's loop and a notebook cell both update it).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from pathlib import Path

import anywidget
import traitlets

from ..core.display import printable

__all__ = ["ROLL", "LiveLog"]

#: The most lines a change sends in ``recent`` before all kept lines go out in ``lines``.
ROLL = 64

_STATIC = Path(__file__).with_name("static")

Numbered = tuple[int, str, str]


def _as_json(line: Numbered) -> list[int | str]:
    """Return a numbered line as the browser gets it: ``[number, CSS classes, text]``."""
    number, classes, text = line
    return [number, classes, text]


class LiveLog(anywidget.AnyWidget):
    """Show lines in a box with a lasting live region: new lines are appended, never redrawn.

    Args:
        label: What a screen reader calls the log (its ``aria-label``).
        keep: How many of the newest lines to keep and show.
        box_class: The CSS classes of the region, ``chat-log`` (14 lines high) or
            ``chat-log server-log-lines`` (8 lines).
    """

    _esm = (_STATIC / "livelog.js").read_text(encoding="utf-8")
    _css = (_STATIC / "livelog.css").read_text(encoding="utf-8")

    #: The kept lines as of the last full send, each ``[number, CSS classes, text]``.
    lines: traitlets.List[list[int | str]] = traitlets.List().tag(sync=True)
    #: The lines added since the last full send, in the same form.
    recent: traitlets.List[list[int | str]] = traitlets.List().tag(sync=True)
    keep = traitlets.Int(500).tag(sync=True)
    label = traitlets.Unicode("").tag(sync=True)
    box_class = traitlets.Unicode("chat-log").tag(sync=True)

    def __init__(self, label: str, *, keep: int = 500, box_class: str = "chat-log") -> None:
        if keep < 1:
            raise ValueError("keep must be at least 1")
        super().__init__(label=label, keep=keep, box_class=box_class)
        self._lock = threading.Lock()
        self._kept: deque[Numbered] = deque(maxlen=keep)

    @property
    def texts(self) -> list[str]:
        """Return the text of each line shown, oldest first."""
        with self._lock:
            return [text for _, _, text in self._kept]

    @property
    def shown(self) -> list[tuple[str, str]]:
        """Return each line shown as ``(CSS classes, text)``, oldest first."""
        with self._lock:
            return [(classes, text) for _, classes, text in self._kept]

    def show(self, lines: Sequence[tuple[str, str]], added: int) -> None:
        """Bring the log up to date with a source's kept lines, sending only the new ones.

        Args:
            lines: The source's kept lines, oldest first, each as ``(CSS classes, text)``.
                The classes come from the program, the text may come from anyone.
            added: How many lines the source has added in all; ``lines`` are the last.
        """
        first = added - len(lines)
        with self._lock:
            newest = self._kept[-1][0] if self._kept else -1
            new = [
                (first + index, classes, printable(text))
                for index, (classes, text) in enumerate(lines)
                if first + index > newest
            ][-self.keep :]
            if not new:
                return
            self._kept.extend(new)
            if len(self.recent) + len(new) > min(ROLL, self.keep):
                with self.hold_sync():  # one message carries both
                    self.lines = [_as_json(line) for line in self._kept]
                    self.recent = []
            else:
                self.recent = [*self.recent, *map(_as_json, new)]

    def __repr__(self) -> str:
        return f"LiveLog({self.label!r}, {len(self.texts)} lines)"
