"""An exercise check that runs the learner's JavaScript in a playground frame, live.

``check_reconnect(server, script)`` shows the playground with ``script`` and the check's
typist (``wslib.teaching.pagecheck``), running at once against the check's own server, and
under it the verdict, which appears when the trial ends. The cell returns at once: with no
browser (nbval, a script), nothing waits, and ``wslib.stop_all()`` ends the trial.

Usage in a notebook::

    wslib.check_reconnect(server, page_script)   # the frame runs it; the verdict follows
"""

from __future__ import annotations

import html

import ipywidgets as widgets  # type: ignore[import-untyped]

from ..sync import runtime
from ..teaching.exercises import Report
from ..teaching.pagecheck import ReconnectTiming, ReconnectTrial, driver
from .loader import frame_html
from .panes import View
from .playground import FRAME_CLASS, Served, playground_url

__all__ = ["PageCheck", "check_reconnect"]


def _lines_html(lines: list[str]) -> str:
    return "".join(f'<div class="check-line">{html.escape(line)}</div>' for line in lines)


class PageCheck(View):
    """A playground frame that runs a learner's script against a trial, and its verdict.

    Args:
        server: The kit's server that serves the playground page.
        script: The learner's JavaScript; it must define ``type(text)``.
        timing: How the trial runs (``ReconnectTiming``).
        height: The frame's height in pixels.
        proxy: As for ``wslib.page_url``.

    Attributes:
        url: The playground's address, with the script and the trial's port in it.
        trial: The ``ReconnectTrial``; its ``report`` is set when it ends.
        verdict: The widget that shows the verdict (CSS class ``check-verdict``).
    """

    def __init__(
        self,
        server: Served,
        script: str,
        *,
        timing: ReconnectTiming | None = None,
        height: int = 460,
        proxy: str | bool | None = None,
    ) -> None:
        self.trial = ReconnectTrial(timing)
        timing = self.trial.timing
        self.url = playground_url(
            server,
            script.strip("\n") + "\n" + driver(timing),
            title="Check: reconnect and resend",
            run=True,
            port=self.trial.port,
            proxy=proxy,
        )
        self.frame = widgets.HTML(
            frame_html(self.url, height, title="Check: reconnect and resend", css_class=FRAME_CLASS)
        )
        self.verdict = widgets.HTML(
            _lines_html(
                [
                    f"The frame runs your script now: a user types {timing.lines} lines, one"
                    f" every {timing.every:g} s, and the server restarts after line"
                    f" {timing.restart_after}. The verdict appears here.",
                ]
            )
        )
        self.verdict.add_class("check-verdict")
        self.widget = widgets.VBox([self.frame, self.verdict])
        self.widget.add_class("page-check")
        runtime.remember(self)
        self.trial.start(self._show)

    def _show(self, report: Report) -> None:
        self.verdict.value = _lines_html(str(report).splitlines())
        runtime.forget(self)

    @property
    def report(self) -> Report | None:
        """Return the trial's report, or ``None`` while it runs."""
        return self.trial.report

    def stop(self) -> None:
        """End the trial, if it still runs, and free its port."""
        self.trial.stop()
        runtime.forget(self)

    def __repr__(self) -> str:
        # nbval compares this text: it must not change as the trial runs.
        return f"PageCheck(port={self.trial.port}): the frame runs your script; the verdict follows"


def check_reconnect(server: Served, script: str, *, proxy: str | bool | None = None) -> PageCheck:
    """Run ``script`` in a playground against a server that restarts; show what holds.

    Args:
        server: The kit's server (``wslib.start``), which serves the playground page.
        script: The learner's JavaScript: it connects to ``RELAY`` and defines ``type(text)``.
        proxy: As for ``wslib.page_url``.

    Returns:
        A ``PageCheck``; a notebook cell shows it as the frame and the verdict under it.
    """
    return PageCheck(server, script, proxy=proxy)
