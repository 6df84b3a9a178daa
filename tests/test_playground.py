"""Tests for wslib.notebook.playground: the frame's address and what a notebook cell shows."""

from __future__ import annotations

import html
from urllib.parse import parse_qs, urlsplit

import pytest

import wslib
from wslib.notebook.page import PROXY_PREFIX_ENV
from wslib.notebook.playground import Playground, frame_html, playground_url


class FakeServer:
    """Anything with ``http_url`` will do."""

    def __init__(self, http_url: str) -> None:
        self.http_url = http_url


SERVER = FakeServer("http://127.0.0.1:8080/?token=t0k")
SCRIPT = 'const ws = new WebSocket(RELAY);\nws.onopen = () => ws.send("a&b #1 <x>");\n'


@pytest.fixture(autouse=True)
def no_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside JupyterHub unless a test says otherwise."""
    monkeypatch.delenv(PROXY_PREFIX_ENV, raising=False)


def fragment(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).fragment, keep_blank_values=True)


def test_the_script_travels_in_the_fragment_unchanged() -> None:
    """The script rides after ``#`` (never sent to a server) and decodes back exactly."""
    url = playground_url(SERVER, SCRIPT)
    assert url.startswith("http://127.0.0.1:8080/playground?token=t0k#script=")
    assert fragment(url) == {"script": [SCRIPT]}
    assert not {" ", "\n"} & set(url)


def test_options_go_into_the_fragment_too() -> None:
    """A title, running at once and another target port are fragment parameters."""
    url = playground_url(SERVER, "log(1)", title="Check", run=True, port=9000, proxy="/")
    assert url.startswith("/proxy/8080/playground?token=t0k#")
    assert fragment(url) == {
        "script": ["log(1)"],
        "title": ["Check"],
        "run": ["1"],
        "port": ["9000"],
    }


def test_a_playground_shows_as_a_frame_and_says_what_it_is() -> None:
    """Displayed, it is an iframe on its URL; its text names the page, not the script."""
    shown = Playground(SERVER, "\n\n" + SCRIPT + "\n\n", title="Events", height=300)
    assert shown.script == SCRIPT
    assert shown._repr_html_() == frame_html(shown.url, 300)
    assert 'height="300"' in shown._repr_html_()
    assert f'data-src="{html.escape(shown.url)}"' in shown._repr_html_()
    assert repr(shown) == (
        "Playground('Events', 2 lines of JavaScript)"
        " at http://127.0.0.1:8080/playground?token=t0k: press Run"
    )
    assert wslib.Playground is Playground


def test_a_frame_escapes_its_address() -> None:
    """A quote or a tag in the address can end neither the attribute nor the loader's script."""
    shown = frame_html('x" onload="y</script><script>alert(1)//', 100)
    assert 'data-src="x&quot; onload=&quot;y&lt;/script&gt;' in shown
    assert "</script><script>" not in html.unescape(shown.split('srcdoc="')[1].split('"')[0])
    assert '"x\\" onload=\\"y\\u003c/script>\\u003cscript>alert(1)//"' in html.unescape(shown)


def test_a_frame_loads_its_page_again_until_the_page_says_it_is_ready() -> None:
    """The frame holds a loader whose inner frame shows the URL, reloaded until ready."""
    shown = frame_html("http://127.0.0.1:8080/playground#script=x", 200)
    loader = html.unescape(shown.split('srcdoc="')[1].split('"')[0])
    assert 'const url = "http://127.0.0.1:8080/playground#script=x";' in loader
    assert 'event.data === "wslib-playground-ready"' in loader
    assert "if (!ready) load();" in loader
    assert "fresh.src = url;" in loader
