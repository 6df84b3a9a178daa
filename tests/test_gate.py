"""Tests for wslib.core.gate, with no sockets: what each request gets before a WebSocket opens."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from websockets.datastructures import Headers

from wslib.core.gate import (
    JSON_CONTENT_TYPE,
    PAGE_CONTENT_TYPE,
    TEXT_CONTENT_TYPE,
    Answer,
    State,
    answer,
    frame_ancestors,
)
from wslib.server.assets import page_html, pages, playground_html, with_run_key

RUN_KEY = "a-server-s-own-key_0123"

STATE = State(
    mode="relay",
    token=None,
    origins=None,
    active=3,
    max_connections=10,
    backplane="ok",
    pages=pages(RUN_KEY),
)
WEBSOCKET = {"Upgrade": "websocket", "Host": "127.0.0.1:8080"}
DEGRADED = replace(STATE, backplane="degraded")

# -- plain HTTP -----------------------------------------------------------------------------


def test_health_check_reports_status_mode_and_clients_as_json() -> None:
    """``GET /healthz`` gets 200 and a JSON body naming the status, the mode and the clients."""
    reply = answer("/healthz", {}, replace(STATE, mode="echo"))
    assert reply is not None
    assert (reply.status, reply.content_type, reply.warning) == (200, JSON_CONTENT_TYPE, None)
    assert json.loads(reply.body) == {"status": "ok", "mode": "echo", "clients": 3}


def test_health_check_is_503_while_the_backplane_is_degraded() -> None:
    """``GET /healthz`` gets 503, with the same JSON body, while the backplane is degraded."""
    reply = answer("/healthz", {}, DEGRADED)
    assert reply is not None
    assert reply.status == 503
    assert json.loads(reply.body) == {"status": "degraded", "mode": "relay", "clients": 3}


def test_page_is_the_chat_html_with_its_content_type() -> None:
    """``GET /`` gets the browser chat page as HTML."""
    assert answer("/", {}, STATE) == Answer(200, page_html(), PAGE_CONTENT_TYPE)


def test_playground_is_its_own_html_with_its_content_type() -> None:
    """``GET /playground`` gets the JavaScript playground page as HTML, query or not."""
    page = with_run_key(playground_html(), RUN_KEY)
    for target in ("/playground", "/playground?token=abc"):
        assert answer(target, {}, STATE) == Answer(200, page, PAGE_CONTENT_TYPE)


def test_the_playground_carries_its_servers_run_key_and_only_where_the_script_reads_it() -> None:
    """The key fills the page's one RUN_KEY line; the page is otherwise the file as it is."""
    plain, keyed = playground_html(), with_run_key(playground_html(), RUN_KEY)
    assert 'const RUN_KEY = "";  // wslib:run-key' in plain
    assert keyed.count(RUN_KEY) == 1
    assert f'const RUN_KEY = "{RUN_KEY}";' in keyed
    assert keyed.replace(f'"{RUN_KEY}";', '"";  // wslib:run-key') == plain
    assert "asked === RUN_KEY" in keyed  # what the page compares a link's run= with


@pytest.mark.parametrize("key", ["", "1", "fifteen_chars_x", 'a"; alert(1); "' + "x" * 16])
def test_a_run_key_must_be_long_and_url_safe(key: str) -> None:
    """A key the page could not hold as a plain string, or short enough to guess, is refused."""
    with pytest.raises(ValueError, match="run key"):
        with_run_key(playground_html(), key)


def test_a_page_without_its_run_key_line_is_refused() -> None:
    """A playground edited so that it no longer reads the key would fail loudly, not open."""
    with pytest.raises(ValueError, match="RUN_KEY"):
        with_run_key("<html></html>", RUN_KEY)


def test_icon_is_204_with_no_content_at_all() -> None:
    """``GET /favicon.ico`` gets 204 with no body and no content type, and no warning."""
    assert answer("/favicon.ico", {}, STATE) == Answer(204, "", None, None)


