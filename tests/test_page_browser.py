"""The browser chat page in headless Chromium: two pages with a kit client or a pane, one server.

Chromium comes from the system (``CHROMIUM``, default ``/usr/bin/chromium``); the test skips
without it, unless ``WSLIB_REQUIRE_ALL=1``. Playwright's own browser download is never used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support import TIMEOUT, axe_violations, restart_port

import wslib
from wslib.core.display import printable
from wslib.notebook.page import page_url
from wslib.sync import runtime

pytestmark = pytest.mark.browser

from pages import PrefixProxy, Watched, expect  # noqa: E402

XSS = "<img src=x onerror=alert(1)>"


def texts(client: wslib.SyncChatClient) -> list[str]:
    """Return the texts of the chat messages a kit client has seen."""
    return [m["text"] for m in client.messages]


def test_two_pages_and_a_kit_client_chat_through_one_server(browser: Any) -> None:
    """Names, online list, typing, private messages, history and peer text shown as text only."""
    server = wslib.start(port=0, name="test-page-browser")
    carol = wslib.SyncChatClient(server.chat_url, "carol")
    ann, ben = Watched(browser), Watched(browser)
    try:
        carol.send("history for whoever comes later")
        carol.wait_for(lambda: "history for whoever comes later" in texts(carol), TIMEOUT)

        p1 = ann.join(server.http_url, "ann")
        first = p1.locator("#messages .message").first
        expect(first).to_have_text("carol:history for whoever comes later")
        p2 = ben.join(server.http_url, "ben")
        expect(p2.locator("#messages .message").first).to_have_text(
            "carol:history for whoever comes later"
        )
        expect(p1.locator("#online li")).to_have_text(["ann (you)", "ben", "carol"])
        expect(p1.locator("#messages .note").last).to_have_text("ben joined")

        p2.locator("#text").press_sequentially("hel", delay=20)
        expect(p1.locator("#typing")).to_have_text("ben is typing…")
        p2.locator("#text").press_sequentially("lo all", delay=5)
        p2.locator("#text").press("Enter")
        expect(p1.locator("#messages .message").last).to_have_text("ben:hello all")
        expect(p1.locator("#typing")).to_have_text("")  # a message ends the typing notice
        carol.wait_for(lambda: "hello all" in texts(carol), TIMEOUT)

        runtime.run(carol.client.typing(), TIMEOUT)
        expect(p2.locator("#typing")).to_have_text("carol is typing…")

        ann.say("psst, ben", to="ben")
        expect(p2.locator("#messages .private").last).to_have_text("ann:(privately) psst, ben")
        expect(p1.locator("#messages .private").last).to_have_text(
            "ann:(privately to ben) psst, ben"
        )
        ann.say("and now for everyone")
        carol.wait_for(lambda: "and now for everyone" in texts(carol), TIMEOUT)
        assert "psst, ben" not in texts(carol)

        carol.send(XSS)
        for page in (p1, p2):
            expect(page.locator("#messages .message .text").last).to_have_text(XSS)
            assert page.locator("#messages img").count() == 0
        mallory = wslib.SyncChatClient(server.chat_url, "<img src=y onerror=alert(2)>")
        expect(p1.locator("#online li")).to_have_text(
            ["<img src=y onerror=alert(2)>", "ann (you)", "ben", "carol"]
        )
        mallory.stop()
        expect(p1.locator("#online li")).to_have_text(["ann (you)", "ben", "carol"])

        assert ann.dialogs == ben.dialogs == []
        assert ann.errors == ben.errors == []
    finally:
        ann.context.close()
        ben.context.close()
        carol.stop()
        server.stop()


def test_two_pages_and_a_widget_pane_chat_through_one_server(browser: Any) -> None:
    """A chat-mode ``ChatPane`` and two pages see each other's messages, both ways."""
    panes = pytest.importorskip("wslib.notebook.panes")
    server = wslib.start(port=0, name="test-page-pane")
    pat = panes.ChatPane(server, "pat", mode="chat")
    ann, ben = Watched(browser), Watched(browser)
    try:
        p1 = ann.join(server.http_url, "ann")
        p2 = ben.join(server.http_url, "ben")
        expect(p1.locator("#online li")).to_have_text(["ann (you)", "ben", "pat"])
        ann.say("hello pat")
        pat.wait_for(lambda: any("hello pat" in text for text in pat.transcript.texts()))
        pat.send("hello pages")
        for page in (p1, p2):
            expect(page.locator("#messages .message").last).to_have_text("pat:hello pages")
        assert ann.errors == ben.errors == []
    finally:
        ann.context.close()
        ben.context.close()
        pat.stop()
        server.stop()


