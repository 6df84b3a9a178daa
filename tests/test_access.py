"""Tests for wslib.core.access and the server's use of it: the access token, and TLS (wss://)."""

from __future__ import annotations

import logging
import ssl
import subprocess
from pathlib import Path

import pytest
from rawclient import http_exchange, status_of
from support import TIMEOUT, recv, recv_json, require, run_async
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from wslib import Server
from wslib.core import access
from wslib.core.access import (
    host_allowed,
    host_port,
    is_loopback,
    resolve_token,
    token_matches,
    with_token,
)

# -- the rules, without sockets -----------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "LocalHost"]
)
def test_is_loopback_recognises_this_machine(host: str) -> None:
    """Loopback addresses and the name localhost count as loopback."""
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "10.0.0.1", "example.org", ""])
def test_is_loopback_refuses_everything_else(host: str) -> None:
    """Wildcard, private and public addresses and other names are not loopback."""
    assert not is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20"])
def test_auto_token_is_required_on_a_non_loopback_bind(host: str) -> None:
    """With the default ``"auto"``, a server bound beyond loopback gets a fresh random token."""
    first, second = resolve_token(host, "auto"), resolve_token(host, "auto")
    assert first is not None
    assert second is not None
    assert first != second
    assert len(first) >= 16


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost"])
def test_auto_token_is_off_on_loopback(host: str) -> None:
    """With the default ``"auto"``, a loopback server needs no token."""
    assert resolve_token(host, "auto") is None


def test_an_explicit_token_or_none_is_kept_on_any_host() -> None:
    """A token the user chose is used as is; ``None`` means none, even on 0.0.0.0."""
    assert resolve_token("127.0.0.1", "secret") == "secret"
    assert resolve_token("0.0.0.0", "secret") == "secret"
    assert resolve_token("0.0.0.0", None) is None


def test_a_server_on_all_interfaces_puts_its_token_in_its_urls() -> None:
    """A server created for 0.0.0.0 (not started) has a token, and its URLs carry it."""
    server = Server("0.0.0.0", 0)
    assert server.token
    assert server.url.endswith(f"/?token={server.token}")
    assert server.chat_url.endswith(f"/chat?token={server.token}")


@pytest.mark.parametrize(
    ("target", "authorization", "expected"),
    [
        ("/chat", None, None),
        ("/chat?token=s3cret", None, "s3cret"),
        ("/?lang=en&token=s3cret", None, "s3cret"),
        ("/chat", "Bearer s3cret", "s3cret"),
        ("/chat", "bearer  s3cret ", "s3cret"),
    ],
)
def test_token_matches_accepts_the_token_in_the_url_or_a_bearer_header(
    target: str, authorization: str | None, expected: str | None
) -> None:
    """The token is found in ``?token=`` or in ``Authorization: Bearer``."""
    assert token_matches(target, authorization, expected)


@pytest.mark.parametrize(
    ("target", "authorization"),
    [
        ("/chat", None),
        ("/chat?token=", None),
        ("/chat?token=s3cre", None),
        ("/chat?token=s3cret-and-more", None),
        ("/chat?tok=s3cret", None),
        ("/chat", "Basic czNjcmV0"),
        ("/chat", "Bearer wrong"),
        ("/chat?token=%C3%A9", None),
    ],
)
def test_token_matches_refuses_a_missing_or_wrong_token(
    target: str, authorization: str | None
) -> None:
    """A missing, partial, longer or wrong token is refused."""
    assert not token_matches(target, authorization, "s3cret")


def test_with_token_appends_the_token_only_when_there_is_one() -> None:
    """``with_token`` adds ``?token=`` for a token and leaves the URL alone for none."""
    assert with_token("ws://h:1/chat", "abc") == "ws://h:1/chat?token=abc"
    assert with_token("ws://h:1/chat", None) == "ws://h:1/chat"


# -- the token at the handshake -----------------------------------------------------------