@pytest.mark.parametrize(
    ("target", "headers"),
    [("/nope?x=1", {}), ("/chat", {}), ("/chat/", WEBSOCKET), ("/healthz", WEBSOCKET)],
)
def test_an_unknown_path_is_404_naming_the_target(target: str, headers: dict[str, str]) -> None:
    """A path no route serves, plain or WebSocket, gets 404 with the target and no warning."""
    assert answer(target, headers, STATE) == Answer(
        404, f"Not found: {target}\n", TEXT_CONTENT_TYPE
    )


@pytest.mark.parametrize("target", ["/", "/playground", "/healthz", "/favicon.ico"])
def test_plain_pages_need_no_token(target: str) -> None:
    """The page, the health check and the icon are answered without the access token."""
    reply = answer(target, {}, replace(STATE, token="s3cret"))
    assert reply is not None
    assert reply.status in (200, 204)


# -- WebSockets ----------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["/", "/chat", "/?token=x", "/chat?x=1"])
def test_a_websocket_with_nothing_against_it_may_open(target: str) -> None:
    """A WebSocket on the relay or the chat, within every limit, gets no answer: it opens."""
    assert answer(target, WEBSOCKET, STATE) is None


@pytest.mark.parametrize(
    ("target", "authorization"), [("/", None), ("/chat?token=guess", None), ("/", "Bearer no")]
)
def test_a_websocket_without_the_token_is_401_with_a_warning(
    target: str, authorization: str | None
) -> None:
    """A WebSocket with no token, or a wrong one, gets 401 and one warning."""
    headers = dict(WEBSOCKET)
    if authorization is not None:
        headers["Authorization"] = authorization
    assert answer(target, headers, replace(STATE, token="s3cret")) == Answer(
        401,
        "This server needs its access token (?token=...).\n",
        warning="refused a WebSocket without the access token",
    )


@pytest.mark.parametrize(
    ("target", "headers"),
    [("/chat?token=s3cret", WEBSOCKET), ("/", {**WEBSOCKET, "Authorization": "Bearer s3cret"})],
)
def test_a_websocket_with_the_token_may_open(target: str, headers: dict[str, str]) -> None:
    """The token in the URL or as a bearer header lets the WebSocket open."""
    assert answer(target, headers, replace(STATE, token="s3cret")) is None


def test_a_websocket_from_a_foreign_page_is_403_naming_the_origin() -> None:
    """A WebSocket from another site's page gets 403 and a warning naming that origin."""
    headers = {**WEBSOCKET, "Origin": "https://evil.example"}
    assert answer("/chat", headers, STATE) == Answer(
        403,
        "This origin may not connect to this server.\n",
        warning="refused a WebSocket from origin https://evil.example",
    )


def test_a_refused_origin_is_escaped_in_the_warning() -> None:
    """Control characters in a refused origin reach the warning escaped, never raw."""
    reply = answer("/", {**WEBSOCKET, "Origin": "https://e\x1b[2Jvil.example"}, STATE)
    assert reply is not None
    assert reply.warning == "refused a WebSocket from origin https://e\\x1b[2Jvil.example"


@pytest.mark.parametrize(
    ("headers", "origins"),
    [
        ({"Origin": "http://127.0.0.1:8080"}, None),
        ({"Origin": "https://hub.example", "X-Forwarded-Host": "hub.example"}, None),
        ({"Origin": "https://friend.example"}, ("https://friend.example",)),
        ({"Origin": "https://anyone.example"}, ("*",)),
    ],
    ids=["own-page", "behind-a-proxy", "listed", "star"],
)
def test_a_websocket_from_an_allowed_page_may_open(
    headers: dict[str, str], origins: tuple[str, ...] | None
) -> None:
    """The server's own page, its page behind a proxy, or a listed origin may open a WebSocket."""
    assert answer("/", {**WEBSOCKET, **headers}, replace(STATE, origins=origins)) is None


