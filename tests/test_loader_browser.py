"""The notebook frame's loader in headless Chromium: kit pages take the notebook's theme.

The first tests need no JupyterLab: a small local server stands for the notebook page,
on another port than the kit's (so another origin, as a local JupyterLab is); its page
marks its ``<body>`` as JupyterLab does (``data-jp-theme-light``) and holds the frames, and
the kit's server serves the pages inside. The last test opens a notebook in JupyterLab,
shows the chat page and a playground, switches JupyterLab's theme, then opens saved
outputs in a notebook JupyterLab does not trust.
"""

from __future__ import annotations

import contextlib
import http.server
import threading
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyter import (
    ERRORS,
    KERNEL_READY,
    LAB_SETTINGS,
    SLOW,
    JupyterLab,
    switch_theme,
    wait_for_run,
)
from pages import Watched, expect
from support import TIMEOUT, axe_violations

import wslib
from wslib.notebook.loader import UNTRUSTED_HINT, frame_html, theme_message
from wslib.notebook.page import page_url, show_page
from wslib.notebook.playground import Playground

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts"

# The pages' own backgrounds (static/chat.html, static/playground.html).
BACKGROUNDS = {"light": "rgb(255, 255, 255)", "dark": "rgb(30, 30, 30)"}


class NotebookHost:
    """A page on 127.0.0.1 (another port, so another origin than the kit's server, as a
    local JupyterLab) that holds ``body`` and marks its ``<body>`` as JupyterLab does."""

    def __init__(self, body: str, light: str | None) -> None:
        marked = "" if light is None else f' data-jp-theme-light="{light}"'
        document = f"<!doctype html><title>notebook</title><body{marked}>{body}</body>"
        content = document.encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: pytest treats stray output as noise

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/notebook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> NotebookHost:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(TIMEOUT)


def host_page(watched: Watched, host: NotebookHost) -> Any:
    """Open the notebook host's page in ``watched``'s page and return it."""
    watched.page.goto(host.url)
    return watched.page


def inner(page: Any, index: int = 0) -> Any:
    """Return the kit page inside frame ``index``'s loader, as a frame locator."""
    return page.frame_locator("body > iframe").nth(index).frame_locator("iframe")


def background(frame: Any) -> str:
    """Return the computed background of a frame's page body once the page has loaded."""
    body = frame.locator("body")
    expect(body).to_be_attached()
    value: str = body.evaluate("body => getComputedStyle(body).backgroundColor")
    return value


def expect_background(frame: Any, theme: str) -> None:
    """Wait until the page in ``frame`` shows ``theme``'s background."""
    expect(frame.locator("body")).to_have_css("background-color", BACKGROUNDS[theme])


def test_pages_take_the_notebooks_theme_and_follow_its_changes(browser: Any) -> None:
    """Marked light, both pages are light although the browser prefers dark; marked dark
    afterwards, both turn dark; the playground is ready (no reload loop) and shows no error."""
    server = wslib.start(port=0, name="test-loader-theme")
    watched = Watched(browser, color_scheme="dark")
    stack = contextlib.ExitStack()
    try:
        frames = frame_html(page_url(server), 300) + Playground(server, "log(1)")._repr_html_()
        host = stack.enter_context(NotebookHost(frames, "true"))
        page = host_page(watched, host)
        for index in (0, 1):
            expect_background(inner(page, index), "light")
        expect(inner(page, 0).locator("html")).to_have_attribute("data-theme", "light")
        page.evaluate("() => { document.body.dataset.jpThemeLight = 'false'; }")
        for index in (0, 1):
            expect_background(inner(page, index), "dark")
        page.evaluate("() => { document.body.dataset.jpThemeLight = 'true'; }")
        for index in (0, 1):
            expect_background(inner(page, index), "light")
        # Ready: the loader kept its first frame rather than loading the page again.
        assert page.frame_locator("body > iframe").nth(1).locator("iframe").count() == 1
        inner(page, 1).locator("#run").click()
        expect(inner(page, 1).locator("#console .text")).to_have_text(["run", "1"])
    finally:
        watched.context.close()
        stack.close()
        server.stop()


