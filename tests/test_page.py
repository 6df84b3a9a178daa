"""Tests for page: the chat page served on the kit's port, and the URL that shows it."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import http_get, run_async

from wslib import Server
from wslib.core.gate import PAGE_CONTENT_TYPE
from wslib.notebook.page import PROXY_PREFIX_ENV, page_url
from wslib.server.assets import page_html, playground_html, with_run_key

STATIC = Path(__file__).resolve().parents[1] / "wslib" / "server" / "static"


def test_get_root_serves_the_chat_page_as_html() -> None:
    """A plain GET / (with or without a query) answers 200 with the packaged page as UTF-8 HTML."""

    async def body() -> None:
        async with Server(port=0) as server:
            for target in ("/", "/?token=abc"):
                status, headers, page = await http_get(server.port, target)
                assert status == 200
                assert headers["content-type"] == "text/html; charset=utf-8"
                assert int(headers["content-length"]) == len(page)
                assert page.decode("utf-8") == page_html()

    run_async(body())


def test_favicon_gets_an_empty_204() -> None:
    """GET /favicon.ico answers 204 with no body, so a browser logs no 404 for it."""

    async def body() -> None:
        async with Server(port=0) as server:
            status, headers, page = await http_get(server.port, "/favicon.ico")
            assert (status, page) == (204, b"")
            assert "content-type" not in headers

    run_async(body())


def test_page_uses_only_the_native_websocket_and_renders_peer_text_as_text() -> None:
    """The page opens a native WebSocket from its own location and never assigns innerHTML."""
    html = page_html()
    assert PAGE_CONTENT_TYPE.startswith("text/html")
    assert "new WebSocket(chatUrl())" in html
    assert 'location.protocol === "https:" ? "wss:" : "ws:"' in html
    assert "innerHTML" not in html.replace("never innerHTML", "")
    assert "<script src" not in html  # no framework, nothing fetched from elsewhere


def test_both_pages_carry_the_one_javascript_printable_inlined() -> None:
    """static/printable.js is written once and inlined into each page where it says so."""
    rule = (STATIC / "printable.js").read_text(encoding="utf-8")
    for name, html in (("chat.html", page_html()), ("playground.html", playground_html())):
        source = (STATIC / name).read_text(encoding="utf-8")
        assert source.count("// wslib:include printable.js") == 1, name
        assert "function printable" not in source, name  # no copy of the rule by hand
        assert html.count(rule) == 1, name
        assert "wslib:include" not in html, name
        assert html.startswith("<!doctype html>"), name


def test_get_playground_serves_the_playground_page_as_html() -> None:
    """A plain GET /playground answers 200 with the packaged playground as UTF-8 HTML,
    holding this server's own run key (each server has its own)."""

    async def body() -> None:
        async with Server(port=0) as server, Server(port=0) as other:
            status, headers, page = await http_get(server.port, "/playground?token=x")
            assert (status, headers["content-type"]) == (200, PAGE_CONTENT_TYPE)
            assert page.decode("utf-8") == with_run_key(playground_html(), server.run_key)
            assert other.run_key != server.run_key

    run_async(body())


def test_only_the_playground_allows_eval_and_it_renders_peer_text_as_text() -> None:
    """The playground's policy allows eval for the learner's script; the chat page has none."""
    html = playground_html()
    policy = html.split('http-equiv="Content-Security-Policy" content="', 1)[1].split('"')[0]
    assert "'unsafe-eval'" in policy
    assert "default-src 'none'" in policy
    assert "unsafe-eval" not in page_html()
    assert "innerHTML" not in html
    assert "<script src" not in html
    assert "new AsyncFunction(" in html


class FakeServer:
    """Anything with ``http_url`` will do for ``page_url``."""

    def __init__(self, http_url: str) -> None:
        self.http_url = http_url


def test_page_url_is_the_servers_own_url_without_a_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside JupyterHub and Binder, the page URL is the server's http URL, token included."""
    monkeypatch.delenv(PROXY_PREFIX_ENV, raising=False)
    assert page_url(FakeServer("http://127.0.0.1:8080/")) == "http://127.0.0.1:8080/"
    server = FakeServer("http://127.0.0.1:8080/?token=t0k")
    assert page_url(server) == "http://127.0.0.1:8080/?token=t0k"
    assert page_url(server, proxy=False) == "http://127.0.0.1:8080/?token=t0k"


