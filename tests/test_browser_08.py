"""Notebook 08 as a learner meets it: JupyterLab in headless Chromium, playground frames run.

The test works on a temporary copy of notebooks/ (JupyterLab autosaves). It runs every cell
but the last (which stops everything), then, step by step, presses Run in each playground
frame, runs the notebook cells that go with it, and reads the frame's console: events in
order, readyState, a message crossing from the Python pane to the page and back, a hostile
message shown as text, binary types and sizes, bufferedAmount rising, close codes 1001 and
4000, a reconnect loop, and the exercise's verdict on the scaffold and on the solution. A
second test opens the notebook as on JupyterHub and Binder, where every frame goes through
jupyter-server-proxy at /proxy/PORT/.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyter import ERRORS, KERNEL_READY, LAB_SETTINGS, SLOW, JupyterLab, run_cell, wait_for_run
from support import CHROME_FLAGS, TIMEOUT, chromium

pytestmark = [pytest.mark.browser, pytest.mark.slow]

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "08-websockets-in-the-browser.ipynb"
ARTIFACTS = ROOT / "artifacts"
XSS = "<img src=x onerror=alert(1)>"
CLOSED_1001 = 'close code=1001 reason="server shutting down" wasClean=true'


class Lab:
    """Notebook 08 open in JupyterLab: its cells by their source, its frames by their order."""

    def __init__(self, page: Any, sources: list[str]) -> None:
        self.page, self.sources = page, sources
        self.cells = page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell")
        self.frames = page.locator(".jp-NotebookPanel iframe.wslib-playground")

    def cell(self, start: str) -> Any:
        """Return the one cell whose source starts with ``start``."""
        found = [i for i, source in enumerate(self.sources) if source.startswith(start)]
        assert len(found) == 1, (start, found)
        return self.cells.nth(found[0])

    def run(self, start: str) -> None:
        """Run the cell whose source starts with ``start``, and wait until it has run."""
        run_cell(self.page, self.cell(start))

    def frame(self, index: int) -> Any:
        """Return playground number ``index`` (0 for the first step's), inside its loader."""
        return self.frames.nth(index).content_frame.locator("iframe").content_frame

    def press_run(self, index: int) -> Any:
        """Press Run in frame ``index`` and return the locator of its console's texts."""
        frame = self.frame(index)
        frame.locator("#run").click()
        return frame.locator("#console .text")


def open_notebook(page: Any, lab: JupyterLab, root: Path) -> Lab:
    """Open notebook 08, wait for its kernel, and run all cells but the last."""
    sources = [cell.source for cell in nbformat.read(root / NOTEBOOK, as_version=4).cells]
    page.goto(lab.url(f"lab/tree/{NOTEBOOK}"), timeout=SLOW)
    page.wait_for_function(KERNEL_READY, timeout=SLOW)
    lab.remember_children()
    opened = Lab(page, sources)
    expect(opened.cells).to_have_count(len(sources))
    opened.cells.last.locator(".jp-InputPrompt").click()
    wait_for_run(page, "Run All Above Selected Cell")
    lab.remember_children()
    expect(page.locator(ERRORS)).to_have_count(0)
    expect(opened.frames).to_have_count(8)  # seven steps and the check
    return opened


def watch(page: Any) -> tuple[list[str], list[str]]:
    """Record console errors (but a playground's own failed reconnects) and dialogs."""
    errors: list[str] = []
    dialogs: list[str] = []

    def on_console(message: Any) -> None:
        if message.type == "error" and "/playground" not in message.location.get("url", ""):
            errors.append(message.text)

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    page.on("dialog", on_dialog)
    return errors, dialogs


def copy_notebooks(tmp_path: Path) -> Path:
    root = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return root


def verdict(lab: Lab) -> Any:
    """Return the locator of the newest exercise check's verdict."""
    return lab.page.locator(".page-check .check-verdict").last


def test_notebook_08_runs_every_playground_step_in_a_real_browser(tmp_path: Path) -> None:
    """Each step's console shows what the notebook says; messages cross; the check answers."""
    executable = chromium("the browser test")
    root = copy_notebooks(tmp_path)
    ARTIFACTS.mkdir(exist_ok=True)
    with (
        JupyterLab(root, tmp_path, LAB_SETTINGS) as jupyter,
        playwright_api.sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=executable, args=CHROME_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(3 * TIMEOUT * 1000)
        expect.set_options(timeout=3 * TIMEOUT * 1000)
        errors, dialogs = watch(page)
        try:
            lab = open_notebook(page, jupyter, root)
            # Run All ran the check on the unchanged scaffold; its verdict comes meanwhile.
            first = verdict(lab)

            # 1. Events in order.
            lines = lab.press_run(0)
            expect(lines).to_have_text(
                [
                    "run",
                    "created; the handshake runs in the background",
                    "ws1 open",
                    "open: the server said yes",
                    'ws1 close code=1000 reason="done" wasClean=true',
                    "closed with 1000 done",
                ]
            )
            times = lab.frame(0).locator("#console .time").all_inner_texts()
            assert all(re.fullmatch(r"\d\d:\d\d:\d\d\.\d\d\d", time) for time in times)

            # 2. readyState as it changes, and a send too early.
            expect(lab.press_run(1)).to_have_text(
                [
                    "run",
                    "after new: 0",
                    "InvalidStateError",
                    "ws1 open",
                    "in onopen: 1",
                    "after close(): 2",
                    'ws1 close code=1005 reason="" wasClean=true',
                    "in onclose: 3 code 1005",
                ]
            )

            # 3. The page greets the Python pane; a message from Python crosses and back.
            pane = page.locator(".chat-pane-Python").last
            # Run All ended with a restart: the pane is open again before the page sends.
            expect(pane.locator(".chat-line").last).to_have_text("· open")
            lines = lab.press_run(2)
            expect(pane.locator(".chat-line").last).to_have_text(
                "← Received message from peer: hello from the browser"
            )
            lab.run('python.send("hello, browser")')
            expect(lines).to_have_text(
                [
                    "run",
                    "ws1 open",
                    'ws1 message "Received message from peer: hello, browser"',
                    'ws1 close code=1000 reason="answered" wasClean=true',
                ]
            )
            expect(pane.locator(".chat-line").last).to_have_text(
                "← Received message from peer: the browser got: hello, browser"
            )
            server_log = page.locator(".server-log").last
            expect(server_log).to_contain_text("Received message: hello from the browser")

            # A hostile message shows as text in the console.
            lines = lab.press_run(2)
            expect(lines).to_have_text(["run", "ws1 open"])
            lab.run('python.send("<img')
            expect(lines.nth(2)).to_have_text(
                f'ws1 message "Received message from peer: {XSS} \\u202eright-to-left"'
            )
            assert lab.frame(2).locator("#console img").count() == 0

            # 4. Binary: 4 bytes out; an ArrayBuffer, then a Blob, in.
            lines = lab.press_run(3)
            expect(lines).to_have_text(["run", "ws1 open"])
            expect(server_log).to_contain_text("Received message: <4 bytes>")
            lab.run("with wslib.SyncClient(server.url) as raw:")
            expect(lines).to_have_text(
                [
                    "run",
                    "ws1 open",
                    "ws1 message ArrayBuffer(3 bytes)",
                    "received ArrayBuffer(3 bytes)",
                    "ws1 message Blob(5 bytes)",
                    "received Blob(5 bytes)",
                ]
            )

            # 5. bufferedAmount rises with each send in a burst, then drains.
            lines = lab.press_run(4)
            expect(lines.last).to_have_text('ws1 close code=1000 reason="done" wasClean=true')
            texts = lines.all_inner_texts()
            amounts = [int(t.rsplit(" ", 1)[1]) for t in texts if t.startswith("after send")]
            assert len(amounts) == 8
            assert amounts == sorted(amounts)
            assert amounts[-1] > amounts[0] > 0
            assert "drained: 0" in texts

            # 6. Closed by the server: 1001 on a restart, 4000 when replaced.
            lines = lab.press_run(5)
            expect(lines).to_have_text(["run", "ws1 open"])
            lab.run("def restart(server):")
            expect(lines.nth(3)).to_have_text("closed by the server: 1001 server shutting down")
            lines = lab.press_run(5)
            expect(lines).to_have_text(["run", "ws1 open"])
            lab.run("server = wslib.start(port=server.port")
            expect(lines.nth(3)).to_have_text("closed by the server: 4000 replaced by a new server")
            lab.run('python = wslib.ChatPane(server, "Python")')

            # 7. A reconnect loop with backoff, across a restart.
            lines = lab.press_run(6)
            expect(lines).to_have_text(["run", "ws1 open", "connected"])
            lab.run("server = restart(server)")
            expect(lines.nth(3)).to_have_text(f"ws1 {CLOSED_1001}")
            expect(lines.nth(4)).to_have_text("trying again in 250 ms")
            expect(lines.filter(has_text=re.compile(r"^connected$"))).to_have_count(2)

            # The exercise: the scaffold fails helpfully, the solution passes.
            expect(first).to_contain_text("2 of 4 checks fail; try again.", timeout=SLOW)
            expect(first).to_contain_text("the page never connected again")
            loader = lab.cell("# %load solutions/reconnect_page.py")
            loader.locator(".jp-InputArea-editor").click()
            page.keyboard.press("Control+A")
            page.keyboard.type("%load solutions/reconnect_page.py")
            run_cell(page, loader)  # replaces the cell's text with the solution
            expect(loader.locator(".jp-InputArea-editor")).to_contain_text("delay = 250")
            run_cell(page, loader)  # runs the solution: page_script is now the answer
            lab.run("wslib.check_reconnect(server, page_script)")
            expect(verdict(lab)).to_contain_text(
                "All 5 checks pass: reconnect and resend is done.", timeout=SLOW
            )
            expect(page.locator(ERRORS)).to_have_count(0)
            page.screenshot(path=str(ARTIFACTS / "notebook-08.png"), full_page=True)
            assert dialogs == []
            assert errors == []
        except Exception:
            for frame in page.frames:
                print("frame:", frame.url[:120], frame.evaluate("() => document.readyState"))
            page.screenshot(path=str(ARTIFACTS / "notebook-08-failure.png"))
            print("JupyterLab log:\n" + jupyter.log_tail())
            raise
        finally:
            browser.close()


def test_notebook_08_playground_works_through_jupyter_server_proxy(tmp_path: Path) -> None:
    """As on a hub, frames load from /proxy/PORT/; scripts and the check reach their servers."""
    executable = chromium("the browser test")
    root = copy_notebooks(tmp_path)
    ARTIFACTS.mkdir(exist_ok=True)
    hub = {"JUPYTERHUB_SERVICE_PREFIX": "/"}  # what page_url reads to choose the proxy
    with (
        JupyterLab(root, tmp_path, LAB_SETTINGS, env=hub) as jupyter,
        playwright_api.sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=executable, args=CHROME_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(3 * TIMEOUT * 1000)
        expect.set_options(timeout=3 * TIMEOUT * 1000)
        errors, dialogs = watch(page)
        try:
            lab = open_notebook(page, jupyter, root)
            sources = [lab.frames.nth(i).get_attribute("data-src") for i in range(8)]
            origin = f"http://127.0.0.1:{jupyter.port}"
            assert all(re.match(r"/proxy/\d+/playground#script=", src) for src in sources)
            # Until its page answers, the loader replaces the inner frame each second (Run All
            # restarted the server): an evaluate() there may find its frame detached.
            expect(lab.frame(0).locator("#run")).to_be_visible()
            assert lab.frame(0).locator("body").evaluate("() => location.origin") == origin

            pane = page.locator(".chat-pane-Python").last
            # Run All ended with a restart: the pane is open again before the page sends.
            expect(pane.locator(".chat-line").last).to_have_text("· open")
            lines = lab.press_run(2)
            expect(pane.locator(".chat-line").last).to_have_text(
                "← Received message from peer: hello from the browser"
            )
            lab.run('python.send("hello, browser")')
            expect(lines.nth(2)).to_have_text(
                'ws1 message "Received message from peer: hello, browser"'
            )
            expect(pane.locator(".chat-line").last).to_have_text(
                "← Received message from peer: the browser got: hello, browser"
            )
            relay = lab.frame(2).locator("body").evaluate("() => location.pathname")
            assert re.fullmatch(r"/proxy/\d+/playground", relay)

            # The check's frame reaches the check's own port through the same proxy.
            expect(verdict(lab)).to_contain_text("2 of 4 checks fail; try again.", timeout=SLOW)
            expect(verdict(lab)).to_contain_text("✓ line 1 to line 3")
            assert dialogs == []
            assert errors == []
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "notebook-08-proxy-failure.png"))
            print("JupyterLab log:\n" + jupyter.log_tail())
            raise
        finally:
            browser.close()