@pytest.mark.parametrize("preferred", ["light", "dark"])
def test_without_the_notebooks_mark_the_page_follows_the_browser(
    browser: Any, preferred: str
) -> None:
    """A notebook page that marks no theme (a plain tab, the classic Notebook) leaves the
    choice to the browser's preference."""
    server = wslib.start(port=0, name=f"test-loader-unmarked-{preferred}")
    watched = Watched(browser, color_scheme=preferred)
    stack = contextlib.ExitStack()
    try:
        host = stack.enter_context(NotebookHost(frame_html(page_url(server), 300), None))
        page = host_page(watched, host)
        frame = inner(page)
        expect(frame.locator("#status")).to_have_text("not joined")
        assert frame.locator("html").get_attribute("data-theme") is None
        assert background(frame) == BACKGROUNDS[preferred]
    finally:
        watched.context.close()
        stack.close()
        server.stop()


def test_an_explicit_theme_wins_and_strangers_cannot_set_one(browser: Any) -> None:
    """``?theme=light`` stays light in a dark notebook; a theme message from another window
    than the parent, or with another value, changes nothing."""
    server = wslib.start(port=0, name="test-loader-explicit")
    watched = Watched(browser, color_scheme="light")
    stack = contextlib.ExitStack()
    try:
        fixed = frame_html(page_url(server, theme="light"), 300)
        followed = frame_html(page_url(server), 300)
        host = stack.enter_context(NotebookHost(fixed + followed, None))
        page = host_page(watched, host)
        expect(inner(page, 1).locator("#status")).to_have_text("not joined")
        page.evaluate("() => { document.body.dataset.jpThemeLight = 'false'; }")
        expect_background(inner(page, 1), "dark")
        assert background(inner(page, 0)) == BACKGROUNDS["light"]

        page.evaluate("() => { document.body.dataset.jpThemeLight = 'true'; }")
        expect_background(inner(page, 1), "light")
        followed_page = next(f for f in page.frames if f.url == page_url(server))
        loader = followed_page.parent_frame
        followed_page.evaluate(
            "() => { window.seen = 0; addEventListener('message', () => { window.seen += 1; }); }"
        )
        # From the notebook page itself (the page's parent's parent), then from the parent
        # with a value other than light or dark, and not as the message's form says.
        page.evaluate(
            "(message) => window.frames[1].frames[0].postMessage(message, '*')",
            theme_message("dark"),
        )
        loader.evaluate("() => frames[0].postMessage({ type: 'wslib-theme', theme: 'x' }, '*')")
        loader.evaluate("() => frames[0].postMessage('dark', '*')")
        followed_page.wait_for_function("() => window.seen === 3")
        assert followed_page.evaluate("() => document.documentElement.dataset.theme") == "light"
        assert background(inner(page, 1)) == BACKGROUNDS["light"]
        assert watched.errors == []
    finally:
        watched.context.close()
        stack.close()
        server.stop()


# -- in JupyterLab ----------------------------------------------------------------------

NOTEBOOK = "frames-follow-the-theme.ipynb"
UNTRUSTED = "saved-elsewhere.ipynb"


class FakeServer:
    """Anything with ``http_url`` will do to make a frame's HTML."""

    def __init__(self, http_url: str) -> None:
        self.http_url = http_url


CELLS = [
    "import wslib\n\nserver = wslib.start(port=0)",
    "wslib.show_page(server, height=320)",
    "wslib.Playground(server, 'log(\"hello from the playground\")', height=300)",
]


def saved_elsewhere() -> Any:
    """Return a notebook whose two cells hold the frames' outputs, as a saved notebook would.

    JupyterLab trusts the outputs of cells it ran, or of a notebook signed on this machine;
    this one is signed nowhere, as the kit's notebooks are when a learner first opens them.
    """
    server = "http://127.0.0.1:8080/"
    notebook = nbformat.v4.new_notebook()
    for source, shown in (
        ("wslib.show_page(server)", show_page(FakeServer(server))),
        ("wslib.Playground(server, 'log(1)')", Playground(FakeServer(server), "log(1)")),
    ):
        cell = nbformat.v4.new_code_cell(source, execution_count=1)
        data = {"text/html": shown._repr_html_(), "text/plain": repr(shown)}
        cell.outputs = [nbformat.v4.new_output("execute_result", data, execution_count=1)]
        notebook.cells.append(cell)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    return notebook


