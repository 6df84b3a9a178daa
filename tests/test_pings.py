"""Tests for ``wslib.core.pings``: when a server-wide keepalive pings, whom it gives up on."""

from __future__ import annotations

import pytest

from wslib.core.pings import PingRounds


def test_a_round_is_due_every_interval_from_the_last_one() -> None:
    """The first round comes an interval after the start, each next one an interval later."""
    rounds: PingRounds[str] = PingRounds(interval=10.0, timeout=5.0, now=100.0)
    assert not rounds.due(109.9)
    assert rounds.due(110.0)
    rounds.begin(112.0)
    assert not rounds.due(121.9)
    assert rounds.due(122.0)


def test_a_peer_that_does_not_answer_is_overdue_after_the_timeout_and_then_forgotten() -> None:
    """An unanswered ping makes its peer overdue ``timeout`` after it was sent, once."""
    rounds: PingRounds[str] = PingRounds(interval=10.0, timeout=5.0, now=0.0)
    rounds.pinged("ghost", 10.0)
    assert rounds.waiting("ghost")
    assert rounds.overdue(14.9) == []
    assert rounds.overdue(15.0) == ["ghost"]
    assert not rounds.waiting("ghost")
    assert rounds.overdue(100.0) == []


def test_an_answered_ping_is_never_overdue() -> None:
    """A peer whose pong came is no longer waiting and never overdue; the silent one is."""
    rounds: PingRounds[str] = PingRounds(interval=10.0, timeout=5.0, now=0.0)
    rounds.pinged("alice", 10.0)
    rounds.pinged("ghost", 10.1)
    rounds.answered("alice")
    assert not rounds.waiting("alice")
    assert rounds.overdue(20.0) == ["ghost"]


def test_overdue_peers_come_in_the_order_of_their_pings() -> None:
    """Only the pings past their deadline are overdue, oldest first; a re-ping moves a peer."""
    rounds: PingRounds[str] = PingRounds(interval=10.0, timeout=5.0, now=0.0)
    rounds.pinged("a", 10.0)
    rounds.pinged("b", 11.0)
    rounds.pinged("a", 12.0)  # pinged again: its deadline is the newest
    assert rounds.overdue(16.5) == ["b"]
    assert rounds.overdue(17.0) == ["a"]


def test_the_task_wakes_for_the_next_round_or_the_oldest_deadline_whichever_is_first() -> None:
    """``wake_at`` is the next round's time, or an earlier deadline of an unanswered ping."""
    rounds: PingRounds[str] = PingRounds(interval=10.0, timeout=15.0, now=0.0)
    assert rounds.wake_at() == 10.0
    rounds.begin(10.0)
    rounds.pinged("a", 10.0)
    assert rounds.wake_at() == 20.0  # the round, before a's deadline at 25
    rounds.begin(20.0)
    assert rounds.wake_at() == 25.0  # a's deadline, before the round at 30
    rounds.answered("a")
    assert rounds.wake_at() == 30.0


def test_without_a_timeout_peers_are_pinged_every_round_and_never_given_up_on() -> None:
    """With ``timeout=None`` no peer waits for a pong, so each round pings it; none is overdue."""
    rounds: PingRounds[str] = PingRounds(interval=10.0, timeout=None, now=0.0)
    rounds.pinged("ghost", 10.0)
    assert not rounds.waiting("ghost")
    assert rounds.overdue(1e9) == []
    assert rounds.wake_at() == 10.0


def test_a_rounds_pings_are_spread_evenly_over_the_interval() -> None:
    """Of a round of 10 peers over 10 s, the ``i``-th is due ``i`` seconds after it began."""
    rounds: PingRounds[str] = PingRounds(interval=10.0, timeout=5.0, now=0.0)
    rounds.begin(10.0, 10)
    assert rounds.take(10.0) == range(0, 1)
    assert rounds.take(10.99) == range(1, 1)
    assert rounds.take(11.0) == range(1, 2)
    assert rounds.take(15.5) == range(2, 6)
    assert rounds.take(19.9) == range(6, 10)
    assert rounds.take(30.0) == range(10, 10)  # each index once


