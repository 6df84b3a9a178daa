"""Tests for wslib.notebook.livelog without a browser: what the widget sends, and when.

The browser side is proven in tests/test_browser.py (the live region lasts and receives the
new lines). Here, ``current`` reads the traits the way static/livelog.js does, so the tests
check that a view made at any moment would show exactly the kept lines.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wslib.notebook.livelog import ROLL, LiveLog


def current(log: LiveLog) -> list[list[Any]]:
    """Return the lines a new view would show: ``lines``, then newer ``recent``, last ``keep``."""
    newest = log.lines[-1][0] if log.lines else -1
    merged = [*log.lines, *(line for line in log.recent if line[0] > newest)]
    return merged[-log.keep :]


def record_changes(log: LiveLog) -> list[tuple[str, list[Any]]]:
    """Return a list that fills with each change of ``lines`` or ``recent`` (name, new value)."""
    changes: list[tuple[str, list[Any]]] = []
    log.observe(lambda change: changes.append((change.name, change.new)), ["lines", "recent"])
    return changes


def peer(*texts: str) -> list[tuple[str, str]]:
    """Return ``texts`` as lines of a pane's peer kind."""
    return [("chat-line chat-peer", text) for text in texts]


def test_new_lines_go_out_alone_in_recent_with_their_numbers() -> None:
    """A second show sends only the line that is new, numbered after the first two."""
    log = LiveLog("Alice's messages")
    changes = record_changes(log)
    log.show(peer("a", "b"), added=2)
    log.show(peer("a", "b", "c"), added=3)
    assert changes == [
        ("recent", [[0, "chat-line chat-peer", "a"], [1, "chat-line chat-peer", "b"]]),
        (
            "recent",
            [
                [0, "chat-line chat-peer", "a"],
                [1, "chat-line chat-peer", "b"],
                [2, "chat-line chat-peer", "c"],
            ],
        ),
    ]
    assert log.texts == ["a", "b", "c"]


def test_showing_the_same_lines_again_sends_nothing() -> None:
    """A redraw with nothing new (a status change, a second render) changes no trait."""
    log = LiveLog("log")
    log.show(peer("a"), added=1)
    changes = record_changes(log)
    log.show(peer("a"), added=1)
    log.show([], added=1)
    assert changes == []


def test_the_log_keeps_only_the_newest_lines() -> None:
    """With keep=3, five lines leave the last three, numbered 2 to 4, in every view."""
    log = LiveLog("log", keep=3)
    log.show(peer("1", "2"), added=2)
    log.show(peer("3", "4", "5"), added=5)  # a source that also keeps 3 lost "1" and "2"
    assert log.texts == ["3", "4", "5"]
    assert [line[0] for line in current(log)] == [2, 3, 4]


def test_a_source_that_kept_fewer_lines_than_it_added_numbers_them_from_the_end() -> None:
    """Lines the source dropped before the first show are skipped, not renumbered."""
    log = LiveLog("log")
    log.show(peer("x", "y"), added=10)
    assert current(log) == [[8, "chat-line chat-peer", "x"], [9, "chat-line chat-peer", "y"]]


def test_after_roll_lines_everything_goes_out_once_in_lines() -> None:
    """Once recent would pass ROLL lines, one change sends all kept lines and empties recent."""
    log = LiveLog("log")
    changes = record_changes(log)
    for n in range(ROLL + 1):
        log.show(peer(*map(str, range(n + 1))), added=n + 1)
    assert [name for name, _ in changes[-2:]] == ["lines", "recent"]
    assert log.recent == []
    assert [line[2] for line in log.lines] == [str(n) for n in range(ROLL + 1)]
    assert max(len(value) for name, value in changes if name == "recent") == ROLL


def test_text_is_made_printable_and_left_otherwise_as_it_is() -> None:
    """Control and bidi characters are escaped; markup stays literal text for textContent."""
    log = LiveLog("log")
    log.show(peer("<b>bold?</b>", "\x1b[2J\u202eevil"), added=2)
    assert log.texts == ["<b>bold?</b>", "\\x1b[2J\\u202eevil"]


def test_the_browser_module_sets_text_never_html() -> None:
    """The front-end module writes a line with textContent and has no HTML-parsing sink."""
    module = LiveLog._esm
    assert "element.textContent = text" in module
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"):
        assert sink not in module


def test_the_state_a_new_view_gets_is_plain_json() -> None:
    """The synced state holds the label, the bound and the lines as JSON lists."""
    log = LiveLog("Server log", keep=7, box_class="chat-log server-log-lines")
    log.show([("log-line", "Client connected")], added=1)
    state = log.get_state()
    assert (state["label"], state["keep"], state["box_class"]) == (
        "Server log",
        7,
        "chat-log server-log-lines",
    )
    assert state["lines"] == []
    assert state["recent"] == [[0, "log-line", "Client connected"]]


def test_keep_must_be_positive() -> None:
    """A log that keeps no line is refused with a clear error."""
    with pytest.raises(ValueError, match="keep must be at least 1"):
        LiveLog("log", keep=0)


def test_shows_from_two_threads_lose_and_repeat_nothing() -> None:
    """A cell and the kit's loop showing the same growing source at once give each line once."""
    log = LiveLog("log", keep=1000)
    source: list[tuple[str, str]] = []
    lock = threading.Lock()

    def write(prefix: str) -> None:
        for n in range(300):
            with lock:
                source.append(("log-line", f"{prefix} {n}"))
                lines, added = list(source), len(source)
            log.show(lines, added)

    threads = [threading.Thread(target=write, args=(name,)) for name in ("loop", "cell")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log.show(source, len(source))
    assert log.texts == [text for _, text in source]
    assert [line[2] for line in current(log)] == log.texts


@settings(max_examples=200, deadline=None)
@given(
    keep=st.integers(1, 150),
    batches=st.lists(st.integers(0, 100), max_size=30),
)
def test_a_view_made_at_any_moment_shows_the_kept_lines(keep: int, batches: list[int]) -> None:
    """After every show, lines plus newer recent are the kept lines; recent stays small."""
    log = LiveLog("log", keep=keep)
    changes = record_changes(log)
    added = 0
    for size in batches:
        added += size
        kept = [("log-line", str(n)) for n in range(max(0, added - keep), added)]
        log.show(kept, added)
        assert current(log) == [[int(text), classes, text] for classes, text in kept]
    assert all(len(value) <= min(ROLL, keep) for name, value in changes if name == "recent")
