"""Tests for wslib.core.display: making a peer's text safe to show."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wslib.core.display import describe_address, describe_binary, printable


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b[31mred", "\\x1b[31mred"),
        ("a\x00b", "a\\x00b"),
        ("line\nbreak\r", "line\\x0abreak\\x0d"),
        ("del\x7f", "del\\x7f"),
        ("c1\x85", "c1\\x85"),
        ("\u202eevil", "\\u202eevil"),
        ("\u2066isolate\u2069", "\\u2066isolate\\u2069"),
        ("lone \ud800", "lone \\ud800"),
        ("one\u2028two\u2029", "one\\u2028two\\u2029"),
        ("tab\tstays", "tab\tstays"),
        ("héllo wörld ✓ 😀", "héllo wörld ✓ 😀"),
    ],
)
def test_printable_escapes_only_unsafe_characters(text: str, shown: str) -> None:
    """Controls, bidi overrides and lone surrogates are escaped; tabs and Unicode text stay."""
    assert printable(text) == shown


def test_printable_returns_plain_text_itself() -> None:
    """Plain text comes back as the very same object, uncopied."""
    text = "plain text " * 10
    assert printable(text) is text


@pytest.mark.parametrize("code", range(128))
def test_printable_escapes_each_ascii_character_exactly_when_it_is_unsafe(code: int) -> None:
    """Alone or among plain text, an ASCII character is escaped only if it is a control."""
    char = chr(code)
    unsafe = (code < 0x20 and char != "\t") or code == 0x7F
    shown = f"\\x{code:02x}" if unsafe else char
    assert printable(char) == shown
    assert printable(f"a {char} b") == f"a {shown} b"


@given(st.text())
def test_printable_output_is_always_encodable_and_single_line(text: str) -> None:
    """Whatever a peer sends, the printable form encodes as UTF-8 and holds no line break."""
    shown = printable(text)
    shown.encode("utf-8")
    assert "\n" not in shown
    assert "\r" not in shown
    assert shown.splitlines() in ([], [shown])  # no separator str.splitlines() would cut at
    assert "\x1b" not in shown


@pytest.mark.parametrize(
    ("data", "described"),
    [(b"", "<0 bytes>"), (b"x", "<1 byte>"), (b"\x00\x01", "<2 bytes>")],
)
def test_describe_binary_gives_the_size(data: bytes, described: str) -> None:
    """A binary message is described by its length, with the right plural."""
    assert describe_binary(data) == described


@pytest.mark.parametrize(
    ("address", "described"),
    [
        (("127.0.0.1", 5000), "127.0.0.1:5000"),
        (("::1", 5000, 0, 0), "[::1]:5000"),
        (None, "(unknown)"),
        ((), "(unknown)"),
    ],
)
def test_describe_address_brackets_ipv6_hosts(
    address: tuple[object, ...] | None, described: str
) -> None:
    """An IPv6 host is bracketed, so that its port cannot be read as part of it."""
    assert describe_address(address) == described
