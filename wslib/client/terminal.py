"""How the terminal chat client shows what happens: one plain line per event.

The formatting is a pure function (``format_event``) so that it can be tested without a
terminal; ``TerminalView`` only writes its lines. Every peer-sent string goes through
``printable`` first, so nobody can move your cursor or recolour your terminal.
"""

from __future__ import annotations

from typing import TextIO

from ..core.display import describe_binary, printable
from .chatclient import names
from .client import Status
from .transcript import Report

__all__ = ["TerminalView", "format_event"]


def format_event(event: Report) -> str | None:
    """Return the line to print for a client event, or ``None`` to print nothing.

    Args:
        event: A ``Status``, a relay message (``str`` or ``bytes``) or a chat event dict.
    """
    if isinstance(event, Status):
        return f"# {printable(str(event))}"  # the close reason comes from the server
    if isinstance(event, bytes):
        return describe_binary(event)
    if isinstance(event, str):
        return printable(event)
    kind = event.get("type")
    name = printable(str(event.get("name", "")))
    if kind == "message":
        text = printable(str(event.get("text", "")))
        to = event.get("to")
        return f"{name} → {printable(str(to))}: {text}" if to else f"{name}: {text}"
    if kind == "welcome":
        online = ", ".join(printable(n) for n in names(event, "online"))
        reset = " (history was reset)" if event.get("reset") else ""
        return f"* joined as {name}; online: {online}{reset}"
    if kind in ("joined", "left"):
        return f"* {name} {kind}"
    if kind == "error":
        code, detail = printable(str(event.get("code"))), printable(str(event.get("detail", "")))
        return f"! {code}: {detail}"
    return None  # acks, typing: not worth a line


class TerminalView:
    """Print client events as lines on a text stream."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def show(self, event: Report) -> None:
        """Print the line for ``event``, if it has one."""
        line = format_event(event)
        if line is not None:
            self._write(line)

    def sent(self, text: str) -> None:
        """Print a line for a message this client sent (the relay sends nothing back)."""
        self._write(f"(you) {printable(text)}")

    def problem(self, text: str) -> None:
        """Print a line about a local problem."""
        self._write(f"! {text}")

    def _write(self, line: str) -> None:
        self._stream.write(line + "\n")
        self._stream.flush()
