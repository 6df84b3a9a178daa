"""DNS rebinding against a loopback server: a real Chromium, and a real jupyter-server-proxy.

A page on ``evil.example`` whose name resolves to 127.0.0.1 (Chromium's host resolver rules
play the attacker's DNS) must not join the chat or read its history, while the kit's own
page, scripts and JupyterLab's proxy keep working.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter import JupyterLab
from support import CHROME_FLAGS, TIMEOUT, chromium, recv_json, require_module
from websockets.asyncio.client import connect

import wslib
from wslib.sync import runtime

pytestmark = pytest.mark.browser

# The attacker's page: it tries the chat and the health check on its own (rebound) origin.
ATTACK = """<!doctype html><title>evil</title><script>
window.report = {opened: false, events: [], health: null, closed: false};
fetch("/healthz").then((r) => { report.health = r.status; }, () => { report.health = -1; });
const ws = new WebSocket("ws://" + location.host + "/chat");
ws.onopen = () => { report.opened = true;
  ws.send(JSON.stringify({type: "join", v: 1, name: "mallory"})); };
ws.onmessage = (m) => { report.events.push(JSON.parse(m.data)); };
ws.onclose = () => { report.closed = true; };
</script>"""


@pytest.fixture
def chat_server() -> Iterator[Any]:
    """A loopback chat server holding one secret message, stopped after the test."""
    server = wslib.start(port=0, name="test-rebinding")
    try:
        yield server
    finally:
        server.stop()


async def _post_secret(port: int) -> None:
    async with connect(f"ws://127.0.0.1:{port}/chat") as bea:
        await bea.send(json.dumps({"type": "join", "v": 1, "name": "bea"}))
        assert (await recv_json(bea))["type"] == "welcome"
        await bea.send(json.dumps({"type": "send", "cid": "s1", "text": "the secret"}))
        while (await recv_json(bea))["type"] != "ack":
            pass


def _attack(port: int) -> dict[str, Any]:
    """Open the attacker's page on evil.example:PORT in Chromium; return what it got."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    rules = "--host-resolver-rules=MAP evil.example 127.0.0.1"
    # Chromium's own Local Network Access check would stop this page (served from a
    # "public" address) reaching loopback; Firefox and Safari have no such check, so it is
    # turned off here to test the server's own defence.
    lna = "--disable-features=LocalNetworkAccessChecks,BlockInsecurePrivateNetworkRequests"
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium("the rebinding test"), args=[*CHROME_FLAGS, rules, lna]
        )
        try:
            page = browser.new_page()
            # Playwright answers the first load as the attacker's own server would, before
            # the rebinding; everything after it (fetch, WebSocket) goes to 127.0.0.1.
            origin = f"http://evil.example:{port}"
            page.route(
                f"{origin}/", lambda route: route.fulfill(body=ATTACK, content_type="text/html")
            )
            page.goto(f"{origin}/")
            page.wait_for_function(
                "report.health !== null && (report.closed"
                ' || report.events.some((e) => e.type === "message"))',
                timeout=2 * TIMEOUT * 1000,
            )
            report: dict[str, Any] = page.evaluate("report")
            return report
        finally:
            browser.close()


def test_a_rebound_page_in_chromium_cannot_join_or_read_history(chat_server: Any) -> None:
    """A page on evil.example resolved to 127.0.0.1 gets 403 on /healthz and no chat socket."""
    runtime.run(_post_secret(chat_server.port), TIMEOUT)
    report = _attack(chat_server.port)
    assert report["health"] == 403
    assert not report["opened"]
    assert report["closed"]
    assert report["events"] == []


def test_the_same_attack_works_when_every_host_is_allowed() -> None:
    """With ``allowed_hosts=["*"]`` the rebound page joins and reads history: the test can fail."""
    server = wslib.start(port=0, name="test-rebinding-open", allowed_hosts=["*"])
    try:
        runtime.run(_post_secret(server.port), TIMEOUT)
        report = _attack(server.port)
    finally:
        server.stop()
    assert report["health"] == 200
    assert report["opened"]
    assert report["events"][0]["type"] == "welcome"
    assert [e["text"] for e in report["events"] if e["type"] == "message"] == ["the secret"]


def test_the_page_the_health_check_and_the_chat_work_through_jupyter_server_proxy(
    chat_server: Any, tmp_path: Path
) -> None:
    """Through a real Jupyter Server's /proxy/PORT/, the page, /healthz and the chat all open."""
    require_module("jupyter_server_proxy", "the proxy test needs jupyter-server-proxy")
    root = tmp_path / "root"
    root.mkdir()
    with JupyterLab(root, tmp_path) as lab:
        base = f"127.0.0.1:{lab.port}/proxy/{chat_server.port}"
        auth = {"Authorization": f"token {lab.token}"}
        request = urllib.request.Request(f"http://{base}/", headers=auth)
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            assert response.status == 200
            assert b"<script>" in response.read()
            assert "frame-ancestors 'self'" in response.headers["Content-Security-Policy"]
        request = urllib.request.Request(f"http://{base}/healthz", headers=auth)
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            assert json.load(response)["status"] == "ok"

        async def chat() -> None:
            # As the page in JupyterLab would: its Origin is JupyterLab's own.
            headers = {**auth, "Origin": f"http://127.0.0.1:{lab.port}"}
            async with connect(f"ws://{base}/chat", additional_headers=headers) as eve:
                await eve.send(json.dumps({"type": "join", "v": 1, "name": "eve"}))
                welcome = await recv_json(eve, 2 * TIMEOUT)
                assert welcome["type"] == "welcome"
                await eve.send(json.dumps({"type": "send", "cid": "p1", "text": "via proxy"}))
                kinds = {(await recv_json(eve))["type"] for _ in range(2)}
                assert kinds == {"ack", "message"}

        asyncio.run(asyncio.wait_for(chat(), 4 * TIMEOUT))


def test_the_chat_works_through_a_hubs_proxy_whose_host_is_no_local_name(
    chat_server: Any, tmp_path: Path
) -> None:
    """As on JupyterHub or Binder, the proxy passes on the hub's own Host: page and chat work."""
    require_module("jupyter_server_proxy", "the proxy test needs jupyter-server-proxy")
    root = tmp_path / "root"
    root.mkdir()
    # A hub's single-user server answers the hub's name, so it allows remote access.
    with JupyterLab(root, tmp_path, args=["--ServerApp.allow_remote_access=True"]) as lab:
        path = f"/proxy/{chat_server.port}"
        hub = {"Authorization": f"token {lab.token}", "Host": "hub.example"}
        request = urllib.request.Request(f"http://127.0.0.1:{lab.port}{path}/", headers=hub)
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            assert response.status == 200

        async def chat() -> None:
            headers = {"Authorization": hub["Authorization"], "Origin": "http://hub.example"}
            # The URL names the hub; host and port say where the socket really goes.
            async with connect(
                f"ws://hub.example{path}/chat",
                additional_headers=headers,
                host="127.0.0.1",
                port=lab.port,
            ) as ada:
                await ada.send(json.dumps({"type": "join", "v": 1, "name": "ada"}))
                assert (await recv_json(ada, 2 * TIMEOUT))["type"] == "welcome"

        asyncio.run(asyncio.wait_for(chat(), 4 * TIMEOUT))