def test_page_behind_a_path_prefix_finds_the_chat_and_passes_the_token(browser: Any) -> None:
    """Served at /proxy/PORT/?token=..., the page connects to /proxy/PORT/chat with the token."""
    server = wslib.start(port=0, name="test-page-proxy", token="s3cret-token")
    proxy = PrefixProxy(server.port)
    runtime.run(proxy.start(), TIMEOUT)
    dora = wslib.SyncChatClient(server.chat_url, "dora")
    eli = Watched(browser)
    try:
        path = page_url(server, proxy="/")
        assert path == f"/proxy/{server.port}/?token=s3cret-token"
        page = eli.join(f"http://127.0.0.1:{proxy.port}{path}", "eli")
        expect(page.locator("#online li")).to_have_text(["dora", "eli (you)"])
        eli.say("hello through the proxy")
        dora.wait_for(lambda: "hello through the proxy" in texts(dora), TIMEOUT)
        assert f"/proxy/{server.port}/chat?token=s3cret-token" in proxy.requests
        assert eli.errors == []
    finally:
        eli.context.close()
        dora.stop()
        runtime.run(proxy.stop(), TIMEOUT)
        server.stop()


HOSTILE = [
    "plain text stays as it is",
    "tab\tstays",
    "new\nline and carriage\rreturn",
    "\x1b[31mred\x1b[0m and \x1b]0;title\x07",
    "right-to-left \u202egnp.exe and isolate \u2066x\u2069",
    "C1 control \x85 and DEL \x7f and NUL \x00",
    "line separator \u2028 and paragraph separator \u2029",
    "emoji 🎉 and accents é stay",
    "a lone surrogate \ud800 here",
]


@pytest.mark.parametrize("path", ["", "playground"], ids=["chat", "playground"])
def test_page_shows_peer_text_with_the_same_rule_as_python(browser: Any, path: str) -> None:
    """Each page's JavaScript ``printable`` escapes exactly what ``display.printable`` does."""
    server = wslib.start(port=0, name="test-page-printable")
    viewer = Watched(browser)
    try:
        viewer.page.goto(page_url(server, proxy=False, path=path))
        shown = viewer.page.evaluate("(texts) => texts.map(printable)", HOSTILE)
        assert shown == [printable(text) for text in HOSTILE]
        assert shown[0] == HOSTILE[0]
        assert "\\u202e" in shown[4]
    finally:
        viewer.context.close()
        server.stop()


def test_page_keeps_a_message_typed_while_the_server_restarts_and_sends_it_once(
    browser: Any, tmp_path: Path
) -> None:
    """A page resends its unacknowledged message after reconnecting; peers see it once."""
    db = str(tmp_path / "chat.db")
    port = restart_port()
    server = wslib.start(port=port, name="test-page-restart", history_db=db)
    carol = wslib.SyncChatClient(server.chat_url, "carol")
    fay = Watched(browser)
    try:
        page = fay.join(server.http_url, "fay")
        server.stop()  # clients see 1001 and try again
        expect(page.locator("#status")).to_have_text("reconnecting")
        page.locator("#text").fill("typed while the server was away")
        page.locator("#text").press("Enter")
        expect(page.locator("#pending")).to_have_text("1 message waits for the connection")
        server = wslib.start(port=port, name="test-page-restart", history_db=db)
        expect(page.locator("#status")).to_have_text("joined as fay")
        carol.wait_for(lambda: "typed while the server was away" in texts(carol), 2 * TIMEOUT)
        expect(page.locator("#messages .message .text")).to_have_text(
            ["typed while the server was away"]
        )
        expect(page.locator("#pending")).to_have_text("")
        assert texts(carol).count("typed while the server was away") == 1
        # The browser reports a reconnection attempt that finds the port closed.
        assert [e for e in fay.errors if "ERR_CONNECTION_REFUSED" not in e] == []
    finally:
        fay.context.close()
        carol.stop()
        server.stop()


