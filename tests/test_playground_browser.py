"""The JavaScript playground page in headless Chromium, against a real server and kit clients.

Each test loads ``/playground`` with a script in its fragment, presses Run (or lets the page
run it), and reads the console panel's lines, without their times.
"""

from __future__ import annotations

import html
import re
import runpy
import secrets
from pathlib import Path
from typing import Any

import nbformat
import pytest
from pages import PrefixProxy, Watched, expect
from support import TIMEOUT

import wslib
from wslib.notebook.playground import playground_url
from wslib.sync import runtime

pytestmark = pytest.mark.browser

XSS = "<img src=x onerror=alert(1)>"


def lines(page: Any) -> Any:
    """Return the locator of the console's texts (each line without its time)."""
    return page.locator("#console .text")


def run(watched: Watched, url: str) -> Any:
    """Open the playground at ``url``, press Run, and return the page."""
    page = watched.page
    page.goto(url)
    page.locator("#run").click()
    return page


def test_events_are_logged_in_order_with_the_scripts_own_lines(browser: Any) -> None:
    """open, message and close appear in order, each with a time, between the script's logs."""
    server = wslib.start(port=0, name="test-playground-events")
    bob = wslib.SyncClient(server.url, reconnect=False)
    viewer = Watched(browser)
    script = """
const ws = new WebSocket(RELAY);
log("readyState", ws.readyState);
ws.onopen = () => { log("open, readyState", ws.readyState); ws.send("hello from the page"); };
ws.onmessage = (message) => { log("got", message.data); ws.close(1000, "done"); };
ws.onclose = (close) => log("closed", close.code, close.reason, ws.readyState);
"""
    try:
        page = run(viewer, playground_url(server, script))
        expect(lines(page)).to_have_text(["run", "readyState 0", "ws1 open", "open, readyState 1"])
        assert bob.recv(TIMEOUT) == "Received message from peer: hello from the page"
        bob.send("hi page")
        expect(lines(page)).to_have_text(
            [
                "run",
                "readyState 0",
                "ws1 open",
                "open, readyState 1",
                'ws1 message "Received message from peer: hi page"',
                "got Received message from peer: hi page",
                'ws1 close code=1000 reason="done" wasClean=true',
                "closed 1000 done 3",
            ]
        )
        times = page.locator("#console .time").all_inner_texts()
        assert all(len(time) == len("12:34:56.789") and time[2] == ":" for time in times)
        assert "Received message: hello from the page" in server.lines
        assert viewer.errors == viewer.dialogs == []
    finally:
        viewer.context.close()
        bob.stop()
        server.stop()


def test_binary_messages_show_their_type_and_size_both_ways(browser: Any) -> None:
    """An ArrayBuffer or a Blob arrives by binaryType; bytes the page sends stay bytes."""
    server = wslib.start(port=0, name="test-playground-binary")
    bob = wslib.SyncClient(server.url, reconnect=False)
    viewer = Watched(browser)
    script = """
const ws = new WebSocket(RELAY);
ws.binaryType = "arraybuffer";
ws.onopen = () => ws.send(new Uint8Array([1, 2, 3]));
ws.onmessage = (message) => {
  log("a", message.data.constructor.name);
  ws.binaryType = "blob";
};
"""
    try:
        page = run(viewer, playground_url(server, script))
        assert bob.recv(TIMEOUT) == b"\x01\x02\x03"
        bob.send(b"four")
        bob.send(b"fives")
        expect(lines(page)).to_have_text(
            [
                "run",
                "ws1 open",
                "ws1 message ArrayBuffer(4 bytes)",
                "a ArrayBuffer",
                "ws1 message Blob(5 bytes)",
                "a Blob",
            ]
        )
        assert "Received message: <3 bytes>" in server.lines
    finally:
        viewer.context.close()
        bob.stop()
        server.stop()


