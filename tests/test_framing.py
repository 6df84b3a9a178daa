"""Tests for notebook 02's exercise checker: build a client's text frame by hand."""

from __future__ import annotations

import runpy
from collections.abc import Callable
from pathlib import Path

import pytest

from wslib.teaching.frames import apply_mask
from wslib.teaching.framing import check_client_frame

SOLUTION = Path(__file__).resolve().parents[1] / "notebooks" / "solutions" / "client_frame.py"
Builder = Callable[[str, bytes], bytes]


def scaffold(text: str, key: bytes) -> bytes:
    """Return notebook 02's scaffold as shipped: the unmasked short form only."""
    payload = text.encode()
    return bytes([0x81, len(payload)]) + payload


def solution() -> Builder:
    """Return the solution's client_frame, loaded as the notebook's %load cell would."""
    built: Builder = runpy.run_path(str(SOLUTION))["client_frame"]
    return built


def wrong(**change: bool) -> Builder:
    """Return the solution with one mistake: no FIN, characters for bytes, little-endian."""

    def build(text: str, key: bytes) -> bytes:
        payload = text.encode()
        size = len(text) if change.get("characters") else len(payload)
        order = "little" if change.get("little_endian") else "big"
        first = 0x01 if change.get("no_fin") else 0x81
        if size <= 125:
            header = bytes([first, 0x80 | size])
        elif size < 2**16:
            header = bytes([first, 0x80 | 126]) + size.to_bytes(2, order)
        else:
            header = bytes([first, 0x80 | 127]) + size.to_bytes(8, order)
        masked = payload if change.get("key_unused") else apply_mask(payload, key)
        return header + key + masked

    return build


def test_the_scaffold_as_shipped_fails_with_helpful_words() -> None:
    """The unchanged scaffold is told to mask, to use both long length forms, and why."""
    report = check_client_frame(scaffold, wait=0.5)
    assert report.failed == [
        "the MASK bit is not set: a client must mask every frame",
        "a 126-byte text needs the 16-bit length form: 126, then the length in 2 bytes,"
        " most significant first",
        "client_frame raised ValueError: bytes must be in range(0, 256) for the 65,536 bytes text",
        "the server closed the connection: 1002 incorrect masking",
    ]


def test_the_solution_passes() -> None:
    """The solution builds every frame right and a live relay passes its frame on."""
    report = check_client_frame(solution())
    assert report.passed, str(report)


@pytest.mark.parametrize(
    ("mistake", "message"),
    [
        ("no_fin", "the first byte should be 0x81 (FIN, opcode 1), not 01"),
        ("characters", "must count its 13 UTF-8 bytes, not 11 letters"),
        ("little_endian", "a 126-byte text needs the 16-bit length form"),
        ("key_unused", "after the length come the 4 key bytes, then byte i XOR key[i % 4]"),
    ],
)
def test_each_wrong_frame_gets_its_own_message(mistake: str, message: str) -> None:
    """A builder wrong in one way is told that way, in words."""
    report = check_client_frame(wrong(**{mistake: True}), wait=0.5)
    assert any(message in text for text in report.failed), str(report)