def test_a_websocket_over_the_cap_is_503_with_a_warning() -> None:
    """Once ``max_connections`` are open, a WebSocket gets 503 and a warning with the count."""
    full = replace(STATE, active=10)
    assert answer("/", WEBSOCKET, full) == Answer(
        503,
        "Too many connections; try again later.\n",
        warning="refused a connection: 10 connections open",
    )
    assert answer("/", WEBSOCKET, replace(full, active=9)) is None


def test_the_chat_is_503_without_a_warning_while_the_backplane_is_degraded() -> None:
    """A chat WebSocket gets 503 and no warning while the backplane is degraded; the relay opens."""
    assert answer("/chat", WEBSOCKET, DEGRADED) == Answer(
        503, "The chat is unavailable for now; try again later.\n"
    )
    assert answer("/", WEBSOCKET, DEGRADED) is None


def test_the_checks_run_token_then_origin_then_cap_then_backplane() -> None:
    """A request failing several checks gets the answer of the first: 401, 403, 503 in turn."""
    headers = {**WEBSOCKET, "Origin": "https://evil.example"}
    worst = replace(DEGRADED, token="s3cret", active=10)
    statuses = []
    for target, state in [
        ("/chat", worst),
        ("/chat?token=s3cret", worst),
        ("/chat?token=s3cret", replace(worst, origins=("*",))),
        ("/chat?token=s3cret", replace(worst, origins=("*",), active=0)),
    ]:
        reply = answer(target, headers, state)
        assert reply is not None
        statuses.append((reply.status, reply.warning is not None))
    assert statuses == [(401, True), (403, True), (503, True), (503, False)]


# -- a header given twice -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "name"),
    [("/", "Upgrade"), ("/", "Origin"), ("/chat", "Host"), ("/", "Authorization")],
)
def test_a_repeated_header_is_400_with_a_warning(target: str, name: str) -> None:
    """A WebSocket handshake with a header given twice gets 400 and a warning naming it."""
    headers = Headers([*WEBSOCKET.items(), (name, "one"), (name, "two")])
    assert answer(target, headers, STATE) == Answer(
        400,
        f"Repeated header: '{name}'\n",
        warning=f"refused a request with a repeated '{name}' header",
    )


# -- DNS rebinding: the Host a request was sent to -------------------------------------------

LOOPBACK_ONLY = replace(STATE, hosts=())


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1:8080", "127.9.9.9", "localhost:1", "LOCALHOST.", "[::1]:8080", "[::1]", None],
)
@pytest.mark.parametrize("target", ["/", "/chat", "/healthz"])
def test_a_loopback_server_answers_requests_sent_to_loopback_names(
    host: str | None, target: str
) -> None:
    """Requests sent to localhost or a loopback address, any port, or with no Host, pass."""
    headers = {"Upgrade": "websocket"} if target != "/healthz" else {}
    if host is not None:
        headers["Host"] = host
    reply = answer(target, headers, LOOPBACK_ONLY)
    assert reply is None or reply.status == 200


@pytest.mark.parametrize("target", ["/", "/chat", "/healthz", "/favicon.ico", "/nope"])
@pytest.mark.parametrize("upgrade", [True, False])
@pytest.mark.parametrize("host", ["evil.example:8080", "evil.example", "10.0.0.1:8080", "[::2]"])
def test_a_loopback_server_refuses_other_hosts_on_every_route_with_403(
    target: str, upgrade: bool, host: str
) -> None:
    """A request sent to a foreign name (DNS rebinding) gets 403 and one warning, on any route."""
    headers = {"Host": host, "Origin": f"http://{host}"}
    if upgrade:
        headers["Upgrade"] = "websocket"
    reply = answer(target, headers, LOOPBACK_ONLY)
    assert reply is not None
    assert reply.status == 403
    assert reply.warning is not None
    assert "--allow-host" in reply.warning
    assert "allowed_hosts" in reply.body


