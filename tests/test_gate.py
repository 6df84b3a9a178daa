"""Tests for wslib.core.gate, with no sockets: what each request gets before a WebSocket opens."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from websockets.datastructures import Headers

from wslib.core.gate import JSON_CONTENT_TYPE, TEXT_CONTENT_TYPE, Answer, State, answer
from wslib.notebook.page import PAGE_CONTENT_TYPE, page_html, playground_html

STATE = State(mode="relay", token=None, origins=None, active=3, max_connections=10, backplane="ok")
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
    for target in ("/playground", "/playground?token=abc"):
        assert answer(target, {}, STATE) == Answer(200, playground_html(), PAGE_CONTENT_TYPE)


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
