"""Turn text that a peer sent into text that is safe to show anywhere.

A chat relays strings from strangers. Printed raw, they can move a terminal's cursor
(ANSI escapes), reverse the reading order of a line (bidi overrides) or hide text
(NUL and other control characters). Every place the kit shows a peer's text (the
server's stdout log, the CLI client, the panes) passes it through ``printable`` first;
HTML escaping is a separate step done by the views that render HTML.
"""

from __future__ import annotations

import re

__all__ = ["describe_address", "describe_binary", "printable"]

# C0 and C1 control characters except tab, plus DEL, the bidi embedding/override/isolate
# controls (U+202A-U+202E, U+2066-U+2069), the line and paragraph separators (U+2028,
# U+2029), which break a line as a newline does, and lone surrogates, which cannot be encoded.
_UNSAFE = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: str) -> str:
    """Return ``text`` with control, bidi-override and surrogate characters escaped.

    Args:
        text: Any string, typically received from a peer.

    Returns:
        The same string where each unsafe character is written as ``\\xNN`` or
        ``\\uNNNN``; plain text comes back unchanged (and is not copied).
    """
    if text.isascii() and text.isprintable():  # every character in " " to "~": all safe
        return text  # the usual case, and several times faster than the search below
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub(_escape, text)


def describe_binary(data: bytes) -> str:
    """Return a short description of a binary message for logs, such as ``<5 bytes>``."""
    return f"<{len(data)} byte{'' if len(data) == 1 else 's'}>"


def describe_address(address: tuple[object, ...] | None) -> str:
    """Return a peer's socket address for logs: ``127.0.0.1:5000``, ``[::1]:5000``.

    Args:
        address: What a socket's ``getpeername()`` gives (IPv6 adds two fields), or
            ``None`` when it is not known.
    """
    if not address or len(address) < 2:
        return "(unknown)"
    host = str(address[0])
    return f"[{host}]:{address[1]}" if ":" in host else f"{host}:{address[1]}"
