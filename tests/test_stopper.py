"""Tests for the "Stop everything" button that ends each notebook."""

from __future__ import annotations

import pytest
from support import TIMEOUT

import wslib
from wslib.notebook.panes import ChatPane
from wslib.notebook.stopper import StopButton, describe_running
from wslib.sync import runtime

pytestmark = pytest.mark.usefixtures("stop_everything")


def test_describe_running_counts_each_kind_in_words() -> None:
    """Servers, processes, Redis servers, wire taps and clients are counted, with plurals."""
    server = wslib.start(port=0, name="test_describe")
    redis = wslib.RedisServer()
    tap = wslib.WireTap(server.url)
    assert describe_running([]) == "nothing"
    assert describe_running([server]) == "1 server"
    assert describe_running([object(), tap, redis, server, object()]) == (
        "1 server, 1 Redis server, 1 wire tap, 2 clients"
    )
    spawned = [wslib.WslibProcess("serve"), wslib.WslibProcess("chat", server.chat_url)]
    assert describe_running([*spawned, server]) == "1 server, 2 processes"


def test_the_button_shows_what_runs_and_a_click_stops_it_all() -> None:
    """Shown, the button names what runs; clicked, it stops everything and says how many."""
    server = wslib.start(port=0, name="test_stopper")
    pane = ChatPane(server, "Alice", timeout=TIMEOUT)
    button = StopButton()
    assert repr(button) == "StopButton(running: 1 server, 1 client)"
    assert button._repr_mimebundle_()["text/plain"] == repr(button)
    button.button.click()
    assert button.stopped == 2
    assert button.note.value == "stopped 2: 1 server, 1 client"
    assert runtime.running() == []
    assert not server.running
    assert pane.status == "closed (1000)"
