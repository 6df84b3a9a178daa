"""Tests for wslib.core.outbox: which send goes out next, with no socket and no clock."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from wslib.core.limits import RateLimiter
from wslib.core.outbox import Outbox


def doubling() -> Iterator[float]:
    """Delays of 1, 2, 4, ... seconds, new at each first refusal in a row."""
    return (2.0**n for n in itertools.count())


def outbox(*cids: str, limiter: RateLimiter | None = None) -> Outbox[str]:
    """Return an outbox holding ``cids``, at a pace no test here reaches unless given one."""
    box: Outbox[str] = Outbox(limiter or RateLimiter(1000.0, 1000.0), doubling)
    for cid in cids:
        box.add(cid, f"event {cid}")
    return box


def test_sends_go_one_at_a_time_in_the_order_they_were_added() -> None:
    """The next send waits for the answer to the one in flight, then the next in line goes."""
    box = outbox("a", "b")
    assert box.next(0.0) == ("a", 0.0)
    assert box.next(0.0) == (None, 0.0)  # a is in flight: nothing else goes
    box.answered("a", 0.0, stored=True)
    assert box.next(0.0) == ("b", 0.0)
    box.answered("b", 0.0, stored=True)
    assert box.next(0.0) == (None, 0.0)
    assert box.pending == {}
    assert not box.waiting


def test_a_send_refused_for_now_goes_again_first_after_a_growing_delay() -> None:
    """unavailable: the refused send waits 1 s, then 2 s, ahead of what came after it."""
    box = outbox("a", "b")
    box.next(0.0)
    box.answered("a", 10.0, stored=False, retry=True)
    assert box.pending == {"a": "event a", "b": "event b"}
    assert box.next(10.5) == (None, 0.5)
    assert box.next(11.0) == ("a", 0.0)
    box.answered("a", 11.0, stored=False, retry=True)
    assert box.next(12.0) == (None, 1.0)  # the second refusal in a row waits twice as long
    assert box.next(13.0) == ("a", 0.0)
    box.answered("a", 13.0, stored=True)
    assert box.next(13.0) == ("b", 0.0)  # stored: b goes at once
    box.answered("b", 14.0, stored=False, retry=True)
    assert box.next(14.0) == (None, 1.0)  # and the delays start over


def test_a_send_refused_for_good_is_dropped_and_the_next_goes() -> None:
    """too_long, no_such_user: sent again it would be refused again."""
    box = outbox("a", "b")
    box.next(0.0)
    box.answered("a", 0.0, stored=False)
    assert list(box.pending) == ["b"]
    assert box.next(0.0) == ("b", 0.0)


def test_a_restart_sends_everything_pending_again_in_order() -> None:
    """On a new connection the one in flight and those behind it all go again, oldest first."""
    box = outbox("a", "b", "c")
    box.next(0.0)
    box.answered("a", 0.0, stored=True)
    box.next(0.0)  # b in flight when the connection drops
    box.restart()
    assert box.inflight is None
    assert [box.next(0.0)[0], box.answered("b", 0.0, stored=True), box.next(0.0)[0]] == [
        "b",
        None,
        "c",
    ]


def test_an_answer_from_an_earlier_connection_settles_the_send_but_frees_nothing() -> None:
    """A late ack after a restart drops its send from the line, without skipping the turn."""
    box = outbox("a", "b", "c")
    box.next(0.0)
    box.restart()
    assert box.next(0.0) == ("a", 0.0)
    box.answered("b", 0.0, stored=True)  # b was stored already, before the reconnect
    assert box.next(0.0) == (None, 0.0)  # a is still in flight: c waits
    box.answered("a", 0.0, stored=True)
    assert box.next(0.0) == ("c", 0.0)  # b is not sent twice
    assert list(box.pending) == ["c"]


def test_sends_take_the_limiters_pace() -> None:
    """Past the burst, the next send waits for a token, however free the line is."""
    box = outbox("a", "b", limiter=RateLimiter(1.0, 1.0))
    assert box.next(0.0) == ("a", 0.0)
    box.answered("a", 0.0, stored=True)
    assert box.next(0.25) == (None, 0.75)
    assert box.next(1.0) == ("b", 0.0)