@pytest.mark.parametrize(
    ("host", "port", "status"),
    [
        ("evil.example:45000", 45000, 403),  # a rebound page: it must use the server's port
        ("evil.example", 80, 403),  # no port names 80 (or 443), the server's own here
        ("evil.example", 443, 403),
        ("hub.example", 45000, 200),  # a proxy in front passed its browser's Host on
        ("hub.example:8443", 45000, 200),
    ],
)
def test_a_foreign_host_is_refused_only_when_it_names_the_servers_own_port(
    host: str, port: int, status: int
) -> None:
    """A rebinding page can only reach the server's own port; another port means a proxy."""
    reply = answer("/healthz", {"Host": host}, replace(LOOPBACK_ONLY, port=port))
    assert reply is not None
    assert reply.status == status


def test_listed_hosts_are_answered_and_star_accepts_any() -> None:
    """A name listed in ``hosts`` (any port, any case) passes; ``"*"`` lets every name pass."""
    headers = {**WEBSOCKET, "Host": "My-Laptop.local:8080"}
    assert answer("/chat", headers, replace(STATE, hosts=("my-laptop.local",))) is None
    assert answer("/chat", headers, replace(STATE, hosts=("*",))) is None
    assert answer("/chat", {**headers, "Host": "other.local"}, replace(STATE, hosts=("a",)))


def test_a_server_beyond_loopback_answers_any_host() -> None:
    """With ``hosts=None`` (bound beyond loopback) the Host is not checked; the token guards."""
    assert answer("/chat", {**WEBSOCKET, "Host": "chat.example.org"}, STATE) is None


@pytest.mark.parametrize("target", ["//[", "//evil.example/", "*", "http://x/", "chat", "/a b"])
def test_a_target_that_is_no_path_is_400_without_a_warning(target: str) -> None:
    """A request target that is not a path gets 400 and no log line, never an exception."""
    for headers in ({}, WEBSOCKET):
        reply = answer(target, headers, STATE)
        assert reply is not None
        assert (reply.status, reply.warning) == (400, None)


# -- security headers --------------------------------------------------------------------------


def _headers(reply: Answer | None) -> dict[str, str]:
    assert reply is not None
    return dict(reply.headers)


@pytest.mark.parametrize("target", ["/", "/healthz", "/favicon.ico", "/nope", "//["])
def test_every_answer_carries_nosniff_a_policy_and_no_frame_options(target: str) -> None:
    """Every answer has nosniff, no referrer, a CSP with frame-ancestors, no X-Frame-Options."""
    headers = _headers(answer(target, {"Host": "127.0.0.1:8080"}, LOOPBACK_ONLY))
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'self' http://localhost:* " in headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in headers


def test_the_page_policy_allows_its_own_script_and_style_and_nothing_else() -> None:
    """The page's CSP names its inline script and style by hash and refuses other sources."""
    policy = _headers(answer("/", {}, LOOPBACK_ONLY))["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'sha256-" in policy
    assert "'unsafe-inline'" not in policy
    assert "connect-src 'self'" in policy


def test_frame_ancestors_allow_local_pages_listed_hosts_and_the_own_origin() -> None:
    """JupyterLab on any local port, a listed host, and the page's own origin may frame it."""
    sources = frame_ancestors("127.0.0.1:8080", ("lab.example", "bad host;", "*")).split()
    assert sources[0] == "'self'"
    for source in ("http://127.0.0.1:*", "https://localhost:*", "https://lab.example:*"):
        assert source in sources
    assert not any("bad" in s or "[" in s or s.endswith("//*:*") for s in sources)
    assert "[" not in frame_ancestors("[::1]:8080", None)  # CSP has no IPv6 host-source
    beyond = frame_ancestors("chat.example.org:8080", None).split()
    assert "https://chat.example.org:*" in beyond
