"""Tests for wslib.core.limits, with no sockets: the rate limiter, the origin rule, the cap."""

from __future__ import annotations

import resource

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wslib.core.limits import DEFAULT_MAX_CONNECTIONS, RateLimiter, connection_cap, origin_allowed
from wslib.core.settings import Limits

# -- RateLimiter ------------------------------------------------------------------------


def test_rate_limiter_allows_a_burst_then_refuses() -> None:
    """A limiter allows ``burst`` messages at once and refuses the next one."""
    limiter = RateLimiter(rate=5, burst=3)
    assert [limiter.allow(10.0) for _ in range(4)] == [True, True, True, False]


def test_rate_limiter_refills_at_its_rate() -> None:
    """After a refusal, one message is allowed again once 1/rate seconds have passed."""
    limiter = RateLimiter(rate=4, burst=1)
    assert limiter.allow(0.0)
    assert not limiter.allow(0.2)
    assert limiter.allow(0.25)
    assert not limiter.allow(0.25)


def test_rate_limiter_does_not_save_up_more_than_its_burst() -> None:
    """A long silence refills the bucket to ``burst`` and no further."""
    limiter = RateLimiter(rate=10, burst=2)
    limiter.allow(0.0)
    assert [limiter.allow(3600.0) for _ in range(3)] == [True, True, False]


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 5), (5, 0.5)])
def test_rate_limiter_refuses_settings_that_would_block_everything(
    rate: float, burst: float
) -> None:
    """A rate that is not positive or a burst below one message is a ValueError."""
    with pytest.raises(ValueError, match="rate must be positive"):
        RateLimiter(rate, burst)


def test_default_chat_rate_lets_a_fast_typist_chat_for_ten_minutes() -> None:
    """At 10 messages a second, each after a typing event, the default chat rate never refuses."""
    rate, burst = Limits().chat_rate or (0.0, 0.0)
    limiter = RateLimiter(rate, burst)
    refused = 0
    for i in range(10 * 600):
        sent_at = i / 10
        refused += not limiter.allow(sent_at - 0.05)  # typing, half a keystroke interval earlier
        refused += not limiter.allow(sent_at)
    assert refused == 0


def test_default_chat_rate_stops_a_flood_within_a_second() -> None:
    """A client sending 200 messages a second is refused before its first second is over."""
    rate, burst = Limits().chat_rate or (0.0, 0.0)
    limiter = RateLimiter(rate, burst)
    first_refusal = next(i for i in range(200) if not limiter.allow(i / 200))
    assert first_refusal / 200 < 1.0


@given(
    times=st.lists(st.floats(min_value=0, max_value=100, allow_nan=False), max_size=200),
    rate=st.floats(min_value=0.5, max_value=50),
    burst=st.integers(min_value=1, max_value=50),
)
def test_rate_limiter_never_allows_more_than_burst_plus_rate_times_elapsed(
    times: list[float], rate: float, burst: int
) -> None:
    """Over any stretch of time, the allowed messages stay within burst + rate x elapsed."""
    times.sort()
    limiter = RateLimiter(rate, burst)
    allowed = sum(limiter.allow(t) for t in times)
    elapsed = times[-1] - times[0] if times else 0.0
    assert allowed <= burst + rate * elapsed + 1e-6


# -- origin_allowed ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("origin", "host", "forwarded"),
    [
        (None, "127.0.0.1:8080", None),  # the kernel, a script, the CLI: no Origin at all
        ("http://127.0.0.1:8080", "127.0.0.1:8080", None),  # the kit's own page
        ("http://LOCALHOST:8080", "localhost:8080", None),  # host names ignore case
        ("http://example.org", "example.org", None),  # port 80 on both sides, implied
        ("https://example.org", "example.org", None),  # 443 implied by the origin's scheme
        ("https://example.org:443", "example.org", None),
        ("http://[::1]:8080", "[::1]:8080", None),  # IPv6 loopback
        ("http://[2001:db8::7]:9000", "[2001:db8::7]:9000", None),
        # Behind jupyter-server-proxy the Host is the proxy's target; X-Forwarded-Host is
        # what the browser used.
        ("https://hub.example.org", "127.0.0.1:8080", "hub.example.org"),
        ("https://hub.example.org", "127.0.0.1:8080", "hub.example.org, 10.0.0.1:8000"),
        ("http://[::1]:8888", "127.0.0.1:8080", "[::1]:8888"),
    ],
)
def test_origin_allowed_accepts_no_origin_and_the_kits_own_page(
    origin: str | None, host: str, forwarded: str | None
) -> None:
    """No Origin, or an Origin equal to Host (or X-Forwarded-Host), is accepted."""
    assert origin_allowed(origin, host, forwarded)