def test_page_resends_sixty_lines_typed_while_the_server_was_down_at_an_accepted_pace(
    browser: Any,
) -> None:
    """60 lines typed during a restart reach a peer once each, in order, and the page stays
    joined: its resends keep under the server's rate limit instead of earning a 1008."""
    # In memory, the restarted server takes the resends as fast as they come.
    port = restart_port()
    server = wslib.start(port=port, name="test-page-sixty")
    carol = wslib.SyncChatClient(server.chat_url, "carol")
    fay = Watched(browser)
    lines = [f"line {n}" for n in range(60)]
    try:
        page = fay.join(server.http_url, "fay")
        server.stop()
        expect(page.locator("#status")).to_have_text("reconnecting")
        for line in lines:
            page.locator("#text").fill(line)
            page.locator("#text").press("Enter")
        expect(page.locator("#pending")).to_have_text("60 messages wait for the connection")
        server = wslib.start(port=port, name="test-page-sixty")
        carol.wait_for(lambda: len(texts(carol)) >= 60, 4 * TIMEOUT)
        expect(page.locator("#pending")).to_have_text("")
        assert texts(carol) == lines
        expect(page.locator("#status")).to_have_text("joined as fay")
        # The browser reports each reconnection attempt while the port was closed.
        assert [e for e in fay.errors if "ERR_CONNECTION_REFUSED" not in e] == []
    finally:
        fay.context.close()
        carol.stop()
        server.stop()


def test_page_retries_a_send_the_store_refused_for_now_and_keeps_the_order(
    browser: Any, tmp_path: Path
) -> None:
    """A send refused with unavailable is sent again on the open connection, and a line
    typed after it waits behind it: a peer sees both once, in order (as wslib.ChatClient)."""
    journal = tmp_path / "chat.db-journal"
    server = wslib.start(port=0, name="test-page-unavailable", history_db=str(tmp_path / "chat.db"))
    carol = wslib.SyncChatClient(server.chat_url, "carol")
    fay = Watched(browser)
    try:
        page = fay.join(server.http_url, "fay")
        journal.mkdir()  # SQLite cannot write its journal: every send is refused, for now
        try:
            page.locator("#text").fill("during the outage")
            page.locator("#text").press("Enter")
            expect(page.locator("#notice")).to_contain_text("unavailable")
            page.locator("#text").fill("after it")
            page.locator("#text").press("Enter")
        finally:
            journal.rmdir()
        carol.wait_for(lambda: len(texts(carol)) >= 2, 2 * TIMEOUT)
        assert texts(carol) == ["during the outage", "after it"]
        expect(page.locator("#messages .message .text")).to_have_text(
            ["during the outage", "after it"]
        )
        expect(page.locator("#status")).to_have_text("joined as fay")
        assert fay.errors == []
    finally:
        fay.context.close()
        carol.stop()
        server.stop()


# The page's own background in each theme (static/chat.html).
BACKGROUNDS = {"light": "rgb(255, 255, 255)", "dark": "rgb(30, 30, 30)"}