def test_a_hostile_message_shows_as_text_and_runs_nothing(browser: Any) -> None:
    """Markup, control characters and bidi overrides from a peer show as escaped text."""
    server = wslib.start(port=0, name="test-playground-hostile")
    bob = wslib.SyncClient(server.url, reconnect=False)
    viewer = Watched(browser)
    script = "const ws = new WebSocket(RELAY);\nws.onmessage = (m) => log(m.data);\n"
    try:
        page = run(viewer, playground_url(server, script))
        expect(lines(page)).to_have_text(["run", "ws1 open"])
        bob.send(f"{XSS} \u202eevil\x1b[31m")
        expect(lines(page).last).to_have_text(
            f"Received message from peer: {XSS} \\u202eevil\\x1b[31m"
        )
        expect(lines(page).nth(2)).to_have_text(
            f'ws1 message "Received message from peer: {XSS} \\u202eevil\\u001b[31m"'
        )
        assert page.locator("#console img").count() == 0
        assert viewer.dialogs == []
    finally:
        viewer.context.close()
        bob.stop()
        server.stop()


def test_a_link_from_elsewhere_runs_its_script_only_when_run_is_pressed(browser: Any) -> None:
    """Any page may link here with run= and a script; only the server's own key runs it at once.

    Run at once, such a script would be on the kit's origin: it could join the chat and
    read its history, which the server's Origin check otherwise keeps from other pages.
    """
    server = wslib.start(port=0, name="test-playground-run-key")
    bob = wslib.SyncClient(server.url, reconnect=False)
    viewer = Watched(browser)
    script = (
        "window.runs = (window.runs || 0) + 1;\n"
        "const ws = new WebSocket(RELAY);\n"
        'ws.onopen = () => ws.send("run " + window.runs);\n'
    )
    note = "This link asks to run its script at once. Read the script; press Run to run it."
    try:
        page = viewer.page
        for forged in ("1", secrets.token_urlsafe(18)):  # the old flag; another server's key
            page.goto("about:blank")  # a new document each time, not a change of fragment
            page.goto(f"{playground_url(server, script)}&run={forged}")
            expect(lines(page)).to_have_text([note])  # written where run() would have been
            assert page.evaluate("window.runs") is None
            assert page.locator("#script").input_value() == script  # there to read
        page.locator("#run").click()
        expect(lines(page)).to_have_text(["run", "ws1 open"])
        assert bob.recv(TIMEOUT) == "Received message from peer: run 1"
        page.goto("about:blank")
        page.goto(playground_url(server, script, run=True))  # as a checker's frame
        expect(lines(page)).to_have_text(["run", "ws1 open"])
        assert bob.recv(TIMEOUT) == "Received message from peer: run 1"
        assert viewer.errors == viewer.dialogs == []
    finally:
        viewer.context.close()
        bob.stop()
        server.stop()


def test_run_again_stops_the_first_run_and_errors_show_in_the_console(browser: Any) -> None:
    """A second Run closes the first run's socket and timers; a thrown error is a red line."""
    server = wslib.start(port=0, name="test-playground-rerun")
    viewer = Watched(browser)
    script = """
const ws = new WebSocket(RELAY);
setInterval(() => log("tick"), 50);
ws.onopen = () => { throw new Error("boom in onopen"); };
"""
    try:
        page = run(viewer, playground_url(server, script))
        expect(page.locator("#console .error .text")).to_have_text(["Error: boom in onopen"])
        expect(page.locator("#console .text", has_text="tick").first).to_be_visible()
        # Four ticks of the first run would fit in the second run's sleep: none may show.
        page.locator("#script").fill("log('second run');\nawait sleep(200);\nundefinedName;")
        page.locator("#run").click()
        expect(lines(page)).to_have_text(
            ["run", "second run", "ReferenceError: undefinedName is not defined"]
        )
    finally:
        viewer.context.close()
        server.stop()