def lab_frames(page: Any) -> dict[str, Any]:
    """Return the chat page's and the playground's ``Frame``, inside their loaders."""
    found = {}
    for name, selector in (
        ("chat", "iframe.wslib-page"),
        ("playground", "iframe.wslib-playground"),
    ):
        outer = page.locator(f".jp-NotebookPanel {selector}")
        expect(outer).to_have_count(1)
        inner = outer.content_frame.locator("iframe")
        expect(inner.content_frame.locator("body")).to_be_attached()
        found[name] = inner.element_handle().content_frame()
    return found


@pytest.mark.slow
def test_frames_in_jupyterlab_follow_its_theme_when_the_learner_switches_it(
    browser: Any, tmp_path: Path
) -> None:
    """In JupyterLab Light the chat page and the playground are light (the browser prefers
    dark); after Settings > Theme > JupyterLab Dark both turn dark, without a rerun, and
    axe-core finds no WCAG A/AA violation in either theme. Saved outputs, untrusted, show
    a hint in place of each frame."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    root = tmp_path / "notebooks"
    root.mkdir()
    nbformat.write(notebook, root / NOTEBOOK)
    nbformat.write(saved_elsewhere(), root / UNTRUSTED)
    ARTIFACTS.mkdir(exist_ok=True)
    with JupyterLab(root, tmp_path, LAB_SETTINGS) as lab:
        # The browser prefers dark: a page that followed it would fail the first check.
        # bypass_csp: the pages' policies allow only their own scripts; axe is injected.
        context = browser.new_context(
            viewport={"width": 1200, "height": 1000}, color_scheme="dark", bypass_csp=True
        )
        page = context.new_page()
        page.set_default_timeout(3 * TIMEOUT * 1000)
        expect.set_options(timeout=3 * TIMEOUT * 1000)
        errors: list[str] = []
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
        try:
            page.goto(lab.url(f"lab/tree/{NOTEBOOK}"), timeout=SLOW)
            page.wait_for_function(KERNEL_READY, timeout=SLOW)
            lab.remember_children()
            wait_for_run(page, "Run All Cells")
            lab.remember_children()
            expect(page.locator(ERRORS)).to_have_count(0)
            expect(page.locator("body")).to_have_attribute("data-jp-theme-light", "true")
            frames = lab_frames(page)
            chat, playground = frames["chat"], frames["playground"]
            chat.locator("#name").fill("ann")
            chat.locator("#join").click()
            expect(chat.locator("#status")).to_have_text("joined as ann")
            chat.locator("#text").fill("hello from the chat page")
            chat.locator("#text").press("Enter")
            expect(chat.locator("#messages .message")).to_have_text(
                ["ann:hello from the chat page"]
            )
            playground.locator("#run").click()
            expect(playground.locator("#console .text")).to_have_text(
                ["run", "hello from the playground"]
            )
            for theme in ("light", "dark"):
                if theme == "dark":
                    switch_theme(page, "JupyterLab Dark")
                    expect(page.locator("body")).to_have_attribute("data-jp-theme-light", "false")
                for name, frame in frames.items():
                    expect(frame.locator("body")).to_have_css(
                        "background-color", BACKGROUNDS[theme]
                    )
                    assert axe_violations(frame, ["body"]) == [], (name, theme)
                page.screenshot(path=str(ARTIFACTS / f"frames-{theme}.png"), full_page=True)
            # The frames were not loaded again: the chat page is still joined.
            expect(chat.locator("#status")).to_have_text("joined as ann")

            # Outputs saved elsewhere: JupyterLab drops the frames and shows the hint.
            page.goto(lab.url(f"lab/tree/{UNTRUSTED}"), timeout=SLOW)
            page.wait_for_function(KERNEL_READY, timeout=SLOW)
            lab.remember_children()
            outputs = page.locator(".jp-NotebookPanel .jp-OutputArea-output")
            expect(outputs).to_have_text(
                [f"wslib chat page: {UNTRUSTED_HINT}", f"WebSocket playground: {UNTRUSTED_HINT}"]
            )
            expect(page.locator(".jp-NotebookPanel iframe")).to_have_count(0)
            assert errors == []
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "frames-theme-failure.png"))
            print("JupyterLab log:\n" + lab.log_tail())
            raise
        finally:
            context.close()
