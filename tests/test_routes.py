"""Tests for routes: which route a request takes, and what each route answers on a port."""

from __future__ import annotations

import json

import pytest
from support import http_get, recv, recv_json, run_async
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from wslib import Server
from wslib.core.routes import Route, classify


@pytest.mark.parametrize(
    ("target", "upgrade", "route"),
    [
        ("/", "websocket", Route.RELAY),
        ("/", "WebSocket", Route.RELAY),
        ("/?token=abc", "websocket", Route.RELAY),
        ("/chat", "websocket", Route.CHAT),
        ("/chat?x=1", " websocket ", Route.CHAT),
        ("/", None, Route.PAGE),
        ("/playground", None, Route.PLAYGROUND),
        ("/playground?token=abc", None, Route.PLAYGROUND),
        ("/playground", "websocket", Route.NOT_FOUND),
        ("/playground/", None, Route.NOT_FOUND),
        ("/healthz", None, Route.HEALTH),
        ("/healthz?verbose=1", None, Route.HEALTH),
        ("/chat", None, Route.NOT_FOUND),
        ("/healthz", "websocket", Route.NOT_FOUND),
        ("/nope", None, Route.NOT_FOUND),
        ("/nope", "websocket", Route.NOT_FOUND),
        ("/chat/", "websocket", Route.NOT_FOUND),
        ("", None, Route.PAGE),
        ("/", "h2c", Route.PAGE),
    ],
)
def test_classify_picks_the_route_from_path_and_upgrade(
    target: str, upgrade: str | None, route: Route
) -> None:
    """A request's path (without query) and Upgrade header decide its route."""
    assert classify(target, upgrade) is route


def test_get_root_serves_a_page_that_knows_the_chat_path() -> None:
    """A plain GET / answers 200 with a text or HTML page that leads to /chat."""

    async def body() -> None:
        async with Server(port=0) as server:
            reply = await http_get(server.port, "/")
            assert reply.status == 200
            content_type = reply.headers["content-type"]
            assert content_type.split(";")[0] in ("text/plain", "text/html")
            assert "/chat" in reply.body.decode()

    run_async(body())


def test_healthz_answers_json_with_mode_and_client_count() -> None:
    """GET /healthz answers 200 with a JSON body giving status, mode and open clients."""

    async def body() -> None:
        async with Server(port=0, mode="echo") as server:
            reply = await http_get(server.port, "/healthz")
            assert reply.status == 200
            assert reply.headers["content-type"] == "application/json"
            assert json.loads(reply.body) == {"status": "ok", "mode": "echo", "clients": 0}
            async with connect(server.url) as client:
                await client.send("ping")
                await recv(client)  # the connection is counted once it is served
                reply = await http_get(server.port, "/healthz?x=1")
                assert json.loads(reply.body)["clients"] == 1

    run_async(body())


@pytest.mark.parametrize("target", ["/nope", "/chat", "/healthz/", "/index.html"])
def test_unknown_http_paths_get_404(target: str) -> None:
    """A plain GET of any path but / and /healthz answers 404."""

    async def body() -> None:
        async with Server(port=0) as server:
            reply = await http_get(server.port, target)
            assert reply.status == 404

    run_async(body())


@pytest.mark.parametrize("path", ["/nope", "/healthz", "/chat/x"])
def test_websocket_on_an_unknown_path_is_refused_with_404(path: str) -> None:
    """A WebSocket handshake on a path other than / and /chat is refused with HTTP 404."""

    async def body() -> None:
        async with Server(port=0) as server:
            with pytest.raises(InvalidStatus) as caught:
                async with connect(f"ws://127.0.0.1:{server.port}{path}"):
                    pass
            assert caught.value.response.status_code == 404

    run_async(body())


def test_chat_path_speaks_the_json_chat_while_root_relays() -> None:
    """On one port, /chat answers a join with a welcome while / relays as the article does."""

    async def body() -> None:
        async with (
            Server(port=0) as server,
            connect(server.chat_url) as chat,
            connect(server.url) as alice,
            connect(server.url) as bob,
        ):
            await chat.send(json.dumps({"type": "join", "name": "alice"}))
            welcome = await recv_json(chat)
            assert welcome["type"] == "welcome"
            assert welcome["online"] == ["alice"]
            await alice.send("relayed")
            assert await recv(bob) == "Received message from peer: relayed"

    run_async(body())