def test_the_playground_behind_a_path_prefix_reaches_the_relay_and_another_port(
    browser: Any,
) -> None:
    """At /proxy/PORT/playground, RELAY goes through the proxy, with the token; port=N too."""
    server = wslib.start(port=0, name="test-playground-proxy", token="s3cret-token")
    proxy = PrefixProxy(server.port)
    runtime.run(proxy.start(), TIMEOUT)
    bob = wslib.SyncClient(server.url, reconnect=False)
    viewer = Watched(browser)
    script = (
        'log(RELAY);\nconst ws = new WebSocket(RELAY);\nws.onopen = () => ws.send("via proxy");\n'
    )
    try:
        path = playground_url(server, script, proxy="/")
        page = run(viewer, f"http://127.0.0.1:{proxy.port}{path}")
        expect(lines(page)).to_have_text(
            [
                "run",
                f"ws://127.0.0.1:{proxy.port}/proxy/{server.port}/?token=s3cret-token",
                "ws1 open",
            ]
        )
        assert bob.recv(TIMEOUT) == "Received message from peer: via proxy"
        path = playground_url(server, "log(RELAY, CHAT);", proxy="/", port=4321)
        page = run(viewer, f"http://127.0.0.1:{proxy.port}{path}")
        expect(lines(page).last).to_have_text(
            f"ws://127.0.0.1:{proxy.port}/proxy/4321/ ws://127.0.0.1:{proxy.port}/proxy/4321/chat"
        )
        assert viewer.errors == []
    finally:
        viewer.context.close()
        bob.stop()
        runtime.run(proxy.stop(), TIMEOUT)
        server.stop()


NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "08-websockets-in-the-browser.ipynb"
SOLUTION = NOTEBOOK.parent / "solutions" / "reconnect_page.py"


def scaffold() -> str:
    """Return the exercise's page script exactly as notebook 08 gives it to the learner."""
    for cell in nbformat.read(NOTEBOOK, as_version=4).cells:
        if cell.cell_type == "code" and cell.source.startswith("page_script = "):
            namespace: dict[str, str] = {}
            exec(cell.source, namespace)  # the cell only assigns a string
            return namespace["page_script"]
    raise AssertionError("notebook 08 has no page_script cell")


def check_in_a_browser(browser: Any, script: str) -> tuple[str, list[str]]:
    """Run ``wslib.check_reconnect`` on ``script`` in Chromium; return its verdict and console."""
    checker = pytest.importorskip("wslib.notebook.checker")
    server = wslib.start(port=0, name="test-playground-check")
    viewer = Watched(browser)
    check = checker.check_reconnect(server, script)
    try:
        viewer.page.goto(check.url)  # the frame runs the script at once
        timing = check.trial.timing
        assert check.trial.wait_until(lambda: check.report is not None, 6 * TIMEOUT), (
            check.trial.record
        )
        verdict = re.sub(r"<[^>]+>", "\n", check.verdict.value)
        assert viewer.dialogs == []
        assert timing.lines == 12
        return html.unescape(verdict).strip(), lines(viewer.page).all_inner_texts()
    finally:
        check.stop()
        viewer.context.close()
        server.stop()


def test_the_reconnect_check_fails_the_unchanged_scaffold_helpfully(browser: Any) -> None:
    """The scaffold connects and sends, but never comes back: the verdict says what to add."""
    verdict, console = check_in_a_browser(browser, scaffold())
    assert verdict.split("\n\n") == [
        "✓ the page connected",
        "✓ line 1 to line 3, typed while connected, went straight out",
        "✗ after the restart (close code 1001) the page never connected again: in onclose,"
        " call connect() again after a delay that doubles each try",
        "✗ 9 of the 12 lines never arrived (line 4 to line 12): keep each line typed while"
        " the socket is not open, and send them in onopen",
        "2 of 4 checks fail; try again.",
    ]
    assert 'ws1 close code=1001 reason="server shutting down" wasClean=true' in console
    assert "ws2 open" not in console


def test_the_reconnect_check_passes_the_solution(browser: Any) -> None:
    """The solution reconnects with backoff and resends: every rule holds."""
    script = runpy.run_path(str(SOLUTION))["page_script"]
    verdict, console = check_in_a_browser(browser, script)
    assert verdict.split("\n\n")[-1] == "All 5 checks pass: reconnect and resend is done.", verdict
    assert console[:3] == ["run", "ws1 open", "connected"]
    assert "the check typed 12 lines" in console