@pytest.mark.parametrize(
    ("origin", "host", "forwarded"),
    [
        ("https://evil.example", "127.0.0.1:8080", None),  # a stranger's page
        ("http://127.0.0.1:9999", "127.0.0.1:8080", None),  # same host, another port
        ("http://localhost:8080", "127.0.0.1:8080", None),  # another name is another origin
        ("http://127.0.0.1:8080.evil.example", "127.0.0.1:8080", None),
        ("null", "127.0.0.1:8080", None),  # sandboxed iframes and file:// pages
        ("http://[::1]:9999", "[::1]:8080", None),
        ("http://[::2]:8080", "[::1]:8080", None),
        ("https://hub.example.org", "127.0.0.1:8080", "other.example.org"),
        ("https://hub.example.org", "127.0.0.1:8080", "10.0.0.1, hub.example.org"),  # first only
        ("https://hub.example.org", None, None),  # no Host to compare with
        ("http://[::1", "127.0.0.1:8080", None),  # malformed: refused, not an exception
        ("http://127.0.0.1:99999", "127.0.0.1:99999", None),
        ("http://127.0.0.1:8080", "[::1", None),
    ],
)
def test_origin_allowed_refuses_other_pages(
    origin: str, host: str | None, forwarded: str | None
) -> None:
    """Another origin, a 'null' origin or a malformed header is refused."""
    assert not origin_allowed(origin, host, forwarded)


def test_origin_allowed_accepts_listed_origins_and_a_wildcard() -> None:
    """Origins listed in ``allowed`` are accepted, others still refused; ``"*"`` accepts all."""
    allowed = ("https://course.example.org",)
    assert origin_allowed("https://course.example.org", "127.0.0.1:8080", None, allowed)
    assert not origin_allowed("https://evil.example", "127.0.0.1:8080", None, allowed)
    assert origin_allowed("https://evil.example", "127.0.0.1:8080", None, ("*",))
    assert origin_allowed("null", "127.0.0.1:8080", None, ("null",))


# -- connection_cap ---------------------------------------------------------------------


def test_connection_cap_uses_the_requested_number() -> None:
    """An explicit cap is used as it is."""
    assert connection_cap(3) == 3


def test_connection_cap_defaults_below_the_descriptor_limit() -> None:
    """The default cap is at most 20,000 and leaves descriptors free below the soft limit."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    cap = connection_cap()
    assert 1 <= cap <= DEFAULT_MAX_CONNECTIONS
    if soft != resource.RLIM_INFINITY:
        assert cap < soft


def test_connection_cap_follows_a_lowered_soft_limit() -> None:
    """Lowering the soft descriptor limit lowers the default cap with it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (512, hard))
        assert connection_cap() < 512
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_default_cap_is_well_above_ten_thousand_when_descriptors_allow() -> None:
    """With 20,000 descriptors or more allowed, the default cap is above 10,000 connections."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 20_000 if hard == resource.RLIM_INFINITY else min(hard, 20_000)
    if wanted < 20_000:
        pytest.skip(f"the hard descriptor limit is {hard}; the soft one cannot reach 20,000")
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        assert connection_cap() > 10_000
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_rate_limiter_wait_says_when_the_next_token_comes_without_taking_it() -> None:
    """``wait`` is 0 while a token is there, then the time until the next one; it takes none."""
    limiter = RateLimiter(rate=10, burst=2)
    assert limiter.wait(0.0) == 0.0
    assert limiter.allow(0.0)
    assert limiter.allow(0.0)
    assert limiter.wait(0.0) == pytest.approx(0.1)
    assert limiter.wait(0.05) == pytest.approx(0.05)
    assert limiter.wait(0.1) == 0.0
    assert limiter.allow(0.1)
    assert not limiter.allow(0.1)