def test_no_more_than_a_batch_is_taken_at_once_and_the_rest_is_due_at_once() -> None:
    """A batch holds at most ``batch`` peers; while more are due, ``wake_at`` is now."""
    rounds: PingRounds[str] = PingRounds(interval=1.0, timeout=5.0, now=0.0, batch=32)
    rounds.begin(1.0, 100)
    assert rounds.take(1.5) == range(0, 32)  # 51 are due
    assert rounds.wake_at() <= 1.5
    assert rounds.take(1.5) == range(32, 51)
    assert rounds.wake_at() > 1.5


def test_the_task_wakes_when_a_batch_is_due_or_a_tick_later_whichever_is_first() -> None:
    """Pings gather until ``batch`` are due, for ``tick`` at most; sparse ones come alone."""
    rounds: PingRounds[str] = PingRounds(interval=10.0, timeout=None, now=0.0, batch=5, tick=0.1)
    rounds.begin(10.0, 1000)  # a ping every 0.01 s: a batch of 5 fills in 0.04 s
    assert rounds.take(10.0) == range(0, 1)
    assert rounds.wake_at() == pytest.approx(10.05)
    assert rounds.take(10.05) == range(1, 6)
    rounds.begin(20.0, 20)  # a ping every 0.5 s: a tick passes first, then each waits
    assert rounds.take(20.0) == range(0, 1)
    assert rounds.wake_at() == 20.5
    assert rounds.take(20.5) == range(1, 2)
    rounds.begin(30.0, 200)  # a ping every 0.05 s: a tick later, 2 are due
    assert rounds.take(30.0) == range(0, 1)
    assert rounds.wake_at() == pytest.approx(30.1)
    assert rounds.take(30.1) == range(1, 3)


def test_a_round_that_fell_behind_is_finished_before_the_next_begins() -> None:
    """The next round is not due while the one under way still has peers to take."""
    rounds: PingRounds[str] = PingRounds(interval=1.0, timeout=None, now=0.0, batch=10)
    rounds.begin(1.0, 100)
    assert rounds.take(1.5) == range(0, 10)
    assert not rounds.due(2.0)
    for _ in range(9):
        rounds.take(2.0)
    assert rounds.due(2.0)


@pytest.mark.parametrize("peers", [1, 7, 256, 10_000])
def test_a_task_that_follows_wake_at_takes_each_peer_once_in_its_round_and_not_early(
    peers: int,
) -> None:
    """Woken as ``wake_at`` says, the task takes every peer once, none before it is due."""
    interval = 20.0
    rounds: PingRounds[int] = PingRounds(interval=interval, timeout=None, now=0.0)
    now = rounds.wake_at()
    assert rounds.due(now)
    rounds.begin(now, peers)
    taken: list[int] = []
    wakes = 0
    while not rounds.due(now):
        batch = rounds.take(now)
        assert len(batch) <= rounds.batch
        assert all(now >= 20.0 + index * interval / peers for index in batch)
        taken.extend(batch)
        wakes += 1
        now = max(now, rounds.wake_at())
    assert taken == list(range(peers))
    assert now == 40.0  # the next round, on time
    # Each wake-up took a whole batch, or came a tick after the last one (or both).
    assert wakes <= peers / rounds.batch + interval / rounds.tick + 1


@pytest.mark.parametrize(
    ("interval", "timeout", "batch", "tick", "match"),
    [
        (0.0, 1.0, 1, 0.1, "interval"),
        (-1.0, 1.0, 1, 0.1, "interval"),
        (1.0, -0.5, 1, 0.1, "timeout"),
        (1.0, 1.0, 0, 0.1, "batch"),
        (1.0, 1.0, 1, 0.0, "tick"),
    ],
)
def test_a_nonsense_interval_timeout_batch_or_tick_is_refused(
    interval: float, timeout: float, batch: int, tick: float, match: str
) -> None:
    """A batch, interval or tick that is not positive, or a negative timeout, is refused."""
    with pytest.raises(ValueError, match=match):
        PingRounds(interval=interval, timeout=timeout, now=0.0, batch=batch, tick=tick)
