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


@pytest.mark.parametrize(
    ("interval", "timeout", "match"),
    [(0.0, 1.0, "interval"), (-1.0, 1.0, "interval"), (1.0, -0.5, "timeout")],
)
def test_a_nonsense_interval_or_timeout_is_refused(
    interval: float, timeout: float, match: str
) -> None:
    """An interval that is not positive, or a negative timeout, raises ValueError."""
    with pytest.raises(ValueError, match=match):
        PingRounds(interval=interval, timeout=timeout, now=0.0)