@pytest.mark.parametrize(
    ("prefix", "proxy", "expected"),
    [
        ("/user/ada/", None, "/user/ada/proxy/8080/?token=t0k"),
        ("/user/ada", True, "/user/ada/proxy/8080/?token=t0k"),
        (None, True, "/proxy/8080/?token=t0k"),
        (None, "/", "/proxy/8080/?token=t0k"),
        (None, "/lab-base/", "/lab-base/proxy/8080/?token=t0k"),
        ("/user/ada/", "/other/", "/other/proxy/8080/?token=t0k"),
        ("/user/ada/", False, "http://127.0.0.1:8080/?token=t0k"),
    ],
)
def test_page_url_goes_through_jupyter_server_proxy_when_asked_or_on_a_hub(
    monkeypatch: pytest.MonkeyPatch, prefix: str | None, proxy: str | bool | None, expected: str
) -> None:
    """With a hub prefix in the environment or an explicit base, the URL is {base}proxy/PORT/."""
    if prefix is None:
        monkeypatch.delenv(PROXY_PREFIX_ENV, raising=False)
    else:
        monkeypatch.setenv(PROXY_PREFIX_ENV, prefix)
    server = FakeServer("http://127.0.0.1:8080/?token=t0k")
    assert page_url(server, proxy=proxy) == expected


@pytest.mark.parametrize(
    ("proxy", "expected"),
    [
        (False, "http://127.0.0.1:8080/playground?token=t0k"),
        ("/", "/proxy/8080/playground?token=t0k"),
        ("/user/ada/", "/user/ada/proxy/8080/playground?token=t0k"),
    ],
)
def test_page_url_names_another_page_of_the_server(
    monkeypatch: pytest.MonkeyPatch, proxy: str | bool, expected: str
) -> None:
    """With a path, the URL names that page, directly or through the proxy, token kept."""
    monkeypatch.delenv(PROXY_PREFIX_ENV, raising=False)
    server = FakeServer("http://127.0.0.1:8080/?token=t0k")
    assert page_url(server, proxy=proxy, path="playground") == expected


def test_page_url_reads_the_port_of_a_running_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """For a real server on port 0, the proxied URL carries the port it was given."""
    monkeypatch.setenv(PROXY_PREFIX_ENV, "/user/ada/")

    async def body() -> None:
        async with Server(port=0) as server:
            assert page_url(server) == f"/user/ada/proxy/{server.port}/"

    run_async(body())


def test_show_page_returns_the_loaders_frame_on_the_page_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """show_page shows page_url (with any theme) in the loader's frame of the requested size."""
    from wslib.notebook.loader import PageFrame, frame_html
    from wslib.notebook.page import show_page

    monkeypatch.delenv(PROXY_PREFIX_ENV, raising=False)
    frame = show_page(FakeServer("http://127.0.0.1:8080/"), height=300, width=600)
    assert isinstance(frame, PageFrame)
    assert (frame.url, frame.height, frame.width) == ("http://127.0.0.1:8080/", 300, 600)
    assert frame._repr_html_() == frame_html(
        "http://127.0.0.1:8080/", 300, width=600, title="wslib chat page", css_class="wslib-page"
    )
    assert repr(frame) == "wslib chat page at http://127.0.0.1:8080/"
    fixed = show_page(FakeServer("http://127.0.0.1:8080/"), proxy="/", theme="dark")
    assert fixed.url == "/proxy/8080/?theme=dark"


def test_page_url_passes_a_theme_to_the_page(monkeypatch: pytest.MonkeyPatch) -> None:
    """theme= joins the query, next to the token, directly or through the proxy."""
    monkeypatch.delenv(PROXY_PREFIX_ENV, raising=False)
    server = FakeServer("http://127.0.0.1:8123/?token=abc")
    assert page_url(server, theme="dark") == "http://127.0.0.1:8123/?token=abc&theme=dark"
    assert page_url(FakeServer("http://127.0.0.1:8123/"), theme="light") == (
        "http://127.0.0.1:8123/?theme=light"
    )
    assert page_url(server, proxy="/", theme="dark") == "/proxy/8123/?token=abc&theme=dark"
    with pytest.raises(ValueError, match="theme must be"):
        page_url(server, theme="purple")  # type: ignore[arg-type]
