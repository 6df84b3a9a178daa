"""Tests for wslib.notebook.playground: the frame's address and what a notebook cell shows."""

from __future__ import annotations

import html
from urllib.parse import parse_qs, urlsplit

import pytest

import wslib
from wslib.notebook.loader import frame_html
from wslib.notebook.page import PROXY_PREFIX_ENV
from wslib.notebook.playground import FRAME_CLASS, Playground, playground_url


class FakeServer:
    """Anything with ``http_url`` and ``run_key`` will do."""

    def __init__(self, http_url: str) -> None:
        self.http_url = http_url
        self.run_key = "the-servers-run-key"


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
        "run": ["the-servers-run-key"],  # the page runs it at once only with its key
        "port": ["9000"],
    }


def test_a_playground_shows_as_a_frame_and_says_what_it_is() -> None:
    """Displayed, it is the loader's frame on its URL; its text names the page, not the script."""
    shown = Playground(SERVER, "\n\n" + SCRIPT + "\n\n", title="Events", height=300)
    assert shown.script == SCRIPT
    assert shown._repr_html_() == frame_html(shown.url, 300, title="Events", css_class=FRAME_CLASS)
    assert 'class="wslib-playground"' in shown._repr_html_()
    assert 'height="300"' in shown._repr_html_()
    assert f'data-src="{html.escape(shown.url)}"' in shown._repr_html_()
    assert repr(shown) == (
        "Playground('Events', 2 lines of JavaScript)"
        " at http://127.0.0.1:8080/playground?token=t0k: press Run"
    )
    assert wslib.Playground is Playground