@pytest.mark.parametrize(
    ("preferred", "query", "theme"),
    [
        ("light", "", "light"),
        ("dark", "", "dark"),  # the browser's preference, as in an iframe with no theme=
        ("dark", "light", "light"),  # ?theme= wins over the preference
        ("light", "dark", "dark"),
    ],
)
def test_chat_page_has_no_wcag_a_or_aa_violation_in_either_theme(
    browser: Any, preferred: str, query: str, theme: str
) -> None:
    """axe-core finds no WCAG A/AA violation on the joined page, light or dark, with messages
    of every kind, and the keyboard reaches the message box, which keeps focus after Enter."""
    server = wslib.start(port=0, name=f"test-page-axe-{preferred}-{query}")
    carol = wslib.SyncChatClient(server.chat_url, "carol")
    # bypass_csp: the page's policy allows only its own script; axe is injected for the test.
    ann = Watched(browser, color_scheme=preferred, bypass_csp=True)
    try:
        url = page_url(server, proxy=False, theme=query or None)  # type: ignore[arg-type]
        page = ann.join(url, "ann")
        carol.send("a message from carol")
        ann.say("a message from ann")
        ann.say("psst, carol", to="carol")
        expect(page.locator("#messages .private")).to_have_count(1)
        background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
        assert background == BACKGROUNDS[theme]
        assert axe_violations(page, ["body"]) == []

        page.locator("#to").focus()
        page.keyboard.press("Tab")  # from the recipient list to the message box
        page.keyboard.type("typed with the keyboard")
        page.keyboard.press("Enter")
        carol.wait_for(lambda: "typed with the keyboard" in texts(carol), TIMEOUT)
        assert page.evaluate("() => document.activeElement.id") == "text"
        assert page.locator("#messages").get_attribute("aria-live") == "polite"
        assert ann.errors == []
    finally:
        ann.context.close()
        carol.stop()
        server.stop()


ACTIVE_ID = "() => document.activeElement.id"


def test_a_framed_page_never_takes_the_focus_from_the_page_around_it(browser: Any) -> None:
    """In a tab of its own the page puts the keyboard in its name box; in a frame (as in a
    notebook) it takes the focus neither when it loads nor when it rejoins after a restart."""
    port = restart_port()
    server = wslib.start(port=port, name="test-page-focus")
    watched = Watched(browser)
    page = watched.page
    try:
        page.goto(server.http_url)
        assert page.evaluate(ACTIVE_ID) == "name"

        # A page of the same origin (served by a route, never reaching the server) frames the
        # chat page, as JupyterLab does, with a box of its own that the learner types in.
        around = f"{server.http_url}around"
        body = '<input id="notebook"><iframe src="/" width="500" height="300"></iframe>'
        page.route(around, lambda route: route.fulfill(content_type="text/html", body=body))
        page.goto(around)
        frame = page.frame_locator("iframe")
        expect(frame.locator("#status")).to_have_text("not joined")
        assert frame.locator("body").evaluate(ACTIVE_ID) == ""  # the body: no box

        frame.locator("#name").fill("ann")
        frame.locator("#join").click()  # the learner's click: the message box may take it
        expect(frame.locator("#status")).to_have_text("joined as ann")
        assert frame.locator("body").evaluate(ACTIVE_ID) == "text"

        page.locator("#notebook").focus()
        server.stop()
        expect(frame.locator("#status")).not_to_have_text("joined as ann")
        server = wslib.start(port=port, name="test-page-focus")
        expect(frame.locator("#status")).to_have_text("joined as ann", timeout=3 * TIMEOUT * 1000)
        assert page.evaluate(ACTIVE_ID) == "notebook"
        assert watched.errors == [] or all("WebSocket" in error for error in watched.errors)
    finally:
        watched.context.close()
        server.stop()


def test_after_stop_all_the_page_stays_closed(browser: Any) -> None:
    """Stop everything closes the page's server with 1000: the page, which the kernel cannot
    stop, says closed and does not keep trying to reconnect."""
    server = wslib.start(port=0, name="test-page-stop-all")
    ann = Watched(browser)
    try:
        page = ann.join(server.http_url, "ann")
        assert wslib.stop_all() == 1
        # A close the page would retry shows "reconnecting" at once, before any retry.
        expect(page.locator("#status")).to_have_text("closed (1000)")
    finally:
        ann.context.close()
        server.stop()


def test_the_page_fits_a_short_frame_down_to_its_last_line(browser: Any) -> None:
    """In a window as short as notebook 04's frame (360 px), the joined page shows its last
    line whole: the message list gives up the room, and nothing scrolls but the list."""
    server = wslib.start(port=0, name="test-page-short")
    ann = Watched(browser)
    try:
        ann.page.set_viewport_size({"width": 700, "height": 360})
        page = ann.join(server.http_url, "ann")
        bottom = page.evaluate(
            "() => document.getElementById('help').getBoundingClientRect().bottom"
        )
        assert 0 < bottom <= 360
        assert page.evaluate("() => document.documentElement.scrollHeight") <= 360
    finally:
        ann.context.close()
        server.stop()