def test_a_server_with_a_token_refuses_a_client_without_it_with_401(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A WebSocket without the token, or with a wrong one, gets HTTP 401 and one warning."""
    caplog.set_level(logging.INFO, logger="wslib")

    async def body() -> None:
        async with Server(port=0, token="secret") as server:
            bare = f"ws://127.0.0.1:{server.port}"
            for url in (f"{bare}/", f"{bare}/chat", f"{bare}/?token=guess"):
                with pytest.raises(InvalidStatus) as refused:
                    async with connect(url):
                        pass
                assert refused.value.response.status_code == 401

    run_async(body())
    assert not [r for r in caplog.records if r.exc_info]
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 3


def test_a_server_with_a_token_accepts_it_in_the_url_or_as_a_bearer_header() -> None:
    """The token in the URL or as ``Authorization: Bearer`` opens the relay and the chat."""

    async def body() -> None:
        async with Server(port=0, token="secret") as server:
            assert server.url.endswith("?token=secret")
            bearer = {"Authorization": "Bearer secret"}
            async with (
                connect(server.url) as alice,
                connect(f"ws://127.0.0.1:{server.port}/", additional_headers=bearer) as bob,
                connect(server.chat_url) as carol,
            ):
                await alice.send("with a token")
                assert await recv(bob) == "Received message from peer: with a token"
                await carol.send('{"type": "join", "name": "carol", "v": 1}')
                assert (await recv_json(carol))["type"] == "welcome"

    run_async(body())


# -- DNS rebinding: the Host a request is sent to ------------------------------------------

_KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def _request(target: str, host: str, *, websocket: bool) -> bytes:
    lines = [f"GET {target} HTTP/1.1", f"Host: {host}", f"Origin: http://{host}"]
    if websocket:
        lines += ["Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {_KEY}"]
        lines += ["Sec-WebSocket-Version: 13"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_a_loopback_server_refuses_a_rebound_name_on_every_route_while_others_chat(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Requests sent to a foreign name get 403 on the page, health check, relay and chat;
    a client on 127.0.0.1 keeps chatting, and each refusal is one warning, no traceback."""
    caplog.set_level(logging.INFO, logger="wslib")

    async def body() -> None:
        async with Server(port=0) as server, connect(server.chat_url) as bystander:
            await bystander.send('{"type": "join", "name": "bea", "v": 1}')
            assert (await recv_json(bystander))["type"] == "welcome"
            host = f"evil.example:{server.port}"
            for target, websocket in [("/", False), ("/healthz", False), ("/", True)]:
                reply = await http_exchange(
                    server.port, _request(target, host, websocket=websocket)
                )
                assert status_of(reply) == 403, reply[:200]
                assert b"allowed_hosts" in reply
            reply = await http_exchange(server.port, _request("/chat", host, websocket=True))
            assert status_of(reply) == 403
            await bystander.send('{"type": "send", "cid": "c1", "text": "still here"}')
            events = [await recv_json(bystander) for _ in range(2)]
            assert {e["type"] for e in events} == {"ack", "message"}

    run_async(body())
    assert not [r for r in caplog.records if r.exc_info]
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 4
    assert all("evil.example" in w for w in warnings)


def test_loopback_names_and_listed_hosts_are_answered() -> None:
    """``localhost``, ``[::1]``-style loopback and a host listed in ``allowed_hosts`` open."""

    async def body() -> None:
        async with Server(port=0, allowed_hosts=["chat.test"]) as server:
            async with connect(f"ws://localhost:{server.port}/chat") as client:
                await client.send('{"type": "join", "name": "lou", "v": 1}')
                assert (await recv_json(client))["type"] == "welcome"
            for host in (f"chat.test:{server.port}", f"127.3.2.1:{server.port}", "localhost"):
                reply = await http_exchange(
                    server.port, _request("/healthz", host, websocket=False)
                )
                assert status_of(reply) == 200, host
            reply = await http_exchange(
                server.port, _request("/", f"elsewhere.test:{server.port}", websocket=True)
            )
            assert status_of(reply) == 403

    run_async(body())


@pytest.mark.parametrize(
    ("host", "port"),
    [("example.org:8080", 8080), ("example.org", None), ("[::1]:9", 9), ("[::1]", None)],
)
def test_host_port_reads_the_port_a_host_header_names(host: str, port: int | None) -> None:
    """``host_port`` gives the port after the name or bracketed address, or ``None``."""
    assert host_port(host) == port


def test_a_remembered_verdict_never_lets_a_foreign_host_through() -> None:
    """Once loopback names and a listed name were answered (and remembered), a foreign
    name at the server's port is still refused, and each verdict holds only for the
    allow-list and port it was made for."""
    for _ in range(2):  # the second round is answered from the cache
        assert host_allowed("127.0.0.1:8080", (), 8080)
        assert host_allowed("localhost:8080", (), 8080)
        assert host_allowed("chat.test:8080", ("chat.test",), 8080)
        assert not host_allowed("evil.example:8080", (), 8080)
        assert not host_allowed("chat.test:8080", (), 8080)  # not listed on this server
        assert not host_allowed("chat.test:8080", ["other.test"], 8080)
        assert host_allowed("evil.example:8080", (), 9000)  # another port: a proxy in front
        assert not host_allowed("evil.example:9000", (), 9000)
        assert not host_allowed("127.0.0.1.evil.example:8080", (), 8080)


def test_hostile_names_cannot_grow_the_host_cache() -> None:
    """A client sending a new Host each time is refused each time, and the verdicts kept
    stay within the cache's bound while loopback names are still answered."""
    bound = access._host_verdict.cache_info().maxsize
    assert bound is not None
    for i in range(3 * bound):
        assert not host_allowed(f"evil{i}.example:8080", (), 8080)
    assert access._host_verdict.cache_info().currsize <= bound
    assert host_allowed("127.0.0.1:8080", (), 8080)
    assert not host_allowed("evil0.example:8080", (), 8080)


def test_a_server_beyond_loopback_checks_no_host() -> None:
    """Bound to every interface, the server answers any Host (its token is the guard)."""
    server = Server("0.0.0.0", 0, token="secret")
    assert server.allowed_hosts is None
    assert Server(port=0, allowed_hosts=["a.test"]).allowed_hosts == ("a.test",)


# -- TLS ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Make a throw-away self-signed certificate for 127.0.0.1 and localhost."""
    openssl = require("openssl", "it makes the throw-away certificate for the wss:// test")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    names = "subjectAltName=IP:127.0.0.1,DNS:localhost"
    command = [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
    command += ["-nodes", "-days", "1", "-subj", "/CN=localhost", "-addext", names]
    command += ["-keyout", str(key), "-out", str(cert)]
    subprocess.run(
        command,
        check=True,
        capture_output=True,
        timeout=TIMEOUT,
    )
    return cert, key


def test_tls_serves_wss_to_a_client_that_trusts_the_certificate(
    certificate: tuple[Path, Path],
) -> None:
    """With a certificate and key the server speaks wss://, and messages pass over TLS."""
    cert, key = certificate
    trust = ssl.create_default_context(cafile=str(cert))

    async def body() -> None:
        async with Server(port=0, certfile=str(cert), keyfile=str(key)) as server:
            assert server.url.startswith("wss://127.0.0.1:")
            assert server.http_url.startswith("https://")
            async with (
                connect(server.url, ssl=trust) as alice,
                connect(server.url, ssl=trust) as bob,
            ):
                await alice.send("encrypted")
                assert await recv(bob) == "Received message from peer: encrypted"
                assert alice.transport.get_extra_info("ssl_object") is not None

    run_async(body())


def test_tls_refuses_a_client_that_does_not_trust_the_certificate(
    certificate: tuple[Path, Path],
) -> None:
    """A client that checks certificates against the system's authorities refuses to connect."""
    cert, key = certificate

    async def body() -> None:
        async with Server(port=0, certfile=str(cert), keyfile=str(key)) as server:
            with pytest.raises(ssl.SSLCertVerificationError):
                async with connect(server.url, ssl=ssl.create_default_context()):
                    pass

    run_async(body())


def test_binding_beyond_loopback_warns_what_it_exposes(caplog: pytest.LogCaptureFixture) -> None:
    """A server bound to all addresses logs one warning naming the address and the token."""

    async def body() -> None:
        async with Server("0.0.0.0", 0) as server:
            assert server.token is not None

    with caplog.at_level(logging.WARNING, logger="wslib.server"):
        run_async(body())
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "listening on 0.0.0.0: other machines can reach this server; "
        "clients need the access token in its URL"
    ]
